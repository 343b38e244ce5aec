// CUDA version of csrc/cpu/ransac.cpp with the same semantics: the same seeded
// match order, the same hypotheses (ransac_core.h), the same checkpointed early
// rejection, rounds and stopping rule, and the same least-squares refit.
// One warp scores one hypothesis; all batch items advance together, round by round;
// the LO and final refits run serially per item, in the same order as on the CPU.
// Sums run in other orders than on the CPU (a warp reduction for the scores, serial loops
// for the normalisation and the refits), so a weighted score or a refit can differ in the
// last bits; the parity tests compare inliers within a tolerance and the pose within
// 1e-6 deg, not bits or iteration counts.
#include <cuda_runtime.h>

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "arg_checks.h"
#include "cuda_api.h"
#include "cuda_check.h"
#include "ransac_core.h"

namespace vo {
namespace {

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = 4;

struct ItemState {
  Norm2D n1, n2;
  double total_w;
  double best_score;
  double needed;
  int64_t best_h;
  int64_t h0;
  int32_t n_valid;
  int32_t status;  // -1: running
  int32_t round_m;
  double bestF[9];
};

// One thread per item: seeded order, compaction of finite matches, normalisation.
__global__ void prepare(const double* p1, const double* p2, const double* w, int64_t B, int64_t N, const uint64_t* seeds,
                        int32_t* order, int32_t* valid, double* q, double* qn, double* wv, double* suffix,
                        ItemState* st, double max_iters) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= B) return;
  int32_t* ord = order + b * N;
  for (int64_t i = 0; i < N; ++i) ord[i] = static_cast<int32_t>(i);
  shuffle_order(ord, N, seeds[b], 0);
  const double* a = p1 + b * N * 2;
  const double* c = p2 + b * N * 2;
  double* qb = q + b * N * 4;  // x1 y1 x2 y2
  int32_t n = 0;
  for (int64_t oi = 0; oi < N; ++oi) {
    const int64_t i = ord[oi];
    const double wi = w ? w[b * N + i] : 1.0;
    if (finite(a[2 * i]) && finite(a[2 * i + 1]) && finite(c[2 * i]) && finite(c[2 * i + 1]) && finite(wi) && wi > 0) {
      valid[b * N + n] = static_cast<int32_t>(i);
      qb[4 * n] = a[2 * i]; qb[4 * n + 1] = a[2 * i + 1]; qb[4 * n + 2] = c[2 * i]; qb[4 * n + 3] = c[2 * i + 1];
      wv[b * N + n] = wi;
      ++n;
    }
  }
  ItemState s{};
  s.n_valid = n;
  s.best_score = -1.0;
  s.best_h = -1;
  s.needed = max_iters;
  s.status = -1;
  if (n < 8) { s.status = kTooFewPoints; st[b] = s; return; }
  double m[4] = {0, 0, 0, 0};
  for (int32_t i = 0; i < n; ++i)
    for (int k = 0; k < 4; ++k) m[k] += qb[4 * i + k];
  for (int k = 0; k < 4; ++k) m[k] /= n;
  double d1 = 0, d2 = 0;
  for (int32_t i = 0; i < n; ++i) {
    const double u1 = qb[4 * i] - m[0], v1 = qb[4 * i + 1] - m[1];
    const double u2 = qb[4 * i + 2] - m[2], v2 = qb[4 * i + 3] - m[3];
    d1 += sqrt(u1 * u1 + v1 * v1);  // as the CPU (not hypot)
    d2 += sqrt(u2 * u2 + v2 * v2);
  }
  d1 /= n; d2 /= n;
  s.n1 = {m[0], m[1], d1 > 1e-12 ? sqrt(2.0) / d1 : 0.0};
  s.n2 = {m[2], m[3], d2 > 1e-12 ? sqrt(2.0) / d2 : 0.0};
  if (s.n1.s == 0.0 || s.n2.s == 0.0) { s.status = kDegenerate; st[b] = s; return; }
  double* qnb = qn + b * N * 4;
  for (int32_t i = 0; i < n; ++i) {
    qnb[4 * i] = s.n1.s * (qb[4 * i] - s.n1.cx);
    qnb[4 * i + 1] = s.n1.s * (qb[4 * i + 1] - s.n1.cy);
    qnb[4 * i + 2] = s.n2.s * (qb[4 * i + 2] - s.n2.cx);
    qnb[4 * i + 3] = s.n2.s * (qb[4 * i + 3] - s.n2.cy);
  }
  double* sb = suffix + b * (N + 1);
  sb[n] = 0.0;
  for (int32_t i = n; i-- > 0;) sb[i] = sb[i + 1] + wv[b * N + i];
  s.total_w = sb[0];
  st[b] = s;
}

// Score of F over all valid matches of item b by one warp, with the CPU's checkpoints.
__device__ double warp_score(const double* F, const double* qb, const double* wb, const double* sb, int32_t n,
                             double thr2, double bar, double total) {
  const int lane = threadIdx.x % kWarp;
  double s = 0.0;  // identical in all lanes after each checkpoint reduction
  for (int32_t base = 0; base < n; base += kCheckEvery) {
    double part = 0.0;
    const int32_t end = min(base + kCheckEvery, n);
    for (int32_t i = base + lane; i < end; i += kWarp)
      if (sampson_inlier(F, qb[4 * i], qb[4 * i + 1], qb[4 * i + 2], qb[4 * i + 3], thr2)) part += wb[i];
    for (int off = kWarp / 2; off > 0; off /= 2) part += __shfl_xor_sync(0xffffffffu, part, off);
    s += part;
    if (end - base == kCheckEvery && bar > 0 && reject_early(s, total - sb[end], sb[end], bar, total)) return -1.0;
  }
  return s;
}

__global__ void hypotheses(const double* q, const double* qn, const double* wv, const double* suffix, int64_t N,
                           ItemState* st, int64_t B, int64_t round_size, const uint64_t* seeds, double thr2, double* scores,
                           double* Fs) {
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  const int64_t b = warp / round_size, j = warp % round_size;
  if (b >= B) return;
  const ItemState s = st[b];
  if (s.status != -1 || j >= s.round_m) return;
  __shared__ double Fsh[kWarpsPerBlock][9];
  __shared__ int ok[kWarpsPerBlock];
  const int wi = (threadIdx.x / kWarp);
  if (lane == 0) {
    int32_t idx[8];
    ok[wi] = draw_sample(seeds[b], 0, s.h0 + j, s.n_valid, idx) &&
             hypothesis_from_sample4(qn + b * N * 4, idx, s.n1, s.n2, Fsh[wi]);
  }
  __syncwarp();
  double score = -1.0;
  if (ok[wi])
    score = warp_score(Fsh[wi], q + b * N * 4, wv + b * N, suffix + b * (N + 1), s.n_valid, thr2, s.best_score, s.total_w);
  if (lane == 0) {
    scores[b * round_size + j] = score;
    for (int k = 0; k < 9; ++k) Fs[(b * round_size + j) * 9 + k] = Fsh[wi][k];
  }
}

// One thread per item: size of the first round, and whether the item runs at all.
__global__ void init_rounds(ItemState* st, int64_t B, int64_t round_size, int64_t max_iters, int32_t* active) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= B) return;
  st[b].round_m = static_cast<int32_t>(round_length(0, round_size, static_cast<double>(max_iters), max_iters));
  active[b] = st[b].status == -1;
}

// One thread per item: merge the round (same order and tie rule as the CPU), the LO refit
// of a new best, the stopping rule, and the final refit once the item is done.
__global__ void merge_round(ItemState* st, int64_t B, int64_t N, int64_t round_size, int64_t max_iters,
                            double confidence, double thr2, const double* scores, const double* Fs, const double* q,
                            const double* qn, const double* wv, int32_t* active) {
  const int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (b >= B) return;
  ItemState s = st[b];
  const double* qb = q + b * N * 4;
  const double* qnb = qn + b * N * 4;
  const double* wb = wv + b * N;
  const int32_t nv = s.n_valid;
  // Serial loops over the first m matches for the refits (one thread per item).
  auto accumulate_first = [=](int32_t m, const double* F, double* ATA) {
    int64_t cnt = 0;
    double r[9];
    for (int32_t i = 0; i < m; ++i) {
      const double wi = refit_weight(F, qb[4 * i], qb[4 * i + 1], qb[4 * i + 2], qb[4 * i + 3], thr2, wb[i]);
      if (wi == 0.0) continue;
      epipolar_row(qnb[4 * i], qnb[4 * i + 1], qnb[4 * i + 2], qnb[4 * i + 3], r);
      for (int a = 0; a < 9; ++a)
        for (int c = a; c < 9; ++c) ATA[a * 9 + c] += wi * r[a] * r[c];
      ++cnt;
    }
    return cnt;
  };
  auto rescore_first = [=](int32_t m, const double* F) {
    double sc = 0.0;
    for (int32_t i = 0; i < m; ++i)
      sc += sampson_inlier(F, qb[4 * i], qb[4 * i + 1], qb[4 * i + 2], qb[4 * i + 3], thr2) ? wb[i] : 0.0;
    return sc;
  };
  const int32_t m_sub = nv < kLocalSubset ? nv : static_cast<int32_t>(kLocalSubset);
  auto accumulate = [=](const double* F, double* ATA) { return accumulate_first(nv, F, ATA); };
  auto rescore = [=](const double* F) { return rescore_first(nv, F); };
  auto accumulate_sub = [=](const double* F, double* ATA) { return accumulate_first(m_sub, F, ATA); };
  auto rescore_sub = [=](const double* F) { return rescore_first(m_sub, F); };
  if (s.status == -1) {
    bool improved = false;
    for (int32_t j = 0; j < s.round_m; ++j) {
      const double sc = scores[b * round_size + j];
      if (sc >= 0 && better(sc, s.h0 + j, s.best_score, s.best_h)) {
        s.best_score = sc;
        s.best_h = s.h0 + j;
        for (int k = 0; k < 9; ++k) s.bestF[k] = Fs[(b * round_size + j) * 9 + k];
        improved = true;
      }
    }
    if (improved && kLocalPasses > 0)
      local_optimization(accumulate_sub, rescore_sub, rescore, s.n1, s.n2, s.bestF, s.best_score);
    s.h0 += s.round_m;
    if (s.best_score > 0) s.needed = ransac_needed(s.best_score / s.total_w, confidence);
    if (!(s.h0 < max_iters && s.h0 < s.needed)) {
      s.status = s.best_h < 0 ? kDegenerate : -2;  // -2: done, to finish
      if (s.status == -2)
        refine_best(accumulate, rescore, s.n1, s.n2, s.bestF, s.best_score, kRefitPasses);
    }
  }
  if (s.status == -1) {
    s.round_m = static_cast<int32_t>(round_length(s.h0, round_size, s.needed, max_iters));
  }
  active[b] = s.status == -1;
  st[b] = s;
}

// One block per item: the final inlier mask and the outputs.
__global__ void finish(const double* q, const int32_t* valid, int64_t N, const ItemState* st, double thr2,
                       double* F_out, uint8_t* inl_out, int64_t* n_out, int64_t* it_out, int32_t* st_out) {
  const int64_t b = blockIdx.x;
  const ItemState& s = st[b];
  const double* qb = q + b * N * 4;
  __shared__ unsigned long long count;
  if (threadIdx.x == 0) count = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) inl_out[b * N + i] = 0;
  __syncthreads();
  const bool have = s.status == -2;
  if (have)
    for (int32_t i = threadIdx.x; i < s.n_valid; i += blockDim.x) {
      const bool in = sampson_inlier(s.bestF, qb[4 * i], qb[4 * i + 1], qb[4 * i + 2], qb[4 * i + 3], thr2);
      inl_out[b * N + valid[b * N + i]] = in;
      if (in) atomicAdd(&count, 1ull);
    }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int k = 0; k < 9; ++k) F_out[9 * b + k] = have ? s.bestF[k] : 0.0;
    n_out[b] = have ? static_cast<int64_t>(count) : 0;
    it_out[b] = s.h0;
    st_out[b] = have ? (count >= 8 ? kOk : kDegenerate) : s.status;
  }
}

// Blocks of `threads` for `work` threads in a kernel without a grid-stride loop.
unsigned int blocks_for(int64_t work, int threads, const char* kernel) {
  const int64_t blocks = (work + threads - 1) / threads;
  if (blocks > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument(std::string("ransac_fundamental_cuda: batch too large for one launch of ") + kernel);
  return static_cast<unsigned int>(blocks < 1 ? 1 : blocks);
}

}  // namespace

void ransac_fundamental_cuda(int device, const double* p1, const double* p2, const double* weights, int64_t B,
                             int64_t N, const RansacParams& prm, double* F, uint8_t* inliers, int64_t* n_inliers,
                             int64_t* iters, int32_t* status, cudaStream_t stream) {
  check_ransac_params(prm.threshold, prm.confidence, prm.max_iters);
  if (B < 0 || N < 0) throw std::invalid_argument("ransac_fundamental_cuda: B and N must be >= 0");
  // Match indices are int32 here (the seeded order, the valid rows), as on the CPU.
  if (N > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("ransac: more than 2^31 - 1 matches per item");
  if (prm.round_size < 1) throw std::invalid_argument("ransac: round_size must be >= 1");
  const DeviceGuard guard(device, {{"p1", p1}, {"p2", p2}, {"weights", weights}, {"seeds", prm.seeds}, {"F", F},
                                   {"inliers", inliers}, {"n_inliers", n_inliers}, {"iters", iters},
                                   {"status", status}});
  if (B == 0) return;
  require_pointers({{"seeds", prm.seeds}, {"F", F}, {"n_inliers", n_inliers}, {"iters", iters}, {"status", status}});
  if (N > 0) require_pointers({{"p1", p1}, {"p2", p2}, {"inliers", inliers}});
  const int tpb = 128;
  const unsigned int item_blocks = blocks_for(B, tpb, "prepare");
  const int threads = kWarp * kWarpsPerBlock;
  const unsigned int hyp_blocks = blocks_for(B * prm.round_size * kWarp, threads, "hypotheses");
  const unsigned int finish_blocks = blocks_for(B, 1, "finish");  // one block per item
  // Scratch, freed on `stream` when this scope ends (also on an exception).
  DeviceBuffer<int32_t> order(B * N, stream), valid(B * N, stream), active(B, stream);
  DeviceBuffer<double> q(B * N * 4, stream), qn(B * N * 4, stream), wv(B * N, stream), suffix(B * (N + 1), stream);
  DeviceBuffer<ItemState> st(B, stream);
  DeviceBuffer<double> scores(B * prm.round_size, stream), Fs(B * prm.round_size * 9, stream);
  prepare<<<item_blocks, tpb, 0, stream>>>(p1, p2, weights, B, N, prm.seeds, order.get(), valid.get(), q.get(),
                                           qn.get(), wv.get(), suffix.get(), st.get(),
                                           static_cast<double>(prm.max_iters));
  VO_CUDA_CHECK_LAUNCH("prepare");
  const double thr2 = prm.threshold * prm.threshold;
  std::vector<int32_t> host_active(B);
  VO_CUDA_CHECK(cudaMemsetAsync(scores.get(), 0xFF, sizeof(double) * B * prm.round_size, stream));
  // The size of round 0, and which items run at all.
  init_rounds<<<item_blocks, tpb, 0, stream>>>(st.get(), B, prm.round_size, prm.max_iters, active.get());
  VO_CUDA_CHECK_LAUNCH("init_rounds");
  for (int64_t round = 0; round <= prm.max_iters; ++round) {
    // The host decides whether another round runs: one synchronisation per round.
    VO_CUDA_CHECK(cudaMemcpyAsync(host_active.data(), active.get(), sizeof(int32_t) * B, cudaMemcpyDeviceToHost,
                                  stream));
    VO_CUDA_CHECK(cudaStreamSynchronize(stream));
    bool any = false;
    for (int64_t b = 0; b < B; ++b) any |= host_active[b] != 0;
    if (!any) break;
    hypotheses<<<hyp_blocks, threads, 0, stream>>>(q.get(), qn.get(), wv.get(), suffix.get(), N, st.get(), B,
                                                   prm.round_size, prm.seeds, thr2, scores.get(), Fs.get());
    VO_CUDA_CHECK_LAUNCH("hypotheses");
    merge_round<<<item_blocks, tpb, 0, stream>>>(st.get(), B, N, prm.round_size, prm.max_iters, prm.confidence, thr2,
                                                 scores.get(), Fs.get(), q.get(), qn.get(), wv.get(), active.get());
    VO_CUDA_CHECK_LAUNCH("merge_round");
  }
  finish<<<finish_blocks, 256, 0, stream>>>(q.get(), valid.get(), N, st.get(), thr2, F, inliers, n_inliers, iters,
                                            status);
  VO_CUDA_CHECK_LAUNCH("finish");
  VO_CUDA_CHECK(cudaStreamSynchronize(stream));  // errors of the last kernels surface here, named
}

__global__ void epipolar_map_kernel(const float* flow, const double* F, int64_t B, int64_t H, int64_t W, double thr,
                                    float* d_epi, float* score) {
  const int64_t total = B * H * W;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / (H * W), y = (i / W) % H, x = i % W;
    const double* f = F + 9 * b;
    const double d = sqrt(epiline_sq(f, static_cast<double>(x), static_cast<double>(y),
                                     x + static_cast<double>(flow[2 * i]), y + static_cast<double>(flow[2 * i + 1])));
    d_epi[i] = static_cast<float>(d);
    score[i] = d < thr ? static_cast<float>(1.0 / (1.0 + d)) : 0.0f;
  }
}

void epipolar_score_map_cuda(int device, const float* flow, const double* F, int64_t B, int64_t H, int64_t W,
                             double thr, float* d_epi, float* score, cudaStream_t stream) {
  if (B < 0 || H < 0 || W < 0) throw std::invalid_argument("epipolar_score_map_cuda: B, H and W must be >= 0");
  const DeviceGuard guard(device, {{"flow", flow}, {"F", F}, {"d_epi", d_epi}, {"score", score}});
  const int64_t n = B * H * W;
  if (n == 0) return;  // as the CPU: empty outputs
  require_pointers({{"flow", flow}, {"F", F}, {"d_epi", d_epi}, {"score", score}});
  epipolar_map_kernel<<<grid_for(n, 256), 256, 0, stream>>>(flow, F, B, H, W, thr, d_epi, score);
  VO_CUDA_CHECK_LAUNCH("epipolar_map_kernel");
}

}  // namespace vo
