// Pose from F on the CPU, threaded over the batch.
#include "pose.h"

#include <cmath>

#include "parallel.h"
#include "pose_math.h"

namespace vo {

void pose_from_fundamental_cpu(const double* F, const double* K, const double* p1, const double* p2,
                               const uint8_t* mask, int64_t B, int64_t N, double* R_out, double* t_out,
                               int64_t* n_front, int64_t* n_front_all, int threads) {
  parallel_for(B, threads, [&](int64_t b) {
    const double* Kb = K + 9 * b;
    double Kt[9], tmp[9], E[9], Rc[4][9], tc[4][3];
    transpose3(Kb, Kt);
    matmul3(Kt, F + 9 * b, tmp);
    matmul3(tmp, Kb, E);
    int64_t counts[4] = {0, 0, 0, 0};
    const bool ok = decompose_essential(E, Rc, tc);
    if (ok) {
      double c2[4][3];
      for (int j = 0; j < 4; ++j) camera_centre(Rc[j], tc[j], c2[j]);
      const double fx = Kb[0], s = Kb[1], cx = Kb[2], fy = Kb[4], cy = Kb[5];
      for (int64_t i = 0; i < N; ++i) {
        if (mask && !mask[b * N + i]) continue;
        const double* a = p1 + (b * N + i) * 2;
        const double* c = p2 + (b * N + i) * 2;
        if (!(finite(a[0]) && finite(a[1]) && finite(c[0]) && finite(c[1]))) continue;
        const double y1 = (a[1] - cy) / fy, y2 = (c[1] - cy) / fy;
        const double n1[3] = {(a[0] - cx - s * y1) / fx, y1, 1.0};
        const double r2[3] = {(c[0] - cx - s * y2) / fx, y2, 1.0};
        for (int j = 0; j < 4; ++j) counts[j] += midpoint_in_front(n1, r2, Rc[j], tc[j], c2[j]);
      }
    }
    int best = 0;
    for (int j = 1; j < 4; ++j)
      if (counts[j] > counts[best]) best = j;
    for (int k = 0; k < 9; ++k) R_out[9 * b + k] = ok ? Rc[best][k] : (k % 4 == 0 ? 1.0 : 0.0);
    for (int k = 0; k < 3; ++k) t_out[3 * b + k] = ok ? tc[best][k] : 0.0;
    n_front[b] = counts[best];
    for (int j = 0; j < 4; ++j) n_front_all[4 * b + j] = counts[j];
  });
}

}  // namespace vo
