// Pose from F on the CPU, threaded over the batch.
#include "pose.h"

#include <cmath>

#include "parallel.h"
#include "pose_math.h"

namespace vo {
namespace {

constexpr int L = 8;  // matches per block, one per vector lane

// The four candidates and the intrinsics, as the vote needs them.
struct Candidates {
  double R[4][9], t[4][3], c2[4][3];
  double fx, s, cx, fy, cy;
};

// Cheirality votes of one block of L matches (rows a[2l], c[2l] of p1, p2), each counted
// for the candidates where use[l] is set.  Branch-free per lane, so the loops vectorise;
// candidates j and j + 1 differ only in the sign of t (one solve for both).
inline void vote_block(const double* a, const double* c, const int64_t use[L], const Candidates& cd,
                       int64_t cnt[4][L]) {
  double u1[L], v1[L], u2[L], v2[L];
  const double ify = 1.0 / cd.fy, ifx = 1.0 / cd.fx;
  for (int l = 0; l < L; ++l) {
    v1[l] = (a[2 * l + 1] - cd.cy) * ify;
    v2[l] = (c[2 * l + 1] - cd.cy) * ify;
    u1[l] = (a[2 * l] - cd.cx - cd.s * v1[l]) * ifx;
    u2[l] = (c[2 * l] - cd.cx - cd.s * v2[l]) * ifx;
  }
  int64_t* c0 = cnt[0];
  int64_t* c1 = cnt[1];
  int64_t* c2 = cnt[2];
  int64_t* c3 = cnt[3];
  for (int l = 0; l < L; ++l) {
    bool plus, minus;
    midpoint_votes(u1[l], v1[l], u2[l], v2[l], cd.R[0], cd.t[0], cd.c2[0], plus, minus);
    c0[l] += use[l] & static_cast<int64_t>(plus);
    c1[l] += use[l] & static_cast<int64_t>(minus);
  }
  for (int l = 0; l < L; ++l) {
    bool plus, minus;
    midpoint_votes(u1[l], v1[l], u2[l], v2[l], cd.R[2], cd.t[2], cd.c2[2], plus, minus);
    c2[l] += use[l] & static_cast<int64_t>(plus);
    c3[l] += use[l] & static_cast<int64_t>(minus);
  }
}

// Rows that vote: inliers (or all rows without a mask) with finite coordinates.
inline void usable_rows(const double* a, const double* c, const uint8_t* m, int64_t use[L]) {
  for (int l = 0; l < L; ++l)
    use[l] = static_cast<int64_t>(!m || m[l]) & finite(a[2 * l]) & finite(a[2 * l + 1]) & finite(c[2 * l]) &
             finite(c[2 * l + 1]);
}

}  // namespace

void pose_from_fundamental_cpu(const double* F, const double* K, const double* p1, const double* p2,
                               const uint8_t* mask, int64_t B, int64_t N, double* R_out, double* t_out,
                               int64_t* n_front, int64_t* n_front_all, int threads) {
  parallel_for(B, threads, [&](int64_t b) {
    const double* Kb = K + 9 * b;
    double Kt[9], tmp[9], E[9];
    Candidates cd;
    transpose3(Kb, Kt);
    matmul3(Kt, F + 9 * b, tmp);
    matmul3(tmp, Kb, E);
    int64_t counts[4] = {0, 0, 0, 0};
    const bool ok = decompose_essential(E, cd.R, cd.t);
    if (ok) {
      for (int j = 0; j < 4; ++j) camera_centre(cd.R[j], cd.t[j], cd.c2[j]);
      cd.fx = Kb[0]; cd.s = Kb[1]; cd.cx = Kb[2]; cd.fy = Kb[4]; cd.cy = Kb[5];
      int64_t cnt[4][L] = {};
      int64_t use[L];
      const double* a = p1 + b * N * 2;
      const double* c = p2 + b * N * 2;
      const uint8_t* m = mask ? mask + b * N : nullptr;
      int64_t base = 0;
      for (; base + L <= N; base += L) {
        usable_rows(a + 2 * base, c + 2 * base, m ? m + base : nullptr, use);
        vote_block(a + 2 * base, c + 2 * base, use, cd, cnt);
      }
      if (base < N) {  // the last rows, padded to a block with rows that do not vote
        double ta[2 * L] = {}, tc[2 * L] = {};
        uint8_t tm[L] = {};
        for (int64_t i = base; i < N; ++i) {
          for (int k = 0; k < 2; ++k) { ta[2 * (i - base) + k] = a[2 * i + k]; tc[2 * (i - base) + k] = c[2 * i + k]; }
          tm[i - base] = m ? m[i] : 1;
        }
        usable_rows(ta, tc, tm, use);
        vote_block(ta, tc, use, cd, cnt);
      }
      for (int j = 0; j < 4; ++j)
        for (int l = 0; l < L; ++l) counts[j] += cnt[j][l];
    }
    int best = 0;
    for (int j = 1; j < 4; ++j)
      if (counts[j] > counts[best]) best = j;
    for (int k = 0; k < 9; ++k) R_out[9 * b + k] = ok ? cd.R[best][k] : (k % 4 == 0 ? 1.0 : 0.0);
    for (int k = 0; k < 3; ++k) t_out[3 * b + k] = ok ? cd.t[best][k] : 0.0;
    n_front[b] = counts[best];
    for (int j = 0; j < 4; ++j) n_front_all[4 * b + j] = counts[j];
  });
}

}  // namespace vo
