// Robust Gauss-Newton refinement of a relative pose on its matches (5 DoF: rotation and
// the direction of t), minimising signed Sampson residuals with Huber weights; the same
// algorithm as vo_app/geometry/refine.py (forward differences here).
#pragma once
#include "pose_math.h"

namespace vo {

// F = K^-T [t]x R K^-1 (unit Frobenius norm not needed: Sampson residuals are scale-free).
VO_HD void fundamental_from_pose(const double* Kinv, const double* R, const double* t, double* F) {
  const double tx[9] = {0, -t[2], t[1], t[2], 0, -t[0], -t[1], t[0], 0};
  double E[9], KinvT[9], tmp[9];
  matmul3(tx, R, E);
  transpose3(Kinv, KinvT);
  matmul3(KinvT, E, tmp);
  matmul3(tmp, Kinv, F);
}

VO_HD double signed_sampson(const double* F, double x1, double y1, double x2, double y2) {
  const double a = F[0] * x1 + F[1] * y1 + F[2];
  const double b = F[3] * x1 + F[4] * y1 + F[5];
  const double c = F[6] * x1 + F[7] * y1 + F[8];
  const double d = F[0] * x2 + F[3] * y2 + F[6];
  const double e = F[1] * x2 + F[4] * y2 + F[7];
  const double den = a * a + b * b + d * d + e * e;
  return (x2 * a + y2 * b + c) / sqrt(den > 1e-300 ? den : 1e-300);
}

VO_HD void so3_exp3(const double* w, double* R) {
  const double th = sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
  const double W[9] = {0, -w[2], w[1], w[2], 0, -w[0], -w[1], w[0], 0};
  double W2[9];
  matmul3(W, W, W2);
  const double A = th < 1e-8 ? 1.0 - th * th / 6.0 : sin(th) / th;
  const double B = th < 1e-8 ? 0.5 - th * th / 24.0 : (1.0 - cos(th)) / (th * th);
  for (int i = 0; i < 9; ++i) R[i] = (i % 4 == 0 ? 1.0 : 0.0) + A * W[i] + B * W2[i];
}

// Apply a 5-vector step d to (R, t): R <- R exp(d[0:3]), t <- normalise(t + d3 b1 + d4 b2).
VO_HD void retract(const double* R, const double* t, const double* d, double* Rn, double* tn) {
  double dR[9];
  so3_exp3(d, dR);
  matmul3(R, dR, Rn);
  const double ax[3] = {fabs(t[0]) < 0.9 ? 1.0 : 0.0, fabs(t[0]) < 0.9 ? 0.0 : 1.0, 0.0};
  double b1[3], b2[3];
  cross3(t, ax, b1);
  const double n1 = sqrt(b1[0] * b1[0] + b1[1] * b1[1] + b1[2] * b1[2]);
  for (int k = 0; k < 3; ++k) b1[k] /= n1;
  cross3(t, b1, b2);
  double n = 0;
  for (int k = 0; k < 3; ++k) {
    tn[k] = t[k] + d[3] * b1[k] + d[4] * b2[k];
    n += tn[k] * tn[k];
  }
  n = sqrt(n);
  for (int k = 0; k < 3; ++k) tn[k] /= n;
}

// Solve the 5x5 system H x = g (H symmetric positive definite) by Gaussian elimination.
VO_HD bool solve5(double H[5][5], double g[5], double x[5]) {
  for (int k = 0; k < 5; ++k) {
    int p = k;
    for (int i = k + 1; i < 5; ++i)
      if (fabs(H[i][k]) > fabs(H[p][k])) p = i;
    if (fabs(H[p][k]) < 1e-300) return false;
    for (int j = 0; j < 5; ++j) { const double t = H[k][j]; H[k][j] = H[p][j]; H[p][j] = t; }
    { const double t = g[k]; g[k] = g[p]; g[p] = t; }
    for (int i = k + 1; i < 5; ++i) {
      const double m = H[i][k] / H[k][k];
      for (int j = k; j < 5; ++j) H[i][j] -= m * H[k][j];
      g[i] -= m * g[k];
    }
  }
  for (int k = 4; k >= 0; --k) {
    double s = g[k];
    for (int j = k + 1; j < 5; ++j) s -= H[k][j] * x[j];
    x[k] = s / H[k][k];
  }
  return true;
}

}  // namespace vo
