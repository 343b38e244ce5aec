// Mask-weighted match sampling on the CPU: top `ratio` of pixels by score, then
// `n` of them at random without replacement (partial Fisher-Yates).
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "parallel.h"
#include "vo_common.h"

namespace vo {

// Histogram key of a score: 0 for scores that are never candidates, else 1 + the top 16
// bits of the float (for positive floats the bit pattern orders like the value).
static inline uint32_t score_key(float s) {
  uint32_t b;
  std::memcpy(&b, &s, sizeof b);
  return usable(s) ? (b >> 16) + 1u : 0u;
}
constexpr uint32_t kBins = (0x7F800000u >> 16) + 2u;  // up to +inf

// Per-thread buffers, reused across pairs and calls.
struct SampleWork {
  std::vector<uint32_t> hist;
  std::vector<int32_t> above, edge, tmp, idx;
};

// Candidate set without sorting all pixels, in two passes over the scores: a histogram
// of the keys finds the bin holding the k-th best score; a branch-free second pass
// collects the pixels above that bin and the pixels in it, in index order; only that
// bin is partially sorted (ties to the lower index).
static void sample_one(const float* score, int64_t hw, int64_t n, double ratio, uint64_t seed, int64_t* out_idx,
                       int64_t* out_count) {
  thread_local SampleWork ws;
  ws.hist.assign(kBins, 0u);
  uint32_t* hist = ws.hist.data();
  for (int64_t i = 0; i < hw; ++i) ++hist[score_key(score[i])];
  const int64_t k = top_count(hw, ratio, hw - static_cast<int64_t>(hist[0]));
  std::vector<int32_t>& idx = ws.idx;
  idx.clear();
  if (k > 0) {
    int64_t above = 0;
    uint32_t bin = kBins - 1;
    for (; bin > 1; --bin) {
      if (above + hist[bin] >= k) break;
      above += hist[bin];
    }
    ws.above.resize(above + 1);
    ws.edge.resize(hist[bin] + 1);
    int32_t* up = ws.above.data();
    int32_t* eq = ws.edge.data();
    int64_t na = 0, ne = 0;
    for (int64_t i = 0; i < hw; ++i) {  // unconditional stores, conditional advances
      const uint32_t key = score_key(score[i]);
      up[na] = static_cast<int32_t>(i);
      na += key > bin;
      eq[ne] = static_cast<int32_t>(i);
      ne += key == bin;
    }
    const int64_t need = k - above;  // 1 <= need <= ne
    auto better = [score](int32_t a, int32_t c) { return score[a] > score[c] || (score[a] == score[c] && a < c); };
    ws.tmp.assign(eq, eq + ne);
    std::nth_element(ws.tmp.begin(), ws.tmp.begin() + (need - 1), ws.tmp.end(), better);
    const int32_t last = ws.tmp[need - 1];  // the worst candidate kept
    const float s_last = score[last];
    int64_t kept = 0;
    for (int64_t j = 0; j < ne; ++j) {
      const int32_t i = eq[j];
      const float s = score[i];
      eq[kept] = i;
      kept += s > s_last || (s == s_last && i <= last);
    }
    idx.resize(k);
    std::merge(up, up + na, eq, eq + kept, idx.begin());  // ascending index order: the canonical order
  }
  const int64_t m = std::min(k, n);
  for (int64_t i = 0; i < m; ++i) {
    const uint32_t j = static_cast<uint32_t>(i) + rand_below(counter_rand(seed, 0, i), static_cast<uint32_t>(k - i));
    std::swap(idx[i], idx[j]);
    out_idx[i] = idx[i];
  }
  for (int64_t i = m; i < n; ++i) out_idx[i] = -1;
  *out_count = k;
}

void sample_topk_random_cpu(const float* score, int64_t batch, int64_t hw, int64_t n, double ratio, const uint64_t* seeds,
                            int64_t* out_idx, int64_t* out_count, int threads) {
  if (hw >= (int64_t{1} << 31)) throw std::invalid_argument("sample_topk_random_cpu: more than 2^31 - 1 pixels per image");
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<int64_t>(threads, batch));
  if (threads <= 1) {
    for (int64_t b = 0; b < batch; ++b) sample_one(score + b * hw, hw, n, ratio, seeds[b], out_idx + b * n, out_count + b);
    return;
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([=]() {
      for (int64_t b = t; b < batch; b += threads) sample_one(score + b * hw, hw, n, ratio, seeds[b], out_idx + b * n, out_count + b);
    });
  for (auto& th : pool) th.join();
}

void gather_matches_cpu(const float* flow, const int64_t* strides, int64_t batch, int64_t w, int64_t n,
                        const int64_t* idx, double* p1, double* p2, int threads) {
  parallel_for(batch, threads, [&](int64_t b) {
    constexpr int64_t kAhead = 32;  // the drawn order is random: prefetch the flow the loop reaches next
    const int64_t* ib = idx + b * n;
    for (int64_t i = 0; i < n; ++i) {
      if (i + kAhead < n && ib[i + kAhead] >= 0) {
        const int64_t k = ib[i + kAhead];
        const float* f = flow + b * strides[0] + (k / w) * strides[2] + (k % w) * strides[3];
        __builtin_prefetch(f);
        __builtin_prefetch(f + strides[1]);
      }
      const int64_t k = ib[i];
      double* a = p1 + (b * n + i) * 2;
      double* c = p2 + (b * n + i) * 2;
      if (k < 0) {
        a[0] = a[1] = c[0] = c[1] = std::nan("");
        continue;
      }
      const int64_t y = k / w, x = k % w;
      const float* f = flow + b * strides[0] + y * strides[2] + x * strides[3];
      a[0] = static_cast<double>(x);
      a[1] = static_cast<double>(y);
      c[0] = a[0] + static_cast<double>(f[0]);
      c[1] = a[1] + static_cast<double>(f[strides[1]]);
    }
  });
}

}  // namespace vo
