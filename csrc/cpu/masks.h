#pragma once
#include <cstdint>

namespace vo {
// TrianFlow's sampling score of one pair of flows ff, fb [H,W,2] float32 (frame 1 -> 2 and 2 -> 1):
// occ = M_o (the backward flow's bilinear splat of ones, clamped to [0,1]), dfb = D_fb (forward-
// backward distance, the backward flow sampled bilinearly at p + ff(p), border replicated) and
// score = M_o / (0.1 + D_fb) where p + ff(p) is inside frame 2 and D_fb is finite, else 0.
// Reference: vo_app/geometry/flow_masks.py match_score.
void match_score_cpu(const float* ff, const float* fb, int64_t H, int64_t W, float* score, float* occ, float* dfb,
                     double* work, int threads);
}  // namespace vo
