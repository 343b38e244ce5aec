// pybind11 bindings of vo_app._core. CPU entry points take NumPy arrays; CUDA
// entry points take raw device pointers and a stream handle (no libtorch ABI).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "arg_checks.h"
#include "cpu/masks.h"
#include "cpu/parallel.h"
#include "cpu/planar.h"
#include "cpu/pose.h"
#include "cpu/refine.h"
#include "cpu/ransac.h"
#include "cpu/sampling.h"
#include "cpu/triangulate.h"
#include "out_pool.h"
#ifdef VO_WITH_CUDA
#include "cuda/cuda_api.h"
#endif

namespace py = pybind11;
using f32 = py::array_t<float, py::array::c_style | py::array::forcecast>;
using f64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

// A scalar seed applies to every item; an array gives one seed per item.
static std::vector<uint64_t> seeds_for(py::object seed, int64_t B) {
  std::vector<uint64_t> out(B);
  if (py::isinstance<py::int_>(seed)) {
    const uint64_t s = seed.cast<uint64_t>();
    for (auto& v : out) v = s;
  } else {
    auto a = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>::ensure(seed);
    if (!a || a.ndim() != 1 || a.shape(0) != B) throw std::invalid_argument("seed must be an int or an array of B seeds");
    for (int64_t b = 0; b < B; ++b) out[b] = a.data()[b];
  }
  return out;
}

static py::tuple ransac_cpu(f64 p1, f64 p2, py::object weights, double threshold, double confidence, int64_t max_iters,
                            py::object seed, int threads) {
  if (p1.ndim() != 3 || p1.shape(2) != 2) throw std::invalid_argument("p1 must have shape [B,N,2]");
  if (p2.ndim() != 3 || p2.shape(0) != p1.shape(0) || p2.shape(1) != p1.shape(1) || p2.shape(2) != 2)
    throw std::invalid_argument("p2 must have the shape of p1 [B,N,2]");
  vo::check_ransac_params(threshold, confidence, max_iters);
  const int64_t B = p1.shape(0), N = p1.shape(1);
  f64 w;
  const double* wp = nullptr;
  if (!weights.is_none()) {
    w = f64::ensure(weights);
    if (!w || w.ndim() != 2 || w.shape(0) != B || w.shape(1) != N) throw std::invalid_argument("weights must have shape [B,N]");
    wp = w.data();
  }
  vo::RansacParams prm;
  prm.threshold = threshold;
  prm.confidence = confidence;
  prm.max_iters = max_iters;
  const auto seeds = seeds_for(seed, B);
  prm.seeds = seeds.data();
  py::array_t<double> F({B, int64_t(3), int64_t(3)});
  auto inl = vo::pooled_array<bool>({B, N});
  py::array_t<int64_t> count({B}), iters({B}), status({B});
  {
    py::gil_scoped_release nogil;
    std::vector<int32_t> st(B);
    vo::ransac_fundamental_cpu(p1.data(), p2.data(), wp, B, N, prm, F.mutable_data(),
                               reinterpret_cast<uint8_t*>(inl.mutable_data()), count.mutable_data(),
                               iters.mutable_data(), st.data(), threads);
    std::copy(st.begin(), st.end(), status.mutable_data());
  }
  return py::make_tuple(F, inl, count, iters, status);
}

static py::tuple epipolar_map_cpu(f32 flow, f64 F, double thr, int threads) {
  if (flow.ndim() != 4 || flow.shape(3) != 2) throw std::invalid_argument("flow must have shape [B,H,W,2]");
  if (F.ndim() != 3 || F.shape(0) != flow.shape(0) || F.shape(1) != 3 || F.shape(2) != 3)
    throw std::invalid_argument("F must have shape [B,3,3]");
  const int64_t B = flow.shape(0), H = flow.shape(1), W = flow.shape(2);
  auto d = vo::pooled_array<float>({B, H, W}), s = vo::pooled_array<float>({B, H, W});
  {
    py::gil_scoped_release nogil;
    vo::epipolar_score_map_cpu(flow.data(), F.data(), B, H, W, thr, d.mutable_data(), s.mutable_data(), threads);
  }
  return py::make_tuple(d, s);
}

static void check_sample_args(const f32& score, int64_t n, double ratio) {
  if (score.ndim() != 3) throw std::invalid_argument("score must have shape [B,H,W]");
  vo::check_sample_params(n, ratio);
}

static py::tuple sample_cpu(f32 score, int64_t n, double ratio, py::object seed, int threads) {
  check_sample_args(score, n, ratio);
  const int64_t B = score.shape(0), hw = score.shape(1) * score.shape(2);
  const auto seeds = seeds_for(seed, B);
  auto idx = vo::pooled_array<int64_t>({B, n});
  py::array_t<int64_t> count({B});
  {
    py::gil_scoped_release nogil;
    vo::sample_topk_random_cpu(score.data(), B, hw, n, ratio, seeds.data(), idx.mutable_data(), count.mutable_data(), threads);
  }
  return py::make_tuple(idx, count);
}

// Element strides of a float32 flow [B,2,H,W] view (any layout) with B items.
static std::vector<int64_t> flow_strides(const py::array_t<float>& flow, int64_t B) {
  if (flow.ndim() != 4 || flow.shape(1) != 2 || flow.shape(0) != B) throw std::invalid_argument("flow must have shape [B,2,H,W]");
  std::vector<int64_t> st(4);
  for (int k = 0; k < 4; ++k) st[k] = flow.strides(k) / static_cast<int64_t>(sizeof(float));
  return st;
}

static py::tuple sample_gather_cpu(f32 score, py::array_t<float> flow, int64_t n, double ratio, py::object seed,
                                   int threads) {
  check_sample_args(score, n, ratio);
  const int64_t B = score.shape(0), H = score.shape(1), W = score.shape(2);
  const auto strides = flow_strides(flow, B);
  if (flow.shape(2) != H || flow.shape(3) != W) throw std::invalid_argument("flow [B,2,H,W] and score [B,H,W] must match");
  const auto seeds = seeds_for(seed, B);
  auto idx = vo::pooled_array<int64_t>({B, n});
  py::array_t<int64_t> count({B});
  auto p1 = vo::pooled_array<double>({B, n, 2}), p2 = vo::pooled_array<double>({B, n, 2});
  auto drawn = vo::pooled_array<bool>({B, n});
  {
    py::gil_scoped_release nogil;
    vo::sample_matches_cpu(score.data(), flow.data(), strides.data(), B, H * W, W, n, ratio, seeds.data(),
                           idx.mutable_data(), count.mutable_data(), p1.mutable_data(), p2.mutable_data(), threads);
    const int64_t* ix = idx.data();
    bool* d = drawn.mutable_data();
    for (int64_t i = 0; i < B * n; ++i) d[i] = ix[i] >= 0;
  }
  return py::make_tuple(idx, count, p1, p2, drawn);
}

using u8 = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

// An optional [B,N] 0/1 mask: an empty array for None, else checked and converted.
static u8 optional_mask(py::object mask, int64_t B, int64_t N) {
  if (mask.is_none()) return u8();
  u8 m = u8::ensure(mask);
  if (!m || m.ndim() != 2 || m.shape(0) != B || m.shape(1) != N) throw std::invalid_argument("mask must have shape [B,N]");
  return m;
}

static py::tuple pose_cpu(f64 F, f64 K, f64 p1, f64 p2, py::object mask, int threads) {
  if (F.ndim() != 3 || F.shape(1) != 3 || F.shape(2) != 3) throw std::invalid_argument("F must have shape [B,3,3]");
  const int64_t B = F.shape(0);
  if (K.ndim() != 3 || K.shape(0) != B || K.shape(1) != 3 || K.shape(2) != 3) throw std::invalid_argument("K must have shape [B,3,3]");
  if (p1.ndim() != 3 || p1.shape(0) != B || p1.shape(2) != 2) throw std::invalid_argument("p1 must have shape [B,N,2]");
  if (p2.ndim() != 3 || p2.shape(0) != B || p2.shape(1) != p1.shape(1) || p2.shape(2) != 2)
    throw std::invalid_argument("p2 must have the shape of p1");
  const int64_t N = p1.shape(1);
  const auto m = optional_mask(mask, B, N);
  const uint8_t* mp = mask.is_none() ? nullptr : m.data();
  py::array_t<double> R({B, int64_t(3), int64_t(3)}), t({B, int64_t(3)});
  py::array_t<int64_t> nf({B}), nfa({B, int64_t(4)});
  {
    py::gil_scoped_release nogil;
    vo::pose_from_fundamental_cpu(F.data(), K.data(), p1.data(), p2.data(), mp, B, N, R.mutable_data(),
                                  t.mutable_data(), nf.mutable_data(), nfa.mutable_data(), threads);
  }
  return py::make_tuple(R, t, nf, nfa);
}

static py::tuple gather_cpu(py::array_t<float> flow, py::array_t<int64_t, py::array::c_style | py::array::forcecast> idx,
                            int threads) {
  if (idx.ndim() != 2) throw std::invalid_argument("idx must have shape [B,n]");
  const int64_t B = idx.shape(0), n = idx.shape(1);
  const auto strides = flow_strides(flow, B);
  const int64_t H = flow.shape(2), W = flow.shape(3);
  auto p1 = vo::pooled_array<double>({B, n, 2}), p2 = vo::pooled_array<double>({B, n, 2});
  {
    py::gil_scoped_release nogil;
    vo::gather_matches_cpu(flow.data(), strides.data(), B, H * W, W, n, idx.data(), p1.mutable_data(), p2.mutable_data(),
                           threads);
  }
  return py::make_tuple(p1, p2);
}

static py::tuple refine_cpu(f64 p1, f64 p2, py::object mask, f64 K, f64 R, f64 t, double huber, int iters, int threads) {
  if (p1.ndim() != 3 || p1.shape(2) != 2 || p2.ndim() != 3 || p2.shape(0) != p1.shape(0) || p2.shape(1) != p1.shape(1))
    throw std::invalid_argument("p1, p2 must have shape [B,N,2]");
  const int64_t B = p1.shape(0), N = p1.shape(1);
  if (K.ndim() != 3 || K.shape(0) != B || R.ndim() != 3 || R.shape(0) != B || t.ndim() != 2 || t.shape(0) != B || t.shape(1) != 3)
    throw std::invalid_argument("K, R must have shape [B,3,3] and t [B,3]");
  const auto m = optional_mask(mask, B, N);
  const uint8_t* mp = mask.is_none() ? nullptr : m.data();
  py::array_t<double> Ro({B, int64_t(3), int64_t(3)}), to({B, int64_t(3)}), rms({B});
  std::copy(R.data(), R.data() + 9 * B, Ro.mutable_data());
  std::copy(t.data(), t.data() + 3 * B, to.mutable_data());
  {
    py::gil_scoped_release nogil;
    vo::refine_pose_cpu(p1.data(), p2.data(), mp, K.data(), B, N, huber, iters, Ro.mutable_data(), to.mutable_data(),
                        rms.mutable_data(), threads);
  }
  return py::make_tuple(Ro, to, rms);
}

static py::tuple match_score_cpu(f32 ff, f32 fb, int threads) {
  if (ff.ndim() != 4 || ff.shape(3) != 2) throw std::invalid_argument("flow_fwd must have shape [B,H,W,2]");
  if (fb.ndim() != 4 || fb.shape(0) != ff.shape(0) || fb.shape(1) != ff.shape(1) || fb.shape(2) != ff.shape(2) ||
      fb.shape(3) != 2)
    throw std::invalid_argument("flow_bwd must have the shape of flow_fwd [B,H,W,2]");
  const int64_t B = ff.shape(0), H = ff.shape(1), W = ff.shape(2);
  if (H * W == 0) throw std::invalid_argument("flows must have at least one pixel");
  auto score = vo::pooled_array<float>({B, H, W});  // recycled pages (out_pool.h): no page faults per frame
  auto occ = vo::pooled_array<float>({B, H, W});
  auto dfb = vo::pooled_array<float>({B, H, W});
  {
    py::gil_scoped_release nogil;
    static thread_local std::vector<double> work;
    work.resize(H * W);
    for (int64_t b = 0; b < B; ++b)
      vo::match_score_cpu(ff.data() + b * H * W * 2, fb.data() + b * H * W * 2, H, W, score.mutable_data() + b * H * W,
                          occ.mutable_data() + b * H * W, dfb.mutable_data() + b * H * W, work.data(), threads);
  }
  return py::make_tuple(score, occ, dfb);
}

static py::tuple triangulate_cpu(f64 p1, f64 p2, f64 Kinv, f64 R, f64 t, double cos_threshold, int threads) {
  if (p1.ndim() != 2 || p1.shape(1) != 2 || p2.ndim() != 2 || p2.shape(0) != p1.shape(0) || p2.shape(1) != 2)
    throw std::invalid_argument("p1, p2 must have shape [N,2]");
  if (Kinv.size() != 9 || R.size() != 9 || t.size() != 3) throw std::invalid_argument("Kinv, R must be 3x3 and t 3");
  const int64_t N = p1.shape(0);
  py::array_t<double> X({N, int64_t(3)}), d1({N}), d2({N}), cs({N}), rc({N});
  py::array_t<bool> valid({N});
  {
    py::gil_scoped_release nogil;
    vo::triangulate_midpoint_cpu(p1.data(), p2.data(), N, Kinv.data(), R.data(), t.data(), cos_threshold,
                                 X.mutable_data(), d1.mutable_data(), d2.mutable_data(), cs.mutable_data(),
                                 rc.mutable_data(), reinterpret_cast<uint8_t*>(valid.mutable_data()), threads);
  }
  return py::make_tuple(X, d1, d2, valid, cs, rc);
}

static py::array_t<bool> planar_cpu(f64 p1, f64 p2, py::object inliers, double tol, double share, int threads) {
  if (p1.ndim() != 3 || p1.shape(2) != 2 || p2.ndim() != 3 || p2.shape(0) != p1.shape(0) || p2.shape(1) != p1.shape(1))
    throw std::invalid_argument("p1, p2 must have shape [B,N,2]");
  if (!(tol > 0)) throw std::invalid_argument("tol must be positive");
  const int64_t B = p1.shape(0), N = p1.shape(1);
  if (inliers.is_none()) throw std::invalid_argument("inliers must have shape [B,N]");
  const auto m = optional_mask(inliers, B, N);
  py::array_t<bool> planar({B});
  {
    py::gil_scoped_release nogil;
    vo::planar_pairs_cpu(p1.data(), p2.data(), m.data(), B, N, tol, share,
                         reinterpret_cast<uint8_t*>(planar.mutable_data()), threads);
  }
  return planar;
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "vo_app C++/CUDA geometry core";
  m.def("sample_topk_random_cpu", &sample_cpu, py::arg("score"), py::arg("n"), py::arg("ratio"), py::arg("seed"),
        py::arg("threads") = 0,
        "Top-ratio then random-n sampling of score [B,H,W] (float32). Returns (idx [B,n] int64 flat pixel "
        "indices, -1 past the draw; count [B] int64 number of candidates).");
  m.def("sample_matches_cpu", &sample_gather_cpu, py::arg("score"), py::arg("flow"), py::arg("n"), py::arg("ratio"),
        py::arg("seed"), py::arg("threads") = 0,
        "sample_topk_random_cpu and gather_matches_cpu in one call (the flow of each drawn match is prefetched "
        "during the draw). Returns (idx [B,n], count [B], p1 [B,n,2], p2 [B,n,2], drawn [B,n] bool).");
  m.def("gather_matches_cpu", &gather_cpu, py::arg("flow"), py::arg("idx"), py::arg("threads") = 0,
        "Matches p1, p2 [B,n,2] float64 for flat pixel indices idx [B,n] of flow [B,2,H,W] float32 (any strides); "
        "NaN rows where idx < 0.");
  m.def("ransac_fundamental_cpu", &ransac_cpu, py::arg("p1"), py::arg("p2"), py::arg("weights") = py::none(),
        py::arg("threshold") = 0.1, py::arg("confidence") = 0.99, py::arg("max_iters") = 1000, py::arg("seed") = 0,
        py::arg("threads") = 0,
        "Batched normalised 8-point RANSAC. p1, p2 [B,N,2] float64 pixels; weights [B,N] or None. Returns "
        "(F [B,3,3], inliers [B,N] bool, n_inliers [B], iters [B], status [B]: 0 ok, 1 too few points, 2 degenerate).");
  m.def("pose_from_fundamental_cpu", &pose_cpu, py::arg("F"), py::arg("K"), py::arg("p1"), py::arg("p2"),
        py::arg("mask") = py::none(), py::arg("threads") = 0,
        "E = K^T F K, its four [R|t] and the mid-point cheirality vote, batched. Returns (R [B,3,3], t [B,3] unit, "
        "n_front [B], n_front_all [B,4]).");
  m.def("refine_pose_cpu", &refine_cpu, py::arg("p1"), py::arg("p2"), py::arg("mask"), py::arg("K"), py::arg("R"),
        py::arg("t"), py::arg("huber") = 0.5, py::arg("iters") = 10, py::arg("threads") = 0,
        "Robust Gauss-Newton on signed Sampson residuals over (R, direction of t), batched: returns refined "
        "(R [B,3,3], t [B,3], rms [B]).");
  m.def("match_score_cpu", &match_score_cpu, py::arg("flow_fwd"), py::arg("flow_bwd"), py::arg("threads") = 1,
        "TrianFlow's sampling score of flows [B,H,W,2] float32 (forward, backward). Returns (score, occ = M_o, "
        "fb = D_fb), each [B,H,W] float32; score = M_o / (0.1 + D_fb) where the target is inside, else 0.");
  m.def("triangulate_midpoint_cpu", &triangulate_cpu, py::arg("p1"), py::arg("p2"), py::arg("Kinv"), py::arg("R"),
        py::arg("t"), py::arg("cos_threshold") = 1e-3, py::arg("threads") = 1,
        "Mid-point triangulation of p1, p2 [N,2] float64 pixels (K^-1, R, t with X_2 = R X_1 + t). Returns (X [N,3], "
        "depth1 [N], depth2 [N], valid [N] bool, cos [N], ray_cos [N]).");
  m.def("planar_pairs_cpu", &planar_cpu, py::arg("p1"), py::arg("p2"), py::arg("inliers"), py::arg("tol"),
        py::arg("share") = 0.95, py::arg("threads") = 0,
        "Planar check of F fits: p1, p2 [B,N,2] float64, inliers [B,N] bool. Returns planar [B] bool: one "
        "normalised-DLT homography of the inliers has transfer error < tol px for at least `share` of them.");
  m.def("epipolar_score_map_cpu", &epipolar_map_cpu, py::arg("flow"), py::arg("F"), py::arg("threshold") = 0.5,
        py::arg("threads") = 0,
        "Epipolar distance of every flow match, flow [B,H,W,2] float32, F [B,3,3]: returns (d_epi [B,H,W], "
        "score [B,H,W] = (d < threshold) / (1 + d)).");
  m.def("default_threads", &vo::default_threads,
        "Threads a CPU kernel uses when called with threads=0: VO_NUM_THREADS if set (read once), else the "
        "hardware's count.");
#ifdef VO_WITH_CUDA
  // The CUDA entry points take raw device pointers as integers (0 for an absent optional
  // input), a cudaStream_t handle (0 = the default stream) and `device`, the CUDA device
  // index of the pointers (tensor.device.index; the default -1 takes the device of the
  // first pointer, so callers of the interface before version 2 keep working).  They set
  // the device for the call and restore it, refuse pointers that are not device memory on
  // it (ValueError), check their arguments as the CPU functions do (ValueError) and raise
  // RuntimeError naming the CUDA call or kernel that failed.
  m.attr("cuda_compiled") = true;
  m.attr("cuda_api_version") = vo::kCudaApiVersion;
  m.def("cuda_device_count", &vo::cuda_device_count);
  m.def(
      "sample_topk_random_cuda",
      [](uintptr_t score, int64_t B, int64_t hw, int64_t n, double ratio, uintptr_t seeds, uintptr_t out_idx,
         uintptr_t out_count, uintptr_t stream, int device) {
        py::gil_scoped_release nogil;
        vo::sample_topk_random_cuda(device, reinterpret_cast<const float*>(score), B, hw, n, ratio,
                                    reinterpret_cast<const uint64_t*>(seeds),
                                    reinterpret_cast<int64_t*>(out_idx), reinterpret_cast<int64_t*>(out_count),
                                    reinterpret_cast<cudaStream_t>(stream));
      },
      py::arg("score"), py::arg("B"), py::arg("hw"), py::arg("n"), py::arg("ratio"), py::arg("seeds"),
      py::arg("out_idx"), py::arg("out_count"), py::arg("stream") = 0, py::arg("device") = -1,
      "Device-pointer version of sample_topk_random_cpu: score [B,hw] float32, seeds [B] uint64, out_idx [B,n] "
      "int64, out_count [B] int64, all on `device`. The same candidates, counts and draws as the CPU. "
      "ValueError: n <= 0, n >= 2^31, ratio outside (0, 1], hw >= 2^31. B == 0: nothing; hw == 0: out_idx all "
      "-1, out_count 0. Asynchronous on `stream` (no host sync).");
  m.def(
      "ransac_fundamental_cuda",
      [](uintptr_t p1, uintptr_t p2, uintptr_t weights, int64_t B, int64_t N, double threshold, double confidence,
         int64_t max_iters, uintptr_t seeds, uintptr_t F, uintptr_t inliers, uintptr_t n_inliers, uintptr_t iters,
         uintptr_t status, uintptr_t stream, int device) {
        vo::RansacParams prm;
        prm.threshold = threshold;
        prm.confidence = confidence;
        prm.max_iters = max_iters;
        prm.seeds = reinterpret_cast<const uint64_t*>(seeds);
        py::gil_scoped_release nogil;
        vo::ransac_fundamental_cuda(device, reinterpret_cast<const double*>(p1), reinterpret_cast<const double*>(p2),
                                    reinterpret_cast<const double*>(weights), B, N, prm, reinterpret_cast<double*>(F),
                                    reinterpret_cast<uint8_t*>(inliers), reinterpret_cast<int64_t*>(n_inliers),
                                    reinterpret_cast<int64_t*>(iters), reinterpret_cast<int32_t*>(status),
                                    reinterpret_cast<cudaStream_t>(stream));
      },
      py::arg("p1"), py::arg("p2"), py::arg("weights"), py::arg("B"), py::arg("N"), py::arg("threshold"),
      py::arg("confidence"), py::arg("max_iters"), py::arg("seeds"), py::arg("F"), py::arg("inliers"),
      py::arg("n_inliers"), py::arg("iters"), py::arg("status"), py::arg("stream") = 0, py::arg("device") = -1,
      "Device-pointer version of ransac_fundamental_cpu: p1, p2 [B,N,2] float64, weights [B,N] float64 or 0, "
      "seeds [B] uint64, outputs F [B,3,3] float64, inliers [B,N] uint8/bool, n_inliers [B] int64, iters [B] "
      "int64, status [B] int32, all on `device`. ValueError as the CPU function (threshold, confidence, "
      "max_iters); B == 0: nothing; fewer than 8 finite matches: status 1. Returns after the stream's work.");
  m.def(
      "epipolar_score_map_cuda",
      [](uintptr_t flow, uintptr_t F, int64_t B, int64_t H, int64_t W, double thr, uintptr_t d_epi, uintptr_t score,
         uintptr_t stream, int device) {
        py::gil_scoped_release nogil;
        vo::epipolar_score_map_cuda(device, reinterpret_cast<const float*>(flow), reinterpret_cast<const double*>(F),
                                    B, H, W, thr, reinterpret_cast<float*>(d_epi), reinterpret_cast<float*>(score),
                                    reinterpret_cast<cudaStream_t>(stream));
      },
      py::arg("flow"), py::arg("F"), py::arg("B"), py::arg("H"), py::arg("W"), py::arg("threshold"),
      py::arg("d_epi"), py::arg("score"), py::arg("stream") = 0, py::arg("device") = -1,
      "Device-pointer version of epipolar_score_map_cpu (flow [B,H,W,2] float32, F [B,3,3] float64, outputs "
      "d_epi, score [B,H,W] float32, all on `device`). B * H * W == 0: nothing. Asynchronous on `stream`.");
#else
  m.attr("cuda_compiled") = false;
  m.attr("cuda_api_version") = 0;
  m.def("cuda_device_count", []() { return 0; });
#endif
}
