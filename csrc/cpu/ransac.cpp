// Batched normalised 8-point RANSAC for the fundamental matrix on the CPU.
//
// Per batch item: Hartley normalisation of all finite matches; hypotheses drawn in
// rounds of `round_size` (threads share a round when the batch is small); each is
// scored by the (weighted) count of matches with Sampson distance < threshold, with
// an exact early exit once it cannot beat the best; the adaptive stopping rule is
// updated between rounds; finally a least-squares refit on all inliers, re-scored.
#include "ransac.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.h"
#include "ransac_core.h"

namespace vo {
namespace {

// Per-item working set, one per thread and reused across items and calls (no page
// faults from fresh allocations on every pair).  Matches are stored one array per
// coordinate so the scoring and refit loops vectorise.
struct Item {
  std::vector<int32_t> order;                // seeded visiting order of the input rows
  std::vector<int32_t> valid;                // input row of each finite match
  std::vector<double> x1, y1, x2, y2;        // pixel coordinates
  std::vector<double> u1, v1, u2, v2;        // Hartley-normalised coordinates
  std::vector<double> w;                     // weights (1 if none)
  std::vector<double> suffix;                // suffix sums of w, for the early exit
  size_t n = 0;                              // number of finite matches (arrays hold n + 8)
  Norm2D n1{}, n2{};
};

Norm2D normaliser(const double* x, const double* y, size_t n) {
  double cx = 0, cy = 0;
  for (size_t i = 0; i < n; ++i) { cx += x[i]; cy += y[i]; }
  cx /= n; cy /= n;
  double d = 0;
  for (size_t i = 0; i < n; ++i) {
    const double u = x[i] - cx, v = y[i] - cy;
    d += std::sqrt(u * u + v * v);
  }
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
  const size_t n = it.n;
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

// Upper triangle of the Sampson-weighted normal matrix of the inliers of F.  Eight
// independent partial sums per entry (match i goes to lane i % 8, lanes added in order
// at the end), so the loop vectorises without reordering any one sum.
int64_t accumulate_normal(const Item& it, const double F[9], double thr2, double ATA[81]) {
  constexpr int L = 8;
  const size_t n = it.n;
  double acc[45][L] = {};
  double cnt[L] = {};
  const double *x1 = it.x1.data(), *y1 = it.y1.data(), *x2 = it.x2.data(), *y2 = it.y2.data(), *w = it.w.data();
  const double *u1 = it.u1.data(), *v1 = it.v1.data(), *u2 = it.u2.data(), *v2 = it.v2.data();
  auto block = [&](size_t base, int m) {  // matches base .. base+m-1 into lanes 0 .. m-1
    double wl[L], r[9][L];
    for (int l = 0; l < L; ++l) {
      const size_t i = base + l;
      wl[l] = l < m ? refit_weight(F, x1[i], y1[i], x2[i], y2[i], thr2, w[i]) : 0.0;
      const double a = u1[i], b = v1[i], c = u2[i], d = v2[i];
      r[0][l] = c * a; r[1][l] = c * b; r[2][l] = c;
      r[3][l] = d * a; r[4][l] = d * b; r[5][l] = d;
      r[6][l] = a; r[7][l] = b; r[8][l] = 1.0;
    }
    for (int l = 0; l < L; ++l) cnt[l] += wl[l] > 0.0 ? 1.0 : 0.0;
    int k = 0;
    for (int a = 0; a < 9; ++a)
      for (int c = a; c < 9; ++c, ++k)
        for (int l = 0; l < L; ++l) acc[k][l] += wl[l] * r[a][l] * r[c][l];
  };
  size_t base = 0;
  for (; base + L <= n; base += L) block(base, L);
  if (base < n) block(base, static_cast<int>(n - base));  // reads past n stay inside the padded arrays
  double total = 0.0;
  for (int l = 0; l < L; ++l) total += cnt[l];
  int k = 0;
  for (int a = 0; a < 9; ++a)
    for (int c = a; c < 9; ++c, ++k) {
      double s = 0.0;
      for (int l = 0; l < L; ++l) s += acc[k][l];
      ATA[a * 9 + c] = s;
    }
  return static_cast<int64_t>(total);
}

void refine(const Item& it, double thr2, double F[9], double& score, int passes) {
  auto accumulate = [&](const double* Fc, double* ATA) { return accumulate_normal(it, Fc, thr2, ATA); };
  auto rescore = [&](const double* Fc) { return score_range(it, Fc, thr2, 0, it.n); };
  refine_best(accumulate, rescore, it.n1, it.n2, F, score, passes);
}

bool hypothesis(const Item& it, const int32_t idx[8], double F[9]) {
  double A[8][9];
  for (int r = 0; r < 8; ++r) {
    const int32_t i = idx[r];
    epipolar_row(it.u1[i], it.v1[i], it.u2[i], it.v2[i], A[r]);
  }
  return hypothesis_from_design(A, it.n1, it.n2, F);
}

// Finite matches in the seeded order, their weights and normalised coordinates.
// Returns the status to report, or -1 when the item can run.
int prepare(Item& it, const double* p1, const double* p2, const double* wts, int64_t N, uint64_t seed) {
  it.order.resize(N);
  for (int64_t i = 0; i < N; ++i) it.order[i] = static_cast<int32_t>(i);
  shuffle_order(it.order.data(), N, seed, 0);  // early checkpoints must see a random subset
  // Arrays padded by 8: the refit reads whole blocks of 8 past the last match (weight 0).
  it.valid.resize(N + 8);
  for (auto* v : {&it.x1, &it.y1, &it.x2, &it.y2, &it.w, &it.u1, &it.v1, &it.u2, &it.v2}) v->resize(N + 8);
  constexpr int64_t kAhead = 16;  // the visiting order is random: prefetch the rows it reaches next
  int64_t n = 0;
  for (int64_t oi = 0; oi < N; ++oi) {
    if (oi + kAhead < N) {
      const int64_t f = it.order[oi + kAhead];
      __builtin_prefetch(p1 + 2 * f);
      __builtin_prefetch(p2 + 2 * f);
      if (wts) __builtin_prefetch(wts + f);
    }
    const int64_t i = it.order[oi];
    const double a0 = p1[2 * i], a1 = p1[2 * i + 1], c0 = p2[2 * i], c1 = p2[2 * i + 1];
    const double wi = wts ? wts[i] : 1.0;
    it.valid[n] = static_cast<int32_t>(i);  // written always, kept when finite (no branch)
    it.x1[n] = a0; it.y1[n] = a1; it.x2[n] = c0; it.y2[n] = c1;
    it.w[n] = wi;
    n += finite(a0) & finite(a1) & finite(c0) & finite(c1) & finite(wi) & (wi > 0);
  }
  it.n = static_cast<size_t>(n);
  if (n < 8) return kTooFewPoints;
  it.n1 = normaliser(it.x1.data(), it.y1.data(), n);
  it.n2 = normaliser(it.x2.data(), it.y2.data(), n);
  if (it.n1.s == 0.0 || it.n2.s == 0.0) return kDegenerate;
  for (int64_t i = n; i < n + 8; ++i)
    it.x1[i] = it.y1[i] = it.x2[i] = it.y2[i] = it.w[i] = 0.0;
  for (int64_t i = 0; i < n + 8; ++i) {
    it.u1[i] = it.n1.s * (it.x1[i] - it.n1.cx);
    it.v1[i] = it.n1.s * (it.y1[i] - it.n1.cy);
    it.u2[i] = it.n2.s * (it.x2[i] - it.n2.cx);
    it.v2[i] = it.n2.s * (it.y2[i] - it.n2.cy);
  }
  it.suffix.resize(n + 1);
  it.suffix[n] = 0.0;
  for (int64_t i = n; i-- > 0;) it.suffix[i] = it.suffix[i + 1] + it.w[i];
  return -1;
}

void run_item(const double* p1, const double* p2, const double* wts, int64_t b, int64_t N, const RansacParams& prm,
              double* F_out, uint8_t* inl_out, int64_t* n_out, int64_t* it_out, int32_t* st_out, int threads) {
  thread_local Item workspace;
  Item& it = workspace;  // a reference, so the team threads below see this thread's workspace
  for (int k = 0; k < 9; ++k) F_out[k] = 0.0;
  for (int64_t i = 0; i < N; ++i) inl_out[i] = 0;
  *n_out = 0;
  *it_out = 0;
  const int prep = prepare(it, p1, p2, wts, N, prm.seeds[b]);
  if (prep >= 0) { *st_out = prep; return; }
  const size_t n = it.n;
  const double total_w = it.suffix[0];
  const double thr2 = prm.threshold * prm.threshold;

  double best_score = -1.0, bestF[9] = {0};
  int64_t best_h = -1, h0 = 0;
  double needed = static_cast<double>(prm.max_iters);
  std::vector<double> scores(prm.round_size), Fs(9 * prm.round_size);
  // A team of threads shares each round's hypotheses; thread 0 merges between rounds.
  threads = ThreadPool::team_size(threads);
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
        if (!hypothesis(it, idx, F)) continue;
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
