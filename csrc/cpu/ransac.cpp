// Batched normalised 8-point RANSAC for the fundamental matrix on the CPU.
//
// Per batch item: Hartley normalisation of all finite matches; hypotheses drawn in
// rounds of `round_size` (threads share a round when the batch is small); each is
// scored by the (weighted) count of matches with Sampson distance < threshold, with
// an exact early exit once it cannot beat the best; the adaptive stopping rule is
// updated between rounds; finally a least-squares refit on all inliers, re-scored.
#include "ransac.h"

#include <cmath>
#include <vector>

#include "parallel.h"
#include "ransac_core.h"

namespace vo {
namespace {

struct Item {
  std::vector<int32_t> valid;  // indices of finite matches
  std::vector<double> q1, q2;  // pixel coords of valid matches, interleaved
  std::vector<double> qn1, qn2;  // normalised coords
  std::vector<double> x1, y1, x2, y2;  // pixel coords again, one array each (vectorised scoring)
  std::vector<double> w;       // weights of valid matches (1 if none)
  std::vector<double> suffix;  // suffix sums of w, for the early exit
  Norm2D n1{}, n2{};
};

Norm2D normaliser(const std::vector<double>& q, size_t n) {
  double cx = 0, cy = 0;
  for (size_t i = 0; i < n; ++i) { cx += q[2 * i]; cy += q[2 * i + 1]; }
  cx /= n; cy /= n;
  double d = 0;
  for (size_t i = 0; i < n; ++i) d += std::hypot(q[2 * i] - cx, q[2 * i + 1] - cy);
  d /= n;
  return {cx, cy, d > 1e-12 ? std::sqrt(2.0) / d : 0.0};
}

// Weighted inlier count over matches [begin, end): a branch-free loop the compiler vectorises.
inline double score_range(const Item& it, const double F[9], double thr2, size_t begin, size_t end) {
  const double* x1 = it.x1.data();
  const double* y1 = it.y1.data();
  const double* x2 = it.x2.data();
  const double* y2 = it.y2.data();
  const double* w = it.w.data();
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += sampson_inlier(F, x1[i], y1[i], x2[i], y2[i], thr2) ? w[i] : 0.0;
  return s;
}

double score_F(const Item& it, const double F[9], double thr2, double best) {
  const size_t n = it.valid.size();
  const double total = it.suffix[0];
  double s = 0;
  for (size_t base = 0; base < n; base += kCheckEvery) {
    const size_t end = std::min(n, base + kCheckEvery);
    s += score_range(it, F, thr2, base, end);
    if (end - base == static_cast<size_t>(kCheckEvery) && best > 0 &&
        reject_early(s, total - it.suffix[end], it.suffix[end], best, total))
      return -1.0;
  }
  return s;
}

void refine(const Item& it, double thr2, double F[9], double& score, int passes) {
  auto pix = [&](int64_t i, double* x) { x[0] = it.x1[i]; x[1] = it.y1[i]; x[2] = it.x2[i]; x[3] = it.y2[i]; };
  auto nrm = [&](int64_t i, double* x) {
    x[0] = it.qn1[2 * i]; x[1] = it.qn1[2 * i + 1]; x[2] = it.qn2[2 * i]; x[3] = it.qn2[2 * i + 1];
  };
  refine_best(pix, nrm, it.w.data(), static_cast<int64_t>(it.valid.size()), thr2, it.n1, it.n2, F, score, passes);
}

void run_item(const double* p1, const double* p2, const double* wts, int64_t b, int64_t N, const RansacParams& prm,
              double* F_out, uint8_t* inl_out, int64_t* n_out, int64_t* it_out, int32_t* st_out, int threads) {
  Item it;
  std::vector<int32_t> order(N);
  for (int64_t i = 0; i < N; ++i) order[i] = static_cast<int32_t>(i);
  shuffle_order(order.data(), N, prm.seeds[b], 0);  // early checkpoints must see a random subset
  for (int64_t oi = 0; oi < N; ++oi) {
    const int64_t i = order[oi];
    const double* a = p1 + 2 * i;
    const double* c = p2 + 2 * i;
    const double wi = wts ? wts[i] : 1.0;
    if (std::isfinite(a[0]) && std::isfinite(a[1]) && std::isfinite(c[0]) && std::isfinite(c[1]) &&
        std::isfinite(wi) && wi > 0) {
      it.valid.push_back(static_cast<int32_t>(i));
      it.q1.insert(it.q1.end(), {a[0], a[1]});
      it.q2.insert(it.q2.end(), {c[0], c[1]});
      it.w.push_back(wi);
    }
  }
  for (int k = 0; k < 9; ++k) F_out[k] = 0.0;
  for (int64_t i = 0; i < N; ++i) inl_out[i] = 0;
  *n_out = 0;
  *it_out = 0;
  const size_t n = it.valid.size();
  if (n < 8) { *st_out = kTooFewPoints; return; }
  it.n1 = normaliser(it.q1, n);
  it.n2 = normaliser(it.q2, n);
  if (it.n1.s == 0.0 || it.n2.s == 0.0) { *st_out = kDegenerate; return; }
  it.qn1.resize(2 * n);
  it.qn2.resize(2 * n);
  for (size_t i = 0; i < n; ++i) {
    it.qn1[2 * i] = it.n1.s * (it.q1[2 * i] - it.n1.cx);
    it.qn1[2 * i + 1] = it.n1.s * (it.q1[2 * i + 1] - it.n1.cy);
    it.qn2[2 * i] = it.n2.s * (it.q2[2 * i] - it.n2.cx);
    it.qn2[2 * i + 1] = it.n2.s * (it.q2[2 * i + 1] - it.n2.cy);
  }
  it.x1.resize(n); it.y1.resize(n); it.x2.resize(n); it.y2.resize(n);
  for (size_t i = 0; i < n; ++i) {
    it.x1[i] = it.q1[2 * i]; it.y1[i] = it.q1[2 * i + 1]; it.x2[i] = it.q2[2 * i]; it.y2[i] = it.q2[2 * i + 1];
  }
  it.suffix.assign(n + 1, 0.0);
  for (size_t i = n; i-- > 0;) it.suffix[i] = it.suffix[i + 1] + it.w[i];
  const double total_w = it.suffix[0];
  const double thr2 = prm.threshold * prm.threshold;

  double best_score = -1.0, bestF[9] = {0};
  int64_t best_h = -1, h0 = 0;
  double needed = static_cast<double>(prm.max_iters);
  std::vector<double> scores(prm.round_size), Fs(9 * prm.round_size);
  // A team of threads shares each round's hypotheses; thread 0 merges between rounds.
  Barrier barrier(threads);
  bool done = false;
  run_team(threads, [&](int tid, int nt) {
    while (true) {
      if (tid == 0) done = !(h0 < prm.max_iters && h0 < needed);
      barrier.wait();
      if (done) return;
      const int64_t m = std::min<int64_t>(round_length(h0, prm.round_size), prm.max_iters - h0);
      const double bar = best_score;
      for (int64_t j = tid; j < m; j += nt) {
        int32_t idx[8];
        double* F = &Fs[9 * j];
        scores[j] = -1.0;
        if (!draw_sample(prm.seeds[b], 0, h0 + j, static_cast<int64_t>(n), idx)) continue;
        if (!hypothesis_from_sample(it.qn1.data(), it.qn2.data(), idx, it.n1, it.n2, F)) continue;
        scores[j] = score_F(it, F, thr2, bar);
      }
      barrier.wait();
      if (tid == 0) {
        bool improved = false;
        for (int64_t j = 0; j < m; ++j)
          if (scores[j] >= 0 && better(scores[j], h0 + j, best_score, best_h)) {
            best_score = scores[j];
            best_h = h0 + j;
            for (int k = 0; k < 9; ++k) bestF[k] = Fs[9 * j + k];
            improved = true;
          }
        if (improved && kLocalPasses > 0) refine(it, thr2, bestF, best_score, kLocalPasses);  // LO-RANSAC step
        h0 += m;
        if (best_score > 0) needed = ransac_needed(best_score / total_w, prm.confidence);
      }
    }
  });
  *it_out = h0;
  if (best_h < 0) { *st_out = kDegenerate; return; }

  refine(it, thr2, bestF, best_score, kRefitPasses);
  int64_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool in = sampson_inlier(bestF, it.x1[i], it.y1[i], it.x2[i], it.y2[i], thr2);  // same test as CUDA
    inl_out[it.valid[i]] = in;
    count += in;
  }
  for (int k = 0; k < 9; ++k) F_out[k] = bestF[k];
  *n_out = count;
  *st_out = count >= 8 ? kOk : kDegenerate;
}

}  // namespace

void ransac_fundamental_cpu(const double* p1, const double* p2, const double* weights, int64_t B, int64_t N,
                            const RansacParams& prm, double* F, uint8_t* inliers, int64_t* n_inliers, int64_t* iters,
                            int32_t* status, int threads) {
  threads = resolve_threads(threads);
  // Enough items for every thread: one item per thread; otherwise threads share each item's rounds.
  const bool per_item = B >= threads;
  auto one = [&](int64_t b) {
    run_item(p1 + b * N * 2, p2 + b * N * 2, weights ? weights + b * N : nullptr, b, N, prm, F + 9 * b,
             inliers + b * N, n_inliers + b, iters + b, status + b, per_item ? 1 : threads);
  };
  if (per_item)
    parallel_for(B, threads, one);
  else
    for (int64_t b = 0; b < B; ++b) one(b);
}

void epipolar_score_map_cpu(const float* flow, const double* F, int64_t B, int64_t H, int64_t W, double thr,
                            float* d_epi, float* score, int threads) {
  parallel_for(B * H, threads, [&](int64_t row) {
    const int64_t b = row / H, y = row % H;
    const double* f = F + 9 * b;
    for (int64_t x = 0; x < W; ++x) {
      const int64_t i = row * W + x;
      const double x2 = x + static_cast<double>(flow[2 * i]), y2 = y + static_cast<double>(flow[2 * i + 1]);
      const double d = std::sqrt(epiline_sq(f, static_cast<double>(x), static_cast<double>(y), x2, y2));
      d_epi[i] = static_cast<float>(d);
      score[i] = (d < thr) ? static_cast<float>(1.0 / (1.0 + d)) : 0.0f;
    }
  });
}

}  // namespace vo
