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
      // Blocks of 8 matches, one per lane, each vote branch-free, so the loop vectorises.
      constexpr int L = 8;
      int64_t lane_counts[4][L] = {};
      for (int64_t base = 0; base < N; base += L) {
        double u1[L], v1[L], u2[L], v2[L];
        int64_t use[L];
        for (int l = 0; l < L; ++l) {
          const int64_t i = base + l < N ? base + l : N - 1;
          const double* a = p1 + (b * N + i) * 2;
          const double* c = p2 + (b * N + i) * 2;
          use[l] = (base + l < N) & (!mask || mask[b * N + i]) & finite(a[0]) & finite(a[1]) & finite(c[0]) &
                   finite(c[1]);
          v1[l] = (a[1] - cy) / fy;
          v2[l] = (c[1] - cy) / fy;
          u1[l] = (a[0] - cx - s * v1[l]) / fx;
          u2[l] = (c[0] - cx - s * v2[l]) / fx;
        }
        for (int j = 0; j < 4; j += 2)  // candidates j and j + 1 differ only in the sign of t
          for (int l = 0; l < L; ++l) {
            bool plus, minus;
            midpoint_votes(u1[l], v1[l], u2[l], v2[l], Rc[j], tc[j], c2[j], plus, minus);
            lane_counts[j][l] += use[l] & static_cast<int64_t>(plus);
            lane_counts[j + 1][l] += use[l] & static_cast<int64_t>(minus);
          }
      }
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < L; ++l) counts[j] += lane_counts[j][l];
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
