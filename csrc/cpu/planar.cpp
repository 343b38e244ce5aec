// Planar check of F fits on the CPU, threaded over the batch (the math is
// csrc/include/homography_math.h).
#include "planar.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "homography_math.h"
#include "parallel.h"

namespace vo {

namespace {

// Hartley normalisation of the selected points: centroid, and scale sqrt(2) / mean distance.
Norm2D normalisation(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  double cx = 0, cy = 0;
  for (size_t i = 0; i < n; ++i) { cx += x[i]; cy += y[i]; }
  cx /= n; cy /= n;
  double d = 0;
  for (size_t i = 0; i < n; ++i) d += std::sqrt((x[i] - cx) * (x[i] - cx) + (y[i] - cy) * (y[i] - cy));
  d /= n;
  return Norm2D{cx, cy, std::sqrt(2.0) / std::max(d, 1e-12)};
}

}  // namespace

void planar_pairs_cpu(const double* p1, const double* p2, const uint8_t* inliers, int64_t B, int64_t N, double tol,
                      double share, uint8_t* planar, int threads) {
  parallel_for(B, threads, [&](int64_t b) {
    planar[b] = 0;
    std::vector<double> x1, y1, x2, y2;
    for (int64_t i = 0; i < N; ++i) {
      if (!inliers[b * N + i]) continue;
      const double* a = p1 + (b * N + i) * 2;
      const double* c = p2 + (b * N + i) * 2;
      if (!(finite(a[0]) && finite(a[1]) && finite(c[0]) && finite(c[1]))) continue;
      x1.push_back(a[0]); y1.push_back(a[1]); x2.push_back(c[0]); y2.push_back(c[1]);
    }
    const size_t n = x1.size();
    if (n < 4) return;
    const Norm2D n1 = normalisation(x1, y1), n2 = normalisation(x2, y2);
    double sums[4][6] = {{0}};
    for (size_t i = 0; i < n; ++i)
      homography_accumulate(sums, n1.s * (x1[i] - n1.cx), n1.s * (y1[i] - n1.cy), n2.s * (x2[i] - n2.cx),
                            n2.s * (y2[i] - n2.cy));
    double ata[81], h[9], H[9];
    homography_normal_matrix(sums, ata);
    smallest_eigenvector(ata, 9, h);
    homography_denormalize(h, n1, n2, H);
    for (int k = 0; k < 9; ++k)
      if (!finite(H[k])) return;
    const double tol2 = tol * tol;
    size_t good = 0;
    for (size_t i = 0; i < n; ++i) good += transfer_error_sq(H, x1[i], y1[i], x2[i], y2[i]) < tol2;
    planar[b] = static_cast<double>(good) / static_cast<double>(n) >= share;
  });
}

}  // namespace vo
