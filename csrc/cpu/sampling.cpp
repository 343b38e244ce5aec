// Mask-weighted match sampling on the CPU: top `ratio` of pixels by score, then
// `n` of them at random without replacement (partial Fisher-Yates).
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <thread>
#include <vector>

#include "parallel.h"
#include "vo_common.h"

namespace vo {

static inline uint32_t key_bits(float s) {
  uint32_t b;
  std::memcpy(&b, &s, sizeof b);
  return b;  // for positive floats the bit pattern orders like the value
}

// Candidate set without sorting all pixels: a 65,536-bin histogram of the top 16 key
// bits finds the bin holding the k-th best score; only that bin is partially sorted.
static void sample_one(const float* score, int64_t hw, int64_t n, double ratio, uint64_t seed, int64_t* out_idx,
                       int64_t* out_count) {
  std::vector<uint32_t> hist(65536, 0);
  int64_t positive = 0;
  for (int64_t i = 0; i < hw; ++i)
    if (usable(score[i])) {
      ++hist[key_bits(score[i]) >> 16];
      ++positive;
    }
  const int64_t k = top_count(hw, ratio, positive);
  std::vector<int64_t> idx;
  if (k > 0) {
    int64_t above = 0;
    int bin = 65535;
    for (; bin > 0; --bin) {
      if (above + hist[bin] >= k) break;
      above += hist[bin];
    }
    std::vector<int64_t> edge;
    edge.reserve(hist[bin]);
    for (int64_t i = 0; i < hw; ++i)
      if (usable(score[i]) && static_cast<int>(key_bits(score[i]) >> 16) == bin) edge.push_back(i);
    const int64_t need = k - above;  // 1 <= need <= edge.size()
    auto better = [score](int64_t a, int64_t c) { return score[a] > score[c] || (score[a] == score[c] && a < c); };
    std::nth_element(edge.begin(), edge.begin() + (need - 1), edge.end(), better);
    const int64_t last = edge[need - 1];  // the worst candidate kept
    const float s_last = score[last];
    idx.reserve(k);
    for (int64_t i = 0; i < hw; ++i) {
      const float s = score[i];
      if (!usable(s)) continue;
      const int b = static_cast<int>(key_bits(s) >> 16);
      if (b > bin || (b == bin && (s > s_last || (s == s_last && i <= last)))) idx.push_back(i);
    }
  }
  const int64_t m = std::min(k, n);  // idx is in ascending index order: the canonical order
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
    for (int64_t i = 0; i < n; ++i) {
      const int64_t k = idx[b * n + i];
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
