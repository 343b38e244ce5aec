#pragma once
#include <cstdint>

namespace vo {
// Mid-point triangulation of N matches p1, p2 [N,2] (pixels) with K^-1, R, t (X_2 = R X_1 + t):
// X [N,3], depth1, depth2, cos, ray_cos [N], valid [N] (include/triangulate_math.h).
void triangulate_midpoint_cpu(const double* p1, const double* p2, int64_t N, const double* Kinv, const double* R,
                              const double* t, double cos_threshold, double* X, double* depth1, double* depth2,
                              double* cos, double* ray_cos, uint8_t* valid, int threads);
}  // namespace vo
