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
  std::vector<uint32_t> swaps;               // the shuffle's swap targets
  std::vector<double> t1x, t1y, t2x, t2y, tw;  // the input rows in input order
  std::vector<int32_t> valid;                // input row of each finite match
  std::vector<double> x1, y1, x2, y2;        // pixel coordinates
  std::vector<double> u1, v1, u2, v2;        // Hartley-normalised coordinates
  std::vector<double> w;                     // weights (1 if none)
  mutable std::vector<double> wl;            // refit weights of the current refit pass
  std::vector<uint8_t> in;                   // final inlier flags
  std::vector<double> rest;                  // rest[j]: sum of w from match j * kCheckEvery on (early exit)
  size_t n = 0;                              // number of finite matches (arrays hold n + 8)
  Norm2D n1{}, n2{};
};

// Sums over [0, n) in 8 interleaved partial sums (added in order at the end): the loops
// vectorise, and the result does not depend on the thread that computes it.  Always
// inlined: compiled on its own for the scoring term, GCC 12 emitted code 3x slower.
constexpr int kLanes = 8;
template <class Term>
__attribute__((always_inline)) inline double lane_sum(size_t begin, size_t end, const Term& term) {
  double part[kLanes] = {};
  size_t i = begin;
  for (; i + kLanes <= end; i += kLanes)
    for (int l = 0; l < kLanes; ++l) part[l] += term(i + l);
  for (int l = 0; i < end; ++i, ++l) part[l] += term(i);
  double s = 0.0;
  for (int l = 0; l < kLanes; ++l) s += part[l];
  return s;
}

Norm2D normaliser(const double* x, const double* y, size_t n) {
  const double cx = lane_sum(0, n, [x](size_t i) { return x[i]; }) / n;
  const double cy = lane_sum(0, n, [y](size_t i) { return y[i]; }) / n;
  const double d = lane_sum(0, n, [&](size_t i) {
    const double u = x[i] - cx, v = y[i] - cy;
    return std::sqrt(u * u + v * v);
  }) / n;
  return {cx, cy, d > 1e-12 ? std::sqrt(2.0) / d : 0.0};
}

// Weighted inlier count over matches [begin, end): a branch-free loop the compiler vectorises.
// Kept out of line on purpose: inlined into score_F, GCC 12 generated code about 3x slower
// for the whole RANSAC (measured: 1.37 vs 0.47 ms per pair, one thread, KITTI matches).
__attribute__((noinline)) double score_range(const Item& it, const double F[9], double thr2, size_t begin, size_t end) {
  const double* x1 = it.x1.data();
  const double* y1 = it.y1.data();
  const double* x2 = it.x2.data();
  const double* y2 = it.y2.data();
  const double* w = it.w.data();
  return lane_sum(begin, end, [&](size_t i) { return sampson_inlier(F, x1[i], y1[i], x2[i], y2[i], thr2) ? w[i] : 0.0; });
}

double score_F(const Item& it, const double F[9], double thr2, double best) {
  const size_t n = it.n;
  const double total = it.rest[0];
  double s = 0;
  for (size_t base = 0; base < n; base += kCheckEvery) {
    const size_t end = std::min(n, base + kCheckEvery);
    s += score_range(it, F, thr2, base, end);
    if (end - base == static_cast<size_t>(kCheckEvery) && best > 0 &&
        reject_early(s, total - it.rest[end / kCheckEvery], it.rest[end / kCheckEvery], best, total))
      return -1.0;
  }
  return s;
}

// Upper triangle of the Sampson-weighted normal matrix of the inliers of F.  A design row
// is the Kronecker product (x2, y2, 1) (x) (x1, y1, 1), so its outer product needs only the
// 6 x 6 sums S[pq] = sum w (a a^T)_p (b b^T)_q over the distinct entries of a a^T and
// b b^T.  Eight independent partial sums per entry (match i goes to lane i % 8, lanes
// added in order at the end), so the loops vectorise without reordering any one sum.
// The weights come first, then two sweeps of 3 x 6 sums each: all 36 sums in one sweep
// need more vector registers than there are, and the spills made it about 3x slower.
template <int P0>
void accumulate_rows(const Item& it, size_t n, double S[6][6]) {
  constexpr int L = 8;
  double acc[3][6][L] = {};
  const double *u1 = it.u1.data(), *v1 = it.v1.data(), *u2 = it.u2.data(), *v2 = it.v2.data(), *wl = it.wl.data();
  for (size_t base = 0; base < n; base += L) {
    double wa[3][L], bb[6][L];
    for (int l = 0; l < L; ++l) {
      const double a0 = u2[base + l], a1 = v2[base + l], w = wl[base + l];  // a = (x2, y2, 1)
      const double all[6] = {w * a0 * a0, w * a0 * a1, w * a0, w * a1 * a1, w * a1, w};
      for (int p = 0; p < 3; ++p) wa[p][l] = all[P0 + p];
    }
    for (int l = 0; l < L; ++l) {
      const double b0 = u1[base + l], b1 = v1[base + l];  // b = (x1, y1, 1)
      bb[0][l] = b0 * b0; bb[1][l] = b0 * b1; bb[2][l] = b0;
      bb[3][l] = b1 * b1; bb[4][l] = b1; bb[5][l] = 1.0;
    }
    for (int p = 0; p < 3; ++p)
      for (int q = 0; q < 6; ++q)
        for (int l = 0; l < L; ++l) acc[p][q][l] += wa[p][l] * bb[q][l];
  }
  for (int p = 0; p < 3; ++p)
    for (int q = 0; q < 6; ++q) {
      double sum = 0.0;
      for (int l = 0; l < L; ++l) sum += acc[p][q][l];
      S[P0 + p][q] = sum;
    }
}

int64_t accumulate_normal(const Item& it, const double F[9], double thr2, double ATA[81], size_t n) {
  constexpr int L = 8;
  double cnt[L] = {};
  const double *x1 = it.x1.data(), *y1 = it.y1.data(), *x2 = it.x2.data(), *y2 = it.y2.data(), *w = it.w.data();
  double* wl = it.wl.data();
  // Whole blocks of 8: the arrays are padded with weight-0 rows, which add nothing (n is
  // it.n, or a multiple of 8 below it).
  for (size_t base = 0; base < n; base += L) {
    double wb[L];
    for (int l = 0; l < L; ++l) wb[l] = refit_weight(F, x1[base + l], y1[base + l], x2[base + l], y2[base + l], thr2, w[base + l]);
    for (int l = 0; l < L; ++l) {
      cnt[l] += static_cast<double>(wb[l] > 0.0);
      wl[base + l] = wb[l];
    }
  }
  double S[6][6], total = 0.0;
  accumulate_rows<0>(it, n, S);
  accumulate_rows<3>(it, n, S);
  for (int l = 0; l < L; ++l) total += cnt[l];
  static constexpr int kPair[3][3] = {{0, 1, 2}, {1, 3, 4}, {2, 4, 5}};  // entry (i, j) of a symmetric 3x3
  for (int r = 0; r < 9; ++r)
    for (int c = r; c < 9; ++c) ATA[r * 9 + c] = S[kPair[r / 3][c / 3]][kPair[r % 3][c % 3]];
  return static_cast<int64_t>(total);
}

void refine(const Item& it, double thr2, double F[9], double& score, int passes) {
  auto accumulate = [&](const double* Fc, double* ATA) { return accumulate_normal(it, Fc, thr2, ATA, it.n); };
  auto rescore = [&](const double* Fc) { return score_range(it, Fc, thr2, 0, it.n); };
  refine_best(accumulate, rescore, it.n1, it.n2, F, score, passes);
}

void local_refit(const Item& it, double thr2, double F[9], double& score) {
  const size_t m = std::min<size_t>(it.n, kLocalSubset);  // kLocalSubset is a multiple of 8
  auto accumulate = [&](const double* Fc, double* ATA) { return accumulate_normal(it, Fc, thr2, ATA, m); };
  auto rescore_sub = [&](const double* Fc) { return score_range(it, Fc, thr2, 0, m); };
  auto rescore_all = [&](const double* Fc) { return score_range(it, Fc, thr2, 0, it.n); };
  local_optimization(accumulate, rescore_sub, rescore_all, it.n1, it.n2, F, score);
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
  // Early checkpoints must see a random subset: shuffle_order of ransac_core.h, with the
  // swap targets drawn first (a loop that vectorises), then the swaps.
  it.order.resize(N);
  it.swaps.resize(N);
  int32_t* ord = it.order.data();
  uint32_t* sw = it.swaps.data();
  const uint64_t key = shuffle_key(seed, 0);
  for (int64_t i = 0; i < N; ++i) ord[i] = static_cast<int32_t>(i);
  for (int64_t i = 1; i < N; ++i) sw[i] = shuffle_swap(key, i);
  for (int64_t i = N - 1; i > 0; --i) std::swap(ord[i], ord[sw[i]]);
  // Arrays padded by 8: the refit reads whole blocks of 8 past the last match (weight 0).
  it.valid.resize(N + 8);
  for (auto* v : {&it.x1, &it.y1, &it.x2, &it.y2, &it.w, &it.u1, &it.v1, &it.u2, &it.v2, &it.wl}) v->resize(N + 8);
  // The input rows in order first (a streaming read), then the seeded order from these
  // per-thread copies, which stay in cache: random reads of the caller's arrays would miss.
  for (auto* v : {&it.t1x, &it.t1y, &it.t2x, &it.t2y, &it.tw}) v->resize(N);
  double *t1x = it.t1x.data(), *t1y = it.t1y.data(), *t2x = it.t2x.data(), *t2y = it.t2y.data(), *tw = it.tw.data();
  int64_t usable = 0;
  for (int64_t i = 0; i < N; ++i) {
    const double a0 = p1[2 * i], a1 = p1[2 * i + 1], c0 = p2[2 * i], c1 = p2[2 * i + 1], wi = wts ? wts[i] : 1.0;
    t1x[i] = a0; t1y[i] = a1; t2x[i] = c0; t2y[i] = c1; tw[i] = wi;
    usable += finite(a0) & finite(a1) & finite(c0) & finite(c1) & finite(wi) & (wi > 0);
  }
  const int32_t* order = it.order.data();
  int32_t* valid = it.valid.data();
  double *qx1 = it.x1.data(), *qy1 = it.y1.data(), *qx2 = it.x2.data(), *qy2 = it.y2.data(), *qw = it.w.data();
  int64_t n = 0;
  if (usable == N) {  // the usual case: a plain permuted copy (vector gathers)
    for (int64_t oi = 0; oi < N; ++oi) {
      const int32_t i = order[oi];
      valid[oi] = i;
      qx1[oi] = t1x[i]; qy1[oi] = t1y[i]; qx2[oi] = t2x[i]; qy2[oi] = t2y[i]; qw[oi] = tw[i];
    }
    n = N;
  } else {
    for (int64_t oi = 0; oi < N; ++oi) {
      const int64_t i = order[oi];
      const double a0 = t1x[i], a1 = t1y[i], c0 = t2x[i], c1 = t2y[i], wi = tw[i];
      valid[n] = static_cast<int32_t>(i);  // written always, kept when usable (no branch)
      qx1[n] = a0; qy1[n] = a1; qx2[n] = c0; qy2[n] = c1;
      qw[n] = wi;
      n += finite(a0) & finite(a1) & finite(c0) & finite(c1) & finite(wi) & (wi > 0);
    }
  }
  it.n = static_cast<size_t>(n);
  if (n < 8) return kTooFewPoints;
  it.n1 = normaliser(it.x1.data(), it.y1.data(), n);
  it.n2 = normaliser(it.x2.data(), it.y2.data(), n);
  if (it.n1.s == 0.0 || it.n2.s == 0.0) return kDegenerate;
  for (int64_t i = n; i < n + 8; ++i)
    it.x1[i] = it.y1[i] = it.x2[i] = it.y2[i] = it.w[i] = 0.0;
  const Norm2D m1 = it.n1, m2 = it.n2;  // locals: the stores below cannot alias them
  const double *x1 = it.x1.data(), *y1 = it.y1.data(), *x2 = it.x2.data(), *y2 = it.y2.data();
  double *u1 = it.u1.data(), *v1 = it.v1.data(), *u2 = it.u2.data(), *v2 = it.v2.data();
  for (int64_t i = 0; i < n + 8; ++i) {
    u1[i] = m1.s * (x1[i] - m1.cx);
    v1[i] = m1.s * (y1[i] - m1.cy);
    u2[i] = m2.s * (x2[i] - m2.cx);
    v2[i] = m2.s * (y2[i] - m2.cy);
  }
  const int64_t blocks = (n + kCheckEvery - 1) / kCheckEvery;
  it.rest.assign(blocks + 1, 0.0);
  for (int64_t j = blocks; j-- > 0;) {
    const size_t lo = static_cast<size_t>(j * kCheckEvery), hi = std::min<size_t>(n, lo + kCheckEvery);
    it.rest[j] = it.rest[j + 1] + lane_sum(lo, hi, [&](size_t i) { return it.w[i]; });
  }
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
  const double total_w = it.rest[0];
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
      const int64_t m = round_length(h0, prm.round_size, needed, prm.max_iters);
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
        if (improved && kLocalPasses > 0) local_refit(it, thr2, bestF, best_score);  // LO-RANSAC step
        h0 += m;
        if (best_score > 0) needed = ransac_needed(best_score / total_w, prm.confidence);
      }
    }
  });
  *it_out = h0;
  if (best_h < 0) { *st_out = kDegenerate; return; }

  refine(it, thr2, bestF, best_score, kRefitPasses);
  it.in.resize(n + kLanes);
  const double *x1 = it.x1.data(), *y1 = it.y1.data(), *x2 = it.x2.data(), *y2 = it.y2.data();
  uint8_t* in = it.in.data();
  for (size_t base = 0; base < n; base += kLanes) {  // whole blocks: the arrays are padded by 8
    int64_t flag[kLanes];  // not stored to uint8 directly: a uint8 store may alias the inputs
    for (int l = 0; l < kLanes; ++l) flag[l] = sampson_inlier(bestF, x1[base + l], y1[base + l], x2[base + l], y2[base + l], thr2);
    for (int l = 0; l < kLanes; ++l) in[base + l] = static_cast<uint8_t>(flag[l]);  // as CUDA
  }
  int64_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    inl_out[it.valid[i]] = it.in[i];
    count += it.in[i];
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
