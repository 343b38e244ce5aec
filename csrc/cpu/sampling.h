#pragma once
#include <cstdint>

namespace vo {
// score: [batch, hw] float32. out_idx: [batch, n] flat pixel indices (-1 past the
// number drawn). out_count: [batch] number of top-ratio candidates.
void sample_topk_random_cpu(const float* score, int64_t batch, int64_t hw, int64_t n, double ratio, uint64_t seed,
                            int64_t* out_idx, int64_t* out_count, int threads);
}  // namespace vo
