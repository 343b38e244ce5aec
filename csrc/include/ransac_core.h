// The parts of the 8-point RANSAC that CPU and CUDA share, so both draw the same
// samples and build the same hypotheses for the same seed.
#pragma once
#include "epipolar_math.h"

namespace vo {

// Draw 8 distinct indices in [0, n) for hypothesis h of batch item b.
VO_HD bool draw_sample(uint64_t seed, int64_t b, int64_t h, int64_t n, int32_t out[8]) {
  int got = 0;
  for (int attempt = 0; attempt < 64 && got < 8; ++attempt) {
    const int32_t c = static_cast<int32_t>(rand_below(counter_rand(seed, b, h * 64 + attempt), static_cast<uint32_t>(n)));
    bool dup = false;
    for (int k = 0; k < got; ++k) dup |= (out[k] == c);
    if (!dup) out[got++] = c;
  }
  return got == 8;
}

// Hypothesis F (pixel coordinates) from the 8x9 design matrix of a sample.
VO_HD bool hypothesis_from_design(double A[8][9], const Norm2D& n1, const Norm2D& n2, double F[9]) {
  double Fn[9];
  if (!null_vector_8x9(A, Fn)) return false;
  enforce_rank2(Fn);
  denormalize(Fn, n1, n2, F);
  for (int k = 0; k < 9; ++k)
    if (!finite(F[k])) return false;
  return true;
}

// Hypothesis from the sample idx of normalised matches stored as rows (x1, y1, x2, y2) of qn [n,4].
VO_HD bool hypothesis_from_sample4(const double* qn, const int32_t idx[8], const Norm2D& n1, const Norm2D& n2,
                                   double F[9]) {
  double A[8][9];
  for (int r = 0; r < 8; ++r) {
    const double* x = qn + 4 * idx[r];
    epipolar_row(x[0], x[1], x[2], x[3], A[r]);
  }
  return hypothesis_from_design(A, n1, n2, F);
}

// Least-squares (weighted) 8-point on the accumulated normal matrix ATA [81] (normalised
// coords), refining `from` (pixel coords; inverse iteration starts at it).
VO_HD bool refit_from_normal_matrix(const double* ATA, const Norm2D& n1, const Norm2D& n2, const double from[9],
                                    double F[9]) {
  double guess[9], Fn[9];
  normalize_fundamental(from, n1, n2, guess);
  if (!smallest_eigenvector_near(ATA, 9, guess, Fn)) smallest_eigenvector(ATA, 9, Fn);
  enforce_rank2(Fn);
  denormalize(Fn, n1, n2, F);
  for (int k = 0; k < 9; ++k)
    if (!finite(F[k])) return false;
  return true;
}

// Scoring visits matches in a seeded random order and checks every kCheckEvery
// matches whether the hypothesis can still compete with the best one so far:
// exactly (even all remaining matches would not be enough), or statistically (its
// inlier rate so far lies more than kRejectSigma standard deviations below the
// best's). The statistical test is what makes the scoring cheap.
constexpr int kCheckEvery = 128;
constexpr int kRefitPasses = 3;         // least-squares refits on all inliers of the final best
constexpr int kLocalPasses = 3;         // refits of each round's new best (LO-RANSAC); 0 disables
constexpr int64_t kLocalSubset = 1024;  // matches those refits use: the first of the seeded order
static_assert(kLocalSubset % 8 == 0, "the CPU refit accumulates whole blocks of 8 matches");
constexpr double kRejectSigma = 3.5;

VO_HD bool reject_early(double score, double seen_w, double remaining_w, double best, double total_w) {
  if (score + remaining_w < best) return true;
  const double r = best / total_w;
  const double expect = r * seen_w;
  const double sd = sqrt(seen_w * r * (1.0 - r) + 1e-12);
  return score < expect - kRejectSigma * sd;
}

// Hypotheses per round: the first rounds are short, because until a first best
// exists every hypothesis is scored on all matches; no round draws more than the
// stopping rule still asks for (`needed` in total) or than max_iters allows.
VO_HD int64_t round_length(int64_t h0, int64_t round_size, double needed, int64_t max_iters) {
  int64_t r = h0 < 8 ? 8 : h0;  // 8, 8, 16, 32, ... up to round_size
  r = r < round_size ? r : round_size;
  const double rest = ceil(needed) - static_cast<double>(h0);
  if (rest < static_cast<double>(r)) r = rest < 1.0 ? 1 : static_cast<int64_t>(rest);
  return r < max_iters - h0 ? r : max_iters - h0;
}

// Seeded Fisher-Yates permutation of order[0..n): step i (from n - 1 down to 1) swaps
// order[i] with order[shuffle_swap(key, i)], key = shuffle_key(seed, b).  The swap targets
// depend on (key, i) only, so the CPU draws them all first in a loop that vectorises.
VO_HD uint64_t shuffle_key(uint64_t seed, int64_t b) {
  return stream_key(seed ^ static_cast<uint64_t>(b), 0x5851F42D4C957F2Dull);
}
VO_HD uint32_t shuffle_swap(uint64_t key, int64_t i) {
  return rand_below(keyed_rand(key, static_cast<uint64_t>(i)), static_cast<uint32_t>(i + 1));
}
VO_HD void shuffle_order(int32_t* order, int64_t n, uint64_t seed, int64_t b) {
  const uint64_t key = shuffle_key(seed, b);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = shuffle_swap(key, i);
    const int32_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

// Weight of one match in the Sampson-weighted least-squares refit under F: 0 for an
// outlier of F, else w / |grad|^2 of its epipolar residual (the rows of the linear refit
// are scaled so that it minimises the first-order geometric error, not the algebraic one).
VO_HD double refit_weight(const double F[9], double x1, double y1, double x2, double y2, double thr2, double w) {
  const SampsonTerms t = sampson_terms(F, x1, y1, x2, y2);
  const double wi = w / (t.grad2 > 1e-300 ? t.grad2 : 1e-300);  // unconditional: selects, no branches
  return t.r * t.r < thr2 * t.grad2 ? wi : 0.0;                  // the test of sampson_inlier
}

// Least-squares refits on all inliers of F (`passes` at most), each kept only if it
// scores no worse; updates F and score in place.  The loops over the matches are the
// caller's (vectorised on the CPU, serial on CUDA):
//   accumulate(F, ATA) fills the upper triangle of the weighted normal matrix of the
//   inliers of F (normalised coordinates, weights from refit_weight) and returns how
//   many inliers it used; rescore(F) returns the weighted inlier score of F.
template <class Accumulate, class Rescore>
VO_HD void refine_best(const Accumulate& accumulate, const Rescore& rescore, const Norm2D& n1, const Norm2D& n2,
                       double F[9], double& score, int passes) {
  for (int pass = 0; pass < passes; ++pass) {
    double ATA[81];
    for (int k = 0; k < 81; ++k) ATA[k] = 0.0;
    if (accumulate(F, ATA) < 8) return;
    for (int a = 0; a < 9; ++a)
      for (int c = 0; c < a; ++c) ATA[a * 9 + c] = ATA[c * 9 + a];
    double Fr[9];
    if (!refit_from_normal_matrix(ATA, n1, n2, F, Fr)) return;
    const double s = rescore(Fr);
    if (s < score) return;
    const bool same = s == score;
    score = s;
    for (int k = 0; k < 9; ++k) F[k] = Fr[k];
    if (same) return;  // converged
  }
}

// LO-RANSAC step for a new best F: least-squares refits on the inliers among a random
// subset of the matches (the first kLocalSubset of the seeded order; accumulate_sub and
// rescore_sub as in refine_best, restricted to them), then the result is scored on all
// matches (rescore_all) and replaces F when it scores higher.  The refit model's support
// is what the stopping rule then uses: a minimal-sample model of noisy matches sees far
// fewer inliers than the model of all of them, so without this step RANSAC draws
// several times the hypotheses it needs.
template <class Accumulate, class Rescore, class RescoreAll>
VO_HD void local_optimization(const Accumulate& accumulate_sub, const Rescore& rescore_sub, const RescoreAll& rescore_all,
                              const Norm2D& n1, const Norm2D& n2, double F[9], double& score) {
  double Fl[9];
  for (int k = 0; k < 9; ++k) Fl[k] = F[k];
  double s_sub = rescore_sub(Fl);
  refine_best(accumulate_sub, rescore_sub, n1, n2, Fl, s_sub, kLocalPasses);
  bool moved = false;
  for (int k = 0; k < 9; ++k) moved |= Fl[k] != F[k];
  if (!moved) return;
  const double s = rescore_all(Fl);
  if (s <= score) return;
  score = s;
  for (int k = 0; k < 9; ++k) F[k] = Fl[k];
}

// Better hypothesis: higher score, ties to the lower hypothesis index (deterministic).
VO_HD bool better(double score_a, int64_t h_a, double score_b, int64_t h_b) {
  return score_a > score_b || (score_a == score_b && h_a < h_b);
}

}  // namespace vo
