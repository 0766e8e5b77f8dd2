package hls

// fixedHeader is wdc_fixed.h: the fixed-point arithmetic of
// docs/fixed-point.md on plain int64 words with explicit shifts. Every
// function mirrors one in wdc/ir (fixed.go, ops_fixed.go) line for line.
const fixedHeader = `// wdc_fixed.h: fixed-point arithmetic for wdc's HLS output (generated).
// A fixed<W,I> value is a signed W-bit word q held in an int64_t, meaning
// q * 2^-F with F = W - I fraction bits. Only casts round (truncate = floor,
// or round half to even) and overflow (wrap = keep the low W bits, or
// saturate); every other operation is exact because the IR sizes its result.
// The same semantics as wdc's golden interpreter (docs/fixed-point.md).
#ifndef WDC_FIXED_H
#define WDC_FIXED_H
#include <cmath>
#include <cstdint>

// Left shift without C++17's undefined behaviour on negative operands.
static inline int64_t wdc_shl(int64_t v, int sh) {
  return (int64_t)((uint64_t)v << sh);
}

static inline int64_t wdc_lo(int w) { return -((int64_t)1 << (w - 1)); }
static inline int64_t wdc_hi(int w) { return ((int64_t)1 << (w - 1)) - 1; }

// Overflow mode applied to a full-precision integer: saturate clamps to
// [-2^(W-1), 2^(W-1)-1], wrap keeps the low W bits sign-extended.
static inline int64_t wdc_overflow(int64_t v, int w, int sat) {
  if (sat) {
    if (v < wdc_lo(w)) return wdc_lo(w);
    if (v > wdc_hi(w)) return wdc_hi(w);
    return v;
  }
  int sh = 64 - w;
  return wdc_shl(v, sh) >> sh;  // arithmetic right shift (GCC, C++20)
}

// v / 2^sh rounded: floor (truncate) or to nearest with ties to even.
static inline int64_t wdc_shift_round(int64_t v, int sh, int rne) {
  if (sh <= 0) return v;
  if (sh >= 64) return (!rne && v < 0) ? -1 : 0;
  int64_t q = v >> sh;
  if (rne) {
    int64_t rem = (int64_t)((uint64_t)v - ((uint64_t)q << sh));
    int64_t half = (int64_t)1 << (sh - 1);
    if (rem > half || (rem == half && (q & 1) != 0)) q++;
  }
  return q;
}

// v * 2^sh with the overflow mode, detecting products beyond int64.
static inline int64_t wdc_shl_overflow(int64_t v, int sh, int w, int sat) {
  if (sh <= 0) return wdc_overflow(v, w, sat);
  if (!sat) {
    if (sh >= 64) return 0;
    return wdc_overflow(wdc_shl(v, sh), w, sat);
  }
  if (v == 0) return 0;
  if (sh >= 63 || (wdc_shl(v, sh) >> sh) != v) return v < 0 ? wdc_lo(w) : wdc_hi(w);
  return wdc_overflow(wdc_shl(v, sh), w, sat);
}

// cast between fixed types: word q with from_f fraction bits to fixed<w, w-f>.
static inline int64_t wdc_requant(int64_t q, int from_f, int w, int f, int rne, int sat) {
  int d = f - from_f;
  if (d >= 0) return wdc_shl_overflow(q, d, w, sat);
  return wdc_overflow(wdc_shift_round(q, -d, rne), w, sat);
}

// cast from float: x * 2^F in double, rounded, then the overflow mode.
static inline int64_t wdc_quantize(double x, int w, int f, int rne, int sat) {
  if (std::isnan(x)) return 0;
  double s = std::ldexp(x, f);
  s = rne ? std::nearbyint(s) : std::floor(s);  // nearbyint: ties to even
  if (std::isinf(s)) return s > 0 ? wdc_hi(w) : wdc_lo(w);
  const double lim = 4611686018427387904.0;  // 2^62
  if (s >= lim || s < -lim) {
    if (sat) return s > 0 ? wdc_hi(w) : wdc_lo(w);
    s = std::fmod(s, std::ldexp(1.0, w));
  }
  return wdc_overflow((int64_t)s, w, sat);
}

// lut index: clamp((q >> shift) + offset, 0, n-1); negative shift = left shift.
static inline int64_t wdc_lut_index(int64_t q, int shift, int64_t offset, int64_t n) {
  int64_t v;
  if (shift >= 0) {
    v = q >> shift;
  } else {
    int s = -shift;
    v = wdc_shl(q, s);
    if ((v >> s) != q) v = q > 0 ? ((int64_t)1 << 62) : -((int64_t)1 << 62);
  }
  const int64_t lim = (int64_t)1 << 40;
  if (v > lim) v = lim;
  if (v < -lim) v = -lim;
  v += offset;
  if (v < 0) return 0;
  if (v > n - 1) return n - 1;
  return v;
}

#endif
`
