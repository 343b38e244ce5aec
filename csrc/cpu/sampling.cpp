// Mask-weighted match sampling on the CPU: top `ratio` of pixels by score, then
// `n` of them at random without replacement (partial Fisher-Yates).
#include "sampling.h"

#include <algorithm>
#include <numeric>
#include <thread>
#include <vector>

#include "vo_common.h"

namespace vo {

static void sample_one(const float* score, int64_t hw, int64_t n, double ratio, uint64_t seed,
                       int64_t* out_idx, int64_t* out_count) {
  std::vector<int64_t> idx;
  idx.reserve(hw);
  for (int64_t i = 0; i < hw; ++i)
    if (usable(score[i])) idx.push_back(i);
  const int64_t k = top_count(hw, ratio, static_cast<int64_t>(idx.size()));
  auto better = [score](int64_t a, int64_t c) { return score[a] > score[c] || (score[a] == score[c] && a < c); };
  if (k < static_cast<int64_t>(idx.size())) {
    std::nth_element(idx.begin(), idx.begin() + k, idx.end(), better);
    idx.resize(k);
  }
  std::sort(idx.begin(), idx.end());  // canonical order before the random draw
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

}  // namespace vo
