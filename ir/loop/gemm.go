package loop

import (
	"fmt"
	"strconv"

	"wdc/ir"
)

// Gemm describes a kernel that is a (batched) matrix multiplication
//
//	C[b1,b2][m,n] = epilogue(Σ_k A[b1,b2][m,k]·B[b1,b2][k,n] + BiasM[m] + BiasN[n] + Add[m,n])
//
// over strided views of its Func's parameter buffers. Backends with a
// tuned GEMM (packing, register-blocked microkernel, threads) run it
// instead of the Func's loop nest; the Func keeps its parameters (the
// caller binds the same buffers) and its Body is then only the part of
// the fused epilogue the GEMM does not apply itself (Epilogue).
//
// dense, matmul and 1-d/2-d conv (implicit im2col: B[k,n] is the input
// window element of tap k = (c, kh, kw) at output position n = (oh, ow),
// zero in the padding) reduce to it.
type Gemm struct {
	M, N, K int
	// Batch holds two nested batch counts (1 when absent): e.g. images
	// and conv groups, or matmul's broadcast batch dimensions.
	Batch [2]int
	A, B  GemmOperand
	// C is the result; C.CS is always 1.
	C GemmOperand
	// Conv, when set, says that B is the implicit im2col of a conv input
	// whose image (of one batch item and group) starts at B's batch
	// offset; B.RS and B.CS are then unused.
	Conv *GemmConv
	// BiasM and BiasN are parameter indices (-1: none) of a bias per row
	// (offset by BiasMBatch per batch level, e.g. per conv group) and per
	// column; Add is a parameter laid out like C added element-wise
	// (-1: none). Relu applies max(v, 0) last.
	BiasM, BiasN, Add int
	BiasMBatch        [2]int64
	Relu              bool
	// Epilogue, when set, is applied after the GEMM: a loop nest over the
	// output (same parameters as the Func) for fused element-wise ops the
	// GEMM does not apply itself.
	Epilogue []Stmt
	// Pool, when set (conv products only), is a 2-D max pool applied to C
	// after the bias and ReLU: parameter C.Param is then the pool's
	// result, [images, M, Pool.OH, Pool.OW], and the conv's result is
	// never stored whole (a backend fuses the pool into the product).
	Pool *GemmPool
}

// GemmPool is a max pool's window (dilation 1) over a conv product's
// output; OH×OW is the pool's output.
type GemmPool struct{ KH, KW, SH, SW, PH, PW, OH, OW int }

// GemmOperand is a strided view: element (b1, b2, r, c) is at
// Batch[0]·b1 + Batch[1]·b2 + RS·r + CS·c of parameter Param.
type GemmOperand struct {
	Param  int
	RS, CS int64
	Batch  [2]int64
}

// GemmConv is the geometry of an implicit im2col: the input image is
// [C, H, W] (one group's channels), the kernel KH×KW, and the output
// OH×OW, N = OH·OW, K = C·KH·KW.
type GemmConv struct {
	C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW int
	// Winograd, when 2 or 4, asks the backend to compute this 3×3,
	// stride-1 conv with Winograd F(m×m, 3×3) on its GEMM instead of the
	// implicit im2col (LowerWinogradGemm); the result is the same up to
	// float rounding.
	Winograd int
}

// MinGemmRows is the least number of rows per group (M) for which a conv
// is turned into a Gemm: thinner ones (depthwise) stay on the loop nest.
// dense and matmul always are (backends treat few rows as a
// matrix-vector product).
const MinGemmRows = 4

// LowerGemm lowers a fusable group like LowerFused and, when the
// producer reduces to a Gemm, also describes it; the returned Gemm is nil
// when it does not (the Func alone is then the kernel). A non-nil Gemm
// and the Func compute the same result.
func LowerGemm(nodes []*ir.Node) (*Func, *Gemm, error) {
	f, err := LowerFused(nodes)
	if err != nil {
		return nil, nil, err
	}
	g := planGemm(nodes[0], f)
	if g == nil {
		return f, nil, nil
	}
	if err := g.planEpilogue(nodes, f); err != nil {
		return nil, nil, err
	}
	return f, g, nil
}

func planGemm(n *ir.Node, f *Func) *Gemm {
	for _, v := range append(append([]*ir.Value(nil), n.Inputs...), n.Out) {
		if v.Type.Shape.Elements() == 0 {
			return nil
		}
	}
	switch n.Op {
	case "conv":
		return planConv(n, f)
	case "dense":
		return planDense(n, f)
	case "matmul":
		return planMatMul(n, f)
	}
	return nil
}

func planConv(n *ir.Node, f *Func) *Gemm {
	x, w, y := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape, n.Out.Type.Shape
	sp := len(x) - 2
	if sp != 1 && sp != 2 {
		return nil
	}
	win := ir.ConvWindow(n, sp, w[2:])
	G := n.Int("group")
	if G < 1 {
		G = 1
	}
	M, Cg := w[0], w[1]
	Mg := M / G
	if Mg < MinGemmRows {
		return nil
	}
	c := &GemmConv{C: Cg, H: 1, W: x[len(x)-1], KH: 1, KW: w[len(w)-1], SH: 1, SW: win.Strides[sp-1],
		PH: 0, PW: win.PadBegin[sp-1], DH: 1, DW: win.Dilations[sp-1], OH: 1, OW: y[len(y)-1]}
	if sp == 2 {
		c.H, c.KH, c.SH, c.PH, c.DH, c.OH = x[2], w[2], win.Strides[0], win.PadBegin[0], win.Dilations[0], y[2]
	}
	HW, OHW := int64(c.H*c.W), int64(c.OH*c.OW)
	K := Cg * c.KH * c.KW
	g := &Gemm{M: Mg, N: c.OH * c.OW, K: K, Batch: [2]int{x[0], G},
		A:     GemmOperand{Param: 1, RS: int64(K), CS: 1, Batch: [2]int64{0, int64(Mg * K)}},
		B:     GemmOperand{Param: 0, Batch: [2]int64{int64(x[1]) * HW, int64(Cg) * HW}},
		C:     GemmOperand{Param: len(f.Params) - 1, RS: OHW, CS: 1, Batch: [2]int64{int64(M) * OHW, int64(Mg) * OHW}},
		BiasM: -1, BiasN: -1, Add: -1,
	}
	if len(n.Inputs) == 3 {
		g.BiasM, g.BiasMBatch = 2, [2]int64{0, int64(Mg)}
	}
	if c.KH == 1 && c.KW == 1 && c.SH == 1 && c.SW == 1 && c.PH == 0 && c.PW == 0 && c.OH == c.H && c.OW == c.W {
		g.B.RS, g.B.CS = HW, 1 // 1×1: the input is the B matrix
	} else {
		g.Conv = c
	}
	return g
}

func planDense(n *ir.Node, f *Func) *Gemm {
	a, b, y := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape, n.Out.Type.Shape
	M, N := y[0], y[1]
	if n.Float("alpha") != 1 {
		return nil
	}
	ta, tb := n.Int("trans_a") != 0, n.Int("trans_b") != 0
	g := &Gemm{M: M, N: N, Batch: [2]int{1, 1}, BiasM: -1, BiasN: -1, Add: -1,
		A: GemmOperand{Param: 0, RS: int64(a[1]), CS: 1},
		B: GemmOperand{Param: 1, RS: int64(b[1]), CS: 1},
		C: GemmOperand{Param: len(f.Params) - 1, RS: int64(N), CS: 1},
	}
	g.K = a[1]
	if ta {
		g.K = a[0]
		g.A.RS, g.A.CS = 1, int64(a[1])
	}
	if tb {
		g.B.RS, g.B.CS = 1, int64(b[1])
	}
	if len(n.Inputs) == 3 && n.Float("beta") != 0 {
		if n.Float("beta") != 1 {
			return nil
		}
		cs := n.Inputs[2].Type.Shape
		switch {
		case cs.Elements() == N && (len(cs) == 1 || len(cs) == 2 && cs[0] == 1) && (N > 1 || len(cs) == 1):
			g.BiasN = 2
		case len(cs) == 2 && cs[0] == M && cs[1] == 1 && N > 1:
			g.BiasM = 2
		case len(cs) == 2 && cs[0] == M && cs[1] == N:
			g.Add = 2
		default:
			return nil
		}
	}
	return g
}

func planMatMul(n *ir.Node, f *Func) *Gemm {
	pa, pb := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape
	if len(pa) < 2 || len(pb) < 2 {
		return nil
	}
	M, K, N := pa[len(pa)-2], pa[len(pa)-1], pb[len(pb)-1]
	ba, bb := pa[:len(pa)-2], pb[:len(pb)-2]
	batch, err := ir.BroadcastShapes(ba, bb)
	if err != nil || len(batch) > 2 {
		return nil
	}
	g := &Gemm{M: M, N: N, K: K, Batch: [2]int{1, 1}, BiasM: -1, BiasN: -1, Add: -1,
		A: GemmOperand{Param: 0, RS: int64(K), CS: 1},
		B: GemmOperand{Param: 1, RS: int64(N), CS: 1},
		C: GemmOperand{Param: len(f.Params) - 1, RS: int64(N), CS: 1},
	}
	// Batch strides: dimension d of the (right-aligned) batch of an
	// operand has stride (its later batch dims)·rows·cols, 0 when it
	// broadcasts.
	strides := func(bs []int, mat int64) [2]int64 {
		var s [2]int64
		st := mat
		for d := len(batch) - 1; d >= 0; d-- {
			j := d - (len(batch) - len(bs))
			lvl := d + 2 - len(batch)
			if j >= 0 {
				if bs[j] != 1 {
					s[lvl] = st
				}
				st *= int64(bs[j])
			}
		}
		return s
	}
	for d := len(batch) - 1; d >= 0; d-- {
		g.Batch[d+2-len(batch)] = batch[d]
	}
	g.A.Batch = strides(ba, int64(M*K))
	g.B.Batch = strides(bb, int64(K*N))
	g.C.Batch = strides(batch, int64(M*N))
	return g
}

// planEpilogue decides which fused ops the GEMM applies itself (an add of
// a tensor shaped like the result, then relu) and puts the others in
// Epilogue.
func (g *Gemm) planEpilogue(nodes []*ir.Node, f *Func) error {
	chain := nodes[1:]
	if len(chain) == 0 {
		return nil
	}
	np := len(nodes[0].Inputs)
	native := true
	extra := 0
	for i, c := range chain {
		switch {
		case c.Op == "add" && i == 0 && g.Add < 0:
			other := c.Inputs[0]
			if other == nodes[0].Out {
				other = c.Inputs[1]
			}
			if !other.Type.Shape.Equal(nodes[0].Out.Type.Shape) {
				native = false
			}
		case c.Op == "relu" && i == len(chain)-1:
		default:
			native = false
		}
		if len(c.Inputs) == 2 {
			extra++
		}
	}
	if native {
		if chain[0].Op == "add" {
			g.Add = np
		}
		g.Relu = chain[len(chain)-1].Op == "relu"
		return nil
	}
	// Apply the whole chain after the GEMM: y = chain(y).
	l := &lowerer{f: &Func{Name: f.Name}, names: map[string]bool{}}
	out := f.Output()
	prev := nodes[0].Out
	k := np
	for _, c := range chain {
		c := c
		switch c.Op {
		case "add", "sub", "mul", "div":
			j := 1
			if c.Inputs[1] == prev {
				j = 0
			}
			other := f.Params[k]
			k++
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
	if k != np+extra {
		return fmt.Errorf("%s: epilogue operands do not match the lowering's parameters", nodes[0].Where())
	}
	vs := make([]string, len(out.Shape))
	for i := range vs {
		vs[i] = "epi_i" + strconv.Itoa(i)
	}
	idx := Vars(vs)
	g.Epilogue = Nest(vs, out.Shape, St(out, l.final(Ld(out, idx...), idx), idx...))
	return nil
}

// EpilogueFunc is f with its body replaced by g's Epilogue: what remains
// to run after the GEMM (an empty body when the GEMM does everything).
func (g *Gemm) EpilogueFunc(f *Func) *Func {
	return &Func{Name: f.Name, Params: f.Params, Body: cloneStmts(g.Epilogue)}
}

// Flops is 2·M·N·K times the batch.
func (g *Gemm) Flops() int64 {
	return 2 * int64(g.M) * int64(g.N) * int64(g.K) * int64(g.Batch[0]) * int64(g.Batch[1])
}

// String is a one-line summary for dumps.
func (g *Gemm) String() string {
	s := fmt.Sprintf("gemm %dx%dx%d batch %dx%d", g.M, g.N, g.K, g.Batch[0], g.Batch[1])
	if c := g.Conv; c != nil {
		s += fmt.Sprintf(" im2col[c%d %dx%d k%dx%d s%d,%d p%d,%d d%d,%d -> %dx%d]", c.C, c.H, c.W, c.KH, c.KW, c.SH, c.SW, c.PH, c.PW, c.DH, c.DW, c.OH, c.OW)
		if c.Winograd > 0 {
			s += fmt.Sprintf(" winograd F(%d,3)", c.Winograd)
		}
	}
	if g.BiasM >= 0 {
		s += " +bias_m"
	}
	if g.BiasN >= 0 {
		s += " +bias_n"
	}
	if g.Add >= 0 {
		s += " +add"
	}
	if g.Relu {
		s += " relu"
	}
	if g.Epilogue != nil {
		s += " +epilogue"
	}
	if q := g.Pool; q != nil {
		s += fmt.Sprintf(" maxpool[%dx%d s%d,%d p%d,%d -> %dx%d]", q.KH, q.KW, q.SH, q.SW, q.PH, q.PW, q.OH, q.OW)
	}
	return s
}

// bAt is B[k,n] of batch offset off in buffer x.
func (g *Gemm) bAt(x []float32, off int64, k, n int) float32 {
	c := g.Conv
	if c == nil {
		return x[off+int64(k)*g.B.RS+int64(n)*g.B.CS]
	}
	ch, r := k/(c.KH*c.KW), k%(c.KH*c.KW)
	kh, kw := r/c.KW, r%c.KW
	oh, ow := n/c.OW, n%c.OW
	ih, iw := oh*c.SH-c.PH+kh*c.DH, ow*c.SW-c.PW+kw*c.DW
	if ih < 0 || ih >= c.H || iw < 0 || iw >= c.W {
		return 0
	}
	return x[off+int64((ch*c.H+ih)*c.W+iw)]
}

// Eval runs the Gemm on params (as Eval runs a Func, with the same
// parameter order), then its Epilogue: the reference the backends'
// GEMMs are tested against.
func (g *Gemm) Eval(f *Func, params [][]float32) error {
	if g.Pool != nil {
		return fmt.Errorf("loop: Gemm.Eval does not apply a fused max pool")
	}
	for b1 := 0; b1 < g.Batch[0]; b1++ {
		for b2 := 0; b2 < g.Batch[1]; b2++ {
			bo := func(o GemmOperand) int64 { return int64(b1)*o.Batch[0] + int64(b2)*o.Batch[1] }
			A, B, C := params[g.A.Param], params[g.B.Param], params[g.C.Param]
			ao, bo2, co := bo(g.A), bo(g.B), bo(g.C)
			for m := 0; m < g.M; m++ {
				for n := 0; n < g.N; n++ {
					var acc float32
					for k := 0; k < g.K; k++ {
						acc += A[ao+int64(m)*g.A.RS+int64(k)*g.A.CS] * g.bAt(B, bo2, k, n)
					}
					if g.BiasM >= 0 {
						acc += params[g.BiasM][int64(b1)*g.BiasMBatch[0]+int64(b2)*g.BiasMBatch[1]+int64(m)]
					}
					if g.BiasN >= 0 {
						acc += params[g.BiasN][n]
					}
					ci := co + int64(m)*g.C.RS + int64(n)
					if g.Add >= 0 {
						acc += params[g.Add][ci]
					}
					if g.Relu && acc < 0 {
						acc = 0
					}
					C[ci] = acc
				}
			}
		}
	}
	if g.Epilogue != nil {
		return Eval(g.EpilogueFunc(f), params)
	}
	return nil
}

// GemmCases are single-node cases that reduce to a Gemm, at odd sizes
// (not multiples of any register block) and with every transpose.
func GemmCases() []OpCase {
	s := func(d ...int) ir.Shape { return ir.Shape(d) }
	var cs []OpCase
	for _, m := range []int{4, 7, 17, 33} {
		for _, kn := range [][2]int{{1, 1}, {7, 17}, {100, 33}, {257, 9}} {
			k, n := kn[0], kn[1]
			cs = append(cs, OpCase{Name: fmt.Sprintf("dense_%dx%dx%d", m, n, k), Op: "dense", Shapes: []ir.Shape{s(m, k), s(k, n), s(n)}})
		}
	}
	cs = append(cs,
		OpCase{Name: "dense_ta", Op: "dense", Shapes: []ir.Shape{s(13, 6), s(13, 19)}, Attrs: ir.Attrs{"trans_a": ir.IntAttr(1)}},
		OpCase{Name: "dense_tb", Op: "dense", Shapes: []ir.Shape{s(6, 13), s(19, 13), s(6, 19)}, Attrs: ir.Attrs{"trans_b": ir.IntAttr(1)}},
		OpCase{Name: "dense_ta_tb", Op: "dense", Shapes: []ir.Shape{s(13, 6), s(19, 13), s(6, 1)}, Attrs: ir.Attrs{"trans_a": ir.IntAttr(1), "trans_b": ir.IntAttr(1)}},
		OpCase{Name: "matmul_big", Op: "matmul", Shapes: []ir.Shape{s(37, 70), s(70, 41)}},
		OpCase{Name: "matmul_batched", Op: "matmul", Shapes: []ir.Shape{s(3, 9, 5), s(3, 5, 18)}},
		OpCase{Name: "matmul_bcast2", Op: "matmul", Shapes: []ir.Shape{s(2, 1, 6, 4), s(3, 4, 17)}},
		OpCase{Name: "conv3x3_odd", Op: "conv", Shapes: []ir.Shape{s(1, 5, 9, 11), s(7, 5, 3, 3), s(7)}, Attrs: ir.Attrs{"pads": ints(1, 1, 1, 1)}},
		OpCase{Name: "conv_s2_asym", Op: "conv", Shapes: []ir.Shape{s(2, 3, 13, 10), s(9, 3, 3, 2), s(9)}, Attrs: ir.Attrs{"pads": ints(1, 0, 2, 1), "strides": ints(2, 3), "dilations": ints(1, 2)}},
		OpCase{Name: "conv_group_gemm", Op: "conv", Shapes: []ir.Shape{s(2, 6, 7, 7), s(8, 3, 3, 3), s(8)}, Attrs: ir.Attrs{"group": ir.IntAttr(2), "pads": ints(1, 1, 1, 1)}},
		OpCase{Name: "conv1x1_gemm", Op: "conv", Shapes: []ir.Shape{s(2, 19, 5, 7), s(23, 19, 1, 1)}},
		OpCase{Name: "conv1x1_s2", Op: "conv", Shapes: []ir.Shape{s(1, 8, 9, 9), s(16, 8, 1, 1), s(16)}, Attrs: ir.Attrs{"strides": ints(2, 2)}},
		OpCase{Name: "conv1d_gemm", Op: "conv", Shapes: []ir.Shape{s(2, 3, 30), s(6, 3, 5), s(6)}, Attrs: ir.Attrs{"pads": ints(2, 1)}},
	)
	return cs
}
