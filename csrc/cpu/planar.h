#pragma once
#include <cstdint>

namespace vo {
// Planar check of B pairs: planar[b] = 1 when one homography (normalised DLT on the inliers of
// p1, p2 [B,N,2], inliers [B,N]) has transfer error below tol for at least `share` of them.
void planar_pairs_cpu(const double* p1, const double* p2, const uint8_t* inliers, int64_t B, int64_t N, double tol,
                      double share, uint8_t* planar, int threads);
}  // namespace vo
