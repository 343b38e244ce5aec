// Mid-point triangulation on the CPU, threaded over chunks of matches (the per-match math is
// csrc/include/triangulate_math.h).
#include "triangulate.h"

#include <algorithm>

#include "parallel.h"
#include "pose_math.h"
#include "triangulate_math.h"

namespace vo {

void triangulate_midpoint_cpu(const double* p1, const double* p2, int64_t N, const double* Kinv, const double* R,
                              const double* t, double cos_threshold, double* X, double* depth1, double* depth2,
                              double* cos, double* ray_cos, uint8_t* valid, int threads) {
  double c2[3];
  camera_centre(R, t, c2);
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (N + kChunk - 1) / kChunk;
  parallel_for(chunks, threads, [&](int64_t c) {
    const int64_t end = std::min(N, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; ++i) {
      const MidPoint m = midpoint(p1[2 * i], p1[2 * i + 1], p2[2 * i], p2[2 * i + 1], Kinv, R, t, c2, cos_threshold);
      X[3 * i] = m.X[0]; X[3 * i + 1] = m.X[1]; X[3 * i + 2] = m.X[2];
      depth1[i] = m.depth1; depth2[i] = m.depth2; cos[i] = m.cos; ray_cos[i] = m.ray_cos;
      valid[i] = m.valid;
    }
  });
}

}  // namespace vo
