#pragma once
#include <cstdint>

namespace vo {
// F, K: [B,3,3]; p1, p2: [B,N,2]; mask: [B,N] (0/1) or nullptr. Outputs: R [B,3,3],
// unit t [B,3] (X2 = R X1 + t), n_front [B], n_front_all [B,4] (points in front per candidate).
void pose_from_fundamental_cpu(const double* F, const double* K, const double* p1, const double* p2,
                               const uint8_t* mask, int64_t B, int64_t N, double* R_out, double* t_out,
                               int64_t* n_front, int64_t* n_front_all, int threads);
}  // namespace vo
