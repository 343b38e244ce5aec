#pragma once
// CUDA entry points: device pointers in, device pointers out, on the caller's stream.
#include <cstdint>

typedef struct CUstream_st* cudaStream_t;

namespace vo {
int cuda_device_count();
void require_cuda_device();  // throws std::runtime_error when no GPU is present
void sample_topk_random_cuda(const float* score, int64_t batch, int64_t hw, int64_t n, double ratio, uint64_t seed,
                             int64_t* out_idx, int64_t* out_count, cudaStream_t stream);
}  // namespace vo
