#pragma once
// CUDA entry points: device pointers in, device pointers out, on the caller's stream.
#include <cstdint>

#include "../cpu/ransac.h"

typedef struct CUstream_st* cudaStream_t;

namespace vo {
int cuda_device_count();
void require_cuda_device();  // throws std::runtime_error when no GPU is present
void sample_topk_random_cuda(const float* score, int64_t batch, int64_t hw, int64_t n, double ratio, const uint64_t* seeds,
                             int64_t* out_idx, int64_t* out_count, cudaStream_t stream);
// Same semantics as ransac_fundamental_cpu; all pointers on the current device.
void ransac_fundamental_cuda(const double* p1, const double* p2, const double* weights, int64_t B, int64_t N,
                             const RansacParams& prm, double* F, uint8_t* inliers, int64_t* n_inliers, int64_t* iters,
                             int32_t* status, cudaStream_t stream);
void epipolar_score_map_cuda(const float* flow, const double* F, int64_t B, int64_t H, int64_t W, double thr,
                             float* d_epi, float* score, cudaStream_t stream);
}  // namespace vo
