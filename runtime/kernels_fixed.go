package runtime

// Fixed-point kernels: the golden model of the FPGA backends. Every op on
// fixed-point operands is exact (its result type, from the IR's shape
// rule, is wide enough), so these compute in int64 with shifts that align
// fraction bits and never round; only cast rounds (ir.Requantize), and
// lut reads a table. docs/fixed-point.md states the contract.

import (
	"fmt"

	"wdc/ir"
)

func init() {
	register("lut", lutKernel)
	register("reduce_sum", func(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) { return reduceKernel(n, in, false) })
	register("reduce_max", func(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) { return reduceKernel(n, in, true) })
	RegisterFixedKernel("dense", fixedDense)
	RegisterFixedKernel("matmul", fixedMatMul)
	RegisterFixedKernel("conv", fixedConv)
	for _, op := range []string{"add", "sub", "mul", "div"} {
		RegisterFixedKernel(op, fixedBinary)
	}
}

// fixedResult recomputes the node's exact result element type and checks
// that every operand is fixed point.
func fixedResult(n *ir.Node, in []*ir.Tensor) (ir.Elem, error) {
	for i, t := range in {
		if t.Elem.Kind != ir.Fixed {
			return ir.Elem{}, fmt.Errorf("operand %d is %v but another is fixed point", i, t.Type)
		}
	}
	types := make([]ir.Type, len(in))
	for i, t := range in {
		types[i] = t.Type
	}
	t, err := ir.Ops[n.Op].Infer(n, types)
	if err != nil {
		return ir.Elem{}, err
	}
	return t.Elem, nil
}

// align shifts a word of type from left so that it has the fraction bits
// of type to (to.Frac() >= from.Frac() for exact results).
func align(q int64, from, to ir.Elem) int64 { return q << uint(to.Frac()-from.Frac()) }

func fixedDense(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	e, err := fixedResult(n, in)
	if err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	m, k := a.Shape[0], a.Shape[1]
	sa0, sa1 := k, 1 // a[i][kk] = a.I[i*sa0 + kk*sa1]
	if n.Int("trans_a") != 0 {
		m, k = k, m
		sa0, sa1 = 1, m
	}
	k2, nn := b.Shape[0], b.Shape[1]
	sb0, sb1 := nn, 1 // b[kk][j]
	if n.Int("trans_b") != 0 {
		k2, nn = nn, k2
		sb0, sb1 = 1, k
	}
	if k != k2 {
		return nil, fmt.Errorf("a %v and b %v disagree on the inner dimension", a.Shape, b.Shape)
	}
	shape := ir.Shape{m, nn}
	prodE := ir.FixedAccum(a.Elem, b.Elem, int64(k))
	out := ir.NewTensor(e, shape)
	var cst []int
	if len(in) == 3 {
		cst = broadcastStrides(in[2].Shape, shape)
	}
	for i := 0; i < m; i++ {
		for j := 0; j < nn; j++ {
			var acc int64
			for kk := 0; kk < k; kk++ {
				acc += a.I[i*sa0+kk*sa1] * b.I[kk*sb0+j*sb1]
			}
			acc = align(acc, prodE, e)
			if cst != nil {
				acc += align(in[2].I[i*cst[0]+j*cst[1]], in[2].Elem, e)
			}
			out.I[i*nn+j] = acc
		}
	}
	return out, nil
}

func fixedMatMul(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	e, err := fixedResult(n, in)
	if err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	shape, err := ir.MatMulShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	pa, pb := a.Shape, b.Shape
	if len(pa) == 1 {
		pa = ir.Shape{1, pa[0]}
	}
	if len(pb) == 1 {
		pb = ir.Shape{pb[0], 1}
	}
	m, k, nn := pa[len(pa)-2], pa[len(pa)-1], pb[len(pb)-1]
	batch, err := ir.BroadcastShapes(pa[:len(pa)-2], pb[:len(pb)-2])
	if err != nil {
		return nil, err
	}
	sa := broadcastStrides(pa[:len(pa)-2], batch)
	sb := broadcastStrides(pb[:len(pb)-2], batch)
	out := ir.NewTensor(e, shape)
	prodE := ir.FixedAccum(a.Elem, b.Elem, int64(k))
	idx := make([]int, len(batch))
	for bi := 0; bi < batch.Elements(); bi++ {
		oa, ob := 0, 0
		for d := range batch {
			oa += idx[d] * sa[d]
			ob += idx[d] * sb[d]
		}
		A, B := a.I[oa*m*k:], b.I[ob*k*nn:]
		dst := out.I[bi*m*nn:][:m*nn]
		for i := 0; i < m; i++ {
			for j := 0; j < nn; j++ {
				var acc int64
				for kk := 0; kk < k; kk++ {
					acc += A[i*k+kk] * B[kk*nn+j]
				}
				dst[i*nn+j] = align(acc, prodE, e)
			}
		}
		for d := len(batch) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < batch[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

// fixedConv is N-d convolution with groups, strides, dilations and zero
// padding on raw words: out = (Σ x·w) aligned to the result's fraction
// bits, plus the bias aligned likewise.
func fixedConv(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	e, err := fixedResult(n, in)
	if err != nil {
		return nil, err
	}
	x, w := in[0], in[1]
	sp := x.Rank() - 2
	N, C := x.Shape[0], x.Shape[1]
	M, Cg := w.Shape[0], w.Shape[1]
	G := n.Int("group")
	if G < 1 || C%G != 0 || M%G != 0 || Cg*G != C {
		return nil, fmt.Errorf("group %d does not fit x %v and w %v", G, x.Shape, w.Shape)
	}
	K := []int(w.Shape[2:])
	win, err := readWindow(n, sp, K)
	if err != nil {
		return nil, err
	}
	X := []int(x.Shape[2:])
	O := make([]int, sp)
	for d := range O {
		O[d] = win.OutSize(d, X[d], false)
	}
	out := ir.NewTensor(e, append(ir.Shape{N, M}, O...))
	xPlane, oPlane, kSize := prodInts(X), prodInts(O), prodInts(K)
	xs := ir.Shape(X).Strides()
	prodE := ir.FixedAccum(x.Elem, w.Elem, int64(Cg*kSize))
	sh := uint(e.Frac() - prodE.Frac())
	// For each dimension, tap and output index: the input index or -1.
	pos := make([][][]int, sp)
	for d := 0; d < sp; d++ {
		pos[d] = make([][]int, K[d])
		for k := 0; k < K[d]; k++ {
			pos[d][k] = make([]int, O[d])
			for o := 0; o < O[d]; o++ {
				p := o*win.Strides[d] - win.PadBegin[d] + k*win.Dilations[d]
				if p < 0 || p >= X[d] {
					p = -1
				}
				pos[d][k][o] = p
			}
		}
	}
	Mg := M / G
	parallel(N*M, func(_, job int) {
		b, m := job/M, job%M
		g := m / Mg
		acc := make([]int64, oPlane)
		kidx := make([]int, sp)
		oidx := make([]int, max(sp-1, 0))
		for c := 0; c < Cg; c++ {
			xp := x.I[(b*C+g*Cg+c)*xPlane:][:xPlane]
			wp := w.I[(m*Cg+c)*kSize:][:kSize]
			for i := range kidx {
				kidx[i] = 0
			}
			for t := 0; t < kSize; t++ {
				wv := wp[t]
				if wv != 0 {
					last := pos[sp-1][kidx[sp-1]]
					for i := range oidx {
						oidx[i] = 0
					}
					rows := oPlane / O[sp-1]
					for r := 0; r < rows; r++ {
						base, ok := 0, true
						for d := 0; d < sp-1; d++ {
							p := pos[d][kidx[d]][oidx[d]]
							if p < 0 {
								ok = false
								break
							}
							base += p * xs[d]
						}
						if ok {
							dst := acc[r*O[sp-1]:][:O[sp-1]]
							for o, p := range last {
								if p >= 0 {
									dst[o] += wv * xp[base+p]
								}
							}
						}
						for d := sp - 2; d >= 0; d-- {
							oidx[d]++
							if oidx[d] < O[d] {
								break
							}
							oidx[d] = 0
						}
					}
				}
				for d := sp - 1; d >= 0; d-- {
					kidx[d]++
					if kidx[d] < K[d] {
						break
					}
					kidx[d] = 0
				}
			}
		}
		var bias int64
		if len(in) == 3 {
			bias = align(in[2].I[m], in[2].Elem, e)
		}
		dst := out.I[(b*M+m)*oPlane:][:oPlane]
		for i, v := range acc {
			dst[i] = v<<sh + bias
		}
	})
	return out, nil
}

// fixedBinary is add, sub and mul on fixed-point words with numpy
// broadcasting: add and sub align both operands to the result's fraction
// bits; mul multiplies the words (the fraction bits add up).
func fixedBinary(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	e, err := fixedResult(n, in)
	if err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	shape, err := ir.BroadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	out := ir.NewTensor(e, shape)
	it := shape
	if len(it) == 0 {
		it = ir.Shape{1}
	}
	st := [][]int{broadcastStrides(a.Shape, it), broadcastStrides(b.Shape, it)}
	last := len(it) - 1
	inner, ia, ib := it[last], st[0][last], st[1][last]
	sa, sb := uint(e.Frac()-a.Elem.Frac()), uint(e.Frac()-b.Elem.Frac())
	var f func(x, y int64) int64
	switch n.Op {
	case "add":
		f = func(x, y int64) int64 { return x<<sa + y<<sb }
	case "sub":
		f = func(x, y int64) int64 { return x<<sa - y<<sb }
	case "mul":
		f = func(x, y int64) int64 { return x * y }
	default:
		return nil, fmt.Errorf("%s is not defined on fixed-point operands", n.Op)
	}
	forEachRow(it, st, func(row int, offs []int) {
		dst := out.I[row*inner : (row+1)*inner]
		for j := range dst {
			dst[j] = f(a.I[offs[0]+j*ia], b.I[offs[1]+j*ib])
		}
	})
	return out, nil
}

// lutKernel reads table[clamp((q >> shift) + offset, 0, N−1)] for every
// raw word q of x.
func lutKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x, table := in[0], in[1]
	if x.Elem.IsFloat() {
		return nil, fmt.Errorf("lut needs a fixed-point or integer x, got %v", x.Type)
	}
	if table.Rank() != 1 || table.Len() == 0 {
		return nil, fmt.Errorf("table %v must be a non-empty vector", table.Type)
	}
	shift, offset, size := n.Int("shift"), n.Int("offset"), table.Len()
	out := ir.NewTensor(table.Elem, x.Shape)
	for i, q := range x.I {
		j := ir.LutIndex(q, shift, offset, size)
		if out.F != nil {
			out.F[i] = table.F[j]
		} else {
			out.I[i] = table.I[j]
		}
	}
	return out, nil
}

// reduceKernel sums or takes the maximum over the node's axes. Floats sum
// in float64; fixed-point sums are exact (the result type is wide
// enough); plain integers wrap to their width.
func reduceKernel(n *ir.Node, in []*ir.Tensor, isMax bool) (*ir.Tensor, error) {
	x := in[0]
	set, err := ir.ReduceAxes(n, x.Rank())
	if err != nil {
		return nil, err
	}
	types := []ir.Type{x.Type}
	ot, err := ir.Ops[n.Op].Infer(n, types)
	if err != nil {
		return nil, err
	}
	// Index the result by the kept dimensions of x (reduced ones step 0).
	kept := make(ir.Shape, x.Rank())
	for d, s := range x.Shape {
		kept[d] = s
		if set[d] {
			kept[d] = 1
		}
	}
	ost := broadcastStrides(kept, x.Shape)
	out := ir.NewTensor(ot.Elem, ot.Shape)
	nOut := out.Len()
	isFloat := x.Elem.IsFloat()
	facc := make([]float64, nOut)
	iacc := make([]int64, nOut)
	seen := make([]bool, nOut)
	idx := make([]int, x.Rank())
	for i := 0; i < x.Len(); i++ {
		o := 0
		for d := range idx {
			o += idx[d] * ost[d]
		}
		if isFloat {
			v := float64(x.F[i])
			switch {
			case !isMax:
				facc[o] += v
			case !seen[o] || v > facc[o] || v != v:
				if !(seen[o] && facc[o] != facc[o]) {
					facc[o] = v
				}
			}
		} else {
			v := x.I[i]
			switch {
			case !isMax:
				iacc[o] += v
			case !seen[o] || v > iacc[o]:
				iacc[o] = v
			}
		}
		seen[o] = true
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < x.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	for o := 0; o < nOut; o++ {
		if isFloat {
			out.F[o] = float32(facc[o])
		} else if ot.Elem.Kind == ir.Fixed {
			out.I[o] = iacc[o]
		} else {
			out.I[o] = WrapInt(iacc[o], ot.Elem)
		}
	}
	return out, nil
}
