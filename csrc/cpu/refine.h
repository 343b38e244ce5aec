#pragma once
#include <cstdint>

namespace vo {
// Refine (R [B,3,3], unit t [B,3]) in place on matches p1, p2 [B,N,2] selected by mask [B,N]
// (or all finite ones), intrinsics K [B,3,3]; rms [B] gets the final residual (pixels).
void refine_pose_cpu(const double* p1, const double* p2, const uint8_t* mask, const double* K, int64_t B, int64_t N,
                     double huber, int iters, double* R, double* t, double* rms, int threads);
}  // namespace vo
