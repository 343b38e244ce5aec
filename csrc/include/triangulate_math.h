// Mid-point triangulation of one match (TrianFlow supplementary, section B), host and device.
// Same formulas, in the same order, as vo_app/geometry/triangulation.py (the NumPy oracle).
#pragma once
#include <cmath>

#include "vo_common.h"

namespace vo {

struct MidPoint {
  double X[3];     // mid-point in camera-1 coordinates
  double depth1;   // its z in camera 1
  double depth2;   // its z in camera 2
  double cos;      // the supplementary's cosine test value
  double ray_cos;  // cosine of the parallax angle between the two rays
  bool valid;      // cos > cos_threshold, in front of both cameras, finite
};

// Kinv [9] row-major K^-1; R [9], t [3]: X_2 = R X_1 + t; c2 = -R^T t (camera_centre).
VO_HD MidPoint midpoint(double x1, double y1, double x2, double y2, const double* Kinv, const double* R,
                        const double* t, const double* c2, double cos_threshold) {
  MidPoint m;
  const double n1[3] = {Kinv[0] * x1 + Kinv[1] * y1 + Kinv[2], Kinv[3] * x1 + Kinv[4] * y1 + Kinv[5],
                        Kinv[6] * x1 + Kinv[7] * y1 + Kinv[8]};
  const double r2[3] = {Kinv[0] * x2 + Kinv[1] * y2 + Kinv[2], Kinv[3] * x2 + Kinv[4] * y2 + Kinv[5],
                        Kinv[6] * x2 + Kinv[7] * y2 + Kinv[8]};
  double n2[3];  // R^T r2: ray 2 in camera-1 coordinates
  for (int j = 0; j < 3; ++j) n2[j] = r2[0] * R[j] + r2[1] * R[3 + j] + r2[2] * R[6 + j];
  const double a11 = n1[0] * n1[0] + n1[1] * n1[1] + n1[2] * n1[2];
  const double a22 = n2[0] * n2[0] + n2[1] * n2[1] + n2[2] * n2[2];
  const double a12 = n1[0] * n2[0] + n1[1] * n2[1] + n1[2] * n2[2];
  const double b1 = n1[0] * c2[0] + n1[1] * c2[1] + n1[2] * c2[2];
  const double b2 = -(n2[0] * c2[0] + n2[1] * c2[1] + n2[2] * c2[2]);
  const double det0 = a11 * a22 - a12 * a12;
  const double det = fabs(det0) < 1e-15 ? 1e-15 : det0;
  const double l1 = (a22 * b1 + a12 * b2) / det, l2 = (a12 * b1 + a11 * b2) / det;
  for (int j = 0; j < 3; ++j) m.X[j] = 0.5 * (l1 * n1[j] + c2[j] + l2 * n2[j]);
  // v: the perpendicular from camera 1 to ray 2, compared with ray 1.
  const double len2 = sqrt(a22);
  const double u[3] = {n2[0] / len2, n2[1] / len2, n2[2] / len2};
  const double proj = -(c2[0] * u[0] + c2[1] * u[1] + c2[2] * u[2]);
  const double v[3] = {c2[0] + proj * u[0], c2[1] + proj * u[1], c2[2] + proj * u[2]};
  const double nv = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]) * sqrt(a11);
  m.cos = (v[0] * n1[0] + v[1] * n1[1] + v[2] * n1[2]) / (nv > 1e-30 ? nv : 1e-30);
  m.depth1 = m.X[2];
  m.depth2 = R[6] * m.X[0] + R[7] * m.X[1] + R[8] * m.X[2] + t[2];
  m.ray_cos = a12 / (sqrt(a11) * len2);
  m.valid = (m.cos > cos_threshold) & (l1 > 0) & (l2 > 0) & (m.depth1 > 0) & (m.depth2 > 0) & finite(m.depth1);
  return m;
}

}  // namespace vo
