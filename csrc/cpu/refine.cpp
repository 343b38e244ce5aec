// Robust pose refinement on the CPU, threaded over the batch.
#include "refine.h"

#include <cmath>
#include <vector>

#include "parallel.h"
#include "refine_math.h"

namespace vo {
namespace {

struct Matches {
  std::vector<double> x1, y1, x2, y2;
};

double cost(const Matches& m, const double* Kinv, const double* R, const double* t, double huber, double* r) {
  double F[9];
  fundamental_from_pose(Kinv, R, t, F);
  double c = 0;
  for (size_t i = 0; i < m.x1.size(); ++i) {
    r[i] = signed_sampson(F, m.x1[i], m.y1[i], m.x2[i], m.y2[i]);
    const double a = std::fabs(r[i]);
    c += a <= huber ? r[i] * r[i] : huber * (2 * a - huber);
  }
  return c;
}

}  // namespace

void refine_pose_cpu(const double* p1, const double* p2, const uint8_t* mask, const double* K, int64_t B, int64_t N,
                     double huber, int iters, double* R, double* t, double* rms, int threads) {
  parallel_for(B, threads, [&](int64_t b) {
    Matches m;
    for (int64_t i = 0; i < N; ++i) {
      if (mask && !mask[b * N + i]) continue;
      const double* a = p1 + (b * N + i) * 2;
      const double* c = p2 + (b * N + i) * 2;
      if (!(finite(a[0]) && finite(a[1]) && finite(c[0]) && finite(c[1]))) continue;
      m.x1.push_back(a[0]); m.y1.push_back(a[1]); m.x2.push_back(c[0]); m.y2.push_back(c[1]);
    }
    double* Rb = R + 9 * b;
    double* tb = t + 3 * b;
    const size_t n = m.x1.size();
    if (n < 8) { rms[b] = std::nan(""); return; }
    const double* Kb = K + 9 * b;
    const double Kinv[9] = {1.0 / Kb[0], -Kb[1] / (Kb[0] * Kb[4]), (Kb[1] * Kb[5] - Kb[2] * Kb[4]) / (Kb[0] * Kb[4]),
                            0.0, 1.0 / Kb[4], -Kb[5] / Kb[4], 0.0, 0.0, 1.0};
    std::vector<double> r(n), rd(n);
    double c0 = cost(m, Kinv, Rb, tb, huber, r.data());
    const double eps = 1e-7;
    for (int it = 0; it < iters; ++it) {
      // Forward-difference Jacobian columns, accumulated straight into the normal equations.
      std::vector<double> J(5 * n);
      for (int k = 0; k < 5; ++k) {
        double d[5] = {0, 0, 0, 0, 0}, Rn[9], tn[3];
        d[k] = eps;
        retract(Rb, tb, d, Rn, tn);
        cost(m, Kinv, Rn, tn, huber, rd.data());
        for (size_t i = 0; i < n; ++i) J[k * n + i] = (rd[i] - r[i]) / eps;
      }
      double H[5][5] = {{0}}, g[5] = {0};
      for (size_t i = 0; i < n; ++i) {
        const double a = std::fabs(r[i]);
        const double w = a <= huber ? 1.0 : huber / a;
        for (int p = 0; p < 5; ++p) {
          g[p] -= w * J[p * n + i] * r[i];
          for (int q = p; q < 5; ++q) H[p][q] += w * J[p * n + i] * J[q * n + i];
        }
      }
      for (int p = 0; p < 5; ++p) {
        H[p][p] += 1e-9;
        for (int q = 0; q < p; ++q) H[p][q] = H[q][p];
      }
      double step[5], Rn[9], tn[3];
      if (!solve5(H, g, step)) break;
      retract(Rb, tb, step, Rn, tn);
      const double c1 = cost(m, Kinv, Rn, tn, huber, rd.data());
      if (!(c1 <= c0)) break;
      for (int k = 0; k < 9; ++k) Rb[k] = Rn[k];
      for (int k = 0; k < 3; ++k) tb[k] = tn[k];
      r.swap(rd);
      const bool small = std::fabs(c0 - c1) <= 1e-12 * (c0 + 1e-300);
      c0 = c1;
      if (small) break;
    }
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += r[i] * r[i];
    rms[b] = std::sqrt(s / n);
  });
}

}  // namespace vo
