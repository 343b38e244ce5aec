#pragma once
#include <cstdint>

namespace vo {
// score: [batch, hw] float32. out_idx: [batch, n] flat pixel indices (-1 past the
// number drawn). out_count: [batch] number of top-ratio candidates. seeds: [batch];
// item b depends only on its own score and seeds[b], so a batch equals B single calls.
void sample_topk_random_cpu(const float* score, int64_t batch, int64_t hw, int64_t n, double ratio, const uint64_t* seeds,
                            int64_t* out_idx, int64_t* out_count, int threads);
}  // namespace vo
