// CUDA version of csrc/cpu/sampling.cpp, same semantics and the same draws:
// top `ratio` of pixels by score (ties: lower index first), canonical index
// order, then a partial Fisher-Yates with the counter-based RNG.
#include <cuda_runtime.h>
#include <thrust/count.h>
#include <thrust/device_ptr.h>
#include <thrust/execution_policy.h>
#include <thrust/sort.h>

#include <stdexcept>
#include <string>

#include "vo_common.h"
#include "cuda_api.h"

namespace vo {

namespace {

struct IsUsable {
  __host__ __device__ bool operator()(float s) const { return usable(s); }
};

__global__ void make_keys(const float* score, int64_t hw, unsigned long long* keys) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= hw) return;
  const float s = score[i];
  const unsigned int bits = usable(s) ? __float_as_uint(s) : 0u;  // positive floats order like their bits
  keys[i] = (static_cast<unsigned long long>(0xFFFFFFFFu - bits) << 32) | static_cast<unsigned long long>(i);
}

__global__ void low_bits(const unsigned long long* keys, int64_t k, int64_t* idx) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < k) idx[i] = static_cast<int64_t>(keys[i] & 0xFFFFFFFFull);
}

__global__ void fisher_yates(int64_t* idx, int64_t k, int64_t n, const uint64_t* seeds, int64_t b, int64_t* out) {
  const uint64_t seed = seeds[b];
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  const int64_t m = k < n ? k : n;
  for (int64_t i = 0; i < m; ++i) {
    const uint32_t j = static_cast<uint32_t>(i) + rand_below(counter_rand(seed, 0, i), static_cast<uint32_t>(k - i));
    const int64_t tmp = idx[i];
    idx[i] = idx[j];
    idx[j] = tmp;
    out[i] = idx[i];
  }
  for (int64_t i = m; i < n; ++i) out[i] = -1;
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("vo_app CUDA error in ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace

void sample_topk_random_cuda(const float* score, int64_t batch, int64_t hw, int64_t n, double ratio, const uint64_t* seeds,
                             int64_t* out_idx, int64_t* out_count, cudaStream_t stream) {
  require_cuda_device();
  unsigned long long* keys = nullptr;
  int64_t* idx = nullptr;
  check(cudaMallocAsync(&keys, sizeof(unsigned long long) * hw, stream), "cudaMallocAsync");
  check(cudaMallocAsync(&idx, sizeof(int64_t) * hw, stream), "cudaMallocAsync");
  const int threads = 256;
  const int blocks = static_cast<int>((hw + threads - 1) / threads);
  auto policy = thrust::cuda::par.on(stream);
  for (int64_t b = 0; b < batch; ++b) {
    const float* s = score + b * hw;
    const int64_t positive = thrust::count_if(policy, thrust::device_pointer_cast(s),
                                              thrust::device_pointer_cast(s) + hw, IsUsable());
    const int64_t k = top_count(hw, ratio, positive);
    make_keys<<<blocks, threads, 0, stream>>>(s, hw, keys);
    thrust::sort(policy, thrust::device_pointer_cast(keys), thrust::device_pointer_cast(keys) + hw);
    if (k > 0) {
      low_bits<<<static_cast<int>((k + threads - 1) / threads), threads, 0, stream>>>(keys, k, idx);
      thrust::sort(policy, thrust::device_pointer_cast(idx), thrust::device_pointer_cast(idx) + k);
    }
    fisher_yates<<<1, 1, 0, stream>>>(idx, k, n, seeds, b, out_idx + b * n);
    check(cudaMemcpyAsync(out_count + b, &k, sizeof(int64_t), cudaMemcpyHostToDevice, stream), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(stream), "sampling");  // k lives on the host stack
  }
  check(cudaFreeAsync(keys, stream), "cudaFreeAsync");
  check(cudaFreeAsync(idx, stream), "cudaFreeAsync");
  check(cudaGetLastError(), "sampling kernels");
}

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

void require_cuda_device() {
  if (cuda_device_count() <= 0)
    throw std::runtime_error("vo_app: no CUDA device is available; use CPU tensors (vo_app falls back to the CPU)");
}

}  // namespace vo
