// CUDA version of csrc/cpu/sampling.cpp with the same semantics and the same draws: the
// top `ratio` of the pixels by score (ties: lower index first), in ascending index order,
// then the CPU's partial Fisher-Yates with the counter-based RNG (draw_swap_target), so the
// same seed gives the same sample as on the CPU, and item b depends only on its scores and
// seeds[b] (a batch equals B single calls).
//
// The Fisher-Yates runs in parallel, one thread per drawn match, with no host
// synchronisation.  Step i swaps positions i and J_i >= i, so the match drawn at step i is
// what position J_i held before step i; a position p >= t is only written before step t by
// the steps s < t with J_s == p (they move there what position s held before step s).
// So: p = J_i, t = i; while some step s < t has J_s == p, take the last one, p = t = s;
// then the draw is the candidate at p in the initial order.  Each thread finds those steps
// by binary search in the (J_s, s) pairs of its item sorted by J_s (ties by s); the chains
// are short (each link is a collision of two swap targets).  A NumPy model of this trace
// is checked against the CPU sampler in tests/test_cuda_hygiene.py.
//
// All items of a call run together, in chunks of items that bound the scratch memory;
// each chunk is three stable device-wide radix sorts (CUB):
//   1. keys (item, 0x7FFFFFFF - float bits of the score) over its pixels in index order:
//      each item's pixels come out at their own offsets, score descending, ties by index;
//      its first k are the candidates;
//   2. keys (item, not-a-candidate, pixel): each item's candidates first, ascending pixel
//      index (the CPU's initial order);
//   3. keys (item, J_s) of its m = min(k, n) swap targets, values s (then padding).
#include <cuda_runtime.h>

#include <cub/block/block_reduce.cuh>
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "arg_checks.h"
#include "cuda_api.h"
#include "cuda_check.h"
#include "vo_common.h"

namespace vo {

namespace {

using Key = unsigned long long;
constexpr int kThreads = 256;
constexpr int kRankBits = 31;         // 0x7FFFFFFF - bits of a usable score; 0x7FFFFFFF when unusable
constexpr int kPixelBits = 31;        // pixel indices (hw < 2^31)
constexpr int kTargetBits = 31;       // swap targets J < k < 2^31; kNoTarget pads items with m < n
constexpr Key kNoTarget = 0x7FFFFFFFull;
// items * max(hw, n) per chunk: 24 bytes of scratch per pixel and per draw, <= ~200 MB each.
constexpr int64_t kChunkElements = int64_t{1} << 23;

// One block per item: the number of candidates k = top_count(hw, ratio, usable scores).
__global__ void count_candidates(const float* score, int64_t hw, double ratio, int64_t* count) {
  const int64_t b = blockIdx.x;
  const float* s = score + b * hw;
  long long c = 0;
  for (int64_t i = threadIdx.x; i < hw; i += blockDim.x) c += usable(s[i]) ? 1 : 0;
  using Reduce = cub::BlockReduce<long long, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const long long total = Reduce(tmp).Sum(c);
  if (threadIdx.x == 0) count[b] = top_count(hw, ratio, static_cast<int64_t>(total));
}

// Sort 1 keys over the items * hw pixels of a chunk; values: pixel indices.
__global__ void rank_keys(const float* score, int64_t items, int64_t hw, Key* keys, int32_t* pixel) {
  const int64_t total = items * hw;
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < total;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = g / hw, i = g - b * hw;
    const float s = score[g];
    // Positive floats order like their bits (+inf included); NaN is not usable.
    const unsigned int inv = usable(s) ? 0x7FFFFFFFu - __float_as_uint(s) : 0x7FFFFFFFu;
    keys[g] = (static_cast<Key>(b) << kRankBits) | inv;
    pixel[g] = static_cast<int32_t>(i);
  }
}

// Sort 2 keys: after sort 1, item b's pixels sit at [b * hw, (b + 1) * hw), candidates first.
__global__ void candidate_keys(const int32_t* pixel, int64_t items, int64_t hw, const int64_t* count, Key* keys) {
  const int64_t total = items * hw;
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < total;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = g / hw, j = g - b * hw;
    const Key outside = j < count[b] ? 0ull : 1ull;
    keys[g] = (static_cast<Key>(b) << (kPixelBits + 1)) | (outside << kPixelBits) | static_cast<Key>(pixel[g]);
  }
}

// Sort 3 keys: (item, J_s) for the steps s < m of each item, padding after; values: s.
__global__ void swap_keys(int64_t items, int64_t n, const int64_t* count, const uint64_t* seeds, Key* keys,
                          int32_t* step) {
  const int64_t total = items * n;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = t / n, s = t - b * n;
    const int64_t k = count[b], m = k < n ? k : n;
    const Key j = s < m ? static_cast<Key>(draw_swap_target(seeds[b], s, k)) : kNoTarget;
    keys[t] = (static_cast<Key>(b) << kTargetBits) | j;
    step[t] = static_cast<int32_t>(s);
  }
}

// out_idx[b, i]: the match drawn at step i of item b (see the trace above), -1 past m.
__global__ void trace_draws(const Key* keys, const int32_t* step, const int32_t* cand, int64_t items, int64_t hw,
                            int64_t n, const int64_t* count, const uint64_t* seeds, int64_t* out_idx) {
  const int64_t total = items * n;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = t / n, i = t - b * n;
    const int64_t k = count[b], m = k < n ? k : n;
    if (i >= m) {
      out_idx[t] = -1;
      continue;
    }
    const Key* kb = keys + b * n;  // item b's (J_s, s) pairs, sorted
    const int32_t* sb = step + b * n;
    const Key base = static_cast<Key>(b) << kTargetBits;
    int64_t p = draw_swap_target(seeds[b], i, k), before = i;
    while (true) {
      // First pair >= (p, before); the one before it is the last step s < before with J_s == p, if any.
      const Key want = base | static_cast<Key>(p);
      int64_t lo = 0, hi = n;
      while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        if (kb[mid] < want || (kb[mid] == want && sb[mid] < before))
          lo = mid + 1;
        else
          hi = mid;
      }
      if (lo == 0 || kb[lo - 1] != want) break;
      p = before = sb[lo - 1];
    }
    out_idx[t] = cand[b * hw + p];
  }
}

// Bits that hold item indices 0 .. items - 1.
int item_bits(int64_t items) {
  int bits = 0;
  while ((int64_t{1} << bits) < items) ++bits;
  return bits;
}

// Stable ascending sort of (keys, values) on bits [0, end_bit); `temp` grows when needed.
void sort_pairs(cub::DoubleBuffer<Key>& keys, cub::DoubleBuffer<int32_t>& values, int64_t count, int end_bit,
                DeviceBuffer<char>& temp, cudaStream_t stream) {
  size_t bytes = 0;
  VO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, values, count, 0, end_bit, stream));
  if (bytes > temp.size()) temp = DeviceBuffer<char>(bytes, stream);
  VO_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.get(), bytes, keys, values, count, 0, end_bit, stream));
}

}  // namespace

void sample_topk_random_cuda(int device, const float* score, int64_t batch, int64_t hw, int64_t n, double ratio,
                             const uint64_t* seeds, int64_t* out_idx, int64_t* out_count, cudaStream_t stream) {
  check_sample_params(n, ratio);
  check_pixel_count(hw);
  if (batch < 0 || hw < 0) throw std::invalid_argument("sample_topk_random_cuda: B and hw must be >= 0");
  if (n > std::numeric_limits<int32_t>::max()) throw std::invalid_argument("sample_topk_random_cuda: n must be < 2^31");
  const DeviceGuard guard(device, {{"score", score}, {"seeds", seeds}, {"out_idx", out_idx}, {"out_count", out_count}});
  if (batch == 0) return;
  require_pointers({{"seeds", seeds}, {"out_idx", out_idx}, {"out_count", out_count}});
  if (hw == 0) {  // as the CPU: no candidate, nothing drawn
    VO_CUDA_CHECK(cudaMemsetAsync(out_count, 0, sizeof(int64_t) * batch, stream));
    VO_CUDA_CHECK(cudaMemsetAsync(out_idx, 0xFF, sizeof(int64_t) * batch * n, stream));  // all bytes 0xFF: -1
    return;
  }
  require_pointers({{"score", score}});
  // Items per chunk: items * max(hw, n) <= kChunkElements (so at most 2^23 items: item
  // indices fit the 64-bit keys above next to 32 bits), or a single item.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(batch, kChunkElements / std::max(hw, n)));
  DeviceBuffer<Key> key_a(chunk * hw, stream), key_b(chunk * hw, stream);
  DeviceBuffer<int32_t> pix_a(chunk * hw, stream), pix_b(chunk * hw, stream);
  DeviceBuffer<Key> swap_a(chunk * n, stream), swap_b(chunk * n, stream);
  DeviceBuffer<int32_t> step_a(chunk * n, stream), step_b(chunk * n, stream);
  DeviceBuffer<char> temp;
  for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
    const int64_t items = std::min(chunk, batch - b0), pixels = items * hw, draws = items * n;
    const int bits = item_bits(items);
    const float* s = score + b0 * hw;
    const uint64_t* sd = seeds + b0;
    int64_t* count = out_count + b0;
    count_candidates<<<static_cast<unsigned int>(items), kThreads, 0, stream>>>(s, hw, ratio, count);
    VO_CUDA_CHECK_LAUNCH("count_candidates");
    cub::DoubleBuffer<Key> keys(key_a.get(), key_b.get());
    cub::DoubleBuffer<int32_t> pix(pix_a.get(), pix_b.get());
    rank_keys<<<grid_for(pixels, kThreads), kThreads, 0, stream>>>(s, items, hw, keys.Current(), pix.Current());
    VO_CUDA_CHECK_LAUNCH("rank_keys");
    sort_pairs(keys, pix, pixels, kRankBits + bits, temp, stream);
    candidate_keys<<<grid_for(pixels, kThreads), kThreads, 0, stream>>>(pix.Current(), items, hw, count,
                                                                        keys.Current());
    VO_CUDA_CHECK_LAUNCH("candidate_keys");
    sort_pairs(keys, pix, pixels, kPixelBits + 1 + bits, temp, stream);
    cub::DoubleBuffer<Key> swaps(swap_a.get(), swap_b.get());
    cub::DoubleBuffer<int32_t> steps(step_a.get(), step_b.get());
    swap_keys<<<grid_for(draws, kThreads), kThreads, 0, stream>>>(items, n, count, sd, swaps.Current(),
                                                                  steps.Current());
    VO_CUDA_CHECK_LAUNCH("swap_keys");
    sort_pairs(swaps, steps, draws, kTargetBits + bits, temp, stream);
    trace_draws<<<grid_for(draws, kThreads), kThreads, 0, stream>>>(swaps.Current(), steps.Current(), pix.Current(),
                                                                    items, hw, n, count, sd, out_idx + b0 * n);
    VO_CUDA_CHECK_LAUNCH("trace_draws");
  }
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {  // vo: unchecked (no driver or no device means 0 devices)
    (void)cudaGetLastError();  // vo: unchecked (clears the sticky "no device" error)
    return 0;
  }
  return n;
}

void require_cuda_device() {
  if (cuda_device_count() <= 0)
    throw std::runtime_error("vo_app: no CUDA device is available; use CPU tensors (vo_app falls back to the CPU)");
}

}  // namespace vo
