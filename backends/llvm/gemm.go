package llvm

import (
	"fmt"
	"os"
	"strings"

	"github.com/llir/llvm/ir"
	"github.com/llir/llvm/ir/constant"
	"github.com/llir/llvm/ir/enum"
	"github.com/llir/llvm/ir/types"
	"github.com/llir/llvm/ir/value"

	"wdc/ir/loop"
)

// GEMM: kernels that reduce to a matrix product (loop.Gemm: dense,
// matmul, conv as implicit im2col) call wdc_gemm of the C runtime, a
// GotoBLAS/BLIS-style driver (blocks of KC×NC of B and MC×KC of A packed
// into panels, threads splitting M or N), whose innermost part is the
// register-blocked microkernel wdc_ukr emitted here as LLVM IR with
// explicit vector types: an MR×NR tile of C lives in MR·NR/VW vector
// accumulators, and each step k loads NR/VW vectors of packed B,
// broadcasts MR scalars of packed A and issues llvm.fma calls.

// Microkernel is the register blocking of the GEMM microkernel.
type Microkernel struct {
	VW int // vector width in floats: 8 (AVX2, ymm) or 16 (AVX-512, zmm)
	MR int // rows of the C tile
	NV int // vectors per row: NR = NV·VW columns
}

// NR is the number of columns of the C tile.
func (u Microkernel) NR() int { return u.NV * u.VW }

// AVX2Kernel is 6×16 with 12 ymm accumulators (BLIS's Haswell shape).
var AVX2Kernel = Microkernel{VW: 8, MR: 6, NV: 2}

// AVX512Kernel is 14×32 with 28 zmm accumulators (A is broadcast from
// memory into the FMA).
var AVX512Kernel = Microkernel{VW: 16, MR: 14, NV: 2}

// HostKernel picks the microkernel for this machine: AVX512Kernel when
// /proc/cpuinfo lists avx512f, else AVX2Kernel.
func HostKernel() Microkernel {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil && strings.Contains(string(b), " avx512f") {
		return AVX512Kernel
	}
	return AVX2Kernel
}

func (u Microkernel) valid() error {
	if u.VW != 4 && u.VW != 8 && u.VW != 16 || u.MR < 1 || u.MR > 32 || u.NV < 1 || u.NV > 4 {
		return fmt.Errorf("microkernel %+v: want VW 4, 8 or 16, MR 1..32, NV 1..4", u)
	}
	return nil
}

// emitMicrokernel defines
//
//	void wdc_ukr(i64 kc, float *a, float *b, float *c, i64 ldc, i64 acc,
//	             float *bm, float *add, i64 relu)
//
// computing the MR×NR tile C (row stride ldc) = (acc ? C : 0) + Σ_k
// a[k·MR + i]·b[k·NR + j] for k < kc (kc ≥ 1), then, in registers before
// the store, the epilogue of the last K block: + bm[i] (a bias per row,
// when bm is not null), + add[i·ldc + j] (a residual laid out like C,
// when not null), max(·, 0) when relu ≠ 0 — the C driver's epilogue
// order, so results do not depend on which one applied it. wdc_ukr_R for
// R = 1 .. MR-1 is the same on the first R rows only (edge panels of A,
// still MR floats per k), so that a product with M not a multiple of MR
// does no work on padding rows.
//
// wdc_ukrh and wdc_ukrh_R (when NV is even) compute the first NR/2
// columns only, B still NR floats per k: the Winograd driver's panels
// with at most NR/2 tiles (14×14 outputs are 16 tiles of F(4×4), 7×7 are
// 16 of F(2×2)) do half the work.
//
// wdc_ukdh and wdc_ukdh_R (when NV is even) are the half-width kernels
// with A read in place ("direct"):
//
//	void wdc_ukdh(i64 kc, float *a, i64 *koff, float *b, float *c, i64 ldc, i64 acc)
//
// element (i, k) of A at a[koff[k] + i], with no epilogue: the rows are
// output pixels of one conv output row, read from the padded input
// without an im2col copy (see directConv). wdc_ukd and wdc_ukd_R are the
// same at full width (NR columns).
//
// wdc_ukb and wdc_ukb_R read B in place instead, with the epilogue:
//
//	void wdc_ukb(i64 kc, float *a, float *b, i64 *koff, float *c, i64 ldc, i64 acc,
//	             float *bm, float *add, i64 relu)
//
// element (k, j) of B at b[koff[k] + j] (unaligned loads): the columns
// are output pixels of one output row of a stride-1 conv, read from the
// padded input (see inplaceConv).
func (mod *module) emitMicrokernel(u Microkernel) {
	fma := mod.m.NewFunc(fmt.Sprintf("llvm.fma.v%df32", u.VW), types.NewVector(uint64(u.VW), f32), ir.NewParam("", types.NewVector(uint64(u.VW), f32)), ir.NewParam("", types.NewVector(uint64(u.VW), f32)), ir.NewParam("", types.NewVector(uint64(u.VW), f32)))
	mod.emitUkr(u, u.MR, u.NV, "wdc_ukr", fma, ukrPacked)
	for r := 1; r < u.MR; r++ {
		mod.emitUkr(u, r, u.NV, fmt.Sprintf("wdc_ukr_%d", r), fma, ukrPacked)
	}
	if u.NV%2 == 0 {
		mod.emitUkr(u, u.MR, u.NV/2, "wdc_ukrh", fma, ukrPacked)
		for r := 1; r < u.MR; r++ {
			mod.emitUkr(u, r, u.NV/2, fmt.Sprintf("wdc_ukrh_%d", r), fma, ukrPacked)
		}
		mod.emitUkr(u, u.MR, u.NV/2, "wdc_ukdh", fma, ukrDirectA)
		for r := 1; r < u.MR; r++ {
			mod.emitUkr(u, r, u.NV/2, fmt.Sprintf("wdc_ukdh_%d", r), fma, ukrDirectA)
		}
		mod.emitUkr(u, u.MR, u.NV, "wdc_ukd", fma, ukrDirectA)
		for r := 1; r < u.MR; r++ {
			mod.emitUkr(u, r, u.NV, fmt.Sprintf("wdc_ukd_%d", r), fma, ukrDirectA)
		}
	}
	mod.emitUkr(u, u.MR, u.NV, "wdc_ukb", fma, ukrInplaceB)
	for r := 1; r < u.MR; r++ {
		mod.emitUkr(u, r, u.NV, fmt.Sprintf("wdc_ukb_%d", r), fma, ukrInplaceB)
	}
}

// How a microkernel reads its operands.
const (
	ukrPacked   = iota // A and B packed (wdc_ukr)
	ukrDirectA         // A in place through koff, no epilogue (wdc_ukd)
	ukrInplaceB        // B in place through koff (wdc_ukb)
)

// emitUkr emits one microkernel computing rows of the MR-row panel and
// the first nv vectors of each row (B rows stay NR floats apart), its
// operands read as mode says (ukrPacked, ukrDirectA, ukrInplaceB).
func (mod *module) emitUkr(u Microkernel, rows, nv int, name string, fma *ir.Func, mode int) {
	direct := mode == ukrDirectA
	m := mod.m
	vt := types.NewVector(uint64(u.VW), f32)
	vtp := types.NewPointer(vt)
	pk, pa, pb, pc, pldc, pacc := ir.NewParam("kc", i64), ir.NewParam("a", f32p), ir.NewParam("b", f32p), ir.NewParam("c", f32p), ir.NewParam("ldc", i64), ir.NewParam("acc", i64)
	pbm, padd, prelu := ir.NewParam("bm", f32p), ir.NewParam("add", f32p), ir.NewParam("relu", i64)
	pkoff := ir.NewParam("koff", types.NewPointer(i64))
	for _, p := range []*ir.Param{pb, pc} {
		p.Attrs = append(p.Attrs, enum.ParamAttrNoAlias)
	}
	params := []*ir.Param{pk, pa, pb, pc, pldc, pacc, pbm, padd, prelu}
	switch mode {
	case ukrDirectA:
		params = []*ir.Param{pk, pa, pkoff, pb, pc, pldc, pacc}
	case ukrInplaceB:
		params = []*ir.Param{pk, pa, pb, pkoff, pc, pldc, pacc, pbm, padd, prelu}
		pa.Attrs = append(pa.Attrs, enum.ParamAttrNoAlias)
	default:
		pa.Attrs = append(pa.Attrs, enum.ParamAttrNoAlias)
	}
	f := m.NewFunc(name, types.Void, params...)
	f.Visibility = enum.VisibilityHidden
	f.FuncAttrs = append(f.FuncAttrs, enum.FuncAttrNoUnwind)
	entry, body, exit := f.NewBlock("entry"), f.NewBlock("loop"), f.NewBlock("exit")
	entry.NewBr(body)
	nacc := rows * nv
	zero := constant.NewZeroInitializer(vt)
	kphi := body.NewPhi(ir.NewIncoming(constant.NewInt(i64, 0), entry))
	phis := make([]*ir.InstPhi, nacc)
	for i := range phis {
		phis[i] = body.NewPhi(ir.NewIncoming(zero, entry))
	}
	nr := int64(u.NR())
	var bbase value.Value = body.NewGetElementPtr(f32, pb, body.NewMul(kphi, constant.NewInt(i64, nr)))
	if mode == ukrInplaceB {
		bbase = body.NewGetElementPtr(f32, pb, body.NewLoad(i64, body.NewGetElementPtr(i64, pkoff, kphi)))
	}
	bv := make([]value.Value, nv)
	for v := range bv {
		p := body.NewBitCast(body.NewGetElementPtr(f32, bbase, constant.NewInt(i64, int64(v*u.VW))), vtp)
		ld := body.NewLoad(vt, p)
		ld.Align = ir.Align(4 * u.VW) // packed panels are 64-byte aligned, NR a multiple of VW
		if mode == ukrInplaceB {
			ld.Align = 4
		}
		bv[v] = ld
	}
	var abase value.Value
	if direct {
		abase = body.NewGetElementPtr(f32, pa, body.NewLoad(i64, body.NewGetElementPtr(i64, pkoff, kphi)))
	} else {
		abase = body.NewGetElementPtr(f32, pa, body.NewMul(kphi, constant.NewInt(i64, int64(u.MR))))
	}
	undef := constant.NewUndef(vt)
	mask := constant.NewZeroInitializer(types.NewVector(uint64(u.VW), types.I32))
	broadcast := func(blk *ir.Block, x value.Value) value.Value {
		return blk.NewShuffleVector(blk.NewInsertElement(undef, x, constant.NewInt(types.I32, 0)), undef, mask)
	}
	next := make([]value.Value, nacc)
	for r := 0; r < rows; r++ {
		a := body.NewLoad(f32, body.NewGetElementPtr(f32, abase, constant.NewInt(i64, int64(r))))
		bc := broadcast(body, a)
		for v := 0; v < nv; v++ {
			i := r*nv + v
			next[i] = body.NewCall(fma, bc, bv[v], phis[i])
		}
	}
	k1 := body.NewAdd(kphi, constant.NewInt(i64, 1))
	kphi.Incs = append(kphi.Incs, ir.NewIncoming(k1, body))
	for i := range phis {
		phis[i].Incs = append(phis[i].Incs, ir.NewIncoming(next[i], body))
	}
	body.NewCondBr(body.NewICmp(enum.IPredSLT, k1, pk), body, exit)

	// tile element pointer (row r, vector v) of a C-shaped buffer
	at := func(blk *ir.Block, base value.Value, r, v int) value.Value {
		row := blk.NewGetElementPtr(f32, base, blk.NewMul(pldc, constant.NewInt(i64, int64(r))))
		return blk.NewBitCast(blk.NewGetElementPtr(f32, row, constant.NewInt(i64, int64(v*u.VW))), vtp)
	}
	// when: if cond, vals = then(blk, vals) in a block of its own; the
	// values merge with phis in a new block, returned.
	step := 0
	when := func(cur *ir.Block, cond value.Value, vals []value.Value, then func(*ir.Block, []value.Value) []value.Value) (*ir.Block, []value.Value) {
		step++
		tb, mb := f.NewBlock(fmt.Sprintf("then%d", step)), f.NewBlock(fmt.Sprintf("merge%d", step))
		cur.NewCondBr(cond, tb, mb)
		tv := then(tb, vals)
		tb.NewBr(mb)
		out := make([]value.Value, len(vals))
		for i := range vals {
			out[i] = mb.NewPhi(ir.NewIncoming(vals[i], cur), ir.NewIncoming(tv[i], tb))
		}
		return mb, out
	}
	nullp := constant.NewNull(f32p)
	cur, vals := when(exit, exit.NewICmp(enum.IPredNE, pacc, constant.NewInt(i64, 0)), next, func(b *ir.Block, in []value.Value) []value.Value {
		out := make([]value.Value, len(in))
		for r := 0; r < rows; r++ {
			for v := 0; v < nv; v++ {
				old := b.NewLoad(vt, at(b, pc, r, v))
				old.Align = 4
				out[r*nv+v] = b.NewFAdd(old, in[r*nv+v])
			}
		}
		return out
	})
	if direct { // no epilogue
		for r := 0; r < rows; r++ {
			for v := 0; v < nv; v++ {
				st := cur.NewStore(vals[r*nv+v], at(cur, pc, r, v))
				st.Align = 4
			}
		}
		cur.NewRet(nil)
		return
	}
	cur, vals = when(cur, cur.NewICmp(enum.IPredNE, pbm, nullp), vals, func(b *ir.Block, in []value.Value) []value.Value {
		out := make([]value.Value, len(in))
		for r := 0; r < rows; r++ {
			bias := broadcast(b, b.NewLoad(f32, b.NewGetElementPtr(f32, pbm, constant.NewInt(i64, int64(r)))))
			for v := 0; v < nv; v++ {
				out[r*nv+v] = b.NewFAdd(in[r*nv+v], bias)
			}
		}
		return out
	})
	cur, vals = when(cur, cur.NewICmp(enum.IPredNE, padd, nullp), vals, func(b *ir.Block, in []value.Value) []value.Value {
		out := make([]value.Value, len(in))
		for r := 0; r < rows; r++ {
			for v := 0; v < nv; v++ {
				x := b.NewLoad(vt, at(b, padd, r, v))
				x.Align = 4
				out[r*nv+v] = b.NewFAdd(in[r*nv+v], x)
			}
		}
		return out
	})
	cur, vals = when(cur, cur.NewICmp(enum.IPredNE, prelu, constant.NewInt(i64, 0)), vals, func(b *ir.Block, in []value.Value) []value.Value {
		out := make([]value.Value, len(in))
		for i := range in { // v < 0 ? 0 : v, as the C epilogue (NaN stays NaN)
			out[i] = b.NewSelect(b.NewFCmp(enum.FPredOLT, in[i], zero), zero, in[i])
		}
		return out
	})
	for r := 0; r < rows; r++ {
		for v := 0; v < nv; v++ {
			st := cur.NewStore(vals[r*nv+v], at(cur, pc, r, v))
			st.Align = 4
		}
	}
	cur.NewRet(nil)
}

// Layout of the i64 descriptor passed to wdc_gemm (see gemmC).
const (
	gM = iota
	gN
	gK
	gB0
	gB1
	gARS
	gACS
	gAB0
	gAB1
	gBRS
	gBCS
	gBB0
	gBB1
	gCRS
	gCB0
	gCB1
	gBMB0
	gBMB1
	gRelu
	gConv
	gConvGeom                  // C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW
	gAPacked  = gConvGeom + 13 // A is stored as MR-row panels (see packA)
	gAPB1     = gConvGeom + 14 // their stride per inner batch item
	gBPacked  = gConvGeom + 15 // B is stored as NR-column panels (see packB)
	gWino     = gConvGeom + 16 // Winograd F(m×m,3×3): m, A holds packWinograd's panels
	gPool     = gConvGeom + 17 // a fused max pool: KH, KW, SH, SW, PH, PW, OH, OW (KH 0: none)
	gLen      = gPool + 8
)

// packA lays out A (each inner batch item, e.g. conv group) in panels of
// r rows (the last zero-padded), element (i, k) of a panel at k·r + i,
// panels after each other; inner batch item b at b·⌈M/r⌉·r·K. With r = MR
// these are the driver's A panels; with r = NR, the weights of the swapped
// conv product (gemm_part_t in the C driver), whose rows of A are the
// microkernel's NR columns.
func packA(g *loop.Gemm, a []float32, r int) []float32 {
	mp := (g.M + r - 1) / r * r
	out := make([]float32, g.Batch[1]*mp*g.K)
	for b := 0; b < g.Batch[1]; b++ {
		base := int64(b) * g.A.Batch[1]
		dst := out[b*mp*g.K:]
		for i := 0; i < g.M; i++ {
			for k := 0; k < g.K; k++ {
				dst[(i/r)*r*g.K+k*r+i%r] = a[base+int64(i)*g.A.RS+int64(k)*g.A.CS]
			}
		}
	}
	return out
}

// packWinograd lays out a conv's weights (M×C×3×3, one group) for the
// Winograd driver: the α² transformed filters U_e (loop.WinogradFilter,
// M×C each), each as packA lays out an M×C matrix (MR-row panels), the
// panels ordered by row block, then e: the driver runs the α² products of
// one row block in turn, so that it reads U as one sequential stream.
func packWinograd(g *loop.Gemm, w []float32, mr int) []float32 {
	m := g.Conv.Winograd
	a2 := (m + 2) * (m + 2)
	u := loop.WinogradFilter(m, w, g.M, g.Conv.C)
	mp := (g.M + mr - 1) / mr * mr
	out := make([]float32, a2*mp*g.Conv.C)
	e := &loop.Gemm{M: g.M, K: g.Conv.C, Batch: [2]int{1, 1}, A: loop.GemmOperand{RS: int64(g.Conv.C), CS: 1}}
	panel := mr * g.Conv.C
	for i := 0; i < a2; i++ {
		pa := packA(e, u[i*g.M*g.Conv.C:(i+1)*g.M*g.Conv.C], mr)
		for b := 0; b < mp/mr; b++ {
			copy(out[(b*a2+i)*panel:(b*a2+i+1)*panel], pa[b*panel:])
		}
	}
	return out
}

// directConv reports whether a conv product with constant weights runs
// "direct": the output pixels of one output row are the microkernel's
// rows, read in place from the padded input (wdc_ukd, wdc_ukdh: no im2col
// copy), the output channels its columns, each tile transposed into the
// output. Two cases:
//
//   - at most NR/2 output channels (one vector of the half-width
//     kernels), when that computes fewer vector FMAs than the usual form
//     (M rows by ⌈N/NR⌉ panels of NV vectors) would. LeNet-5's second
//     conv (16 channels, 10×10 outputs, K = 150): 100 against 128 per
//     tap, and its packing was a quarter of the model's time.
//   - more channels, NR at a time: strided convs whose output rows fill
//     the MR-row tiles to at least 90%. A strided conv's im2col panels
//     are a copy of K floats per pixel the direct form does not make; in
//     ResNet-18 on two threads its stage-2 3×3 stride-2 conv took 587 →
//     434 µs (387 once the tiles were transposed in registers), the 1×1
//     stride-2 downsampling convs 168 → 103 and 115 → 99 µs (the usual
//     form packed B on both threads; 7×7 outputs stay swapped, half of
//     the 14-row tiles would be empty).
func directConv(g *loop.Gemm, u Microkernel) bool {
	c := g.Conv
	if c == nil || u.NV%2 != 0 || g.BiasN >= 0 {
		return false
	}
	if g.M > u.NR()/2 {
		tiles := (c.OW + u.MR - 1) / u.MR
		return (c.SH > 1 || c.SW > 1) && c.OW*10 >= tiles*u.MR*9
	}
	direct := int64(g.N)
	usual := int64(g.M) * int64(u.NV) * int64((g.N+u.NR()-1)/u.NR())
	return direct < usual
}

// inplaceConv reports whether a conv product with constant weights runs
// with B read in place (wdc_ukb): the usual form (output channels as the
// MR rows, A packed) with the NR columns being output pixels of one
// output row read straight from the padded input instead of packed. For
// a stride-1 conv with few output channels, whose im2col copy costs more
// than the FMAs it feeds (K·N floats copied for M·K·N multiply-adds):
// at most NR/4 channels, one K block, output rows filling the NR-wide
// tiles to at least 80%. LeNet-5's first conv (6 channels, 5×5 taps of
// a 28×28 image, 25× its input copied): 3.1–4.1 → 2.1–2.3 µs, the
// model 9.7–11.6 → 8.8–9.2 µs (per-kernel profiles, alternating runs).
func inplaceConv(g *loop.Gemm, u Microkernel) bool {
	c := g.Conv
	if c == nil || c.SW != 1 || g.M > u.NR()/4 || g.K > kcBlock || g.BiasN >= 0 {
		return false
	}
	tiles := (c.OW + u.NR() - 1) / u.NR()
	return c.OW*10 >= tiles*u.NR()*8
}

// swapConv reports whether a conv product with constant weights runs
// swapped (C^T = B^T·A^T: output pixels as the microkernel's MR rows,
// channels as its NR columns), which is chosen when it computes at least
// 10% fewer padded products: the usual form pads N to a multiple of NR
// (7×7 = 49 outputs become 64), the swapped one pads M instead. The
// pixel panels of one K block must fit the B pack buffer.
func swapConv(g *loop.Gemm, u Microkernel) bool {
	if g.Conv == nil {
		return false
	}
	nr, mr := u.NR(), u.MR
	if (g.N+mr-1)/mr*mr > 2048/nr*nr {
		return false
	}
	usual := int64(g.M) * int64((g.N+nr-1)/nr*nr)
	swapped := int64(g.N) * int64((g.M+nr-1)/nr*nr)
	return swapped*10 < usual*9
}

func gemmGeom(g *loop.Gemm) []int64 {
	d := make([]int64, gLen)
	d[gM], d[gN], d[gK], d[gB0], d[gB1] = int64(g.M), int64(g.N), int64(g.K), int64(g.Batch[0]), int64(g.Batch[1])
	d[gARS], d[gACS], d[gAB0], d[gAB1] = g.A.RS, g.A.CS, g.A.Batch[0], g.A.Batch[1]
	d[gBRS], d[gBCS], d[gBB0], d[gBB1] = g.B.RS, g.B.CS, g.B.Batch[0], g.B.Batch[1]
	d[gCRS], d[gCB0], d[gCB1] = g.C.RS, g.C.Batch[0], g.C.Batch[1]
	d[gBMB0], d[gBMB1] = g.BiasMBatch[0], g.BiasMBatch[1]
	if g.Relu {
		d[gRelu] = 1
	}
	if c := g.Conv; c != nil {
		d[gConv] = 1
		d[gWino] = int64(c.Winograd)
		for i, v := range []int{c.C, c.H, c.W, c.KH, c.KW, c.SH, c.SW, c.PH, c.PW, c.DH, c.DW, c.OH, c.OW} {
			d[gConvGeom+i] = int64(v)
		}
	}
	if q := g.Pool; q != nil {
		for i, v := range []int{q.KH, q.KW, q.SH, q.SW, q.PH, q.PW, q.OH, q.OW} {
			d[gPool+i] = int64(v)
		}
	}
	return d
}

// gemmPacking says how a GEMM kernel's constant operands are stored.
type gemmPacking struct {
	// A: 0 as given, 1 MR-row panels (packA), 2 NR-column panels of A^T
	// for the swapped conv product (packA with NR rows), 3 the Winograd
	// driver's transformed filters (packWinograd), 4 as 2, for the direct
	// conv product (directConv), 5 as 1, with B read in place (inplaceConv).
	A int
	// B: stored as NR-column panels (packB).
	B      bool
	MR, NR int
}

// packB lays out a constant B (unbatched) as the driver's packed B
// panels: NR columns each, element (k, j) at (j/nr)·nr·K + k·nr + j%nr,
// the last panel zero-padded.
func packB(g *loop.Gemm, b []float32, nr int) []float32 {
	np := (g.N + nr - 1) / nr * nr
	out := make([]float32, np*g.K)
	for k := 0; k < g.K; k++ {
		for j := 0; j < g.N; j++ {
			out[(j/nr)*nr*g.K+k*nr+j%nr] = b[int64(k)*g.B.RS+int64(j)*g.B.CS]
		}
	}
	return out
}

// callGemm emits, in e's current block, wdc_gemm(&geom, ptrs) with ptrs
// = {A, B, C, bias_m, bias_n, add} (null when absent); pk says which
// operands are stored packed.
func (e *fn) callGemm(g *loop.Gemm, params []*loop.Buffer, name string, pk gemmPacking) {
	mod := e.mod
	if mod.gemm == nil {
		mod.gemm = mod.m.NewFunc("wdc_gemm", types.Void, ir.NewParam("geom", types.NewPointer(i64)), ir.NewParam("ptrs", f32pp))
		mod.gemm.Visibility = enum.VisibilityHidden
	}
	geom := gemmGeom(g)
	switch pk.A {
	case 1, 5:
		geom[gAPacked] = int64(pk.A)
		geom[gAPB1] = int64((g.M+pk.MR-1)/pk.MR*pk.MR) * int64(g.K)
	case 2, 4:
		geom[gAPacked] = int64(pk.A)
		geom[gAPB1] = int64((g.M+pk.NR-1)/pk.NR*pk.NR) * int64(g.K)
	}
	if pk.B {
		geom[gBPacked] = 1
	}
	elems := make([]constant.Constant, len(geom))
	for i, v := range geom {
		elems[i] = constant.NewInt(i64, v)
	}
	at := types.NewArray(uint64(len(geom)), i64)
	gv := mod.m.NewGlobalDef("geom_"+name, constant.NewArray(at, elems...))
	gv.Linkage = enum.LinkageInternal
	gv.Immutable = true
	pt := types.NewArray(6, f32p)
	ptrs := e.alloca(pt, "ptrs_"+name)
	for i, pi := range []int{g.A.Param, g.B.Param, g.C.Param, g.BiasM, g.BiasN, g.Add} {
		var v value.Value = constant.NewNull(f32p)
		if pi >= 0 {
			v = e.bufs[params[pi]]
		}
		e.cur.NewStore(v, e.cur.NewGetElementPtr(pt, ptrs, constant.NewInt(i64, 0), constant.NewInt(i64, int64(i))))
	}
	gp := e.cur.NewGetElementPtr(at, gv, constant.NewInt(i64, 0), constant.NewInt(i64, 0))
	e.cur.NewCall(mod.gemm, gp, e.cur.NewBitCast(ptrs, f32pp))
}
