// Output arrays whose memory is recycled between calls.
//
// A fresh NumPy array of a few hundred KiB comes from pages that the kernel has to fault
// in and zero on first write, because glibc gives freed blocks of that size back to the
// system.  On this project's 2-core VM that cost about 4 us per 4 KiB page: more than the
// gather that fills the matches.  Arrays made here take their memory from blocks freed by
// earlier outputs of the same size (already faulted in); when the last NumPy or torch
// owner drops an array, its block goes back to the pool.  The pool holds at most
// kMaxHeldBytes; beyond that, blocks are freed as usual.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace vo {

class OutputPool {
 public:
  static constexpr size_t kMinBytes = size_t{1} << 16;  // smaller arrays: plain NumPy allocation
  static constexpr size_t kMaxHeldBytes = size_t{96} << 20;
  static constexpr size_t kHeader = 64;  // keeps the data 64-byte aligned; holds the block size

  // Never destroyed: arrays may outlive static destructors at interpreter exit.
  static OutputPool& instance() {
    static OutputPool* pool = new OutputPool();
    return *pool;
  }

  // Data pointer of a block of `bytes` (reused when one of that size is free).
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t k = free_.size(); k-- > 0;)
        if (free_[k].first == bytes) {
          char* block = free_[k].second;
          free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(k));
          held_ -= bytes;
          return block + kHeader;
        }
    }
    char* block = static_cast<char*>(std::aligned_alloc(64, round_up(bytes + kHeader)));
    if (!block) throw std::bad_alloc();
    *reinterpret_cast<size_t*>(block) = bytes;
    return block + kHeader;
  }

  void give_back(void* data) {
    char* block = static_cast<char*>(data) - kHeader;
    const size_t bytes = *reinterpret_cast<size_t*>(block);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (held_ + bytes <= kMaxHeldBytes) {
        free_.emplace_back(bytes, block);
        held_ += bytes;
        return;
      }
    }
    std::free(block);
  }

 private:
  static size_t round_up(size_t n) { return (n + 63) / 64 * 64; }  // aligned_alloc wants a multiple of 64
  std::mutex mutex_;
  std::vector<std::pair<size_t, char*>> free_;
  size_t held_ = 0;
};

// A C-contiguous array of `shape` whose memory comes from the pool (when large enough).
template <class T>
pybind11::array_t<T> pooled_array(std::vector<pybind11::ssize_t> shape) {
  size_t count = 1;
  for (auto s : shape) count *= static_cast<size_t>(s);
  const size_t bytes = count * sizeof(T);
  if (bytes < OutputPool::kMinBytes) return pybind11::array_t<T>(shape);
  void* data = OutputPool::instance().take(bytes);
  pybind11::capsule owner(data, [](void* p) { OutputPool::instance().give_back(p); });
  return pybind11::array_t<T>(shape, static_cast<T*>(data), owner);
}

}  // namespace vo
