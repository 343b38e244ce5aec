// Shared helpers for the CPU and CUDA kernels of vo_app._core.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define VO_HD __host__ __device__ __forceinline__
#else
#define VO_HD inline
#endif

namespace vo {

// Counter-based 64-bit hash (SplitMix64 finaliser): a stateless RNG, so CPU and
// CUDA draw the same numbers for the same (seed, batch, step).
VO_HD uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

VO_HD uint64_t counter_rand(uint64_t seed, uint64_t stream, uint64_t step) {
  return mix64(mix64(seed ^ 0xA0761D6478BD642Full) ^ mix64(stream * 0xE7037ED1A0B428DBull + step));
}

// Cheaper stream for long loops: key = mix64(seed ^ salt) once, then one mix per draw.
VO_HD uint64_t stream_key(uint64_t seed, uint64_t salt) { return mix64(seed ^ salt); }
VO_HD uint64_t keyed_rand(uint64_t key, uint64_t step) { return mix64(key + step * 0xD1B54A32D192ED03ull); }

// Uniform integer in [0, n) for n > 0 (multiply-shift on the top 32 bits).
VO_HD uint32_t rand_below(uint64_t r, uint32_t n) {
  return static_cast<uint32_t>(((r >> 32) * static_cast<uint64_t>(n)) >> 32);
}

// Swap target of step i (i < k) of the samplers' partial Fisher-Yates over k < 2^31
// candidates: the CPU runs the swaps in order; the CUDA sampler traces them back in parallel.
VO_HD uint32_t draw_swap_target(uint64_t seed, int64_t i, int64_t k) {
  return static_cast<uint32_t>(i) +
         rand_below(counter_rand(seed, 0, static_cast<uint64_t>(i)), static_cast<uint32_t>(k - i));
}

// Finite test that behaves the same on host and device (no fast-math here).
VO_HD bool finite(double x) { return x == x && x - x == 0.0; }

// Scores below or equal to zero, and NaN, are never candidates.
VO_HD bool usable(float s) { return s > 0.0f; }

// Number of candidates kept by the top-ratio rule for `hw` pixels.
VO_HD int64_t top_count(int64_t hw, double ratio, int64_t positive) {
  int64_t k = static_cast<int64_t>(ratio * static_cast<double>(hw) + 0.5);
  return k < positive ? k : positive;
}

}  // namespace vo
