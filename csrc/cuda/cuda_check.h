// Error checks, the device guard and stream-ordered device buffers of the CUDA entry
// points (included by the .cu files only: the bindings are compiled without CUDA headers).
//
//   VO_CUDA_CHECK(expr)            every CUDA runtime / CUB call returning cudaError_t
//   VO_CUDA_CHECK_LAUNCH("name")   right after every kernel launch (<<<...>>>); a static
//                                  test (tests/test_cuda_hygiene.py) checks that none is missing
//
// Both throw std::runtime_error (a Python RuntimeError through pybind11) naming the call or
// the kernel and the CUDA error.  A launch check sees launch errors (bad configuration, no
// kernel image for the device, ...); an error inside a running kernel surfaces at the next
// synchronising call, which is checked too.  Argument errors throw std::invalid_argument
// (a Python ValueError).  A CUDA call that may fail on purpose is marked on its line with
// "vo: unchecked" and the reason.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda_api.h"

namespace vo {

inline const char* source_name(const char* file) {
  const char* slash = std::strrchr(file, '/');
  return slash ? slash + 1 : file;
}

[[noreturn]] inline void throw_cuda_error(cudaError_t e, const std::string& what, const char* file, int line) {
  (void)cudaGetLastError();  // vo: unchecked (clears a non-sticky error: the next check must not report it again)
  throw std::runtime_error("vo_app CUDA error in " + what + " (" + source_name(file) + ":" + std::to_string(line) +
                           "): " + cudaGetErrorName(e) + ": " + cudaGetErrorString(e));
}

inline void cuda_check(cudaError_t e, const char* expr, const char* file, int line) {
  if (e != cudaSuccess) throw_cuda_error(e, expr, file, line);
}

inline void cuda_check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t e = cudaGetLastError();  // vo: unchecked (this is the check)
  if (e != cudaSuccess) throw_cuda_error(e, std::string("launch of kernel ") + kernel, file, line);
}

}  // namespace vo

#define VO_CUDA_CHECK(...) ::vo::cuda_check((__VA_ARGS__), #__VA_ARGS__, __FILE__, __LINE__)
#define VO_CUDA_CHECK_LAUNCH(kernel) ::vo::cuda_check_launch(kernel, __FILE__, __LINE__)

namespace vo {

// Blocks of `threads` for `work` items, for kernels with a grid-stride loop: at most
// kMaxBlocks (the loop covers the rest), at least 1.
constexpr int64_t kMaxBlocks = int64_t{1} << 16;
inline unsigned int grid_for(int64_t work, int threads) {
  const int64_t blocks = (work + threads - 1) / threads;
  return static_cast<unsigned int>(blocks < 1 ? 1 : (blocks < kMaxBlocks ? blocks : kMaxBlocks));
}

// A device pointer argument of an entry point, named for the error messages.
struct NamedPointer {
  const char* name;
  const void* ptr;
};

// std::invalid_argument naming the first null pointer (for inputs and outputs that are not empty).
inline void require_pointers(std::initializer_list<NamedPointer> ptrs) {
  for (const NamedPointer& p : ptrs)
    if (!p.ptr) throw std::invalid_argument(std::string("vo_app CUDA: ") + p.name + " is a null pointer");
}

// Makes `device` the current device for the lifetime of the guard and restores the previous
// one afterwards (also when an exception leaves the entry point).  device < 0: the device
// of the first non-null pointer (cudaPointerGetAttributes), else the current device.  Every
// non-null pointer must be device memory on that device (or managed memory): otherwise
// std::invalid_argument naming it, before any kernel could fault on it.
class DeviceGuard {
 public:
  DeviceGuard(int device, std::initializer_list<NamedPointer> ptrs) {
    require_cuda_device();
    int count = 0;
    VO_CUDA_CHECK(cudaGetDeviceCount(&count));
    VO_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device < 0) {
      device = previous_;
      for (const NamedPointer& p : ptrs)
        if (p.ptr) {
          const cudaPointerAttributes a = attributes(p);
          if (a.type == cudaMemoryTypeDevice) device = a.device;
          break;
        }
    }
    if (device >= count)
      throw std::invalid_argument("vo_app CUDA: device index " + std::to_string(device) + " out of range (" +
                                  std::to_string(count) + " CUDA devices)");
    for (const NamedPointer& p : ptrs) {
      if (!p.ptr) continue;
      const cudaPointerAttributes a = attributes(p);
      if (a.type == cudaMemoryTypeManaged) continue;
      if (a.type != cudaMemoryTypeDevice)
        throw std::invalid_argument(std::string("vo_app CUDA: ") + p.name + " is not device memory");
      if (a.device != device)
        throw std::invalid_argument(std::string("vo_app CUDA: ") + p.name + " is on cuda:" + std::to_string(a.device) +
                                    ", the other arguments on cuda:" + std::to_string(device));
    }
    device_ = device;
    if (device != previous_) {
      VO_CUDA_CHECK(cudaSetDevice(device));
      restore_ = true;
    }
  }
  ~DeviceGuard() {
    if (restore_) (void)cudaSetDevice(previous_);  // vo: unchecked (a destructor must not throw)
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  int device() const { return device_; }

 private:
  static cudaPointerAttributes attributes(const NamedPointer& p) {
    cudaPointerAttributes a{};
    const cudaError_t e = cudaPointerGetAttributes(&a, p.ptr);  // vo: unchecked (reported with the pointer's name)
    if (e != cudaSuccess)
      throw_cuda_error(e, std::string("cudaPointerGetAttributes(") + p.name + ")", __FILE__, __LINE__);
    return a;
  }
  int previous_ = 0, device_ = 0;
  bool restore_ = false;
};

// `count` elements of T from cudaMallocAsync on `stream` (the stream's device), freed with
// cudaFreeAsync on the same stream when the buffer goes out of scope, exceptions included.
// Stream-ordered: kernels queued on `stream` before the free still see the memory.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t count, cudaStream_t stream) : stream_(stream), count_(count) {
    if (count > std::numeric_limits<size_t>::max() / sizeof(T))
      throw std::length_error("vo_app CUDA: buffer size overflows");
    void* p = nullptr;
    VO_CUDA_CHECK(cudaMallocAsync(&p, sizeof(T) * (count ? count : 1), stream));
    ptr_ = static_cast<T*>(p);
  }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }
  T* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  void release() noexcept {
    if (ptr_) (void)cudaFreeAsync(ptr_, stream_);  // vo: unchecked (a destructor must not throw)
    ptr_ = nullptr;
    count_ = 0;
  }
  void swap(DeviceBuffer& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(stream_, o.stream_);
    std::swap(count_, o.count_);
  }
  T* ptr_ = nullptr;
  cudaStream_t stream_ = nullptr;
  size_t count_ = 0;
};

}  // namespace vo
