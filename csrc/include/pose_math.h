// Relative pose from a fundamental matrix: E = K^T F K, its four [R|t], and the
// mid-point cheirality vote (same rule as vo_app/geometry/triangulation.py).
#pragma once
#include "epipolar_math.h"

namespace vo {

VO_HD void matmul3(const double* A, const double* B, double* C) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) C[i * 3 + j] = A[i * 3] * B[j] + A[i * 3 + 1] * B[3 + j] + A[i * 3 + 2] * B[6 + j];
}

VO_HD void transpose3(const double* A, double* At) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) At[j * 3 + i] = A[i * 3 + j];
}

VO_HD void cross3(const double* a, const double* b, double* c) {
  c[0] = a[1] * b[2] - a[2] * b[1];
  c[1] = a[2] * b[0] - a[0] * b[2];
  c[2] = a[0] * b[1] - a[1] * b[0];
}

VO_HD double det3(const double* A) {
  return A[0] * (A[4] * A[8] - A[5] * A[7]) - A[1] * (A[3] * A[8] - A[5] * A[6]) + A[2] * (A[3] * A[7] - A[4] * A[6]);
}

// U, V (row-major, columns = singular vectors, det +1) of E with singular values sorted descending.
VO_HD bool essential_svd(const double* E, double* U, double* V) {
  double EtE[9], Et[9], A[9], W[9];
  transpose3(E, Et);
  matmul3(Et, E, EtE);
  for (int i = 0; i < 9; ++i) A[i] = EtE[i];
  jacobi_eigen(A, W, 3);
  int o[3] = {0, 1, 2};  // sort eigenvalues descending
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b)
      if (A[o[b] * 4] > A[o[a] * 4]) { const int t = o[a]; o[a] = o[b]; o[b] = t; }
  double v[3][3];
  for (int c = 0; c < 3; ++c)
    for (int r = 0; r < 3; ++r) v[c][r] = W[r * 3 + o[c]];
  double v3[3];
  cross3(v[0], v[1], v3);  // right-handed V
  for (int r = 0; r < 3; ++r) v[2][r] = v3[r];
  double u[3][3];
  for (int c = 0; c < 2; ++c) {
    double n = 0;
    for (int r = 0; r < 3; ++r) {
      u[c][r] = E[r * 3] * v[c][0] + E[r * 3 + 1] * v[c][1] + E[r * 3 + 2] * v[c][2];
    }
    if (c == 1) {  // Gram-Schmidt against u1
      const double d = u[1][0] * u[0][0] + u[1][1] * u[0][1] + u[1][2] * u[0][2];
      for (int r = 0; r < 3; ++r) u[1][r] -= d * u[0][r];
    }
    for (int r = 0; r < 3; ++r) n += u[c][r] * u[c][r];
    n = sqrt(n);
    if (!(n > 1e-300)) return false;
    for (int r = 0; r < 3; ++r) u[c][r] /= n;
  }
  cross3(u[0], u[1], u[2]);
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) {
      U[r * 3 + c] = u[c][r];
      V[r * 3 + c] = v[c][r];
    }
  return true;
}

// Four candidates: R[4][9], t[4][3] in the order (Ra,+u3), (Ra,-u3), (Rb,+u3), (Rb,-u3).
VO_HD bool decompose_essential(const double* E, double R[4][9], double t[4][3]) {
  double U[9], V[9], Vt[9], UW[9], UWt[9], Ra[9], Rb[9];
  if (!essential_svd(E, U, V)) return false;
  transpose3(V, Vt);
  const double Wm[9] = {0, -1, 0, 1, 0, 0, 0, 0, 1};
  const double Wt[9] = {0, 1, 0, -1, 0, 0, 0, 0, 1};
  matmul3(U, Wm, UW);
  matmul3(U, Wt, UWt);
  matmul3(UW, Vt, Ra);
  matmul3(UWt, Vt, Rb);
  for (int k = 0; k < 9; ++k) { R[0][k] = R[1][k] = Ra[k]; R[2][k] = R[3][k] = Rb[k]; }
  for (int r = 0; r < 3; ++r) {
    t[0][r] = t[2][r] = U[r * 3 + 2];
    t[1][r] = t[3][r] = -U[r * 3 + 2];
  }
  return true;
}

// Camera-2 centre in camera-1 coordinates: c2 = -R^T t.
VO_HD void camera_centre(const double* R, const double* t, double* c2) {
  for (int j = 0; j < 3; ++j) c2[j] = -(R[0 * 3 + j] * t[0] + R[1 * 3 + j] * t[1] + R[2 * 3 + j] * t[2]);
}

// Mid-point cheirality of one match for the two candidates (R, t) and (R, -t): rays
// n1 = (x1, y1, 1) (camera 1) and R^T (x2, y2, 1) (camera 2), both K^-1 of the pixels.
// A candidate counts the match when the rays are not nearly parallel (cosine test of the
// supplementary, threshold 1e-3) and the mid-point is in front of both cameras.  Flipping
// t negates c2 and with it, exactly, every quantity tested below, so one solve gives both
// votes.  c2 = camera_centre(R, t).  Scalars in, no branches: the CPU loop vectorises.
VO_HD void midpoint_votes(double x1, double y1, double x2, double y2, const double* R, const double* t,
                          const double* c2, bool& front_plus, bool& front_minus) {
  const double n2x = R[0] * x2 + R[3] * y2 + R[6];
  const double n2y = R[1] * x2 + R[4] * y2 + R[7];
  const double n2z = R[2] * x2 + R[5] * y2 + R[8];
  const double a11 = x1 * x1 + y1 * y1 + 1.0;
  const double a22 = n2x * n2x + n2y * n2y + n2z * n2z;
  const double a12 = x1 * n2x + y1 * n2y + n2z;
  const double b1 = x1 * c2[0] + y1 * c2[1] + c2[2];
  const double b2 = -(n2x * c2[0] + n2y * c2[1] + n2z * c2[2]);
  const double det0 = a11 * a22 - a12 * a12;
  const double det = fabs(det0) < 1e-15 ? 1e-15 : det0;
  const double inv_det = 1.0 / det;  // one division per solve (the vote loop is bound by them)
  const double l1 = (a22 * b1 + a12 * b2) * inv_det, l2 = (a12 * b1 + a11 * b2) * inv_det;
  const double X0 = 0.5 * (l1 * x1 + c2[0] + l2 * n2x);
  const double X1 = 0.5 * (l1 * y1 + c2[1] + l2 * n2y);
  const double X2 = 0.5 * (l1 + c2[2] + l2 * n2z);
  // v: perpendicular from camera 1 to ray 2, times |n2|^2 > 0 (which changes neither the
  // sign nor the cosine tested); cos(v, n1) > 1e-3 without square roots or divisions.
  const double vx = a22 * c2[0] + b2 * n2x, vy = a22 * c2[1] + b2 * n2y, vz = a22 * c2[2] + b2 * n2z;
  const double dot = vx * x1 + vy * y1 + vz;
  const double vv = vx * vx + vy * vy + vz * vz;
  const double z2 = R[6] * X0 + R[7] * X1 + R[8] * X2 + t[2];
  const bool common = (dot * dot > 1e-6 * vv * a11) & (X2 == X2) & (X2 - X2 == 0.0);
  front_plus = common & (dot > 0) & (l1 > 0) & (l2 > 0) & (X2 > 0) & (z2 > 0);
  front_minus = common & (dot < 0) & (l1 < 0) & (l2 < 0) & (X2 < 0) & (z2 < 0);
}

}  // namespace vo
