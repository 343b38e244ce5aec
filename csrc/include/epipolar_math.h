// Small dense linear algebra for two-view geometry, usable on host and device.
// Conventions: 3x3 matrices row-major in double[9]; x2^T F x1 = 0.
#pragma once
#include <cmath>

#include "vo_common.h"

namespace vo {

// Hartley normalisation x_n = s (x - c): writes T as row-major 3x3.
struct Norm2D {
  double cx, cy, s;
};

VO_HD void norm_matrix(const Norm2D& n, double T[9]) {
  T[0] = n.s; T[1] = 0; T[2] = -n.s * n.cx;
  T[3] = 0; T[4] = n.s; T[5] = -n.s * n.cy;
  T[6] = 0; T[7] = 0; T[8] = 1;
}

// One row of the 8-point design matrix for normalised points.
VO_HD void epipolar_row(double x1, double y1, double x2, double y2, double r[9]) {
  r[0] = x2 * x1; r[1] = x2 * y1; r[2] = x2;
  r[3] = y2 * x1; r[4] = y2 * y1; r[5] = y2;
  r[6] = x1; r[7] = y1; r[8] = 1.0;
}

// Null vector of an 8x9 matrix by Gaussian elimination with full pivoting.
// Returns false when the rank is below 8 (degenerate sample).
VO_HD bool null_vector_8x9(double A[8][9], double f[9]) {
  int col[9];
  for (int j = 0; j < 9; ++j) col[j] = j;
  for (int k = 0; k < 8; ++k) {
    int pr = k, pc = k;
    double best = 0.0;
    for (int i = k; i < 8; ++i)
      for (int j = k; j < 9; ++j) {
        const double v = fabs(A[i][col[j]]);
        if (v > best) { best = v; pr = i; pc = j; }
      }
    if (!(best > 1e-12)) return false;
    if (pr != k)
      for (int j = 0; j < 9; ++j) { const double t = A[k][j]; A[k][j] = A[pr][j]; A[pr][j] = t; }
    if (pc != k) { const int t = col[k]; col[k] = col[pc]; col[pc] = t; }
    const double piv = A[k][col[k]];
    for (int i = k + 1; i < 8; ++i) {
      const double m = A[i][col[k]] / piv;
      if (m != 0.0)
        for (int j = k; j < 9; ++j) A[i][col[j]] -= m * A[k][col[j]];
    }
  }
  // Free variable: the last pivot column.
  double x[9];
  x[col[8]] = 1.0;
  for (int k = 7; k >= 0; --k) {
    double s = 0.0;
    for (int j = k + 1; j < 9; ++j) s += A[k][col[j]] * x[col[j]];
    x[col[k]] = -s / A[k][col[k]];
  }
  double n = 0.0;
  for (int j = 0; j < 9; ++j) n += x[j] * x[j];
  n = sqrt(n);
  if (!(n > 0.0) || !finite(n)) return false;
  for (int j = 0; j < 9; ++j) f[j] = x[j] / n;
  return true;
}

// Cyclic Jacobi eigen-decomposition of a symmetric n x n matrix (n <= 9), in place.
// On return the diagonal of A holds the eigenvalues and the columns of V the vectors.
VO_HD void jacobi_eigen(double* A, double* V, int n) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) V[i * n + j] = (i == j) ? 1.0 : 0.0;
  for (int sweep = 0; sweep < 30; ++sweep) {
    double off = 0.0, diag = 0.0;
    for (int i = 0; i < n; ++i) {
      diag += A[i * n + i] * A[i * n + i];
      for (int j = i + 1; j < n; ++j) off += A[i * n + j] * A[i * n + j];
    }
    if (off <= 1e-30 * (diag + 1e-300)) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        const double apq = A[p * n + q];
        if (fabs(apq) < 1e-300) continue;
        const double theta = (A[q * n + q] - A[p * n + p]) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
        const double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
        for (int k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = A[k * n + p], akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = A[p * n + k], aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < n; ++k) {
          const double vkp = V[k * n + p], vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
}

// Eigenvector of the smallest eigenvalue of a symmetric n x n matrix (n <= 9).
VO_HD void smallest_eigenvector(const double* M, int n, double* out) {
  double A[81], V[81];
  for (int i = 0; i < n * n; ++i) A[i] = M[i];
  jacobi_eigen(A, V, n);
  int k = 0;
  for (int i = 1; i < n; ++i)
    if (A[i * n + i] < A[k * n + k]) k = i;
  for (int i = 0; i < n; ++i) out[i] = V[i * n + k];
}

// Eigenvector of the smallest eigenvalue of a symmetric positive semi-definite n x n
// matrix (n <= 9) by inverse iteration from `guess`, a vector close to it (a refit starts
// from the model it refines).  Cholesky of M + 1e-13 trace(M) I (same eigenvectors; the
// shift keeps the factor defined when M is singular), then solves until the unit vector
// changes by less than 1e-14.  Each step divides the error by lambda_2 / lambda_1, so a
// few steps suffice for a least-squares fit; returns false when 24 do not (close
// eigenvalues, or a guess orthogonal to the answer), for the caller to use jacobi_eigen.
VO_HD bool smallest_eigenvector_near(const double* M, int n, const double* guess, double* out) {
  double L[81], x[9], y[9];
  double tr = 0.0;
  for (int i = 0; i < n; ++i) tr += M[i * n + i];
  if (!(tr > 0.0) || !finite(tr)) return false;
  const double shift = 1e-13 * tr;
  for (int j = 0; j < n; ++j) {
    double d = M[j * n + j] + shift;
    for (int k = 0; k < j; ++k) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0.0)) return false;
    const double ljj = sqrt(d);
    L[j * n + j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double s = M[i * n + j];
      for (int k = 0; k < j; ++k) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  double nrm = 0.0;
  for (int i = 0; i < n; ++i) nrm += guess[i] * guess[i];
  nrm = sqrt(nrm);
  if (!(nrm > 0.0) || !finite(nrm)) return false;
  for (int i = 0; i < n; ++i) x[i] = guess[i] / nrm;
  for (int step = 0; step < 24; ++step) {
    for (int i = 0; i < n; ++i) {  // L z = x (z in y)
      double s = x[i];
      for (int k = 0; k < i; ++k) s -= L[i * n + k] * y[k];
      y[i] = s / L[i * n + i];
    }
    for (int i = n - 1; i >= 0; --i) {  // L^T y = z
      double s = y[i];
      for (int k = i + 1; k < n; ++k) s -= L[k * n + i] * y[k];
      y[i] = s / L[i * n + i];
    }
    double yy = 0.0, xy = 0.0;
    for (int i = 0; i < n; ++i) { yy += y[i] * y[i]; xy += x[i] * y[i]; }
    if (!(yy > 0.0) || !finite(yy)) return false;
    const double scale = (xy < 0.0 ? -1.0 : 1.0) / sqrt(yy);  // keep the guess's sign
    double change = 0.0;
    for (int i = 0; i < n; ++i) {
      const double v = y[i] * scale;
      change = fmax(change, fabs(v - x[i]));
      x[i] = v;
    }
    if (change < 1e-14) {
      for (int i = 0; i < n; ++i) out[i] = x[i];
      return true;
    }
  }
  return false;
}

// Closest rank-2 matrix: F <- F (I - v v^T), v the right null direction of F.
VO_HD void enforce_rank2(double F[9]) {
  double FtF[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      FtF[i * 3 + j] = F[0 * 3 + i] * F[0 * 3 + j] + F[1 * 3 + i] * F[1 * 3 + j] + F[2 * 3 + i] * F[2 * 3 + j];
  double v[3];
  smallest_eigenvector(FtF, 3, v);
  for (int r = 0; r < 3; ++r) {
    const double d = F[r * 3 + 0] * v[0] + F[r * 3 + 1] * v[1] + F[r * 3 + 2] * v[2];
    for (int c = 0; c < 3; ++c) F[r * 3 + c] -= d * v[c];
  }
}

// F_pix = T2^T F_n T1, scaled to unit Frobenius norm.
VO_HD void denormalize(const double Fn[9], const Norm2D& n1, const Norm2D& n2, double F[9]) {
  double T1[9], T2[9], tmp[9];
  norm_matrix(n1, T1);
  norm_matrix(n2, T2);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += Fn[i * 3 + k] * T1[k * 3 + j];
      tmp[i * 3 + j] = s;
    }
  double nrm = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += T2[k * 3 + i] * tmp[k * 3 + j];
      F[i * 3 + j] = s;
      nrm += s * s;
    }
  nrm = sqrt(nrm);
  for (int i = 0; i < 9; ++i) F[i] /= nrm;
}

// The inverse of denormalize up to scale: F_n = T2^-T F_pix T1^-1, unit Frobenius norm.
VO_HD void normalize_fundamental(const double F[9], const Norm2D& n1, const Norm2D& n2, double Fn[9]) {
  // T^-1 = [[1/s, 0, cx], [0, 1/s, cy], [0, 0, 1]]
  const double a1 = 1.0 / n1.s, a2 = 1.0 / n2.s;
  double tmp[9];
  for (int i = 0; i < 3; ++i) {  // tmp = F T1^-1
    tmp[i * 3 + 0] = F[i * 3 + 0] * a1;
    tmp[i * 3 + 1] = F[i * 3 + 1] * a1;
    tmp[i * 3 + 2] = F[i * 3 + 0] * n1.cx + F[i * 3 + 1] * n1.cy + F[i * 3 + 2];
  }
  for (int j = 0; j < 3; ++j) {  // Fn = T2^-T tmp
    Fn[0 * 3 + j] = tmp[0 * 3 + j] * a2;
    Fn[1 * 3 + j] = tmp[1 * 3 + j] * a2;
    Fn[2 * 3 + j] = tmp[0 * 3 + j] * n2.cx + tmp[1 * 3 + j] * n2.cy + tmp[2 * 3 + j];
  }
  double nrm = 0.0;
  for (int k = 0; k < 9; ++k) nrm += Fn[k] * Fn[k];
  nrm = sqrt(nrm);
  for (int k = 0; k < 9; ++k) Fn[k] /= nrm;
}

// Epipolar residual r = x2^T F x1 of a match and the squared norm of its gradient in the
// four pixel coordinates: the Sampson distance is r^2 / grad2.
struct SampsonTerms {
  double r, grad2;
};
VO_HD SampsonTerms sampson_terms(const double F[9], double x1, double y1, double x2, double y2) {
  const double a = F[0] * x1 + F[1] * y1 + F[2];
  const double b = F[3] * x1 + F[4] * y1 + F[5];
  const double c = F[6] * x1 + F[7] * y1 + F[8];
  const double d = F[0] * x2 + F[3] * y2 + F[6];
  const double e = F[1] * x2 + F[4] * y2 + F[7];
  return {x2 * a + y2 * b + c, a * a + b * b + d * d + e * e};
}

// Sampson distance below sqrt(thr2)? (no division: the hot loop of RANSAC scoring)
VO_HD bool sampson_inlier(const double F[9], double x1, double y1, double x2, double y2, double thr2) {
  const SampsonTerms t = sampson_terms(F, x1, y1, x2, y2);
  return t.r * t.r < thr2 * t.grad2;
}

// Squared distance (pixels^2) of (x2,y2) to the epipolar line F (x1,y1,1).
VO_HD double epiline_sq(const double F[9], double x1, double y1, double x2, double y2) {
  const double a = F[0] * x1 + F[1] * y1 + F[2];
  const double b = F[3] * x1 + F[4] * y1 + F[5];
  const double c = F[6] * x1 + F[7] * y1 + F[8];
  const double r = x2 * a + y2 * b + c;
  const double den = a * a + b * b;
  return den > 1e-300 ? r * r / den : 1e300;
}

// Standard RANSAC stopping rule: draws needed for one all-inlier sample of size 8.
VO_HD double ransac_needed(double inlier_ratio, double confidence) {
  const double w8 = pow(inlier_ratio < 1e-9 ? 1e-9 : inlier_ratio, 8.0);
  if (w8 >= 1.0 - 1e-12) return 1.0;
  return log(1.0 - confidence) / log(1.0 - w8);
}

}  // namespace vo
