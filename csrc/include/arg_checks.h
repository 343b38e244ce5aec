// Argument checks shared by the CPU bindings and the CUDA entry points, so that both raise
// the same std::invalid_argument (a Python ValueError) for the same input.
#pragma once
#include <cstdint>
#include <stdexcept>

namespace vo {

inline void check_sample_params(int64_t n, double ratio) {
  if (n <= 0) throw std::invalid_argument("n must be positive");
  if (!(ratio > 0.0 && ratio <= 1.0)) throw std::invalid_argument("ratio must be in (0, 1]");
}

// The samplers hold pixel indices as int32.
inline void check_pixel_count(int64_t hw) {
  if (hw >= (int64_t{1} << 31)) throw std::invalid_argument("match sampling: more than 2^31 - 1 pixels per image");
}

inline void check_ransac_params(double threshold, double confidence, int64_t max_iters) {
  if (!(threshold > 0)) throw std::invalid_argument("threshold must be positive");
  if (!(confidence > 0 && confidence < 1)) throw std::invalid_argument("confidence must be in (0, 1)");
  if (max_iters < 1) throw std::invalid_argument("max_iters must be >= 1");
}

}  // namespace vo
