package llvm

import (
	"fmt"
	"strings"
)

// gemmDefines configures gemmC for a microkernel: the register tile
// MR×NR and the cache blocks (MC×KC of A in L2, KC×NC of B in L3; a
// KC×NR panel of B, 64 KiB with AVX-512, streams from L2: KC = 512
// measured faster than 256, fewer passes over C).
func gemmDefines(u Microkernel) string {
	mc := (144 + u.MR - 1) / u.MR * u.MR
	var b strings.Builder
	fmt.Fprintf(&b, "#define MR %d\n#define NR %d\n#define KC %d\n#define MC %d\n#define NC %d\n", u.MR, u.NR(), kcBlock, mc, 2048/u.NR()*u.NR())
	b.WriteString("typedef void (*wdc_ukr_fn)" + ukrParams)
	ukrTable(&b, u, "wdc_ukr_fn", ukrParams, "wdc_ukr", "ukr_rows")
	// B in place (see emitMicrokernel)
	b.WriteString("typedef void (*wdc_ukb_fn)" + ukbParams)
	ukrTable(&b, u, "wdc_ukb_fn", ukbParams, "wdc_ukb", "ukb_rows")
	// half-width kernels (see emitMicrokernel); NRH 0: none
	if u.NV%2 != 0 {
		b.WriteString("#define NRH 0\nstatic const wdc_ukr_fn *const ukrh_rows = ukr_rows;\n")
		return b.String()
	}
	b.WriteString("#define NRH (NR / 2)\n")
	ukrTable(&b, u, "wdc_ukr_fn", ukrParams, "wdc_ukrh", "ukrh_rows")
	// the direct half-width kernels (A in place through offsets)
	b.WriteString("typedef void (*wdc_ukd_fn)" + ukdParams)
	ukrTable(&b, u, "wdc_ukd_fn", ukdParams, "wdc_ukdh", "ukdh_rows")
	ukrTable(&b, u, "wdc_ukd_fn", ukdParams, "wdc_ukd", "ukd_rows")
	return b.String()
}

// The C parameter lists of the microkernels (see emitMicrokernel).
const (
	ukrParams = "(int64_t, const float *, const float *, float *, int64_t, int64_t, const float *, const float *, int64_t);\n"
	ukdParams = "(int64_t, const float *, const int64_t *, const float *, float *, int64_t, int64_t);\n"
	ukbParams = "(int64_t, const float *, const float *, const int64_t *, float *, int64_t, int64_t, const float *, const float *, int64_t);\n"
)

// kcBlock is KC, the depth of a K block (inplaceConv takes only products
// of one block).
const kcBlock = 512

// ukrTable declares the microkernels name_1 .. name_{MR-1} and name with
// the parameters params and defines table[r] (of type fn), the one
// computing r rows.
func ukrTable(b *strings.Builder, u Microkernel, fn, params, name, table string) {
	for r := 1; r < u.MR; r++ {
		fmt.Fprintf(b, "void %s_%d%s", name, r, params)
	}
	fmt.Fprintf(b, "void %s%s", name, params)
	fmt.Fprintf(b, "static const %s %s[MR + 1] = {0", fn, table)
	for r := 1; r < u.MR; r++ {
		fmt.Fprintf(b, ", %s_%d", name, r)
	}
	fmt.Fprintf(b, ", %s};\n", name)
}

// gemmC is the GEMM driver of the C runtime (see gemm.go). Descriptor
// indices match the g* constants.
const gemmC = `
/* ---- GEMM driver (BLIS loop order: jc, pc, ic, jr, ir) ---- */
enum { gM, gN, gK, gB0, gB1, gARS, gACS, gAB0, gAB1, gBRS, gBCS, gBB0, gBB1,
       gCRS, gCB0, gCB1, gBMB0, gBMB1, gRelu, gConv,
       gCC, gCH, gCW, gKH, gKW, gSH, gSW, gPH, gPW, gDH, gDW, gOH, gOW, gAPacked, gAPB1, gBPacked, gWino,
       gPKH, gPKW, gPSH, gPSW, gPPH, gPPW, gPOH, gPOW, gLen };

#include <string.h>
#include <stdio.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

void wdc_ukr(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int64_t acc,
             const float *bm, const float *add, int64_t relu);

#define PACK_FLOATS ((int64_t)KC * MC + (int64_t)KC * NC + 64)
static float *packbuf[WDC_MAX_THREADS];
#ifndef WDC_GEMM_REF /* tests (-DWDC_GEMM_REF): every product on the reference path, which runs when memory is short */
#define WDC_GEMM_REF 0
#endif

static inline int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }
/* the input extent that n outputs of a window k wide (stride s, dilation d) read */
static inline int64_t win_extent(int64_t n, int64_t s, int64_t k, int64_t d) { return (n - 1) * s + (k - 1) * d + 1; }

/* ensure_buffers allocates the pack buffers of threads [0, n); returns
   the number available (a prefix). */
static int ensure_buffers(int n) {
  for (int t = 0; t < n; t++) {
    if (!packbuf[t]) {
      packbuf[t] = aligned_alloc(64, sizeof(float) * PACK_FLOATS);
      if (!packbuf[t]) return t;
    }
  }
  return n;
}

static float *padbuf;
static int64_t padcap;

/* per-thread scratch of the Winograd driver and the swapped conv
   product, grown on demand by the calling thread before dispatch */
static float *scratchbuf[WDC_MAX_THREADS];
static int64_t scratchcap;

static void ensure_scratch(int T, int64_t need) {
  if (need > scratchcap) {
    for (int t = 0; t < WDC_MAX_THREADS; t++) { free(scratchbuf[t]); scratchbuf[t] = NULL; }
    scratchcap = need;
  }
  for (int t = 0; t < T; t++)
    if (!scratchbuf[t] && !(scratchbuf[t] = aligned_alloc(64, sizeof(float) * (size_t)((scratchcap + 15) / 16 * 16)))) {
      fprintf(stderr, "wdc: out of memory for %lld floats of GEMM scratch\n", (long long)scratchcap);
      abort();
    }
}

static void free_buffers(void) {
  for (int t = 0; t < WDC_MAX_THREADS; t++) {
    free(packbuf[t]); packbuf[t] = NULL;
    free(scratchbuf[t]); scratchbuf[t] = NULL;
  }
  scratchcap = 0;
  free(padbuf); padbuf = NULL; padcap = 0;
}

/* A (mc x kc, element (i,k) at A[i*rs + k*cs]) into panels of MR rows. */
static void pack_a(const float *A, int64_t rs, int64_t cs, int64_t mc, int64_t kc, float *dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    int64_t mr = imin(MR, mc - i0);
    const float *src = A + i0 * rs;
    if (cs == 1) {
      for (int64_t i = 0; i < mr; i++)
        for (int64_t k = 0; k < kc; k++) dst[k * MR + i] = src[i * rs + k];
    } else {
      for (int64_t k = 0; k < kc; k++)
        for (int64_t i = 0; i < mr; i++) dst[k * MR + i] = src[i * rs + k * cs];
    }
    if (mr < MR)
      for (int64_t k = 0; k < kc; k++)
        for (int64_t i = mr; i < MR; i++) dst[k * MR + i] = 0;
    dst += MR * kc;
  }
}

/* B (kc x nc, element (k,j) at B[k*rs + j*cs]) into panels of NR columns. */
static void pack_b(const float *B, int64_t rs, int64_t cs, int64_t kc, int64_t nc, float *dst) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    int64_t nr = imin(NR, nc - j0);
    const float *src = B + j0 * cs;
    if (cs == 1 && nr == NR) {
      for (int64_t k = 0; k < kc; k++)
        for (int j = 0; j < NR; j++) dst[k * NR + j] = src[k * rs + j];
    } else if (rs == 1) {
      for (int64_t j = 0; j < nr; j++)
        for (int64_t k = 0; k < kc; k++) dst[k * NR + j] = src[j * cs + k];
      for (int64_t k = 0; k < kc; k++)
        for (int64_t j = nr; j < NR; j++) dst[k * NR + j] = 0;
    } else {
      for (int64_t k = 0; k < kc; k++) {
        int64_t j = 0;
        for (; j < nr; j++) dst[k * NR + j] = src[k * rs + j * cs];
        for (; j < NR; j++) dst[k * NR + j] = 0;
      }
    }
    dst += NR * kc;
  }
}

/* Implicit im2col: B[k][n] = x[c][oh*SH-PH+kh*DH][ow*SW-PW+kw*DW] (0 in the
   padding) with k = (c*KH + kh)*KW + kw and n = oh*OW + ow, for k in
   [k0, k0+kc), n in [n0, n0+nc), packed into panels of NR columns. Each
   panel is cut into runs of one output row; a run is a zero-filled head
   and tail around a contiguous (stride-1) or strided copy. */
static void pack_conv(const int64_t *g, const float *x, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst) {
  const int64_t H = g[gCH], W = g[gCW], KH = g[gKH], KW = g[gKW], SH = g[gSH], SW = g[gSW];
  const int64_t PH = g[gPH], PW = g[gPW], DH = g[gDH], DW = g[gDW], OW = g[gOW];
  /* valid output columns per kw: lo <= ow < hi  <=>  0 <= ow*SW + kw*DW - PW < W */
  int64_t vlo[64], vhi[64];
  int kwcache = KW <= 64;
  for (int64_t kw = 0; kwcache && kw < KW; kw++) {
    int64_t off = kw * DW - PW;
    vlo[kw] = off >= 0 ? 0 : (-off + SW - 1) / SW;
    vhi[kw] = W - off <= 0 ? 0 : (W - off + SW - 1) / SW;
  }
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    int64_t nr = imin(NR, nc - j0);
    /* runs of one output row: (oh, ow, len, position in the panel) */
    int64_t soh[NR], sow[NR], slen[NR], sj[NR], ns = 0;
    for (int64_t j = 0, n = n0 + j0; j < nr; ns++) {
      int64_t oh = n / OW, ow = n - oh * OW, len = imin(nr - j, OW - ow);
      soh[ns] = oh; sow[ns] = ow; slen[ns] = len; sj[ns] = j;
      j += len; n += len;
    }
    int64_t c = k0 / (KH * KW), r = k0 - c * (KH * KW), kh = r / KW, kw = r - kh * KW;
    for (int64_t k = 0; k < kc; k++) {
      float *d = dst + k * NR;
      int64_t off = kw * DW - PW, lo, hi;
      if (kwcache) { lo = vlo[kw]; hi = vhi[kw]; }
      else { lo = off >= 0 ? 0 : (-off + SW - 1) / SW; hi = W - off <= 0 ? 0 : (W - off + SW - 1) / SW; }
      for (int64_t s = 0; s < ns; s++) {
        int64_t ow = sow[s], len = slen[s];
        float *ds = d + sj[s];
        int64_t ih = soh[s] * SH - PH + kh * DH;
        if (ih < 0 || ih >= H) {
          for (int64_t t = 0; t < len; t++) ds[t] = 0;
          continue;
        }
        const float *row = x + (c * H + ih) * W;
        int64_t a = imin(imax(lo, ow), ow + len) - ow, b = imin(imax(hi, ow + a), ow + len) - ow;
        if (SW == 1 && len == NR && a == 0 && b == NR) { /* a whole panel row inside the image */
          const float *src = row + ow + off;
          for (int t = 0; t < NR; t++) ds[t] = src[t];
          continue;
        }
        int64_t t = 0;
        for (; t < a; t++) ds[t] = 0;
        if (SW == 1) {
          const float *src = row + ow + off;
          for (; t < b; t++) ds[t] = src[t];
        } else {
          const float *src = row + ow * SW + off;
          for (; t < b; t++) ds[t] = src[t * SW];
        }
        for (; t < len; t++) ds[t] = 0;
      }
      for (int64_t j = nr; j < NR; j++) d[j] = 0;
      if (++kw == KW) { kw = 0; if (++kh == KH) { kh = 0; c++; } }
    }
    dst += NR * kc;
  }
}

/* The epilogue on an mr x nr tile at row m, column n of one product. */
/* epi_row: one row of NR columns in one pass, the same operations in the
   same order as the general loop below (((c + bm) + bn) + add, relu). */
static inline __attribute__((always_inline)) void epi_row(float *restrict row, const float *bm, const float *restrict bn,
                                                          const float *restrict ar, int relu) {
  float v[NR];
  for (int j = 0; j < NR; j++) v[j] = row[j];
  if (bm) { float b = *bm; for (int j = 0; j < NR; j++) v[j] += b; }
  if (bn) for (int j = 0; j < NR; j++) v[j] += bn[j];
  if (ar) for (int j = 0; j < NR; j++) v[j] += ar[j];
  if (relu) for (int j = 0; j < NR; j++) v[j] = v[j] < 0.0f ? 0.0f : v[j];
  for (int j = 0; j < NR; j++) row[j] = v[j];
}

static void epilogue(const int64_t *g, float *c, int64_t ldc, int64_t mr, int64_t nr,
                     const float *bm, const float *bn, const float *add, int relu) {
  if (!bm && !bn && !add && !relu) return;
  if (nr == NR) {
    for (int64_t i = 0; i < mr; i++)
      epi_row(c + i * ldc, bm ? bm + i : NULL, bn, add ? add + i * ldc : NULL, relu);
    return;
  }
  for (int64_t i = 0; i < mr; i++) {
    float *row = c + i * ldc;
    const float *ar = add ? add + i * ldc : NULL;
    float b = bm ? bm[i] : 0.0f;
    if (bm) for (int64_t j = 0; j < nr; j++) row[j] += b;
    if (bn) for (int64_t j = 0; j < nr; j++) row[j] += bn[j];
    if (ar) for (int64_t j = 0; j < nr; j++) row[j] += ar[j];
    if (relu) for (int64_t j = 0; j < nr; j++) row[j] = row[j] < 0.0f ? 0.0f : row[j];
  }
  (void)g;
}

/* ---- Implicit im2col from a padded, column-phased copy of the input ----
   wdc_gemm copies a conv's input once per call into padbuf: image item b
   (b = b0*B1 + b1), element (c, ih, iw) of the zero-padded image (ih <
   Hp, iw < Wp; the input at (ih-PH, iw-PW)) at
     b*plane + ((c*Hp + ih)*SW + iw%SW)*Wq + iw/SW.
   Then, for every tap k = (c, kh, kw) and every output (oh, ow), the
   im2col element is xp[base(k) + oh*SH*SW*Wq + ow] with base(k) =
   ((c*Hp + kh*DH)*SW + (kw*DW)%SW)*Wq + (kw*DW)/SW: consecutive outputs
   of one output row are consecutive floats, whatever the stride, and the
   padding needs no tests. A packed panel row is a few masked vector loads
   (one per output-row run of the panel), or one plain copy. */
/* a padded, column-phased copy of a conv input: Hp rows a channel, Wq
   floats a phase, plane floats an image item */
typedef struct { const float *xp; int64_t Hp, Wq, plane; } padded;
static padded cpad; /* pad_input's, of the whole input */
typedef float pad_v16 __attribute__((vector_size(64), aligned(4)));
typedef float pad_v32 __attribute__((vector_size(128), aligned(4)));
typedef float pad_v64 __attribute__((vector_size(256), aligned(4)));

/* pad_rows fills (image item, channel) planes [lo, hi) of the padded
   copy, numbered item·C + c. */
typedef struct { const int64_t *g; const float *x0; int64_t Hp, Wp, Wq, plane; } pad_job;

/* pad_geom: the padded copy of the whole input x0 of conv g: Hp rows and
   Wp columns (Wq a phase), plane floats an image item */
static pad_job pad_geom(const int64_t *g, const float *x0) {
  const int64_t SW = g[gSW];
  pad_job j = { g, x0, win_extent(g[gOH], g[gSH], g[gKH], g[gDH]), win_extent(g[gOW], SW, g[gKW], g[gDW]), 0, 0 };
  j.Wq = (j.Wp + SW - 1) / SW;
  j.plane = g[gCC] * j.Hp * SW * j.Wq;
  return j;
}

/* pad_plane fills rows [ih0, ih1) of channel c of image item it (the
   padded copy's row numbering) at d, rowlen floats apart. A strided
   1×1 conv reads only every SH-th row and (when 1 wide) phase 0 of
   each: the others are left unwritten (a 1×1 stride-2 downsampling conv
   copied four times what it reads, half its time). */
static void pad_plane(const pad_job *j, int64_t it, int64_t c, int64_t ih0, int64_t ih1, float *d) {
  const int64_t *g = j->g;
  const int64_t H = g[gCH], W = g[gCW], SW = g[gSW], PH = g[gPH], PW = g[gPW];
  const int64_t Wp = j->Wp, Wq = j->Wq, rowlen = SW * Wq;
  const int64_t nq = (Wq + 15) / 16 * 16;
  float prow[4 * nq + 16] __attribute__((aligned(64)));
#if !defined(__AVX512F__)
  float ph[4 * nq + 16] __attribute__((aligned(64))); /* deinterleaved phases, 16-float chunks */
#endif
  {
    int64_t b0 = it / g[gB1], b1 = it % g[gB1];
    const float *x = j->x0 + b0 * g[gBB0] + b1 * g[gBB1];
    const int64_t rowskip = g[gKH] == 1 ? g[gSH] : 1;
    const int phase0 = g[gKW] == 1;
    for (int64_t ih = ih0; ih < ih1; ih++, d += rowlen) {
      if (ih % rowskip) continue;
      int64_t sh = ih - PH;
      if (sh < 0 || sh >= H) { memset(d, 0, sizeof(float) * rowlen); continue; }
      const float *src = x + (c * H + sh) * W;
      if (SW == 1) {
        int64_t lo = imin(PW, Wp), hi = imin(PW + W, Wp);
        for (int64_t i = 0; i < lo; i++) d[i] = 0;
        if (hi > lo) memcpy(d + lo, src, sizeof(float) * (hi - lo));
        for (int64_t i = imax(hi, lo); i < rowlen; i++) d[i] = 0;
#if defined(__AVX512F__)
      } else if (SW == 2 || SW == 4) {
        /* 16 outputs per phase at a time: the SW·16 padded-row values by
           masked loads (lanes outside the image read nothing, fault
           nothing), deinterleaved, stored with a mask at the row's end */
        const int64_t hiw = imin(W, Wp - PW); /* source columns inside Wp */
        for (int64_t q0 = 0; q0 < Wq; q0 += 16) {
          for (int v = 0; v < SW; v++) {
            int64_t base = q0 * SW + 16 * v - PW, lo = imax(0, -base), hi = imin(16, hiw - base);
            __mmask16 mk = hi > lo ? (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1)) : 0;
            _mm512_store_ps(prow + 16 * v, _mm512_maskz_loadu_ps(mk, src + base));
          }
          __mmask16 sm = (__mmask16)(Wq - q0 >= 16 ? 0xffff : (1u << (Wq - q0)) - 1);
          if (SW == 2) {
            pad_v32 v = *(const pad_v32 *)prow;
            _mm512_mask_storeu_ps(d + q0, sm, (__m512)__builtin_shufflevector(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30));
            if (!phase0) _mm512_mask_storeu_ps(d + Wq + q0, sm, (__m512)__builtin_shufflevector(v, v, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31));
          } else {
            pad_v64 v = *(const pad_v64 *)prow;
            _mm512_mask_storeu_ps(d + q0, sm, (__m512)__builtin_shufflevector(v, v, 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60));
            if (phase0) continue;
            _mm512_mask_storeu_ps(d + Wq + q0, sm, (__m512)__builtin_shufflevector(v, v, 1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61));
            _mm512_mask_storeu_ps(d + 2 * Wq + q0, sm, (__m512)__builtin_shufflevector(v, v, 2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 42, 46, 50, 54, 58, 62));
            _mm512_mask_storeu_ps(d + 3 * Wq + q0, sm, (__m512)__builtin_shufflevector(v, v, 3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47, 51, 55, 59, 63));
          }
        }
#else
      } else if (SW == 2 || SW == 4) {
        /* the zero-padded row, deinterleaved 16 outputs per phase at a time */
        memset(prow, 0, sizeof(float) * nq * SW);
        int64_t lo = imin(PW, Wp), hi = imin(PW + W, Wp);
        if (hi > lo) memcpy(prow + lo, src + lo - PW, sizeof(float) * (hi - lo));
        for (int64_t q = 0; q < nq; q += 16) {
          if (SW == 2) {
            pad_v32 v = *(const pad_v32 *)(prow + q * 2);
            *(pad_v16 *)(ph + q) = __builtin_shufflevector(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            *(pad_v16 *)(ph + nq + q) = __builtin_shufflevector(v, v, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
          } else {
            pad_v64 v = *(const pad_v64 *)(prow + q * 4);
            *(pad_v16 *)(ph + q) = __builtin_shufflevector(v, v, 0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60);
            *(pad_v16 *)(ph + nq + q) = __builtin_shufflevector(v, v, 1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53, 57, 61);
            *(pad_v16 *)(ph + 2 * nq + q) = __builtin_shufflevector(v, v, 2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 42, 46, 50, 54, 58, 62);
            *(pad_v16 *)(ph + 3 * nq + q) = __builtin_shufflevector(v, v, 3, 7, 11, 15, 19, 23, 27, 31, 35, 39, 43, 47, 51, 55, 59, 63);
          }
        }
        for (int64_t f = 0; f < (phase0 ? 1 : SW); f++) memcpy(d + f * Wq, ph + f * nq, sizeof(float) * Wq);
#endif
      } else {
        memset(d, 0, sizeof(float) * rowlen);
        for (int64_t f = 0; f < (phase0 ? 1 : SW); f++) {
          /* q with 0 <= q*SW + f - PW < W and q*SW + f < Wp */
          int64_t qlo = PW - f > 0 ? (PW - f + SW - 1) / SW : 0;
          int64_t qhi = imin((W + PW - f + SW - 1) / SW, (Wp - f + SW - 1) / SW);
          float *dp = d + f * Wq;
          const float *sp = src + f - PW;
          for (int64_t q = qlo; q < qhi; q++) dp[q] = sp[q * SW];
        }
      }
    }
  }
}

/* pad_band pads rows [ih0, ih1) of channels [c0, c1) of image item it
   into band, channel c at band + c·cap rows. A band is a few rows of
   each channel plane, too short a run for the hardware prefetcher to
   get ahead: the next channel's source rows are prefetched while this
   one's are copied (ResNet-18's stage-1 Winograd layers on two threads,
   whose threads pad the rows their panels read: 30-40 us a layer). */
static void pad_band(const pad_job *j, int64_t it, int64_t c0, int64_t c1, int64_t ih0, int64_t ih1, int64_t cap, float *band) {
  const int64_t *g = j->g;
  const int64_t H = g[gCH], W = g[gCW], rowlen = g[gSW] * j->Wq, step = g[gKH] == 1 ? g[gSH] : 1;
  const int64_t ra = imax(0, ih0 - g[gPH]), rb = imin(H, ih1 - g[gPH]);
  const float *x = j->x0 + it / g[gB1] * g[gBB0] + it % g[gB1] * g[gBB1];
  for (int64_t c = c0; c < c1; c++) {
    if (c + 1 < c1)
      for (int64_t r = ra + (step - (ra + g[gPH]) % step) % step; r < rb; r += step) {
        const char *s0 = (const char *)(x + ((c + 1) * H + r) * W), *s1 = (const char *)(x + ((c + 1) * H + r + 1) * W);
        for (const char *a = (const char *)((uintptr_t)s0 & ~(uintptr_t)63); a < s1; a += 64) __builtin_prefetch(a, 0, 3);
      }
    pad_plane(j, it, c, ih0, ih1, band + c * cap * rowlen);
  }
}

/* own_pad pads the whole input of conv g (every item, laid out as
   pad_input's copy) into buf, for the calling thread alone. Products
   whose threads split the output channels read all of the input on
   every thread; one shared copy, written by both cores and then read by
   both, was slow to write and to read (ResNet-18's stage-4 stride-2
   conv: pad_input 125-143 us on two threads against 30 on one, and each
   thread's packing from it 2-3 times slower than on one thread). */
static padded own_pad(const int64_t *g, const float *x0, float *buf) {
  const pad_job pj = pad_geom(g, x0);
  for (int64_t it = 0; it < g[gB0] * g[gB1]; it++) pad_band(&pj, it, 0, g[gCC], 0, pj.Hp, pj.Hp, buf + it * pj.plane);
  return (padded){ buf, pj.Hp, pj.Wq, pj.plane };
}

static void pad_rows(void *ctx, int64_t lo, int64_t hi) {
  const pad_job *j = ctx;
  const int64_t C = j->g[gCC], rowlen = j->g[gSW] * j->Wq;
  for (int64_t ic = lo; ic < hi; ic++)
    pad_plane(j, ic / C, ic % C, 0, j->Hp, padbuf + ic / C * j->plane + ic % C * j->Hp * rowlen);
}

static int pad_input(const int64_t *g, const float *x0) {
  pad_job job = pad_geom(g, x0);
  const int64_t C = g[gCC], plane = job.plane, items = g[gB0] * g[gB1], need = items * plane + 64;
  if (need > padcap) {
    free(padbuf);
    padbuf = aligned_alloc(64, sizeof(float) * (size_t)((need + 15) / 16 * 16));
    padcap = padbuf ? need : 0;
    if (!padbuf) return 0;
  }
  /* channels in parallel when the copy is large enough to pay a dispatch */
  if (nthreads > 1 && items * plane >= (1 << 16)) wdc_parallel_for(pad_rows, &job, items * C);
  else pad_rows(&job, 0, items * C);
  cpad.xp = padbuf; cpad.Hp = job.Hp; cpad.Wq = job.Wq; cpad.plane = plane;
  return 1;
}

/* tap_offsets: off[k] = base(k0 + k) for k < kc (see above), the offset
   in the padded copy (Hp rows, Wq per phase) of tap k0 + k. */
static void tap_offsets(const int64_t *g, int64_t Hp, int64_t Wq, int64_t k0, int64_t kc, int64_t *off) {
  const int64_t KH = g[gKH], KW = g[gKW], SW = g[gSW], DH = g[gDH], DW = g[gDW];
  int64_t c = k0 / (KH * KW), r = k0 - c * (KH * KW), kh = r / KW, kw = r - kh * KW;
  for (int64_t k = 0; k < kc; k++) {
    off[k] = ((c * Hp + kh * DH) * SW + (kw * DW) % SW) * Wq + (kw * DW) / SW;
    if (++kw == KW) { kw = 0; if (++kh == KH) { kh = 0; c++; } }
  }
}

/* pack_conv_p packs columns [n0, n0+nc) of taps [k0, k0+kc) into panels
   of PWD columns (NR for B panels; MR for the swapped product's pixel
   panels), element (k, j) of a panel at k*PWD + j. */
static void pack_conv_p(const int64_t *g, const float *xp, int64_t Hp, int64_t Wq, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float *dst, const int PWD) {
  const int64_t OW = g[gOW], rowstep = g[gSH] * g[gSW] * Wq;
  int64_t base[KC];
  tap_offsets(g, Hp, Wq, k0, kc, base);
  for (int64_t j0 = 0; j0 < nc; j0 += PWD) {
    int64_t nr = imin(PWD, nc - j0);
    /* runs of one output row: lanes [js, js+len) read xp[base + shift + lane] */
    int64_t shift[64], ns = 0;
    uint64_t mask[64];
    for (int64_t j = 0, n = n0 + j0; j < nr; ns++) {
      int64_t oh = n / OW, ow = n - oh * OW, len = imin(nr - j, OW - ow);
      shift[ns] = oh * rowstep + ow - j;
      mask[ns] = (len >= 64 ? ~0ull : ((1ull << len) - 1)) << j;
      j += len; n += len;
    }
    if (ns == 1 && nr == PWD) {
      const float *s0 = xp + shift[0];
      if (PWD == NR) /* fixed-size copies: vector moves, not a memcpy call */
        for (int64_t k = 0; k < kc; k++) memcpy(dst + k * NR, s0 + base[k], sizeof(float) * NR);
      else if (PWD == MR)
        for (int64_t k = 0; k < kc; k++) memcpy(dst + k * MR, s0 + base[k], sizeof(float) * MR);
      else
        for (int64_t k = 0; k < kc; k++) memcpy(dst + k * PWD, s0 + base[k], sizeof(float) * PWD);
    } else {
#if defined(__AVX512F__)
      for (int h = 0; 16 * h < PWD; h++) {
        /* the runs that touch lanes [16h, 16h+16): (mask, offset) pairs */
        __mmask16 hm[64];
        int64_t ho[64];
        int nh = 0;
        for (int64_t r = 0; r < ns; r++) {
          __mmask16 m = (__mmask16)(mask[r] >> (16 * h));
          if (m) { hm[nh] = m; ho[nh] = shift[r] + 16 * h; nh++; }
        }
        __mmask16 sm = (__mmask16)(PWD - 16 * h >= 16 ? 0xffff : (1u << (PWD - 16 * h)) - 1);
        float *d = dst + 16 * h;
        if (nh == 1) {
          for (int64_t k = 0; k < kc; k++)
            _mm512_mask_storeu_ps(d + k * PWD, sm, _mm512_maskz_loadu_ps(hm[0], xp + base[k] + ho[0]));
        } else if (nh == 2) {
          for (int64_t k = 0; k < kc; k++) {
            const float *s = xp + base[k];
            __m512 v = _mm512_maskz_loadu_ps(hm[0], s + ho[0]);
            v = _mm512_mask_loadu_ps(v, hm[1], s + ho[1]);
            _mm512_mask_storeu_ps(d + k * PWD, sm, v);
          }
        } else {
          for (int64_t k = 0; k < kc; k++) {
            const float *s = xp + base[k];
            __m512 v = _mm512_setzero_ps();
            for (int e = 0; e < nh; e++) v = _mm512_mask_loadu_ps(v, hm[e], s + ho[e]);
            _mm512_mask_storeu_ps(d + k * PWD, sm, v);
          }
        }
      }
#else
      for (int64_t k = 0; k < kc; k++) {
        const float *s = xp + base[k];
        float *d = dst + k * PWD;
        for (int t = 0; t < PWD; t++) d[t] = 0;
        for (int64_t r = 0; r < ns; r++) {
          int js = __builtin_ctzll(mask[r]), je = js + __builtin_popcountll(mask[r]);
          const float *sr = s + shift[r];
          for (int t = js; t < je; t++) d[t] = sr[t];
        }
      }
#endif
    }
    dst += PWD * kc;
  }
}

/* Swapped conv product (gAPacked == 2: the weights A stored as NR-column
   panels of A^T, element (m, k) at (m/NR)*NR*K + k*NR + m%NR): C^T = B^T
   A^T, output pixels as the microkernel's rows (MR-pixel im2col panels),
   output channels as its columns. For convs with few output pixels (N
   far from a multiple of NR, e.g. 7x7 = 49) it computes no padding
   columns; the M edge is exact either way. Output channels [m0, m1):
   C^T accumulates over the K blocks in the scratch ct (pixels × channels,
   in cache), then is transposed into C with the epilogue. */
static void gemm_part_t(const int64_t *g, float **p, int64_t m0, int64_t m1, float *buf, float *ct, const padded *x) {
  const int64_t K = g[gK], N = g[gN], ldc = g[gCRS];
  const int64_t ldt = (m1 - m0 + NR - 1) / NR * NR;
  float *xpk = buf + (int64_t)KC * MC;
  for (int64_t b0 = 0; b0 < g[gB0]; b0++)
  for (int64_t b1 = 0; b1 < g[gB1]; b1++) {
    const float *AP = p[0] + b1 * g[gAPB1];
    const float *XP = x->xp + (b0 * g[gB1] + b1) * x->plane;
    int64_t coff = b0 * g[gCB0] + b1 * g[gCB1];
    float *C = p[2] + coff;
    const float *BM = p[3] ? p[3] + b0 * g[gBMB0] + b1 * g[gBMB1] : NULL;
    const float *ADD = p[5] ? p[5] + coff : NULL;
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = imin(KC, K - pc);
      pack_conv_p(g, XP, x->Hp, x->Wq, pc, kc, 0, N, xpk, MR);
      for (int64_t jr = m0; jr < m1; jr += NR) {
        const float *wp = AP + jr * K + pc * NR;
        for (int64_t ir = 0; ir < N; ir += MR)
          ukr_rows[imin(MR, N - ir)](kc, xpk + ir * kc, wp, ct + ir * ldt + (jr - m0), ldt, pc > 0, NULL, NULL, 0);
      }
    }
    for (int64_t j = m0; j < m1; j++) {
      float *row = C + j * ldc;
      const float *src = ct + (j - m0);
      for (int64_t i = 0; i < N; i++) row[i] = src[i * ldt];
    }
    epilogue(g, C + m0 * ldc, ldc, m1 - m0, N, BM ? BM + m0 : NULL, p[4], ADD ? ADD + m0 * ldc : NULL, (int)g[gRelu]);
  }
}

#if NRH > 0
/* Direct conv product (gAPacked == 4, see directConv in gemm.go: the
   weights as NR-column panels of A^T): runs of up to MR output pixels of
   one output row are the microkernel's rows, read in place from a padded,
   column-phased copy of the input (x + koff[k] + pixel: consecutive
   outputs of a row are consecutive floats there, whatever the stride),
   NR output channels its columns (NRH, the half-width kernels, when the
   conv has no more); each tile is then transposed into C with bias,
   residual and ReLU. */
#if defined(__AVX512F__)
/* tr16 transposes the 16×16 block r (r[i] its row i) in registers:
   pairs of rows interleaved, then pairs of pairs, then 128-bit blocks */
static inline __attribute__((always_inline)) void tr16(__m512 r[16]) {
  __m512 t[16], u[16];
  for (int k = 0; k < 8; k++) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  /* u[4k + c]: column 4L + c of rows 4k .. 4k+3 in 128-bit block L */
  for (int k = 0; k < 4; k++) {
    __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 2]);
    __m512d c = _mm512_castps_pd(t[4 * k + 1]), d = _mm512_castps_pd(t[4 * k + 3]);
    u[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    u[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int c = 0; c < 4; c++) {
    __m512 v0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88), v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
    __m512 v2 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
    r[c] = _mm512_shuffle_f32x4(v0, v2, 0x88);
    r[4 + c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
    r[8 + c] = _mm512_shuffle_f32x4(v0, v2, 0xdd);
    r[12 + c] = _mm512_shuffle_f32x4(v1, v3, 0xdd);
  }
}
#endif

/* direct_store writes the r×mc tile ct (pixel i, channel m at ct[i·NR +
   m]) into C transposed (channel m's r pixels at C + m·ldc), with the
   bias per channel, the residual (laid out like C) and ReLU in the
   epilogue's order */
static void direct_store(const float *ct, int64_t r, int64_t mc, float *C, int64_t ldc, const float *BM, const float *ADD, int relu) {
#if defined(__AVX512F__) && MR <= 16
  const __mmask16 km = (__mmask16)((1u << r) - 1);
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t h = 0; h < mc; h += 16) {
    __m512 v[16];
    for (int i = 0; i < 16; i++) v[i] = i < r ? _mm512_load_ps(ct + i * NR + h) : zero;
    tr16(v);
    for (int64_t j = 0; j < 16 && h + j < mc; j++) {
      __m512 x = v[j];
      if (BM) x = _mm512_add_ps(x, _mm512_set1_ps(BM[h + j]));
      if (ADD) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(km, ADD + (h + j) * ldc));
      if (relu) x = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ), zero);
      _mm512_mask_storeu_ps(C + (h + j) * ldc, km, x);
    }
  }
#else
  for (int64_t m = 0; m < mc; m++) {
    float *d = C + m * ldc;
    const float *a = ADD ? ADD + m * ldc : NULL;
    const float b = BM ? BM[m] : 0.0f;
    for (int64_t i = 0; i < r; i++) {
      float v = ct[i * NR + m] + b;
      if (a) v += a[i];
      d[i] = relu && v < 0.0f ? 0.0f : v;
    }
  }
#endif
}

/* gemm_direct: nrows output rows of one image item (group), channel
   panels [p0, p1) (weights W, bias BM or NULL): row r reads the padded
   copy at x + r·SH·SW·Wq, its taps at koff, and is written at C + r·OW
   (channel m at + m·ldc; the residual ADD, when not NULL, alike) */
static void gemm_direct(const int64_t *g, const float *W, const float *BM, const float *x, int64_t Wq, const int64_t *koff,
                        int64_t nrows, int64_t p0, int64_t p1, float *C, int64_t ldc, const float *ADD) {
  const int64_t K = g[gK], M = g[gM], OW = g[gOW], rowstep = g[gSH] * g[gSW] * Wq;
  float ct[MR * NR] __attribute__((aligned(64)));
  const int relu = (int)g[gRelu];
  const wdc_ukd_fn *ukd = M > NRH ? ukd_rows : ukdh_rows;
  for (int64_t pn = p0; pn < p1; pn++) {
    const int64_t m0 = pn * NR, mc = imin(NR, M - m0);
    for (int64_t r = 0; r < nrows; r++) {
      const float *XP = x + r * rowstep;
      float *Cr = C + m0 * ldc + r * OW;
      const float *Ar = ADD ? ADD + m0 * ldc + r * OW : NULL;
      for (int64_t ow0 = 0; ow0 < OW; ow0 += MR) {
        const int64_t n = imin(MR, OW - ow0);
        ukd[n](K, XP + ow0, koff, W + m0 * K, ct, NR, 0);
        direct_store(ct, n, mc, Cr + ow0, ldc, BM ? BM + m0 : NULL, Ar ? Ar + ow0 : NULL, relu);
      }
    }
  }
}

/* output rows [oh0, oh1) of image item it of the conv's own output */
static void direct_rows(const int64_t *g, float **p, int64_t it, int64_t oh0, int64_t oh1, const float *x, int64_t Wq,
                        const int64_t *koff, int64_t p0, int64_t p1) {
  const int64_t b0 = it / g[gB1], b1 = it % g[gB1], coff = b0 * g[gCB0] + b1 * g[gCB1] + oh0 * g[gOW];
  gemm_direct(g, p[0] + b1 * g[gAPB1], p[3] ? p[3] + b0 * g[gBMB0] + b1 * g[gBMB1] : NULL, x, Wq, koff, oh1 - oh0, p0, p1,
              p[2] + coff, g[gCRS], p[5] ? p[5] + coff : NULL);
}

/* output rows per chunk of the row-split direct product: the padded input
   band they read (all channels) in about 128 KiB of the thread's scratch */
static int64_t direct_chunk_rows(const int64_t *g, int64_t rowlen) {
  const int64_t per = g[gCC] * g[gSH] * rowlen;
  return imax(1, ((1 << 15) - g[gCC] * (g[gKH] - 1) * g[gDH] * rowlen) / imax(1, per));
}

typedef struct { const int64_t *g; float **p; int64_t parts; int split_rows; pad_job pad; } direct_job;

/* one thread's part of the direct product: with split_rows, output rows of
   every item in chunks, each padding the input rows it reads into the
   thread's scratch (they are then in the core that reads them); else
   channel panels of every row, from the thread's own padded copy of the
   whole input (own_pad) */
static void direct_task(void *ctx, int64_t lo, int64_t hi) {
  const direct_job *j = ctx;
  const int64_t *g = j->g;
  const int64_t OH = g[gOH], K = g[gK], panels = (g[gM] + NR - 1) / NR, items = g[gB0] * g[gB1];
  int64_t koff[K];
  for (int64_t t = lo; t < hi; t++) {
    if (!j->split_rows) { /* channel panels, from this thread's own padded input */
      const padded x = own_pad(g, j->p[1], scratchbuf[wdc_tid]);
      tap_offsets(g, x.Hp, x.Wq, 0, K, koff);
      for (int64_t it = 0; it < items; it++)
        direct_rows(g, j->p, it, 0, OH, x.xp + it * x.plane, x.Wq, koff, panels * t / j->parts, panels * (t + 1) / j->parts);
      continue;
    }
    const int64_t Wq = j->pad.Wq, rowlen = g[gSW] * Wq, ch = direct_chunk_rows(g, rowlen);
    float *band = scratchbuf[wdc_tid];
    const int64_t rows = items * OH, r0 = rows * t / j->parts, r1 = rows * (t + 1) / j->parts;
    for (int64_t r = r0; r < r1;) {
      const int64_t it = r / OH, oh0 = r % OH, oh1 = imin(OH, imin(oh0 + ch, oh0 + r1 - r));
      const int64_t ih0 = oh0 * g[gSH], hb = win_extent(oh1 - oh0, g[gSH], g[gKH], g[gDH]);
      pad_band(&j->pad, it, 0, g[gCC], ih0, ih0 + hb, hb, band);
      tap_offsets(g, hb, Wq, 0, K, koff);
      direct_rows(g, j->p, it, oh0, oh1, band, Wq, koff, 0, panels);
      r += oh1 - oh0;
    }
  }
}
#endif

/* Conv product with B read in place (gAPacked == 5, see inplaceConv in
   gemm.go: the weights as MR-row panels, as for the usual product): for
   output rows [r0, r1) of all batch items (row = item·OH + oh), NR
   output pixels of one row at a time are the microkernel's columns,
   loaded straight from the padded input (xp + koff[k] + pixel, stride
   1), so there is no im2col copy; a row's last, narrower tile goes
   through a local tile (its loads read past the row, into the next one
   or pad_input's slack, into columns that are dropped). */
static void gemm_inplace(const int64_t *g, float **p, int64_t r0, int64_t r1) {
  const int64_t K = g[gK], M = g[gM], OH = g[gOH], OW = g[gOW], ldc = g[gCRS];
  const int64_t rowstep = g[gSH] * g[gSW] * cpad.Wq;
  int64_t koff[K];
  tap_offsets(g, cpad.Hp, cpad.Wq, 0, K, koff);
  float tmp[MR * NR] __attribute__((aligned(64)));
  const int relu = (int)g[gRelu];
  for (int64_t row = r0; row < r1; row++) {
    const int64_t item = row / OH, oh = row % OH, b0 = item / g[gB1], b1 = item % g[gB1];
    const float *AP = p[0] + b1 * g[gAPB1], *XP = cpad.xp + item * cpad.plane + oh * rowstep;
    const int64_t coff = b0 * g[gCB0] + b1 * g[gCB1] + oh * OW;
    const float *BM = p[3] ? p[3] + b0 * g[gBMB0] + b1 * g[gBMB1] : NULL;
    const float *ADD = p[5] ? p[5] + coff : NULL;
    for (int64_t ow0 = 0; ow0 < OW; ow0 += NR) {
      const int64_t nr = imin(NR, OW - ow0);
      for (int64_t ic = 0; ic < M; ic += MR) {
        const int64_t mr = imin(MR, M - ic);
        float *c = p[2] + coff + ic * ldc + ow0;
        const float *bm = BM ? BM + ic : NULL, *add = ADD ? ADD + ic * ldc + ow0 : NULL;
        if (nr == NR) {
          ukb_rows[mr](K, AP + ic * K, XP + ow0, koff, c, ldc, 0, bm, add, relu);
          continue;
        }
        /* the bias and ReLU in registers unless a residual comes between */
        ukb_rows[mr](K, AP + ic * K, XP + ow0, koff, tmp, NR, 0, add ? NULL : bm, NULL, add ? 0 : relu);
        for (int64_t i = 0; i < mr; i++) {
#if defined(__AVX512F__)
          for (int64_t j = 0; j < nr; j += 16)
            _mm512_mask_storeu_ps(c + i * ldc + j, (__mmask16)(nr - j >= 16 ? 0xffff : (1u << (nr - j)) - 1), _mm512_load_ps(tmp + i * NR + j));
#else
          for (int64_t j = 0; j < nr; j++) c[i * ldc + j] = tmp[i * NR + j];
#endif
        }
        if (add) epilogue(g, c, ldc, mr, nr, bm, NULL, add, relu);
      }
    }
  }
}

/* One thread's part: rows [m0, m1) and columns [n0, n1) of every batch
   item. */
static void gemm_part(const int64_t *g, float **p, int64_t m0, int64_t m1, int64_t n0, int64_t n1, float *buf, const padded *xpad) {
  const int64_t K = g[gK], ldc = g[gCRS];
  float *ap = buf, *bp = buf + (int64_t)KC * MC;
  float tmp[MR * NR] __attribute__((aligned(64)));
  for (int64_t b0 = 0; b0 < g[gB0]; b0++)
  for (int64_t b1 = 0; b1 < g[gB1]; b1++) {
    const float *A = p[0] + b0 * g[gAB0] + b1 * g[gAB1];
    const float *AP = g[gAPacked] ? p[0] + b1 * g[gAPB1] : NULL;
    const float *B = p[1] + b0 * g[gBB0] + b1 * g[gBB1];
    const float *BP = g[gBPacked] ? p[1] : NULL; /* packed B panels (unbatched) */
    const float *XP = g[gConv] && xpad->xp ? xpad->xp + (b0 * g[gB1] + b1) * xpad->plane : NULL;
    int64_t coff = b0 * g[gCB0] + b1 * g[gCB1];
    float *C = p[2] + coff;
    const float *BM = p[3] ? p[3] + b0 * g[gBMB0] + b1 * g[gBMB1] : NULL;
    const float *ADD = p[5] ? p[5] + coff : NULL;
    for (int64_t jc = n0; jc < n1; jc += NC) {
      int64_t nc = imin(NC, n1 - jc);
      for (int64_t pc = 0; pc < K; pc += KC) {
        int64_t kc = imin(KC, K - pc);
        int last = pc + kc >= K;
        if (BP) {}
        else if (g[gConv] && XP) pack_conv_p(g, XP, xpad->Hp, xpad->Wq, pc, kc, jc, nc, bp, NR);
        else if (g[gConv]) pack_conv(g, B, pc, kc, jc, nc, bp);
        else pack_b(B + pc * g[gBRS] + jc * g[gBCS], g[gBRS], g[gBCS], kc, nc, bp);
        for (int64_t ic = m0; ic < m1; ic += MC) {
          int64_t mc = imin(MC, m1 - ic);
          if (!AP) pack_a(A + ic * g[gARS] + pc * g[gACS], g[gARS], g[gACS], mc, kc, ap);
          for (int64_t jr = 0; jr < nc; jr += NR) {
            int64_t nr = imin(NR, nc - jr);
            for (int64_t ir = 0; ir < mc; ir += MR) {
              int64_t mr = imin(MR, mc - ir);
              float *c = C + (ic + ir) * ldc + jc + jr;
              const float *apan = AP ? AP + (ic + ir) * K + pc * MR : ap + ir * kc;
              const float *bpan = BP ? BP + (jc + jr) * K + pc * NR : bp + jr * kc;
              /* whole-width tiles of the last K block take the bias per
                 row, residual and ReLU in the microkernel's registers */
              int inreg = last && nr == NR && !p[4];
              const float *ebm = inreg && BM ? BM + ic + ir : NULL;
              const float *eadd = inreg && ADD ? ADD + (ic + ir) * ldc + jc + jr : NULL;
              int64_t erelu = inreg ? g[gRelu] : 0;
              if (mr == MR && nr == NR) {
                wdc_ukr(kc, apan, bpan, c, ldc, pc > 0, ebm, eadd, erelu);
              } else if (nr == NR) {
                ukr_rows[mr](kc, apan, bpan, c, ldc, pc > 0, ebm, eadd, erelu);
              } else {
                ukr_rows[mr](kc, apan, bpan, tmp, NR, 0, NULL, NULL, 0);
                for (int64_t i = 0; i < mr; i++)
                  for (int64_t j = 0; j < nr; j++)
                    c[i * ldc + j] = (pc > 0 ? c[i * ldc + j] : 0.0f) + tmp[i * NR + j];
              }
              if (last && !inreg)
                epilogue(g, c, ldc, mr, nr, BM ? BM + ic + ir : NULL, p[4] ? p[4] + jc + jr : NULL,
                         ADD ? ADD + (ic + ir) * ldc + jc + jr : NULL, (int)g[gRelu]);
            }
          }
        }
      }
    }
  }
}

/* Conv product with a fused 2-D max pool (gPKH > 0, see loop.GemmPool):
   the conv rows that a chunk of pool rows reads are computed into the
   thread's scratch (gemm_part on those columns, with bias and ReLU, from
   the input rows they read, padded into the scratch too) and pooled from
   there, so neither the conv's result nor a padded copy of the whole
   input is stored (ResNet-18's stem wrote 3.2 MB that its max pool read
   back, and padding its input before the product took 120-170 us, bound
   by memory). Rows shared by consecutive chunks (a window taller than
   its stride) are moved to the front of the scratch, not recomputed. The
   pool takes the maximum as the loop code does: v = acc < x ? x : acc. */
static int64_t pool_chunk_rows(const int64_t *g) {
  /* pool rows per chunk: conv rows of all channels in about 64 KiB (at
     least one window); the buffers a chunk touches are touched again by
     the next, so they stay in L2, but each run finds them cold: smaller
     chunks measured faster (ResNet-18's stem, one pool row a chunk:
     1343 -> 1145 us in the model against 256 KiB) */
  const int64_t fit = imax(g[gPKH], (1 << 14) / imax(1, g[gM] * g[gOW]));
  return imax(1, (fit - g[gPKH]) / g[gPSH] + 1);
}

/* pool_row: pool output row q of one channel into y, from its conv rows
   [r0, r1) at s (OW floats each) */
static void pool_row(const int64_t *g, const float *s, int64_t r0, int64_t r1, int64_t q, float *rm, float *y) {
  const int64_t OW = g[gOW], PKH = g[gPKH], PKW = g[gPKW], PSH = g[gPSH], PSW = g[gPSW], PPH = g[gPPH], PPW = g[gPPW], POW = g[gPOW];
  /* rm = the column maxima over the window's rows inside the conv output */
  int64_t h0 = imax(r0, q * PSH - PPH), h1 = imin(r1, q * PSH - PPH + PKH);
  if (h0 >= h1) { for (int64_t j = 0; j < POW; j++) y[j] = -__builtin_inff(); return; }
  memcpy(rm, s + (h0 - r0) * OW, sizeof(float) * OW);
  for (int64_t h = h0 + 1; h < h1; h++) {
    const float *row = s + (h - r0) * OW;
    for (int64_t x = 0; x < OW; x++) rm[x] = rm[x] < row[x] ? row[x] : rm[x];
  }
  /* the interior [ja, jb): every tap inside the row */
  const int64_t ja = imin(POW, (PPW + PSW - 1) / PSW);
  const int64_t jb = imax(ja, imin(POW, OW + PPW - PKW >= 0 ? (OW + PPW - PKW) / PSW + 1 : 0));
  for (int64_t j = 0; j < POW; j++) {
    if (j == ja && PSW == 2 && PKW == 3) { /* ResNet's 3×3/2: strided loads the compiler vectorizes */
      const float *r = rm + ja * 2 - PPW;
      for (; j < jb; j++) {
        float v = r[2 * (j - ja)], a = r[2 * (j - ja) + 1], b = r[2 * (j - ja) + 2];
        v = v < a ? a : v;
        y[j] = v < b ? b : v;
      }
      if (j >= POW) break;
    }
    float v = -__builtin_inff();
    for (int64_t kw = 0; kw < PKW; kw++) {
      const int64_t x = j * PSW - PPW + kw;
      if (x >= 0 && x < OW) v = v < rm[x] ? rm[x] : v;
    }
    y[j] = v;
  }
}

/* the scratch of gemm_pooled_part: conv rows (M·cap·OW: the cap rows
   that q pool rows read), a row of maxima (OW), the padded input band
   (C channels of hb rows) */
typedef struct { int64_t q, cap, hb; } pooled_geom;
static pooled_geom pooled_sizes(const int64_t *g) {
  pooled_geom s;
  s.q = pool_chunk_rows(g);
  s.cap = win_extent(s.q, g[gPSH], g[gPKH], 1);
  s.hb = win_extent(s.cap, g[gSH], g[gKH], g[gDH]);
  return s;
}
static int64_t pooled_scratch(const int64_t *g) {
  const pooled_geom s = pooled_sizes(g);
  return (g[gM] * s.cap * g[gOW] + g[gOW] + 15) / 16 * 16 + g[gCC] * s.hb * g[gSW] * pad_geom(g, NULL).Wq + 64;
}

/* pool rows [q0, q1) of image item */
static void gemm_pooled_part(const int64_t *g, float **p, int64_t item, int64_t q0, int64_t q1, float *buf, float *s) {
  const int64_t M = g[gM], OH = g[gOH], OW = g[gOW], POH = g[gPOH], POW = g[gPOW];
  const int64_t PKH = g[gPKH], PSH = g[gPSH], PPH = g[gPPH], C = g[gCC];
  const pooled_geom z = pooled_sizes(g);
  const pad_job pj = pad_geom(g, p[1]);
  const int64_t Q = z.q, ld = z.cap * OW, Wq = pj.Wq;
  float *rm = s + M * ld, *band = s + (M * ld + OW + 15) / 16 * 16;
  const padded xb = { band, z.hb, Wq, 0 };
  int64_t gl[gLen];
  memcpy(gl, g, sizeof(gl));
  gl[gB0] = gl[gB1] = 1;
  gl[gCRS] = ld;
  const float *BM = p[3] ? p[3] + item * g[gBMB0] : NULL;
  float *Y = p[2] + item * M * POH * POW;
  int64_t koff[g[gAPacked] == 4 ? g[gK] : 1];
  if (g[gAPacked] == 4) tap_offsets(g, z.hb, Wq, 0, g[gK], koff);
  int64_t h0 = 0, h1 = 0; /* conv rows held in s */
  for (int64_t a = q0; a < q1; a += Q) {
    const int64_t b = imin(q1, a + Q);
    const int64_t r0 = imax(0, imin(OH, a * PSH - PPH)), r1 = imax(r0, imin(OH, (b - 1) * PSH - PPH + PKH));
    int64_t c0 = r0;
    if (h0 <= r0 && r0 < h1) { /* keep rows [r0, h1) */
      if (r0 > h0)
        for (int64_t m = 0; m < M; m++) memmove(s + m * ld, s + m * ld + (r0 - h0) * OW, sizeof(float) * (h1 - r0) * OW);
      c0 = h1;
    }
    if (c0 < r1) {
      /* the padded input rows that conv rows [c0, r1) read */
      const int64_t ih0 = c0 * g[gSH], ih1 = ih0 + win_extent(r1 - c0, g[gSH], g[gKH], g[gDH]);
      pad_band(&pj, item, 0, C, ih0, ih1, z.hb, band);
#if NRH > 0
      if (g[gAPacked] == 4) {
        gemm_direct(g, p[0], BM, band, Wq, koff, r1 - c0, 0, (M + NR - 1) / NR, s + (c0 - r0) * OW, ld, NULL);
      } else
#endif
      {
        float *pp[6] = { p[0], p[1], s + (c0 - r0) * OW, (float *)BM, NULL, NULL };
        gemm_part(gl, pp, 0, M, 0, (r1 - c0) * OW, buf, &xb);
      }
    }
    h0 = r0; h1 = r1;
    for (int64_t m = 0; m < M; m++)
      for (int64_t q = a; q < b; q++)
        pool_row(g, s + m * ld, r0, r1, q, rm, Y + (m * POH + q) * POW);
  }
}

typedef struct { const int64_t *g; float **p; int64_t parts; } pooled_job;

static void pooled_task(void *ctx, int64_t lo, int64_t hi) {
  const pooled_job *j = ctx;
  const int64_t POH = j->g[gPOH];
  for (int64_t u = lo; u < hi; u++) {
    const int64_t item = u / j->parts, t = u % j->parts;
    const int64_t q0 = POH * t / j->parts, q1 = POH * (t + 1) / j->parts;
    if (q0 < q1) gemm_pooled_part(j->g, j->p, item, q0, q1, packbuf[wdc_tid], scratchbuf[wdc_tid]);
  }
}

static void gemm_pooled(const int64_t *g, float **p, int T) {
  ensure_scratch(nthreads, pooled_scratch(g));
  pooled_job job = { g, p, imin(T, g[gPOH]) };
  const int64_t units = g[gB0] * job.parts;
  if (T <= 1 || units < 2) pooled_task(&job, 0, units);
  else wdc_parallel_for(pooled_task, &job, units);
}

/* Reference path (no pack buffer could be allocated). */
static void gemm_ref(const int64_t *g, float **p) {
  int64_t MM = g[gM], NN = g[gN], K = g[gK];
  for (int64_t b0 = 0; b0 < g[gB0]; b0++)
  for (int64_t b1 = 0; b1 < g[gB1]; b1++) {
    const float *A = p[0] + b0 * g[gAB0] + b1 * g[gAB1];
    const float *B = p[1] + b0 * g[gBB0] + b1 * g[gBB1];
    int64_t coff = b0 * g[gCB0] + b1 * g[gCB1];
    float *C = p[2] + coff;
    float col[KC * NR];
    for (int64_t n = 0; n < NN; n++)
      for (int64_t m = 0; m < MM; m++) C[m * g[gCRS] + n] = 0;
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = imin(KC, K - pc);
      for (int64_t n = 0; n < NN; n += NR) {
        int64_t nr = imin(NR, NN - n);
        if (g[gBPacked]) {
          for (int64_t k = 0; k < kc; k++)
            for (int64_t j = 0; j < NR; j++) col[k * NR + j] = p[1][n * K + (pc + k) * NR + j];
        } else if (g[gConv]) pack_conv(g, B, pc, kc, n, nr, col);
        else pack_b(B + pc * g[gBRS] + n * g[gBCS], g[gBRS], g[gBCS], kc, nr, col);
        for (int64_t m = 0; m < MM; m++)
          for (int64_t j = 0; j < nr; j++) {
            float s = 0;
            for (int64_t k = 0; k < kc; k++)
              s += (g[gAPacked] == 2 || g[gAPacked] == 4 ? p[0][b1 * g[gAPB1] + (m / NR) * NR * K + (pc + k) * NR + m % NR]
                    : g[gAPacked] ? p[0][b1 * g[gAPB1] + (m / MR) * MR * K + (pc + k) * MR + m % MR]
                                  : A[m * g[gARS] + (pc + k) * g[gACS]]) * col[k * NR + j];
            C[m * g[gCRS] + n + j] += s;
          }
      }
    }
    const float *BM = p[3] ? p[3] + b0 * g[gBMB0] + b1 * g[gBMB1] : NULL;
    epilogue(g, C, g[gCRS], MM, NN, BM, p[4], p[5] ? p[5] + coff : NULL, (int)g[gRelu]);
  }
}

/* A product with a fused max pool without pack buffers or padded input:
   the whole conv result into a temporary, then pooled. */
static void gemm_pooled_ref(const int64_t *g, float **p) {
  const int64_t M = g[gM], OH = g[gOH], OW = g[gOW], POH = g[gPOH], POW = g[gPOW];
  float *c = malloc(sizeof(float) * (size_t)(g[gB0] * g[gCB0] + OW));
  if (!c) { fprintf(stderr, "wdc: out of memory for a conv result before its max pool\n"); abort(); }
  int64_t gl[gLen];
  memcpy(gl, g, sizeof(gl));
  gl[gPKH] = 0;
  float *pp[6] = { p[0], p[1], c, p[3], p[4], p[5] };
  gemm_ref(gl, pp);
  for (int64_t item = 0; item < g[gB0]; item++)
    for (int64_t m = 0; m < M; m++)
      for (int64_t q = 0; q < POH; q++)
        pool_row(g, c + item * g[gCB0] + m * g[gCRS], 0, OH, q, c + g[gB0] * g[gCB0], p[2] + ((item * M + m) * POH + q) * POW);
  free(c);
}

/* Thin products (M < 4, B row-major): y[i, j] = sum_k A[i,k] B[k,j] with
   8 vectors of y (128 columns with AVX-512, 64 with AVX2) in registers
   across the whole k loop, no packing. */
#if defined(__AVX512F__)
#define GV 16
#else
#define GV 8
#endif
typedef float gv_t __attribute__((vector_size(4 * GV), aligned(4)));
typedef float v8 __attribute__((vector_size(32), aligned(4)));
#define GEMV_COLS (8 * GV)
/* gemv_blockV: V·GV columns of y = a·B (B rows brs apart), V vector
   accumulators through the whole k loop. */
#define GEMV_BLOCK(V)                                                               \
  static void gemv_block##V(const float *a, int64_t acs, const float *B, int64_t brs, \
                            int64_t K, float *y) {                                  \
    gv_t acc[V] = {0};                                                              \
    for (int64_t k = 0; k < K; k++) {                                               \
      float av = a[k * acs];                                                        \
      const gv_t *bk = (const gv_t *)(B + k * brs);                                 \
      for (int v = 0; v < V; v++) acc[v] += av * bk[v];                             \
    }                                                                               \
    for (int v = 0; v < V; v++) *(gv_t *)(y + GV * v) = acc[v];                     \
  }
GEMV_BLOCK(8)
#if !defined(__AVX512F__) /* with AVX-512 the rest runs under a mask (gemv_maskV) */
GEMV_BLOCK(1) GEMV_BLOCK(2) GEMV_BLOCK(3) GEMV_BLOCK(4)
GEMV_BLOCK(5) GEMV_BLOCK(6) GEMV_BLOCK(7)
#endif
#if defined(__AVX512F__)
/* gemv_maskV: the last w < 128 columns of y = a·B in one pass over k: V
   zmm accumulators, the last loaded and stored under the mask last
   (LeNet-5's 400→120 layer took a second pass for its last 8 columns,
   84→10 two) */
#define GEMV_MASK(V)                                                                               \
  static void gemv_mask##V(const float *a, int64_t acs, const float *B, int64_t brs, int64_t K,    \
                           float *y, __mmask16 last) {                                             \
    __m512 acc[V];                                                                                 \
    for (int v = 0; v < V; v++) acc[v] = _mm512_setzero_ps();                                      \
    for (int64_t k = 0; k < K; k++) {                                                              \
      __m512 av = _mm512_set1_ps(a[k * acs]);                                                      \
      const float *bk = B + k * brs;                                                               \
      for (int v = 0; v < V - 1; v++) acc[v] = _mm512_fmadd_ps(av, _mm512_loadu_ps(bk + 16 * v), acc[v]); \
      acc[V - 1] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(last, bk + 16 * (V - 1)), acc[V - 1]); \
    }                                                                                              \
    for (int v = 0; v < V - 1; v++) _mm512_storeu_ps(y + 16 * v, acc[v]);                          \
    _mm512_mask_storeu_ps(y + 16 * (V - 1), last, acc[V - 1]);                                     \
  }
GEMV_MASK(1) GEMV_MASK(2) GEMV_MASK(3) GEMV_MASK(4)
GEMV_MASK(5) GEMV_MASK(6) GEMV_MASK(7) GEMV_MASK(8)
#else
/* gemv_tail8: 8 columns (a remainder narrower than GV) in one ymm */
static void gemv_tail8(const float *a, int64_t acs, const float *B, int64_t brs, int64_t K, float *y) {
  v8 acc = {0};
  for (int64_t k = 0; k < K; k++) acc += a[k * acs] * *(const v8 *)(B + k * brs);
  *(v8 *)y = acc;
}
#endif
static void gemv_part(const int64_t *g, float **p, int64_t n0, int64_t n1) {
  const int64_t M = g[gM], K = g[gK], ldc = g[gCRS], brs = g[gBRS];
  for (int64_t b0 = 0; b0 < g[gB0]; b0++)
  for (int64_t b1 = 0; b1 < g[gB1]; b1++) {
    const float *A = p[0] + b0 * g[gAB0] + b1 * g[gAB1];
    const float *B = p[1] + b0 * g[gBB0] + b1 * g[gBB1];
    int64_t coff = b0 * g[gCB0] + b1 * g[gCB1];
    float *C = p[2] + coff;
    const float *BM = p[3] ? p[3] + b0 * g[gBMB0] + b1 * g[gBMB1] : NULL;
    const int64_t acs = g[gACS];
    for (int64_t i = 0; i < M; i++) {
      const float *a = A + i * g[gARS];
      float *y = C + i * ldc;
      int64_t j = n0;
      for (; j + GEMV_COLS <= n1; j += GEMV_COLS) gemv_block8(a, acs, B + j, brs, K, y + j);
#if defined(__AVX512F__)
      if (j < n1) {
        const int64_t w = n1 - j;
        const __mmask16 last = (__mmask16)(w % 16 ? (1u << (w % 16)) - 1 : 0xffff);
        switch ((w + 15) / 16) {
        case 1: gemv_mask1(a, acs, B + j, brs, K, y + j, last); break;
        case 2: gemv_mask2(a, acs, B + j, brs, K, y + j, last); break;
        case 3: gemv_mask3(a, acs, B + j, brs, K, y + j, last); break;
        case 4: gemv_mask4(a, acs, B + j, brs, K, y + j, last); break;
        case 5: gemv_mask5(a, acs, B + j, brs, K, y + j, last); break;
        case 6: gemv_mask6(a, acs, B + j, brs, K, y + j, last); break;
        case 7: gemv_mask7(a, acs, B + j, brs, K, y + j, last); break;
        default: gemv_mask8(a, acs, B + j, brs, K, y + j, last); break;
        }
      }
#else
      switch ((n1 - j) / GV) { /* the rest: whole vectors in registers too */
      case 7: gemv_block7(a, acs, B + j, brs, K, y + j); break;
      case 6: gemv_block6(a, acs, B + j, brs, K, y + j); break;
      case 5: gemv_block5(a, acs, B + j, brs, K, y + j); break;
      case 4: gemv_block4(a, acs, B + j, brs, K, y + j); break;
      case 3: gemv_block3(a, acs, B + j, brs, K, y + j); break;
      case 2: gemv_block2(a, acs, B + j, brs, K, y + j); break;
      case 1: gemv_block1(a, acs, B + j, brs, K, y + j); break;
      }
      j += (n1 - j) / GV * GV;
      if (GV > 8 && n1 - j >= 8) { gemv_tail8(a, acs, B + j, brs, K, y + j); j += 8; }
      if (j < n1) {
        int64_t w = n1 - j;
        float acc[8] = {0};
        for (int64_t k = 0; k < K; k++) {
          float av = a[k * acs];
          const float *bk = B + k * brs + j;
          for (int64_t t = 0; t < w; t++) acc[t] += av * bk[t];
        }
        for (int64_t t = 0; t < w; t++) y[j + t] = acc[t];
      }
#endif
    }
    epilogue(g, C + n0, ldc, M, n1 - n0, BM, p[4] ? p[4] + n0 : NULL, p[5] ? p[5] + coff + n0 : NULL, (int)g[gRelu]);
  }
}

/* own: where in each thread's scratch a swapped product's own padded
   input goes (own_pad), -1 when the threads read pad_input's copy */
typedef struct { const int64_t *g; float **p; int64_t parts; int split_n; int64_t own; } gemm_job;

static void inplace_task(void *ctx, int64_t lo, int64_t hi) {
  const gemm_job *j = ctx;
  const int64_t rows = j->g[gB0] * j->g[gB1] * j->g[gOH];
  for (int64_t t = lo; t < hi; t++) gemm_inplace(j->g, j->p, rows * t / j->parts, rows * (t + 1) / j->parts);
}

static void gemv_task(void *ctx, int64_t lo, int64_t hi) {
  gemm_job *j = ctx;
  int64_t N = j->g[gN], blocks = (N + GEMV_COLS - 1) / GEMV_COLS;
  for (int64_t t = lo; t < hi; t++) {
    int64_t n0 = imin(N, blocks * t / j->parts * GEMV_COLS), n1 = imin(N, blocks * (t + 1) / j->parts * GEMV_COLS);
    if (n0 < n1) gemv_part(j->g, j->p, n0, n1);
  }
}

static void gemm_task(void *ctx, int64_t lo, int64_t hi) {
  gemm_job *j = ctx;
  const int64_t *g = j->g;
  for (int64_t t = lo; t < hi; t++) {
    int64_t m0 = 0, m1 = g[gM], n0 = 0, n1 = g[gN];
    if (j->split_n) {
      int64_t tiles = (n1 + NR - 1) / NR;
      n0 = imin(n1, tiles * t / j->parts * NR);
      n1 = imin(n1, tiles * (t + 1) / j->parts * NR);
    } else {
      int64_t tiles = (m1 + MR - 1) / MR;
      m0 = imin(m1, tiles * t / j->parts * MR);
      m1 = imin(m1, tiles * (t + 1) / j->parts * MR);
    }
    if (g[gAPacked] == 2) {
      int64_t tiles = (g[gM] + NR - 1) / NR;
      m0 = imin(g[gM], tiles * t / j->parts * NR);
      m1 = imin(g[gM], tiles * (t + 1) / j->parts * NR);
      if (m0 < m1) {
        const padded x = j->own >= 0 ? own_pad(g, j->p[1], scratchbuf[wdc_tid] + j->own) : cpad;
        gemm_part_t(g, j->p, m0, m1, packbuf[wdc_tid], scratchbuf[wdc_tid], &x);
      }
      continue;
    }
    if (m0 < m1 && n0 < n1) gemm_part(g, j->p, m0, m1, n0, n1, packbuf[wdc_tid], &cpad);
  }
}


/* ---- Winograd F(m×m, 3×3) on the microkernel (gWino = m, 2 or 4) ----
   Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per m×m output tile (Lavin & Gray). The
   tiles are numbered t = th·Tw + tw over the output and taken NR at a
   time (a panel). For one panel: the α×α input patches of channel c are
   an implicit im2col of a conv with an α×α kernel and stride m
   (pack_conv_p on the padded, column-phased input, α = m + 2), so
   D[i·α+j][t] comes out as α² rows of NR tiles, and Bᵀ D B is computed
   with whole rows as vectors into V[e][c][t] (e = ξ·α+ν): for each e a
   packed KC×NR B panel with K = C. The α² products M_e = U_e · V_e
   (U_e = G g Gᵀ, M×C, transformed and packed as MR-row panels at compile
   time, A operand) run on the microkernel into Mb[e][m][t]; Aᵀ M A then
   gives the m×m outputs of each tile, again on whole rows of NR tiles,
   plus bias, residual and ReLU, stored where inside the output. */
/* V[e] (one C×NR panel of B per e) starts WINO_ES(C) floats after
   V[e-1]: C·NR is a power of two for the usual channel counts, and α²
   panels that far apart fall on the same cache sets (the transform
   writes all α² of them for each channel; the products read them in
   turn), so that where the pages happened to land decided how much of V
   stayed in L2 (ResNet-18 on 2 threads moved between 9 and 14 ms from
   one process to the next). Three lines more keep them apart: 12.9 ->
   11.6 ms (median of 10 processes, onnxruntime 11.1 ms beside it); 16,
   32 and 80 floats measured slower on one or two threads. */
#define WINO_ES(C) ((C) * NR + 48)

/* The transforms work on WU tiles at a time (one vector value, GCC/clang
   vector extension): a panel of NR tiles is NR/WU of them, and a panel
   of at most NRH tiles (run on the half-width microkernels) only one,
   packed and transformed NRH wide (14×14 and 7×7 layers: half the
   patch packing and transform work they did at NR). */
#define WU (NRH > 0 ? NRH : NR)
typedef float wino_v __attribute__((vector_size(4 * WU), aligned(4)));
#define WV(p) (*(wino_v *)(p))

/* out[r·os] = (Bᵀ x)[r] for x[k] = in[k·is], α = 6 (F(4,3)) and 4 (F(2,3)). */
static inline __attribute__((always_inline)) void wino_bt4(const float *in, int64_t is, float *out, int64_t os) {
  wino_v x0 = WV(in), x1 = WV(in + is), x2 = WV(in + 2 * is), x3 = WV(in + 3 * is), x4 = WV(in + 4 * is), x5 = WV(in + 5 * is);
  WV(out) = 4.0f * x0 - 5.0f * x2 + x4;
  WV(out + os) = x3 + x4 - 4.0f * (x1 + x2);
  WV(out + 2 * os) = x4 - x3 + 4.0f * (x1 - x2);
  WV(out + 3 * os) = x4 - x2 + 2.0f * (x3 - x1);
  WV(out + 4 * os) = x4 - x2 + 2.0f * (x1 - x3);
  WV(out + 5 * os) = 4.0f * x1 - 5.0f * x3 + x5;
}
static inline __attribute__((always_inline)) void wino_bt2(const float *in, int64_t is, float *out, int64_t os) {
  wino_v x0 = WV(in), x1 = WV(in + is), x2 = WV(in + 2 * is), x3 = WV(in + 3 * is);
  WV(out) = x0 - x2;
  WV(out + os) = x1 + x2;
  WV(out + 2 * os) = x2 - x1;
  WV(out + 3 * os) = x1 - x3;
}
/* out[r·os] = (Aᵀ x)[r], r < m. */
static inline __attribute__((always_inline)) void wino_at4(const float *in, int64_t is, float *out, int64_t os) {
  wino_v x0 = WV(in), x1 = WV(in + is), x2 = WV(in + 2 * is), x3 = WV(in + 3 * is), x4 = WV(in + 4 * is), x5 = WV(in + 5 * is);
  wino_v d12 = x1 - x2, s12 = x1 + x2, d34 = x3 - x4, s34 = x3 + x4;
  WV(out) = x0 + s12 + s34;
  WV(out + os) = d12 + 2.0f * d34;
  WV(out + 2 * os) = s12 + 4.0f * s34;
  WV(out + 3 * os) = d12 + 8.0f * d34 + x5;
}
static inline __attribute__((always_inline)) void wino_at2(const float *in, int64_t is, float *out, int64_t os) {
  wino_v x0 = WV(in), x1 = WV(in + is), x2 = WV(in + 2 * is), x3 = WV(in + 3 * is);
  WV(out) = x0 + x1 + x2;
  WV(out + os) = x1 - x2 - x3;
}

/* wino_units: the WU-tile units a panel of nr tiles transforms. */
static inline int wino_units(int64_t nr) { return nr <= NRH ? 1 : NR / WU; }

/* V[e·vs] = Bᵀ D B for one channel: D holds α² rows of dw floats (row
   i·α+j is patch element (i, j)), of which the first nu·WU are tiles;
   e = ξ·α+ν. With nt, V is written with non-temporal stores (see
   wino_in_task), which need aligned vectors: V's rows start at multiples
   of WU floats (vbuf, NR, WINO_ES), and a WU that is not a power of two
   (NR = 24) is stored as vectors of its largest power-of-two factor. */
typedef float wino_va __attribute__((vector_size(4 * WU), aligned(4 * (WU & -WU))));
_Static_assert(48 % WU == 0 && NR % WU == 0, "V's rows are WU-float aligned");
static inline __attribute__((always_inline)) void wino_in(const int A, const float *D, int64_t dw, int nu, float *V, int64_t vs, const int nt) {
  float T[36 * NR] __attribute__((aligned(64)));
  for (int u = 0; u < nu; u++) {
    const float *d = D + u * WU;
    float *t = T + u * WU, *v = V + u * WU;
    for (int j = 0; j < A; j++) {
      if (A == 6) wino_bt4(d + j * dw, 6 * dw, t + j * dw, 6 * dw);
      else wino_bt2(d + j * dw, 4 * dw, t + j * dw, 4 * dw);
    }
    /* with nt, the α² rows go through an L1 tile, then to V whole */
    float Vt[36 * WU] __attribute__((aligned(64)));
    float *o = nt ? Vt : v;
    const int64_t os = nt ? WU : vs;
    for (int x = 0; x < A; x++) {
      if (A == 6) wino_bt4(t + x * 6 * dw, dw, o + x * 6 * os, os);
      else wino_bt2(t + x * 4 * dw, dw, o + x * 4 * os, os);
    }
    if (nt)
      for (int e = 0; e < A * A; e++) __builtin_nontemporal_store(*(wino_va *)(Vt + e * WU), (wino_va *)(v + e * vs));
  }
}

/* Y[i·m+j] = (Aᵀ M A)[i][j] for one output channel, the first nu·WU
   tiles: row e of M at Mv + e·ms; Y is m² rows of NR. */
static inline __attribute__((always_inline)) void wino_out(const int A, const float *Mv, int64_t ms, int nu, float *Y) {
  float T[24 * NR] __attribute__((aligned(64)));
  for (int u = 0; u < nu; u++) {
    const float *mv = Mv + u * WU;
    float *t = T + u * WU, *y = Y + u * WU;
    for (int v = 0; v < A; v++) {
      if (A == 6) wino_at4(mv + v * ms, 6 * ms, t + v * NR, 6 * NR);
      else wino_at2(mv + v * ms, 4 * ms, t + v * NR, 4 * NR);
    }
    for (int i = 0; i < A - 2; i++) {
      if (A == 6) wino_at4(t + i * 6 * NR, NR, y + i * 4 * NR, NR);
      else wino_at2(t + i * 4 * NR, NR, y + i * 2 * NR, NR);
    }
  }
}

/* band: each thread pads, into its own scratch, the input rows its panel
   reads (pad: the padded copy's geometry),
   instead of sharing one padded copy written by all threads */
typedef struct { const int64_t *g; float **p; int64_t gw[gLen]; int64_t panels, pp, msplit, mchunk, whole, wtasks; int band; pad_job pad;
                 _Atomic uint64_t rng[WDC_MAX_THREADS]; /* task k's share not yet taken: hi << 32 | lo */ } wino_job;

/* range_take takes the first (front) or the last item of a block's
   range; -1 when none is left. */
static int64_t range_take(_Atomic uint64_t *r, int front) {
  uint64_t v = atomic_load_explicit(r, memory_order_relaxed);
  for (;;) {
    uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);
    if (lo >= hi) return -1;
    uint64_t nv = front ? (uint64_t)hi << 32 | (lo + 1) : (uint64_t)(hi - 1) << 32 | lo;
    if (atomic_compare_exchange_weak_explicit(r, &v, nv, memory_order_acq_rel, memory_order_relaxed)) return front ? lo : hi - 1;
  }
}

/* wino_shares gives task k < wtasks the k-th contiguous share of units. */
static void wino_shares(wino_job *j, int64_t units) {
  for (int64_t k = 0; k < j->wtasks; k++)
    atomic_store_explicit(&j->rng[k], (uint64_t)(units * (k + 1) / j->wtasks) << 32 | (uint64_t)(units * k / j->wtasks), memory_order_relaxed);
}

/* wino_store: output channels [ir, ir+mr) of the panel of nr tiles from
   tile n0, from their α² products Mb[e][i][t]: Aᵀ M A, bias, residual,
   ReLU, stored as runs along output rows (cropped at the edge). */
static inline __attribute__((always_inline)) void wino_store(const wino_job *j, int64_t b0, const float *Mb, int64_t ir, int64_t mr,
                                                             int64_t n0, int64_t nr, const int A) {
  const int m = A - 2;
  const int64_t *g = j->g;
  float **p = j->p;
  const int64_t OH = g[gOH], OW = g[gOW], Tw = j->gw[gOW];
  /* the panel's tiles as runs along one tile row: first tile, count, output origin */
  int64_t rt[NR], rl[NR], roh[NR], row_[NR], ns = 0;
  for (int64_t t = 0; t < nr;) {
    int64_t th = (n0 + t) / Tw, tw = (n0 + t) % Tw, len = imin(nr - t, Tw - tw);
    rt[ns] = t; rl[ns] = len; roh[ns] = th * m; row_[ns] = tw * m; ns++;
    t += len;
  }
  float *C0 = p[2] + b0 * g[gCB0];
  const float *BM = p[3] ? p[3] + b0 * g[gBMB0] : NULL;
  const float *ADD = p[5] ? p[5] + b0 * g[gCB0] : NULL;
  const int relu = (int)g[gRelu];
  float Y[16 * NR] __attribute__((aligned(64)));
  const int nu = wino_units(nr);
  for (int64_t mm = ir; mm < ir + mr; mm++) {
    if (mm + 1 < ir + mr) /* the next channel's output (and residual) lines: each store here waited for its line */
      for (int64_t s = 0; s < ns; s++)
        for (int i = 0; i < m && roh[s] + i < OH; i++) {
          const int64_t off = (mm + 1) * g[gCRS] + (roh[s] + i) * OW + row_[s], wlen = imin(rl[s] * m, OW - row_[s]);
          for (int64_t w = 0; w < wlen + 16; w += 16) {
            __builtin_prefetch(C0 + off + imin(w, wlen - 1), 1, 3);
            if (ADD) __builtin_prefetch(ADD + off + imin(w, wlen - 1), 0, 3);
          }
        }
    wino_out(A, Mb + (mm - ir) * NR, MR * NR, nu, Y);
    if (BM)
      for (int q = 0; q < m * m; q++)
        for (int u = 0; u < nu; u++) WV(Y + q * NR + u * WU) += BM[mm];
    if (relu && !ADD)
      for (int q = 0; q < m * m; q++)
        for (int t = 0; t < nu * WU; t++) Y[q * NR + t] = Y[q * NR + t] < 0.0f ? 0.0f : Y[q * NR + t];
    float *cm = C0 + mm * g[gCRS];
    const float *am = ADD ? ADD + mm * g[gCRS] : NULL;
#if defined(__AVX512F__)
    /* each output row of the panel interleaved in L1 (R[t·m + jx]: a
       fixed-size loop the compiler turns into shuffles), then stored as
       whole vectors: one store per cache line keeps more of the output's
       write misses in flight than sixteen scalar stores (two threads
       writing a layer's output were bound by them) */
    float R[4 * NR] __attribute__((aligned(64)));
    for (int i = 0; i < m; i++) {
      for (int t = 0; t < NR; t++)
        for (int jx = 0; jx < m; jx++) R[t * m + jx] = Y[(i * m + jx) * NR + t];
      for (int64_t s = 0; s < ns; s++) {
        if (roh[s] + i >= OH) continue;
        const int64_t t0 = rt[s], ow0 = row_[s];
        const int64_t wlen = imin(rl[s] * m, OW - ow0); /* output columns inside */
        float *o = cm + (roh[s] + i) * OW + ow0;
        const float *r = R + t0 * m, *a = am ? am + (roh[s] + i) * OW + ow0 : NULL;
        for (int64_t w = 0; w < wlen; w += 16) {
          __mmask16 k = (__mmask16)(wlen - w >= 16 ? 0xffff : (1u << (wlen - w)) - 1);
          __m512 v = _mm512_maskz_loadu_ps(k, r + w);
          if (a) {
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, a + w));
            if (relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
          }
          _mm512_mask_storeu_ps(o + w, k, v);
        }
      }
    }
#else
    for (int64_t s = 0; s < ns; s++) {
      const int64_t t0 = rt[s], len = rl[s], ow0 = row_[s];
      const int64_t wlen = imin(len * m, OW - ow0); /* output columns inside */
      for (int i = 0; i < m && roh[s] + i < OH; i++) {
        float *o = cm + (roh[s] + i) * OW + ow0;
        const float *y = Y + i * m * NR + t0;
        if (am) {
          const float *a = am + (roh[s] + i) * OW + ow0;
          for (int64_t w = 0; w < wlen; w++) {
            float v = y[(w % m) * NR + w / m] + a[w];
            o[w] = relu && v < 0.0f ? 0.0f : v;
          }
        } else if (wlen == len * m) {
          for (int64_t t = 0; t < len; t++)
            for (int jx = 0; jx < m; jx++) o[t * m + jx] = y[jx * NR + t];
        } else {
          for (int64_t w = 0; w < wlen; w++) o[w] = y[(w % m) * NR + w / m];
        }
      }
    }
#endif
  }
}

/* Group gg: pp consecutive panels of image b0 (tiles n0 .. n0+ntot). */
typedef struct { int64_t b0, n0, ntot, np; } wino_group;
static inline wino_group wino_grp(const wino_job *j, int64_t gg) {
  const int64_t T = j->gw[gOH] * j->gw[gOW], groups = (j->panels + j->pp - 1) / j->pp;
  wino_group r;
  int64_t pa = gg % groups * j->pp;
  r.b0 = gg / groups;
  r.np = imin(j->panels, pa + j->pp) - pa;
  r.n0 = pa * NR;
  r.ntot = imin((pa + r.np) * NR, T) - r.n0;
  return r;
}

/* wino_input: V of group gg (one C×NR panel per e and panel, vs =
   α²·WINO_ES(C) floats per panel) for input channels [c0, c1); work holds the
   packed patches and, with several threads, the padded band. */
static inline __attribute__((always_inline)) void wino_input(const wino_job *j, int64_t gg, int64_t c0, int64_t c1, float *V, float *work, const int A, const int nt) {
  const int m = A - 2;
  const int64_t *g = j->g, *gw = j->gw;
  const int64_t A2 = A * A, C = g[gCC], Tw = gw[gOW], T = gw[gOH] * Tw;
  const wino_group gr = wino_grp(j, gg);
  const int64_t vs = A2 * WINO_ES(C);
  float *D = work;
  const float *xp;
  int64_t hp, wq, t0;
  if (!j->band) {
    xp = cpad.xp + gr.b0 * cpad.plane; hp = cpad.Hp; wq = cpad.Wq; t0 = 0;
  } else {
    /* tile rows th0..th1 read padded rows th0·m .. th1·m + α − 1: padded
       here, into this thread's scratch */
    const int64_t th0 = gr.n0 / Tw, th1 = (gr.n0 + gr.ntot - 1) / Tw, hb = (th1 - th0) * m + A;
    float *band = D + A2 * NR;
    pad_band(&j->pad, gr.b0, c0, c1, th0 * m, th0 * m + hb, hb, band);
    xp = band; hp = hb; wq = j->pad.Wq; t0 = th0 * Tw;
  }
  for (int64_t q = 0; q < gr.np; q++) {
    int64_t nq0 = gr.n0 + q * NR, nr = imin(NR, T - nq0);
    const int nu = wino_units(nr);
    const int64_t dw = nu * WU;
    for (int64_t c = c0; c < c1; c++) {
      pack_conv_p(gw, xp, hp, wq, c * A2, A2, nq0 - t0, nr, D, dw);
      wino_in(A, D, dw, nu, V + q * vs + c * NR, WINO_ES(C), nt);
    }
  }
}

/* wino_products: output channels [m0, m1) of group gg from its V: for
   each MR channels, the α² products into Mb, then the output transform.
   The transformed filters U_e of MR channels serve every panel of the
   group while they are in cache: with few, wide layers (28×28 and 14×14
   in ResNet-18) U is 4 to 8 times V and was read once per panel. */
static inline __attribute__((always_inline)) void wino_products(const wino_job *j, int64_t gg, int64_t m0, int64_t m1, const float *V, float *Mb, const int A) {
  const int64_t A2 = A * A, C = j->g[gCC], T = j->gw[gOH] * j->gw[gOW];
  const wino_group gr = wino_grp(j, gg);
  const int64_t vs = A2 * WINO_ES(C);
  /* a panel of at most NRH tiles runs the half-width kernels, which
     write the first NRH columns of Mb: the output transform reads no
     more (wino_units) */
  const float *U = j->p[0];
  for (int64_t ir = m0; ir < m1; ir += MR) {
    int64_t mr = imin(MR, m1 - ir);
    for (int64_t q = 0; q < gr.np; q++) {
      int64_t nq0 = gr.n0 + q * NR, nr = imin(NR, T - nq0);
      const wdc_ukr_fn *ukr = nr <= NRH ? ukrh_rows : ukr_rows;
      for (int64_t e = 0; e < A2; e++)
        ukr[mr](C, U + (ir * A2 + e * MR) * C, V + q * vs + e * WINO_ES(C), Mb + e * MR * NR, NR, 0, NULL, NULL, 0);
      wino_store(j, gr.b0, Mb, ir, mr, nq0, nr, A);
    }
  }
}

/* Scratch of one item: V (pp panels), Mb, then wino_input's work. */
static void wino_run(const wino_job *j, int64_t gg, int64_t m0, int64_t m1) {
  const int A = (int)j->g[gWino] + 2;
  const int64_t vs = (int64_t)A * A * WINO_ES(j->g[gCC]);
  float *V = scratchbuf[wdc_tid], *Mb = V + j->pp * vs, *work = Mb + (int64_t)A * A * MR * NR;
  if (A == 6) { wino_input(j, gg, 0, j->g[gCC], V, work, 6, 0); wino_products(j, gg, m0, m1, V, Mb, 6); }
  else { wino_input(j, gg, 0, j->g[gCC], V, work, 4, 0); wino_products(j, gg, m0, m1, V, Mb, 4); }
}

/* Task k < wtasks runs the k-th share of the whole groups: consecutive
   panels, so that two threads share output rows at one boundary only
   (tiles are m columns wide: panels end inside cache lines). Task
   wtasks + s runs part s % msplit of the output channels of group
   whole + s / msplit. */
static void wino_task(void *ctx, int64_t lo, int64_t hi) {
  wino_job *j = ctx;
  for (int64_t k = lo; k < hi; k++) {
    if (k < j->wtasks) {
      /* its own block from the front, then what is left of the others
         from their back: a thread whose CPU the host takes away for a
         while (a VM) leaves its remaining groups to the others */
      int64_t gg;
      while ((gg = range_take(&j->rng[k], 1)) >= 0) wino_run(j, gg, 0, j->g[gM]);
      for (int64_t o = 1; o < j->wtasks; o++)
        while ((gg = range_take(&j->rng[(k + o) % j->wtasks], 0)) >= 0) wino_run(j, gg, 0, j->g[gM]);
    } else {
      int64_t s = k - j->wtasks, m0 = s % j->msplit * j->mchunk;
      wino_run(j, j->whole + s / j->msplit, m0, imin(j->g[gM], m0 + j->mchunk));
    }
  }
}

/* Fewer groups than threads: two passes. The first computes the V of
   every group into the shared vbuf, WINO_CCH input channels a unit; the
   second runs the products, one MR block of output channels a unit.
   Otherwise every part of a group would transform its whole input (with
   256 channels on a 14×14 image a third of the layer's time). Thread k
   takes the k-th contiguous share of a pass's units from the front, then
   what is left of the others' from their back (see wino_task). The first
   pass writes V with non-temporal stores: V (1–1.2 MB in ResNet-18) does
   not fit in L2 and its lines were last read by both cores, so each
   ordinary store waited for its line to be fetched for ownership (on two
   threads the pass took longer than on one). ResNet-18 on two threads,
   per layer: the pass 190–237 → 121–132 µs at 28×28, 106–173 → 72 at
   14×14, 82–124 → 63–69 at 7×7; the products, reading V from memory,
   no slower (319–341 → 300–329 µs at 28×28). */
#define WINO_CCH 16
static float *vbuf;
static int64_t vcap;
static int64_t wino_next(wino_job *j, int64_t k, int64_t *o) {
  int64_t u;
  while (*o < j->wtasks) {
    if ((u = range_take(&j->rng[(k + *o) % j->wtasks], *o == 0)) >= 0) return u;
    ++*o;
  }
  return -1;
}
static void wino_in_task(void *ctx, int64_t lo, int64_t hi) {
  wino_job *j = ctx;
  const int A = (int)j->g[gWino] + 2;
  const int64_t C = j->g[gCC], vs = (int64_t)A * A * WINO_ES(C), cunits = (C + WINO_CCH - 1) / WINO_CCH;
  for (int64_t k = lo; k < hi; k++) {
    int64_t u, o = 0;
    while ((u = wino_next(j, k, &o)) >= 0) {
      int64_t gg = u / cunits, c0 = u % cunits * WINO_CCH, c1 = imin(C, c0 + WINO_CCH);
      float *V = vbuf + gg * j->pp * vs, *work = scratchbuf[wdc_tid];
      if (A == 6) wino_input(j, gg, c0, c1, V, work, 6, 1);
      else wino_input(j, gg, c0, c1, V, work, 4, 1);
    }
  }
#if defined(__SSE__)
  __builtin_ia32_sfence(); /* the non-temporal stores, before the products read V */
#endif
}
static void wino_prod_task(void *ctx, int64_t lo, int64_t hi) {
  wino_job *j = ctx;
  const int A = (int)j->g[gWino] + 2;
  const int64_t M = j->g[gM], vs = (int64_t)A * A * WINO_ES(j->g[gCC]), bunits = (M + MR - 1) / MR;
  for (int64_t k = lo; k < hi; k++) {
    int64_t u, o = 0;
    while ((u = wino_next(j, k, &o)) >= 0) {
      int64_t gg = u / bunits, m0 = u % bunits * MR;
      const float *V = vbuf + gg * j->pp * vs;
      if (A == 6) wino_products(j, gg, m0, imin(M, m0 + MR), V, scratchbuf[wdc_tid], 6);
      else wino_products(j, gg, m0, imin(M, m0 + MR), V, scratchbuf[wdc_tid], 4);
    }
  }
}

static void wdc_winograd(const int64_t *g, float **p) {
  const int64_t m = g[gWino], A = m + 2, C = g[gCC], M = g[gM];
  const int64_t Mp = (M + MR - 1) / MR * MR;
  wino_job job = { .g = g, .p = p, .msplit = 1, .mchunk = M };
  memcpy(job.gw, g, sizeof(job.gw));
  /* the patches as an α×α, stride-m conv over the same padded input */
  const int64_t Th = (g[gOH] + m - 1) / m, Tw = (g[gOW] + m - 1) / m;
  job.gw[gKH] = job.gw[gKW] = A; job.gw[gSH] = job.gw[gSW] = m; job.gw[gOH] = Th; job.gw[gOW] = Tw;
  int T = nthreads;
  job.panels = (Th * Tw + NR - 1) / NR;
  /* panels per item: when the transformed filters (α²·M·C) outweigh
     four panels of V (α²·C·NR each) and the image has at most four
     panels, all of an image's panels form one group, so that each MR
     block of U is read once and applied to every panel while it is in
     cache; with fewer images than threads the threads share the group's
     V in two passes (see wino_in_task). ResNet-18's 28×28 layers (two
     panels) on 2 threads: 11.6 -> 11.2 ms against a panel per thread,
     which read all of U twice and split 32 tiles against 17. */
  job.pp = job.panels <= 4 && Mp >= 4 * NR ? job.panels : 1;
  int64_t items = g[gB0] * ((job.panels + job.pp - 1) / job.pp);
  /* several threads: each pads the rows it reads (a shared copy written
     by one core and read by the other cost more than the halo rows
     padded twice) */
  job.band = T > 1;
  job.pad = pad_geom(job.gw, p[1]);
  const int64_t Hp = job.pad.Hp, Wq = job.pad.Wq;
  const int64_t hb = imin(Hp, ((job.pp * NR + Tw - 1) / Tw) * m + A); /* the most rows a band takes */
  ensure_scratch(T, A * A * (job.pp * WINO_ES(C) + (MR + 1) * NR) + (job.band ? C * hb * m * Wq : 0) + 64);
  if (!job.band && !pad_input(job.gw, p[1])) { fprintf(stderr, "wdc: out of memory for the padded input\n"); abort(); }
  /* a share of the whole groups per thread; the groups left over (all of
     them when there are fewer than threads: two passes, below; the last
     of 7 panels on 2 threads) split their output channels, MR at a time,
     so that every thread gets the same work (each part transforms the
     group's input) */
  int64_t split = T > 1 && (M + MR - 1) / MR > 1 ? (items < T ? items : items % T) : 0;
  job.whole = items - split;
  if (split && !job.whole) {
    const int64_t vneed = items * job.pp * A * A * WINO_ES(C);
    if (vneed > vcap) {
      free(vbuf);
      vcap = 0;
      if (!(vbuf = aligned_alloc(64, sizeof(float) * (size_t)((vneed + 15) / 16 * 16)))) { fprintf(stderr, "wdc: out of memory for the Winograd transforms\n"); abort(); }
      vcap = vneed;
    }
    job.wtasks = T;
    wino_shares(&job, items * ((C + WINO_CCH - 1) / WINO_CCH));
    wdc_parallel_for(wino_in_task, &job, T);
    wino_shares(&job, items * ((M + MR - 1) / MR));
    wdc_parallel_for(wino_prod_task, &job, T);
    return;
  }
  if (split) {
    job.msplit = imin(T, (M + MR - 1) / MR);
    job.mchunk = ((M + MR - 1) / MR + job.msplit - 1) / job.msplit * MR;
    job.msplit = (M + job.mchunk - 1) / job.mchunk;
  }
  job.wtasks = imin(T, job.whole);
  wino_shares(&job, job.whole);
  int64_t tasks = job.wtasks + split * job.msplit;
  if (T <= 1 || tasks <= 1) wino_task(&job, 0, tasks);
  else wdc_parallel_for(wino_task, &job, tasks);
}

/* wdc_gemm runs the product described by g (see loop.Gemm) on the thread
   pool: the threads split the columns (N) or the rows (M), whichever
   costs less counting B packing; products under 2^20 multiply-adds run
   on the calling thread only. Every element is computed by the same
   sequence of operations whatever the split, so results do not depend on
   the thread count. */
HIDDEN void wdc_gemm(const int64_t *g, float **p) {
  int64_t M = g[gM], N = g[gN], K = g[gK];
  if (M <= 0 || N <= 0 || K <= 0) return;
  if (g[gWino]) { wdc_winograd(g, p); return; }
  double macs = (double)M * N * K * g[gB0] * g[gB1];
  int T = nthreads;
  if (macs < (double)(1 << 20)) T = 1; /* a wake-up or a preempted worker costs more */
  if (ensure_buffers(nthreads) < nthreads) T = 1; /* each thread packs into packbuf[wdc_tid] */
  gemm_job job = { g, p, T, 1, -1 };
  if (M < 4 && !g[gConv] && g[gBCS] == 1) {
    int64_t blocks = (N + GEMV_COLS - 1) / GEMV_COLS;
    if (blocks < job.parts) job.parts = blocks;
    if (job.parts <= 1) gemv_task(&job, 0, 1);
    else wdc_parallel_for(gemv_task, &job, job.parts);
    return;
  }
  if (!packbuf[0] || WDC_GEMM_REF) {
    if (g[gPKH]) gemm_pooled_ref(g, p);
    else gemm_ref(g, p);
    return;
  }
  if (g[gPKH]) { gemm_pooled(g, p, T); return; } /* fused max pool: pads per chunk */
#if NRH > 0
  if (g[gAPacked] == 4) { /* direct conv product */
    const int64_t panels = (M + NR - 1) / NR, rows = g[gB0] * g[gB1] * g[gOH];
    /* threads split the output channels when the weights are larger than
       the padded input (each thread then reads all of the input), else
       the output rows (each reads all of the weights) */
    direct_job job = { g, p, T, 1, pad_geom(g, p[1]) };
    if (T > 1 && panels >= T && (double)M * K > (double)g[gB0] * g[gB1] * job.pad.plane) job.split_rows = 0;
    if (job.split_rows) {
      if (rows < job.parts) job.parts = rows;
      const int64_t rowlen = g[gSW] * job.pad.Wq;
      ensure_scratch(nthreads, g[gCC] * win_extent(direct_chunk_rows(g, rowlen), g[gSH], g[gKH], g[gDH]) * rowlen + 64);
    } else
      ensure_scratch(nthreads, g[gB0] * g[gB1] * job.pad.plane + 64);
    if (job.parts <= 1) direct_task(&job, 0, 1);
    else wdc_parallel_for(direct_task, &job, job.parts);
    return;
  }
#endif
  cpad.xp = NULL;
  /* a swapped product split between threads: each pads its own copy */
  const int own = g[gAPacked] == 2 && T > 1 && (M + NR - 1) / NR > 1;
  if (g[gConv] && !own && !pad_input(g, p[1])) cpad.xp = NULL;
  if (g[gAPacked] == 5) { /* B in place: threads split the output rows */
    if (!cpad.xp) { gemm_ref(g, p); return; }
    const int64_t rows = g[gB0] * g[gB1] * g[gOH];
    job.parts = T < rows ? T : rows;
    if (job.parts <= 1) gemm_inplace(g, p, 0, rows);
    else wdc_parallel_for(inplace_task, &job, job.parts);
    return;
  }
  if (g[gAPacked] == 2) { /* swapped conv product: threads split the output channels */
    if (!cpad.xp && !own) { gemm_ref(g, p); return; }
    int64_t mt = (M + NR - 1) / NR;
    job.parts = T < mt ? T : mt;
    /* for every pool thread: any of them may claim a part; Cᵀ, then the
       thread's own padded input */
    const int64_t ct = (N + MR - 1) / MR * MR * ((mt + job.parts - 1) / job.parts * NR);
    job.own = own ? (ct + 15) / 16 * 16 : -1;
    ensure_scratch(nthreads, ct + 16 + (own ? g[gB0] * g[gB1] * pad_geom(g, NULL).plane : 0) + 64);
    if (job.parts <= 1) gemm_task(&job, 0, 1);
    else wdc_parallel_for(gemm_task, &job, job.parts);
    return;
  }
  if (T > 1) {
    /* cost per thread in multiply-adds / 16 (one vector FMA) plus ~1 per
       packed element: a column part packs its columns of B and all of A
       (up to 4 parts per thread), a row part its rows of A and all of B;
       operands stored packed at compile time cost nothing */
    int64_t nt = (N + NR - 1) / NR, mt = (M + MR - 1) / MR;
    double mpad = (double)mt * MR, npad = (double)nt * NR;
    double packA = g[gAPacked] ? 0 : mpad * K, packB = g[gBPacked] ? 0 : npad * K;
    double cn = ((nt + T - 1) / T) * (double)NR * K * mpad / 16 + packB / T + 4 * packA;
    double cm = ((mt + T - 1) / T) * (double)MR * K * npad / 16 + packB + packA / T;
    job.split_n = cn <= cm;
    /* column parts cost nothing extra: 4 per thread, taken dynamically */
    if (job.split_n) job.parts = nt < 4 * T ? nt : 4 * T;
    if (!job.split_n && mt < T) job.parts = mt;
  }
  if (job.parts <= 1) { gemm_task(&job, 0, 1); return; }
  wdc_parallel_for(gemm_task, &job, job.parts);
}
`
