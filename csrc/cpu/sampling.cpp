// Mask-weighted match sampling on the CPU: top `ratio` of pixels by score, then
// `n` of them at random without replacement (partial Fisher-Yates).
#include "sampling.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "arg_checks.h"
#include "parallel.h"
#include "vo_common.h"

namespace vo {

// Histogram key of a score: 0 for scores that are never candidates, else 1 + the top 16
// bits of the float (for positive floats the bit pattern orders like the value).
static inline uint32_t score_key(float s) {
  uint32_t b;
  std::memcpy(&b, &s, sizeof b);
  return usable(s) ? (b >> 16) + 1u : 0u;
}
constexpr uint32_t kBins = (0x7F800000u >> 16) + 2u;  // up to +inf

// Candidate lists hold int32 pixel indices: check_pixel_count (arg_checks.h) on entry.

// Per-thread buffers, reused across pairs and calls.
struct SampleWork {
  std::vector<uint32_t> hist;
  std::vector<int32_t> up, mid, tmp, idx;
};

// One branch-free pass over the scores: pixels with key > hi go to `up`, pixels with
// lo <= key <= hi to `mid`, both in ascending index order (both buffers hold hw + 16).
// Returns the number of usable pixels.  AVX-512 when the build targets it.
static int64_t split_by_key(const float* score, int64_t hw, uint32_t lo, uint32_t hi, int32_t* up, int64_t& na,
                            int32_t* mid, int64_t& nm) {
  na = nm = 0;
  int64_t usable_count = 0, i = 0;
#if defined(__AVX512F__)
  const __m512i vlo = _mm512_set1_epi32(static_cast<int>(lo)), vhi = _mm512_set1_epi32(static_cast<int>(hi));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (; i + 16 <= hw; i += 16) {
    const __m512 v = _mm512_loadu_ps(score + i);
    const __mmask16 ok = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);  // usable(): s > 0, not NaN
    const __m512i key = _mm512_maskz_add_epi32(ok, _mm512_srli_epi32(_mm512_castps_si512(v), 16), one);
    const __mmask16 mu = _mm512_cmpgt_epu32_mask(key, vhi);
    const __mmask16 mm = _mm512_cmpge_epu32_mask(key, vlo) & _mm512_cmple_epu32_mask(key, vhi);
    const __m512i id = _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(i)));
    // register compress + full store (the masked compress-store is slow on some cores)
    _mm512_storeu_si512(up + na, _mm512_maskz_compress_epi32(mu, id));
    _mm512_storeu_si512(mid + nm, _mm512_maskz_compress_epi32(mm, id));
    na += __builtin_popcount(mu);
    nm += __builtin_popcount(mm);
    usable_count += __builtin_popcount(ok);
  }
#endif
  for (; i < hw; ++i) {  // unconditional stores, conditional advances
    const uint32_t key = score_key(score[i]);
    up[na] = static_cast<int32_t>(i);
    na += key > hi;
    mid[nm] = static_cast<int32_t>(i);
    nm += (key >= lo) & (key <= hi);
    usable_count += key > 0;
  }
  return usable_count;
}

// Merge of two ascending, disjoint index lists where `few` is much shorter than `many`
// (the window's survivors against everything above the window): each element of `few`
// finds its place by a forward scan of `many` in blocks of 16 from the previous place,
// and the run of `many` before it is one block copy.  Same output as std::merge, with
// about two data-dependent branches per element of `few` instead of one per element.
static void merge_sparse(const int32_t* many, int64_t n_many, const int32_t* few, int64_t n_few, int32_t* out) {
  int64_t from = 0;
  for (int64_t j = 0; j < n_few; ++j) {
    const int32_t x = few[j];
    int64_t to = from;
    while (to + 16 <= n_many && many[to + 15] < x) to += 16;
#if defined(__AVX512F__)
    if (to + 16 <= n_many) {  // many[to + 15] > x: the place is inside this block
      const __mmask16 below = _mm512_cmplt_epi32_mask(_mm512_loadu_si512(many + to), _mm512_set1_epi32(x));
      to += __builtin_popcount(below);
    } else
#endif
      while (to < n_many && many[to] < x) ++to;
    std::memcpy(out, many + from, sizeof(int32_t) * (to - from));
    out += to - from;
    *out++ = x;
    from = to;
  }
  std::memcpy(out, many + from, sizeof(int32_t) * (n_many - from));
}

// The top-k candidates, ascending, from `up` (all in) and `mid` (holds the k-th best, keys
// in [lo, hi]): a histogram of mid's keys finds the bin of the k-th; only that bin is
// partially sorted (ties to the lower index).  need = k - na, 1 <= need <= nm.
static void finish_candidates(const float* score, SampleWork& ws, int64_t na, int64_t nm, int64_t need, uint32_t lo,
                              uint32_t hi) {
  int32_t* mid = ws.mid.data();
  ws.hist.assign(hi - lo + 1, 0u);
  uint32_t* hist = ws.hist.data();
  for (int64_t j = 0; j < nm; ++j) ++hist[score_key(score[mid[j]]) - lo];
  int64_t above = 0;
  uint32_t bin = hi;
  for (; bin > lo; --bin) {
    if (above + hist[bin - lo] >= need) break;
    above += hist[bin - lo];
  }
  ws.tmp.clear();
  for (int64_t j = 0; j < nm; ++j)
    if (score_key(score[mid[j]]) == bin) ws.tmp.push_back(mid[j]);
  auto better = [score](int32_t a, int32_t c) { return score[a] > score[c] || (score[a] == score[c] && a < c); };
  const int64_t r = need - above;  // 1 <= r <= tmp.size()
  std::nth_element(ws.tmp.begin(), ws.tmp.begin() + (r - 1), ws.tmp.end(), better);
  const int32_t last = ws.tmp[r - 1];  // the worst candidate kept
  const float s_last = score[last];
  int64_t kept = 0;
  for (int64_t j = 0; j < nm; ++j) {  // branch-free filter, order kept
    const int32_t i = mid[j];
    const float s = score[i];
    mid[kept] = i;
    kept += (s > s_last) | ((s == s_last) & (i <= last));
  }
  ws.idx.resize(na + kept);
  merge_sparse(ws.up.data(), na, mid, kept, ws.idx.data());  // ascending: the canonical order
}

// Candidate set without sorting all pixels.  Fast path: a histogram of every 8th pixel
// brackets the k-th best key in a window [lo, hi] (with a wide statistical margin); one
// pass then splits the pixels into "above the window" and "in the window", and the exact
// k-th is found inside the window.  If the bracket missed (the counts say so exactly),
// the exact path: a full histogram picks the bin of the k-th, then the same split with
// lo = hi = that bin.  Both give the same set: the top k by (score desc, index asc).
// Flow of one item for the optional prefetch: element strides (channel, y, x), image width.
struct FlowView {
  const float* data = nullptr;
  const int64_t* strides = nullptr;  // strides[1..3] of the [B,2,H,W] view
  int64_t w = 1;
  // Pixel k = y * w + x (k < 2^31, see check_pixel_count): one 32-bit division, which
  // costs a fraction of a 64-bit one, and this runs twice per drawn match.
  void split(int64_t k, int64_t& y, int64_t& x) const {
    const uint32_t q = static_cast<uint32_t>(k) / static_cast<uint32_t>(w);
    y = q;
    x = k - y * w;
  }
  const float* at(int64_t k) const {
    int64_t y, x;
    split(k, y, x);
    return data + y * strides[2] + x * strides[3];
  }
};

static void sample_one(const float* score, int64_t hw, int64_t n, double ratio, uint64_t seed, int64_t* out_idx,
                       int64_t* out_count, const FlowView& flow = FlowView()) {
  thread_local SampleWork ws;
  ws.up.resize(hw + 16);
  ws.mid.resize(hw + 16);
  ws.idx.clear();
  constexpr int64_t kStride = 8;
  int64_t na = 0, nm = 0, k = 0;
  bool done = false;
  if (hw >= 64 * kStride) {
    ws.hist.assign(kBins, 0u);
    uint32_t* hist = ws.hist.data();
    uint32_t top = 0;
    for (int64_t i = 0; i < hw; i += kStride) {
      const uint32_t key = score_key(score[i]);
      ++hist[key];
      top = std::max(top, key);
    }
    const int64_t sub = (hw + kStride - 1) / kStride;
    const double k_sub = static_cast<double>(top_count(sub, ratio, sub - static_cast<int64_t>(hist[0])));
    const double margin = 4.0 * std::sqrt(k_sub + 1.0) + 8.0;
    uint32_t hi = kBins - 1, lo = 1;
    int64_t cum = 0;
    bool have_hi = k_sub - margin <= 0;  // window reaches the top bin
    for (uint32_t bin = std::max(top, 1u); bin >= 1; --bin) {
      cum += hist[bin];
      if (!have_hi && cum > k_sub - margin) { hi = bin; have_hi = true; }
      if (cum >= k_sub + margin) { lo = bin; break; }
    }
    const int64_t positive = split_by_key(score, hw, lo, hi, ws.up.data(), na, ws.mid.data(), nm);
    k = top_count(hw, ratio, positive);
    if (k == 0) {
      done = true;
    } else if (na < k && k <= na + nm) {
      finish_candidates(score, ws, na, nm, k - na, lo, hi);
      done = true;
    }
  }
  if (!done) {  // exact path
    ws.hist.assign(kBins, 0u);
    uint32_t* hist = ws.hist.data();
    for (int64_t i = 0; i < hw; ++i) ++hist[score_key(score[i])];
    k = top_count(hw, ratio, hw - static_cast<int64_t>(hist[0]));
    if (k > 0) {
      int64_t above = 0;
      uint32_t bin = kBins - 1;
      for (; bin > 1; --bin) {
        if (above + hist[bin] >= k) break;
        above += hist[bin];
      }
      split_by_key(score, hw, bin, bin, ws.up.data(), na, ws.mid.data(), nm);
      finish_candidates(score, ws, na, nm, k - na, bin, bin);
    }
  }
  std::vector<int32_t>& idx = ws.idx;
  const int64_t m = std::min(k, n);
  for (int64_t i = 0; i < m; ++i) {
    const uint32_t j = draw_swap_target(seed, i, k);
    std::swap(idx[i], idx[j]);
    out_idx[i] = idx[i];
    if (flow.data) {  // the gather that follows then finds this match's flow in cache
      const float* f = flow.at(idx[i]);
      __builtin_prefetch(f);
      __builtin_prefetch(f + flow.strides[1]);
    }
  }
  for (int64_t i = m; i < n; ++i) out_idx[i] = -1;
  *out_count = k;
}

void sample_topk_random_cpu(const float* score, int64_t batch, int64_t hw, int64_t n, double ratio, const uint64_t* seeds,
                            int64_t* out_idx, int64_t* out_count, int threads) {
  check_pixel_count(hw);
  parallel_for(batch, threads, [&](int64_t b) {
    sample_one(score + b * hw, hw, n, ratio, seeds[b], out_idx + b * n, out_count + b);
  });
}

static void gather_one(const FlowView& flow, int64_t n, const int64_t* ib, double* p1, double* p2) {
  constexpr int64_t kAhead = 32;  // the drawn order is random: prefetch the flow the loop reaches next
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n && ib[i + kAhead] >= 0) {
      const float* f = flow.at(ib[i + kAhead]);
      __builtin_prefetch(f);
      __builtin_prefetch(f + flow.strides[1]);
    }
    const int64_t k = ib[i];
    double* a = p1 + i * 2;
    double* c = p2 + i * 2;
    if (k < 0) {
      a[0] = a[1] = c[0] = c[1] = std::nan("");
      continue;
    }
    int64_t y, x;
    flow.split(k, y, x);
    const float* f = flow.data + y * flow.strides[2] + x * flow.strides[3];
    a[0] = static_cast<double>(x);
    a[1] = static_cast<double>(y);
    c[0] = a[0] + static_cast<double>(f[0]);
    c[1] = a[1] + static_cast<double>(f[flow.strides[1]]);
  }
}

void gather_matches_cpu(const float* flow, const int64_t* strides, int64_t batch, int64_t hw, int64_t w, int64_t n,
                        const int64_t* idx, double* p1, double* p2, int threads) {
  check_pixel_count(hw);
  for (int64_t i = 0; i < batch * n; ++i)
    if (idx[i] >= hw) throw std::invalid_argument("gather: a pixel index is >= H * W of the flow");
  parallel_for(batch, threads, [&](int64_t b) {
    const FlowView fv{flow + b * strides[0], strides, w};
    gather_one(fv, n, idx + b * n, p1 + b * n * 2, p2 + b * n * 2);
  });
}

void sample_matches_cpu(const float* score, const float* flow, const int64_t* strides, int64_t batch, int64_t hw,
                        int64_t w, int64_t n, double ratio, const uint64_t* seeds, int64_t* out_idx,
                        int64_t* out_count, double* p1, double* p2, int threads) {
  check_pixel_count(hw);
  parallel_for(batch, threads, [&](int64_t b) {
    const FlowView fv{flow + b * strides[0], strides, w};
    sample_one(score + b * hw, hw, n, ratio, seeds[b], out_idx + b * n, out_count + b, fv);
    gather_one(fv, n, out_idx + b * n, p1 + b * n * 2, p2 + b * n * 2);
  });
}

}  // namespace vo
