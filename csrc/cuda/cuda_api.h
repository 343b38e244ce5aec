#pragma once
// CUDA entry points: device pointers in, device pointers out, on the caller's stream.
//
// `device` is the CUDA device of the pointers (torch's tensor.device.index; < 0: taken from
// the first non-null pointer).  Each entry point makes it the current device for the call and
// restores the previous one on return (DeviceGuard, cuda_check.h), and refuses pointers that
// are not device memory on it (std::invalid_argument).  Argument checks and empty inputs
// follow the CPU functions of csrc/cpu/ and their bindings: std::invalid_argument (Python
// ValueError) for the same bad arguments, the same outputs for B == 0, hw == 0, N == 0.
// CUDA failures throw std::runtime_error (Python RuntimeError) naming the call or kernel.
#include <cstdint>

#include "../cpu/ransac.h"

typedef struct CUstream_st* cudaStream_t;

namespace vo {
// Version of this interface, exported as _core.cuda_api_version: 2 added `device`, the
// device guard and the argument checks.
constexpr int kCudaApiVersion = 2;

int cuda_device_count();
void require_cuda_device();  // throws std::runtime_error when no GPU is present

// Same semantics and the same draws as sample_topk_random_cpu (the Fisher-Yates traced back
// in parallel, see csrc/cuda/sampling.cu).  Checks as the CPU: n > 0, 0 < ratio <= 1,
// hw < 2^31 (and n < 2^31 here); batch == 0: nothing to do; hw == 0: out_idx all -1 and
// out_count 0.  No host synchronisation.
void sample_topk_random_cuda(int device, const float* score, int64_t batch, int64_t hw, int64_t n, double ratio,
                             const uint64_t* seeds, int64_t* out_idx, int64_t* out_count, cudaStream_t stream);
// Same semantics as ransac_fundamental_cpu; the parameter checks of its binding; B == 0:
// nothing to do; N < 8 finite matches: status 1 (too few points).
void ransac_fundamental_cuda(int device, const double* p1, const double* p2, const double* weights, int64_t B,
                             int64_t N, const RansacParams& prm, double* F, uint8_t* inliers, int64_t* n_inliers,
                             int64_t* iters, int32_t* status, cudaStream_t stream);
// As epipolar_score_map_cpu; B * H * W == 0: nothing to do.
void epipolar_score_map_cuda(int device, const float* flow, const double* F, int64_t B, int64_t H, int64_t W,
                             double thr, float* d_epi, float* score, cudaStream_t stream);
}  // namespace vo
