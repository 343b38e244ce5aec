// Occlusion mask, forward-backward distance and match score on the CPU (csrc/cpu/masks.h).
#include "masks.h"

#include <algorithm>
#include <cmath>

#include "parallel.h"

namespace vo {
namespace {

// Bilinear sample of channel c of flow [H,W,2] at (x, y), border replicated, as cv2.remap's
// INTER_LINEAR does it (the reference's sampler): the position rounded to 1/32 pixel, float
// weights (1 - a) and a of that grid, each corner index clamped into the image.
inline float sample(const float* f, int64_t H, int64_t W, float x, float y, int c) {
  const long X = std::lrint(x * 32.0f), Y = std::lrint(y * 32.0f);
  const float ax = static_cast<float>(X & 31) * (1.0f / 32), ay = static_cast<float>(Y & 31) * (1.0f / 32);
  const int64_t x0 = X >> 5, y0 = Y >> 5;
  const int64_t xa = std::min(std::max<int64_t>(x0, 0), W - 1), xb = std::min(std::max<int64_t>(x0 + 1, 0), W - 1);
  const int64_t ya = std::min(std::max<int64_t>(y0, 0), H - 1), yb = std::min(std::max<int64_t>(y0 + 1, 0), H - 1);
  const float w00 = (1.0f - ay) * (1.0f - ax), w01 = (1.0f - ay) * ax, w10 = ay * (1.0f - ax), w11 = ay * ax;
  return f[(ya * W + xa) * 2 + c] * w00 + f[(ya * W + xb) * 2 + c] * w01 + f[(yb * W + xa) * 2 + c] * w10 +
         f[(yb * W + xb) * 2 + c] * w11;
}

}  // namespace

void match_score_cpu(const float* ff, const float* fb, int64_t H, int64_t W, float* score, float* occ, float* dfb,
                     double* work, int threads) {
  // M_o: splat (scatter, one thread) into `work` [H*W], float32 weights summed in double.
  std::fill(work, work + H * W, 0.0);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      const float tx = static_cast<float>(x) + fb[(y * W + x) * 2];
      const float ty = static_cast<float>(y) + fb[(y * W + x) * 2 + 1];
      if (!(std::isfinite(tx) && std::isfinite(ty))) continue;
      const float x0 = std::floor(tx), y0 = std::floor(ty);
      if (x0 < -1 || x0 >= W || y0 < -1 || y0 >= H) continue;
      const float ax = tx - x0, ay = ty - y0;
      const int64_t ix = static_cast<int64_t>(x0), iy = static_cast<int64_t>(y0);
      const float wts[4] = {(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay};
      for (int k = 0; k < 4; ++k) {
        const int64_t cx = ix + (k & 1), cy = iy + (k >> 1);
        if (cx >= 0 && cx < W && cy >= 0 && cy < H) work[cy * W + cx] += wts[k];
      }
    }
  // D_fb and the score, threaded over rows.
  parallel_for(H, threads, [&](int64_t y) {
    for (int64_t x = 0; x < W; ++x) {
      const int64_t i = y * W + x;
      const float o = static_cast<float>(std::min(std::max(work[i], 0.0), 1.0));
      const float tx = static_cast<float>(x) + ff[2 * i], ty = static_cast<float>(y) + ff[2 * i + 1];
      // A non-finite target: D_fb is NaN for a NaN flow, +inf for an infinite one (as in the reference).
      float d = std::isnan(ff[2 * i]) || std::isnan(ff[2 * i + 1]) ? NAN : INFINITY;
      bool inside = false;
      if (std::isfinite(tx) && std::isfinite(ty)) {
        const float sx = ff[2 * i] + sample(fb, H, W, tx, ty, 0);
        const float sy = ff[2 * i + 1] + sample(fb, H, W, tx, ty, 1);
        d = std::sqrt(sx * sx + sy * sy);
        inside = tx >= 0 && tx <= W - 1 && ty >= 0 && ty <= H - 1;
      }
      occ[i] = o;
      dfb[i] = d;
      score[i] = inside && std::isfinite(d) ? o * (1.0f / (0.1f + d)) : 0.0f;
    }
  });
}

}  // namespace vo
