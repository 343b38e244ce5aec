// pybind11 bindings of vo_app._core. CPU entry points take NumPy arrays; CUDA
// entry points take raw device pointers and a stream handle (no libtorch ABI).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>

#include "cpu/sampling.h"
#ifdef VO_WITH_CUDA
#include "cuda/cuda_api.h"
#endif

namespace py = pybind11;
using f32 = py::array_t<float, py::array::c_style | py::array::forcecast>;

static py::tuple sample_cpu(f32 score, int64_t n, double ratio, uint64_t seed, int threads) {
  if (score.ndim() != 3) throw std::invalid_argument("score must have shape [B,H,W]");
  if (n <= 0) throw std::invalid_argument("n must be positive");
  if (!(ratio > 0.0 && ratio <= 1.0)) throw std::invalid_argument("ratio must be in (0, 1]");
  const int64_t B = score.shape(0), hw = score.shape(1) * score.shape(2);
  py::array_t<int64_t> idx({B, n});
  py::array_t<int64_t> count({B});
  {
    py::gil_scoped_release nogil;
    vo::sample_topk_random_cpu(score.data(), B, hw, n, ratio, seed, idx.mutable_data(), count.mutable_data(), threads);
  }
  return py::make_tuple(idx, count);
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "vo_app C++/CUDA geometry core";
  m.def("sample_topk_random_cpu", &sample_cpu, py::arg("score"), py::arg("n"), py::arg("ratio"), py::arg("seed"),
        py::arg("threads") = 0,
        "Top-ratio then random-n sampling of score [B,H,W] (float32). Returns (idx [B,n] int64 flat pixel "
        "indices, -1 past the draw; count [B] int64 number of candidates).");
#ifdef VO_WITH_CUDA
  m.attr("cuda_compiled") = true;
  m.def("cuda_device_count", &vo::cuda_device_count);
  m.def(
      "sample_topk_random_cuda",
      [](uintptr_t score, int64_t B, int64_t hw, int64_t n, double ratio, uint64_t seed, uintptr_t out_idx,
         uintptr_t out_count, uintptr_t stream) {
        py::gil_scoped_release nogil;
        vo::sample_topk_random_cuda(reinterpret_cast<const float*>(score), B, hw, n, ratio, seed,
                                    reinterpret_cast<int64_t*>(out_idx), reinterpret_cast<int64_t*>(out_count),
                                    reinterpret_cast<cudaStream_t>(stream));
      },
      "Device-pointer version of sample_topk_random_cpu: score [B,hw] float32, out_idx [B,n] int64, out_count [B] "
      "int64, all on the current device; stream is a cudaStream_t handle (0 = default stream).");
#else
  m.attr("cuda_compiled") = false;
  m.def("cuda_device_count", []() { return 0; });
#endif
}
