// Planar check of a fundamental-matrix fit: does one homography explain its inliers?
// Host and device; the batched NumPy version is vo_app/geometry/batched.py planar_pairs (the oracle).
#pragma once
#include <cmath>

#include "epipolar_math.h"

namespace vo {

// Normal matrix A^T A (9x9) of the normalised homography DLT.  The two rows of a match,
// a = (x, y, 1) in image 1 and (x', y') in image 2 (both normalised), are [0, -a, y' a] and
// [a, 0, -x' a]; A^T A is then made of S_w = sum w a a^T for w = 1, x', y', x'^2 + y'^2:
// [[S_1, 0, -S_x'], [0, S_1, -S_y'], [-S_x', -S_y', S_r]].  `sums` [4][6] holds the 6 distinct
// entries (xx, xy, x, yy, y, 1) of each S_w.
VO_HD void homography_accumulate(double sums[4][6], double x, double y, double u, double v) {
  const double mono[6] = {x * x, x * y, x, y * y, y, 1.0};
  const double w[4] = {1.0, u, v, u * u + v * v};
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 6; ++j) sums[k][j] += w[k] * mono[j];
}

VO_HD void homography_normal_matrix(const double sums[4][6], double ata[81]) {
  const int idx[3][3] = {{0, 1, 2}, {1, 3, 4}, {2, 4, 5}};
  for (int i = 0; i < 81; ++i) ata[i] = 0.0;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) {
      const int e = idx[r][c];
      ata[r * 9 + c] = ata[(3 + r) * 9 + 3 + c] = sums[0][e];
      ata[r * 9 + 6 + c] = ata[(6 + c) * 9 + r] = -sums[1][e];
      ata[(3 + r) * 9 + 6 + c] = ata[(6 + c) * 9 + 3 + r] = -sums[2][e];
      ata[(6 + r) * 9 + 6 + c] = sums[3][e];
    }
}

// H = T2^-1 h T1 for Hartley normalisations n1, n2 (T = [[s, 0, -s cx], [0, s, -s cy], [0, 0, 1]]).
VO_HD void homography_denormalize(const double h[9], const Norm2D& n1, const Norm2D& n2, double H[9]) {
  double T1[9], T2inv[9], tmp[9];
  norm_matrix(n1, T1);
  T2inv[0] = 1.0 / n2.s; T2inv[1] = 0; T2inv[2] = n2.cx;
  T2inv[3] = 0; T2inv[4] = 1.0 / n2.s; T2inv[5] = n2.cy;
  T2inv[6] = 0; T2inv[7] = 0; T2inv[8] = 1;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) tmp[i * 3 + j] = h[i * 3] * T1[j] + h[i * 3 + 1] * T1[3 + j] + h[i * 3 + 2] * T1[6 + j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) H[i * 3 + j] = T2inv[i * 3] * tmp[j] + T2inv[i * 3 + 1] * tmp[3 + j] + T2inv[i * 3 + 2] * tmp[6 + j];
}

// Squared transfer error |H x1 - x2|^2 (pixels).
VO_HD double transfer_error_sq(const double H[9], double x1, double y1, double x2, double y2) {
  const double z = H[6] * x1 + H[7] * y1 + H[8];
  const double ex = (H[0] * x1 + H[1] * y1 + H[2]) / z - x2;
  const double ey = (H[3] * x1 + H[4] * y1 + H[5]) / z - y2;
  return ex * ex + ey * ey;
}

}  // namespace vo
