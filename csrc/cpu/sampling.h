#pragma once
#include <cstdint>

namespace vo {
// score: [batch, hw] float32. out_idx: [batch, n] flat pixel indices (-1 past the
// number drawn). out_count: [batch] number of top-ratio candidates. seeds: [batch];
// item b depends only on its own score and seeds[b], so a batch equals B single calls.
void sample_topk_random_cpu(const float* score, int64_t batch, int64_t hw, int64_t n, double ratio, const uint64_t* seeds,
                            int64_t* out_idx, int64_t* out_count, int threads);

// p1, p2 [batch, n, 2] float64 pixel matches for flat indices idx [batch, n] (NaN where idx < 0).
// flow is float32 with element strides (batch, channel, y, x): any layout, e.g. [B,2,H,W] or [B,H,W,2].
void gather_matches_cpu(const float* flow, const int64_t* strides, int64_t batch, int64_t hw, int64_t w, int64_t n,
                        const int64_t* idx, double* p1, double* p2, int threads);

// Both in one pass per item: sample_topk_random_cpu, then gather_matches_cpu, with the
// flow of each drawn match prefetched while the draw runs.
void sample_matches_cpu(const float* score, const float* flow, const int64_t* strides, int64_t batch, int64_t hw,
                        int64_t w, int64_t n, double ratio, const uint64_t* seeds, int64_t* out_idx,
                        int64_t* out_count, double* p1, double* p2, int threads);
}  // namespace vo
