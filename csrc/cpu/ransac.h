#pragma once
#include <cstdint>

namespace vo {

enum RansacStatus : int32_t { kOk = 0, kTooFewPoints = 1, kDegenerate = 2 };

struct RansacParams {
  double threshold = 0.1;   // Sampson distance, pixels
  double confidence = 0.99;
  int64_t max_iters = 1000;
  const uint64_t* seeds = nullptr;  // [B]: item b depends only on its inputs and seeds[b]
  int64_t round_size = 64;  // hypotheses scored between two updates of the stopping rule
};

// p1, p2: [B, N, 2] float64 pixel matches; weights: [B, N] or nullptr.
// Outputs: F [B, 9] (row-major, unit norm), inliers [B, N] (0/1), n_inliers [B],
// iters [B] (hypotheses drawn), status [B] (RansacStatus).
void ransac_fundamental_cpu(const double* p1, const double* p2, const double* weights, int64_t B, int64_t N,
                            const RansacParams& prm, double* F, uint8_t* inliers, int64_t* n_inliers, int64_t* iters,
                            int32_t* status, int threads);

// Distance map of dense flow to the epipolar lines of F: flow [B,H,W,2] float32, F [B,9];
// writes d_epi [B,H,W] and score = (d < thr) / (1 + d) [B,H,W], both float32.
void epipolar_score_map_cpu(const float* flow, const double* F, int64_t B, int64_t H, int64_t W, double thr,
                            float* d_epi, float* score, int threads);

}  // namespace vo
