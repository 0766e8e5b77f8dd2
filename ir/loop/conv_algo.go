package loop

import (
	"fmt"
	"strconv"

	"wdc/ir"
)

// Convolution algorithms: alternative lowerings of a conv node. Each
// computes the same result as the direct lowering (up to float32
// rounding) and is checked against the interpreter in conv_algo_test.go.
const (
	ConvDirect    = "direct"    // row-update direct convolution (lowerConv)
	ConvIm2col    = "im2col"    // lowered matrix (C·K) × (H'·W'), then a GEMM
	ConvWinograd2 = "winograd2" // Winograd F(2x2,3x3)
	ConvWinograd4 = "winograd4" // Winograd F(4x4,3x3)
	ConvFFT       = "fft"       // DFT of the padded input and kernel as matrix products
)

// ConvAlgos lists the convolution algorithms, in a fixed order.
func ConvAlgos() []string {
	return []string{ConvDirect, ConvIm2col, ConvWinograd2, ConvWinograd4, ConvFFT}
}

var convLowerings = map[string]lowering{
	ConvDirect: lowerConv,
	ConvIm2col: lowerConvIm2col,
	ConvWinograd2: func(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
		return lowerConvWinograd(l, n, in, out, 2)
	},
	ConvWinograd4: func(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
		return lowerConvWinograd(l, n, in, out, 4)
	},
	ConvFFT: lowerConvFFT,
}

// ConvAlgoApplies returns nil when algorithm algo can compute conv node
// n, else an error saying why not.
func ConvAlgoApplies(n *ir.Node, algo string) error {
	if _, ok := convLowerings[algo]; !ok {
		return fmt.Errorf("unknown convolution algorithm %q (want one of direct, im2col, winograd2, winograd4, fft)", algo)
	}
	if n == nil || n.Op != "conv" {
		return fmt.Errorf("convolution algorithm %s applies to conv nodes only", algo)
	}
	if algo == ConvDirect || algo == ConvIm2col {
		return nil
	}
	x, w := n.Inputs[0].Type, n.Inputs[1].Type
	sp := x.Rank() - 2
	if sp != 2 {
		return fmt.Errorf("%s needs a 2-d convolution, not %d-d", algo, sp)
	}
	if g := n.Int("group"); g != 1 {
		return fmt.Errorf("%s is implemented for group 1, not %d", algo, g)
	}
	win := ir.ConvWindow(n, sp, w.Shape[2:])
	for d := 0; d < sp; d++ {
		if win.Strides[d] != 1 || win.Dilations[d] != 1 {
			return fmt.Errorf("%s needs stride 1 and dilation 1, not strides %v and dilations %v", algo, win.Strides, win.Dilations)
		}
	}
	if (algo == ConvWinograd2 || algo == ConvWinograd4) && (win.Kernel[0] != 3 || win.Kernel[1] != 3) {
		return fmt.Errorf("%s needs a 3x3 kernel, not %v", algo, win.Kernel)
	}
	return nil
}

// LowerConvAlgo is LowerFused for a conv producer (nodes[0]) computed with
// algorithm algo; the parameters are the same as LowerFused's. The empty
// string or "direct" gives LowerFused's result.
func LowerConvAlgo(nodes []*ir.Node, algo string) (f *Func, err error) {
	if algo == "" || algo == ConvDirect {
		return LowerFused(nodes)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("loop.LowerConvAlgo: no nodes")
	}
	p := nodes[0]
	if err := ConvAlgoApplies(p, algo); err != nil {
		return nil, fmt.Errorf("%s: %v", p.Where(), err)
	}
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("%s: lowering (%s) failed: %v", p.Where(), algo, r)
		}
	}()
	for _, n := range nodes {
		if err := checkF32(n); err != nil {
			return nil, err
		}
	}
	l := &lowerer{f: &Func{Name: Sanitize(p.Name())}, names: map[string]bool{}}
	in := make([]*Buffer, len(p.Inputs))
	names := inputNames[p.Op]
	for i, v := range p.Inputs {
		in[i] = l.param(names[i], v.Type.Shape)
	}
	// The chain's extra operands and epilogues, as in LowerFused.
	prev := p.Out
	for _, c := range nodes[1:] {
		if err := CanFuse(prev, c); err != nil {
			return nil, err
		}
		c := c
		switch c.Op {
		case "add", "sub", "mul", "div":
			j := 1
			if c.Inputs[1] == prev {
				j = 0
			}
			other := l.param("e"+strconv.Itoa(len(l.f.Params)), c.Inputs[j].Type.Shape)
			outShape := prev.Type.Shape
			l.epi = append(l.epi, func(v Expr, idx []Expr) Expr {
				o := Ld(other, bcastIndex(other.Shape, outShape, idx)...)
				if j == 1 {
					return binExpr(c.Op, v, o)
				}
				return binExpr(c.Op, o, v)
			})
		default:
			l.epi = append(l.epi, func(v Expr, _ []Expr) Expr { return unaryExpr(c, v) })
		}
		prev = c.Out
	}
	out := l.param("y", p.Out.Type.Shape)
	if err := convLowerings[algo](l, p, in, out); err != nil {
		return nil, fmt.Errorf("%s: %v", p.Where(), err)
	}
	if len(nodes) > 1 {
		l.f.Name = Sanitize(nodes[len(nodes)-1].Name())
	}
	return l.f, nil
}

func prod(d []int) int {
	n := 1
	for _, v := range d {
		n *= v
	}
	return n
}

// linear is the row-major linear index of idx in dims.
func linear(idx []Expr, dims []int) Expr {
	var e Expr = I(0)
	for d := range idx {
		e = AddE(MulE(e, I(int64(dims[d]))), idx[d])
	}
	return e
}

// unlinear splits a linear index into one index per dimension of dims.
func unlinear(p Expr, dims []int) []Expr {
	out := make([]Expr, len(dims))
	stride := int64(1)
	for d := len(dims) - 1; d >= 0; d-- {
		out[d] = ModE(DivE(p, I(stride)), I(int64(dims[d])))
		if d == 0 {
			out[d] = DivE(p, I(stride))
		}
		stride *= int64(dims[d])
	}
	return out
}

func fadd(a, b Expr) Expr { return &Binary{Op: Add, A: a, B: b} }
func fsub(a, b Expr) Expr { return &Binary{Op: Sub, A: a, B: b} }
func fmul(a, b Expr) Expr { return &Binary{Op: Mul, A: a, B: b} }

// lowerConvIm2col materializes, per batch item and group, the lowered
// matrix col[(c,k), p] = xp[c, o(p)·s + k·d] of (C_in/g·K) rows and
// P = H'·W' columns, then computes y[n,m,:] = b[m] + w[m,:]·col as a
// row-update GEMM (contiguous over p), then the epilogue. Both top-level
// nests write disjoint parts of col and y per iteration. Any rank, group,
// stride, dilation and padding.
func lowerConvIm2col(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x, w := in[0], in[1]
	sp := len(x.Shape) - 2
	kernel := append([]int(nil), w.Shape[2:]...)
	win := ir.ConvWindow(n, sp, kernel)
	G := n.Int("group")
	N, M, Cg := x.Shape[0], w.Shape[0], w.Shape[1]
	Mg := M / G
	O := append([]int(nil), out.Shape[2:]...)
	K, P := prod(kernel), prod(O)
	CK := Cg * K
	xp := l.padded(x, win.PadBegin, win.PadEnd)
	col := l.temp("col", []int{N, G, CK, P})

	// Fill: col[n, g, c·K + lin(k), lin(o)] = xp[n, g·Cg + c, o·s + k·d].
	nv, gv, cv := l.fresh("n"), l.fresh("g"), l.fresh("c")
	kv, ov := l.vars("k", sp), l.vars("o", sp)
	xi := []Expr{V(nv), AddE(MulE(V(gv), I(int64(Cg))), V(cv))}
	for d := 0; d < sp; d++ {
		xi = append(xi, AddE(MulE(V(ov[d]), I(int64(win.Strides[d]))), MulE(V(kv[d]), I(int64(win.Dilations[d])))))
	}
	row := AddE(MulE(V(cv), I(int64(K))), linear(Vars(kv), kernel))
	fill := St(col, Ld(xp, xi...), V(nv), V(gv), row, linear(Vars(ov), O))
	vars := append(append([]string{nv, gv, cv}, kv...), ov...)
	dims := append(append([]int{N, G, Cg}, kernel...), O...)
	l.f.Body = append(l.f.Body, Nest(vars, dims, fill)...)

	// GEMM: out viewed as [N, M, P], w as [M, CK].
	out.Shape = []int{N, M, P}
	w.Shape = []int{M, CK}
	n2, mv, pv, kk := l.fresh("n"), l.fresh("m"), l.fresh("p"), l.fresh("kk")
	yi := []Expr{V(n2), V(mv), V(pv)}
	grp := I(0)
	if G > 1 {
		grp = DivE(V(mv), I(int64(Mg)))
	}
	var init Expr = F(0)
	if len(in) == 3 {
		init = Ld(in[2], V(mv))
	}
	body := []Stmt{
		Loop(pv, P, St(out, init, yi...)),
		Loop(kk, CK, Loop(pv, P, St(out, fadd(Ld(out, yi...), fmul(Ld(w, V(mv), V(kk)), Ld(col, V(n2), grp, V(kk), V(pv)))), yi...))),
	}
	if len(l.epi) > 0 {
		idx := append([]Expr{V(n2), V(mv)}, unlinear(V(pv), O)...)
		body = append(body, Loop(pv, P, St(out, l.final(Ld(out, yi...), idx), yi...)))
	}
	l.f.Body = append(l.f.Body, Nest([]string{n2, mv}, []int{N, M}, body...)...)
	return nil
}
