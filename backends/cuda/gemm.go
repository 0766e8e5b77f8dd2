package cuda

import (
	"fmt"
	"strings"

	"wdc/ir"
	"wdc/ir/loop"
)

// Tiled GEMM: C[z][m][n] = Σ_k A(z,m,k)·B(z,k,n), then a store of each
// element with the fused epilogue. Dense, batched matmul and convolution
// (as an implicit GEMM: m = output channel of a group, n = batch item ×
// output position, k = input channel × kernel tap, the im2col matrix
// gathered on the fly into shared memory, z = group) all use it.
//
// A block of 256 threads computes a BM×BN tile of C, TM×TN elements per
// thread held in registers, stepping through K by BK: each step copies an
// A tile (BK×BM, transposed, padded against bank conflicts) and a B tile
// (BK×BN) from registers into shared memory, synchronizes, loads the next
// tiles from global memory into registers (their latency hidden behind
// the arithmetic), accumulates outer products, and synchronizes again.

type tileCfg struct{ BM, BN, BK, TM, TN int64 }

var tileCfgs = []tileCfg{
	{128, 128, 8, 8, 8},
	{64, 64, 16, 4, 4},
	{32, 32, 16, 2, 2},
	{16, 16, 16, 1, 1},
}

const gemmThreads = 256

// gemmSpec is a GEMM-shaped node. Accessors build loop IR over the
// variables gz, gm, gk, gn (rendered as C locals of the template).
type gemmSpec struct {
	M, N, K, Z int64
	A          func(z, m, k loop.Expr) loop.Expr
	B          func(z, k, n loop.Expr) loop.Expr
	Store      func(z, m, n, v loop.Expr) loop.Stmt
	AKFast     bool // consecutive k are adjacent in memory for A
	BNFast     bool // consecutive n are adjacent in memory for B
	Cfg        tileCfg
	What       string // "dense", "matmul", "implicit-GEMM conv"
}

func (s *gemmSpec) macs() int64 { return s.M * s.N * s.K * s.Z }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// chooseTile picks the largest tile that still gives at least minBlocks
// blocks (one wave on a large GPU), else the smallest.
func (s *gemmSpec) chooseTile(minBlocks int64) {
	for _, c := range tileCfgs {
		if ceilDiv(s.M, c.BM)*ceilDiv(s.N, c.BN)*s.Z >= minBlocks {
			s.Cfg = c
			return
		}
	}
	s.Cfg = tileCfgs[len(tileCfgs)-1]
}

func (s *gemmSpec) grid() [3]int64 {
	return [3]int64{ceilDiv(s.N, s.Cfg.BN), ceilDiv(s.M, s.Cfg.BM), s.Z}
}

// decompose splits flat index e over dims (outermost first).
func decompose(e loop.Expr, dims []int) []loop.Expr {
	out := make([]loop.Expr, len(dims))
	inner := int64(1)
	for d := len(dims) - 1; d >= 0; d-- {
		v := loop.DivE(e, loop.I(inner))
		if d > 0 {
			v = loop.ModE(v, loop.I(int64(dims[d])))
		}
		out[d] = v
		inner *= int64(dims[d])
	}
	return out
}

func prodInts(xs []int) int64 {
	p := int64(1)
	for _, x := range xs {
		p *= int64(x)
	}
	return p
}

// gemmOf describes n (the producer of a fused group lowered to f) as a
// GEMM, or returns nil when it is not one.
func gemmOf(f *loop.Func, epi func(loop.Expr, []loop.Expr) loop.Expr, n *ir.Node) (*gemmSpec, error) {
	in := f.Params[:len(n.Inputs)]
	out := f.Output()
	switch n.Op {
	case "conv":
		x, w := in[0], in[1]
		sp := len(x.Shape) - 2
		if sp < 1 {
			return nil, nil
		}
		win := ir.ConvWindow(n, sp, w.Shape[2:])
		G := int64(n.Int("group"))
		Mt, Cg := int64(w.Shape[0]), w.Shape[1]
		Mg := Mt / G
		kdims := append([]int{Cg}, w.Shape[2:]...)
		K := prodInts(kdims)
		O := out.Shape[2:]
		ndims := append([]int{out.Shape[0]}, O...)
		wv := &loop.Buffer{Name: w.Name, Shape: []int{int(Mt), int(K)}, Role: w.Role}
		s := &gemmSpec{M: Mg, N: prodInts(ndims), K: K, Z: G, AKFast: true, BNFast: true, What: "implicit-GEMM conv"}
		s.A = func(z, m, k loop.Expr) loop.Expr {
			return loop.Ld(wv, loop.AddE(loop.MulE(z, loop.I(Mg)), m), k)
		}
		s.B = func(z, k, nn loop.Expr) loop.Expr {
			kk := decompose(k, kdims)
			no := decompose(nn, ndims)
			ch := loop.AddE(loop.MulE(z, loop.I(int64(Cg))), kk[0])
			xi, cond := convIndex(win, x.Shape, no[0], ch, no[1:], kk[1:])
			if cond == nil {
				return loop.Ld(x, xi...)
			}
			return loop.Sel(cond, loop.Ld(x, xi...), loop.F(0))
		}
		s.Store = func(z, m, nn, v loop.Expr) loop.Stmt {
			mm := loop.AddE(loop.MulE(z, loop.I(Mg)), m)
			if len(in) == 3 {
				v = &loop.Binary{Op: loop.Add, A: v, B: loop.Ld(in[2], mm)}
			}
			no := decompose(nn, ndims)
			oidx := append([]loop.Expr{no[0], mm}, no[1:]...)
			return loop.St(out, epi(v, oidx), oidx...)
		}
		return s, nil
	case "dense":
		K, a, b, fin := denseAccess(n, in, out, epi)
		s := &gemmSpec{M: int64(out.Shape[0]), N: int64(out.Shape[1]), K: int64(K), Z: 1,
			AKFast: n.Int("trans_a") == 0, BNFast: n.Int("trans_b") == 0, What: "dense"}
		s.A = func(_, m, k loop.Expr) loop.Expr { return a(m, k) }
		s.B = func(_, k, nn loop.Expr) loop.Expr { return b(k, nn) }
		s.Store = func(_, m, nn, v loop.Expr) loop.Stmt { return loop.St(out, fin(v, m, nn), m, nn) }
		return s, nil
	case "matmul":
		if len(f.Params) != 3 {
			return nil, nil
		}
		batch, M, K, N, err := matmulShapes(in, out)
		if err != nil {
			return nil, err
		}
		A, B := in[0], in[1]
		s := &gemmSpec{M: int64(M), N: int64(N), K: int64(K), Z: prodInts(batch), AKFast: true, BNFast: true, What: "matmul"}
		s.A = func(z, m, k loop.Expr) loop.Expr {
			bi := bcast(A.Shape[:len(A.Shape)-2], batch, decompose(z, batch))
			return loop.Ld(A, append(bi, m, k)...)
		}
		s.B = func(z, k, nn loop.Expr) loop.Expr {
			bi := bcast(B.Shape[:len(B.Shape)-2], batch, decompose(z, batch))
			return loop.Ld(B, append(bi, k, nn)...)
		}
		s.Store = func(z, m, nn, v loop.Expr) loop.Stmt {
			return loop.St(out, v, append(decompose(z, batch), m, nn)...)
		}
		return s, nil
	}
	return nil, nil
}

// renderGEMM writes the tiled kernel body (inside the braces of a
// __global__ function).
func (r *renderer) renderGEMM(b *strings.Builder, s *gemmSpec) {
	c := s.Cfg
	ix := r.idx
	tx := c.BN / c.TN
	ty := c.BM / c.TM
	gz, gm, gk, gn := loop.V("gz"), loop.V("gm"), loop.V("gk"), loop.V("gn")
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("  // tiled %s: M=%d N=%d K=%d Z=%d, tile %dx%d, k-step %d, %dx%d per thread\n", s.What, s.M, s.N, s.K, s.Z, c.BM, c.BN, c.BK, c.TM, c.TN)
	p("  __shared__ float wdc_As[%d][%d] __attribute__((aligned(16)));\n", c.BK, c.BM+4)
	p("  __shared__ float wdc_Bs[%d][%d] __attribute__((aligned(16)));\n", c.BK, c.BN)
	p("  WDC_PRIVATE(float, wdc_acc, %d);\n", c.TM*c.TN)
	p("  const %s wdc_m0 = (%s)blockIdx.y * %d;\n", ix, ix, c.BM)
	p("  const %s wdc_n0 = (%s)blockIdx.x * %d;\n", ix, ix, c.BN)
	p("  const %s gz = (%s)blockIdx.z;\n", ix, ix)
	p("  (void)gz;\n")
	na, nb := c.BM*c.BK/gemmThreads, c.BN*c.BK/gemmThreads
	vec := c.TM%4 == 0 && c.TN%4 == 0
	p("  WDC_PRIVATE(float, wdc_pa, %d); // the next A and B tiles, prefetched into registers\n", na)
	p("  WDC_PRIVATE(float, wdc_pb, %d);\n", nb)
	// aIdx/bIdx: the tile coordinates (wdc_i, wdc_j) of element wdc_r.
	aIdx := fmt.Sprintf("const int wdc_i = wdc_r / %d, wdc_j = wdc_r %% %d;", c.BK, c.BK)
	if !s.AKFast {
		aIdx = fmt.Sprintf("const int wdc_i = wdc_r %% %d, wdc_j = wdc_r / %d;", c.BM, c.BM)
	}
	bIdx := fmt.Sprintf("const int wdc_i = wdc_r %% %d, wdc_j = wdc_r / %d;", c.BN, c.BN)
	if !s.BNFast {
		bIdx = fmt.Sprintf("const int wdc_i = wdc_r / %d, wdc_j = wdc_r %% %d;", c.BK, c.BK)
	}
	load := func(ind, k0 string) {
		p("#pragma unroll\n")
		p("%sfor (int wdc_q = 0; wdc_q < %d; ++wdc_q) {\n", ind, na)
		p("%s  const int wdc_r = (int)threadIdx.x + wdc_q * %d;\n", ind, gemmThreads)
		p("%s  %s\n", ind, aIdx)
		p("%s  const %s gm = wdc_m0 + wdc_i, gk = %s + wdc_j;\n", ind, ix, k0)
		p("%s  WDC_P(wdc_pa)[wdc_q] = (gm < %d && gk < %d) ? %s : 0.0f;\n", ind, s.M, s.K, r.expr(s.A(gz, gm, gk)))
		p("%s}\n", ind)
		p("#pragma unroll\n")
		p("%sfor (int wdc_q = 0; wdc_q < %d; ++wdc_q) {\n", ind, nb)
		p("%s  const int wdc_r = (int)threadIdx.x + wdc_q * %d;\n", ind, gemmThreads)
		p("%s  %s\n", ind, bIdx)
		p("%s  const %s gn = wdc_n0 + wdc_i, gk = %s + wdc_j;\n", ind, ix, k0)
		p("%s  WDC_P(wdc_pb)[wdc_q] = (gn < %d && gk < %d) ? %s : 0.0f;\n", ind, s.N, s.K, r.expr(s.B(gz, gk, gn)))
		p("%s}\n", ind)
	}
	p("  WDC_THREADS {\n")
	p("#pragma unroll\n")
	p("    for (int wdc_i = 0; wdc_i < %d; ++wdc_i) WDC_P(wdc_acc)[wdc_i] = 0.0f;\n", c.TM*c.TN)
	load("    ", "0")
	p("  }\n")
	p("  for (%s wdc_k0 = 0; wdc_k0 < %d; wdc_k0 += %d) {\n", ix, s.K, c.BK)
	p("    WDC_THREADS { // registers -> shared memory\n")
	p("#pragma unroll\n")
	p("      for (int wdc_q = 0; wdc_q < %d; ++wdc_q) {\n", na)
	p("        const int wdc_r = (int)threadIdx.x + wdc_q * %d;\n", gemmThreads)
	p("        %s\n", aIdx)
	p("        wdc_As[wdc_j][wdc_i] = WDC_P(wdc_pa)[wdc_q];\n")
	p("      }\n")
	p("#pragma unroll\n")
	p("      for (int wdc_q = 0; wdc_q < %d; ++wdc_q) {\n", nb)
	p("        const int wdc_r = (int)threadIdx.x + wdc_q * %d;\n", gemmThreads)
	p("        %s\n", bIdx)
	p("        wdc_Bs[wdc_j][wdc_i] = WDC_P(wdc_pb)[wdc_q];\n")
	p("      }\n")
	p("    }\n")
	p("    __syncthreads();\n")
	p("    WDC_THREADS { // prefetch the next tiles while computing this one\n")
	p("      if (wdc_k0 + %d < %d) {\n", c.BK, s.K)
	load("        ", fmt.Sprintf("(wdc_k0 + %d)", c.BK))
	p("      }\n")
	p("      const int wdc_tx = (int)threadIdx.x %% %d, wdc_ty = (int)threadIdx.x / %d;\n", tx, tx)
	p("#pragma unroll\n")
	p("      for (int wdc_kk = 0; wdc_kk < %d; ++wdc_kk) {\n", c.BK)
	p("        float wdc_a[%d], wdc_b[%d];\n", c.TM, c.TN)
	p("#pragma unroll\n")
	if vec {
		// Each thread's rows and columns are contiguous: 128-bit shared loads.
		p("        for (int wdc_i = 0; wdc_i < %d; wdc_i += 4) {\n", c.TM)
		p("          const float4 wdc_v = *reinterpret_cast<const float4 *>(&wdc_As[wdc_kk][wdc_ty * %d + wdc_i]);\n", c.TM)
		p("          wdc_a[wdc_i] = wdc_v.x; wdc_a[wdc_i + 1] = wdc_v.y; wdc_a[wdc_i + 2] = wdc_v.z; wdc_a[wdc_i + 3] = wdc_v.w;\n")
		p("        }\n")
		p("#pragma unroll\n")
		p("        for (int wdc_j = 0; wdc_j < %d; wdc_j += 4) {\n", c.TN)
		p("          const float4 wdc_v = *reinterpret_cast<const float4 *>(&wdc_Bs[wdc_kk][wdc_tx * %d + wdc_j]);\n", c.TN)
		p("          wdc_b[wdc_j] = wdc_v.x; wdc_b[wdc_j + 1] = wdc_v.y; wdc_b[wdc_j + 2] = wdc_v.z; wdc_b[wdc_j + 3] = wdc_v.w;\n")
		p("        }\n")
	} else {
		// Rows ty, ty+BM/TM, ...: conflict-free scalar shared loads.
		p("        for (int wdc_i = 0; wdc_i < %d; ++wdc_i) wdc_a[wdc_i] = wdc_As[wdc_kk][wdc_ty + wdc_i * %d];\n", c.TM, ty)
		p("#pragma unroll\n")
		p("        for (int wdc_j = 0; wdc_j < %d; ++wdc_j) wdc_b[wdc_j] = wdc_Bs[wdc_kk][wdc_tx + wdc_j * %d];\n", c.TN, tx)
	}
	p("#pragma unroll\n")
	p("        for (int wdc_i = 0; wdc_i < %d; ++wdc_i)\n", c.TM)
	p("#pragma unroll\n")
	p("          for (int wdc_j = 0; wdc_j < %d; ++wdc_j) WDC_P(wdc_acc)[wdc_i * %d + wdc_j] += wdc_a[wdc_i] * wdc_b[wdc_j];\n", c.TN, c.TN)
	p("      }\n")
	p("    }\n")
	p("    __syncthreads();\n")
	p("  }\n")
	// Epilogue.
	p("  WDC_THREADS {\n")
	p("    const int wdc_tx = (int)threadIdx.x %% %d, wdc_ty = (int)threadIdx.x / %d;\n", tx, tx)
	p("#pragma unroll\n")
	p("    for (int wdc_i = 0; wdc_i < %d; ++wdc_i) {\n", c.TM)
	p("#pragma unroll\n")
	p("      for (int wdc_j = 0; wdc_j < %d; ++wdc_j) {\n", c.TN)
	if vec {
		p("        const %s gm = wdc_m0 + wdc_ty * %d + wdc_i, gn = wdc_n0 + wdc_tx * %d + wdc_j;\n", ix, c.TM, c.TN)
	} else {
		p("        const %s gm = wdc_m0 + wdc_ty + wdc_i * %d, gn = wdc_n0 + wdc_tx + wdc_j * %d;\n", ix, ty, tx)
	}
	p("        if (gm < %d && gn < %d) {\n", s.M, s.N)
	p("          const float wdc_v = WDC_P(wdc_acc)[wdc_i * %d + wdc_j];\n", c.TN)
	r.stmt(b, s.Store(gz, gm, gn, loop.S("wdc_v")), "          ")
	p("        }\n")
	p("      }\n")
	p("    }\n")
	p("  }\n")
}
