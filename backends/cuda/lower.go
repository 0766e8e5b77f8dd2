package cuda

import (
	"fmt"

	"wdc/ir"
	"wdc/ir/loop"
)

// GPU lowerings. The CPU lowerings of conv, dense and matmul (row-update
// forms, a padded copy of the input) suit a CPU's caches and SIMD; on a
// GPU one thread per output element with a private accumulator parallelizes
// better. These lowerings produce ordinary loop IR (so loop.Eval checks
// them), with the fused element-wise chain applied by loop.LowerEpilogue.
// Large GEMM-like nodes use the tiled templates of gemm.go instead.

// lowerGPU lowers a fused group for the GPU.
func lowerGPU(group []*ir.Node) (*loop.Func, error) {
	switch group[0].Op {
	case "conv", "dense", "matmul":
		f, epi, err := loop.LowerEpilogue(group)
		if err != nil {
			return nil, err
		}
		if err := osLower(f, epi, group[0]); err != nil {
			return nil, fmt.Errorf("%s: %v", group[0].Where(), err)
		}
		return f, nil
	}
	f, err := loop.LowerFusedFlat(group)
	if err != nil {
		return nil, err
	}
	for _, b := range append(append([]*loop.Buffer(nil), f.Params...), f.Temps...) {
		if b.Kind() != ir.F32 {
			return nil, fmt.Errorf("%s: %s is %v; the CUDA backend compiles f32 tensors only", group[0].Where(), b.Name, b.Kind())
		}
	}
	return f, nil
}

// osLower fills f.Body with the output-stationary nest of n.
func osLower(f *loop.Func, epi func(loop.Expr, []loop.Expr) loop.Expr, n *ir.Node) error {
	in := f.Params[:len(n.Inputs)]
	out := f.Output()
	switch n.Op {
	case "conv":
		return osConv(f, epi, n, in, out)
	case "dense":
		return osDense(f, epi, n, in, out)
	default:
		return osMatMul(f, epi, n, in, out)
	}
}

// convIndex returns, for output position (n, m, o...) and reduction
// (c, k...), the input index and the bounds condition (nil: always inside).
func convIndex(win ir.Window, xShape []int, nE, ch loop.Expr, o, k []loop.Expr) ([]loop.Expr, loop.Expr) {
	xi := []loop.Expr{nE, ch}
	var cond loop.Expr
	for d := range o {
		i := loop.AddE(loop.SubE(loop.MulE(o[d], loop.I(int64(win.Strides[d]))), loop.I(int64(win.PadBegin[d]))), loop.MulE(k[d], loop.I(int64(win.Dilations[d]))))
		xi = append(xi, i)
		if win.PadBegin[d] != 0 || win.PadEnd[d] != 0 {
			cond = loop.AndE(cond, loop.AndE(loop.Cmp(loop.GE, i, loop.I(0)), loop.Cmp(loop.LT, i, loop.I(int64(xShape[2+d])))))
		}
	}
	return xi, cond
}

func osConv(f *loop.Func, epi func(loop.Expr, []loop.Expr) loop.Expr, n *ir.Node, in []*loop.Buffer, out *loop.Buffer) error {
	x, w := in[0], in[1]
	sp := len(x.Shape) - 2
	if sp < 1 {
		return fmt.Errorf("conv needs at least one spatial dimension, input is %v", x.Shape)
	}
	win := ir.ConvWindow(n, sp, w.Shape[2:])
	G := n.Int("group")
	M, Cg := w.Shape[0], w.Shape[1]
	Mg := M / G
	ov, kv := names("o", sp), names("k", sp)
	oidx := append([]loop.Expr{loop.V("n"), loop.V("m")}, loop.Vars(ov)...)
	ch := loop.V("c")
	if G > 1 {
		ch = loop.AddE(loop.MulE(loop.DivE(loop.V("m"), loop.I(int64(Mg))), loop.I(int64(Cg))), loop.V("c"))
	}
	xi, cond := convIndex(win, x.Shape, loop.V("n"), ch, loop.Vars(ov), loop.Vars(kv))
	wi := append([]loop.Expr{loop.V("m"), loop.V("c")}, loop.Vars(kv)...)
	var init loop.Expr = loop.F(0)
	if len(in) == 3 {
		init = loop.Ld(in[2], loop.V("m"))
	}
	var upd loop.Stmt = &loop.Assign{Name: "acc", Value: &loop.Binary{Op: loop.Add, A: loop.S("acc"), B: &loop.Binary{Op: loop.Mul, A: loop.Ld(x, xi...), B: loop.Ld(w, wi...)}}}
	if cond != nil {
		upd = &loop.If{Cond: cond, Then: []loop.Stmt{upd}}
	}
	red := loop.Nest(append([]string{"c"}, kv...), append([]int{Cg}, w.Shape[2:]...), upd)
	body := append([]loop.Stmt{&loop.Decl{Name: "acc", Init: init}}, red...)
	body = append(body, loop.St(out, epi(loop.S("acc"), oidx), oidx...))
	f.Body = loop.Nest(append([]string{"n", "m"}, ov...), out.Shape, body...)
	return nil
}

func names(prefix string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// denseAccess returns the operand accessors and the finishing expression
// (alpha, beta·c, the fused chain) of a dense node.
func denseAccess(n *ir.Node, in []*loop.Buffer, out *loop.Buffer, epi func(loop.Expr, []loop.Expr) loop.Expr) (K int, a func(i, k loop.Expr) loop.Expr, b func(k, j loop.Expr) loop.Expr, fin func(v, i, j loop.Expr) loop.Expr) {
	A, B := in[0], in[1]
	ta, tb := n.Int("trans_a") != 0, n.Int("trans_b") != 0
	K = A.Shape[1]
	if ta {
		K = A.Shape[0]
	}
	alpha, beta := float32(n.Float("alpha")), float32(n.Float("beta"))
	a = func(i, k loop.Expr) loop.Expr {
		if ta {
			return loop.Ld(A, k, i)
		}
		return loop.Ld(A, i, k)
	}
	b = func(k, j loop.Expr) loop.Expr {
		if tb {
			return loop.Ld(B, j, k)
		}
		return loop.Ld(B, k, j)
	}
	fin = func(v, i, j loop.Expr) loop.Expr {
		if alpha != 1 {
			v = &loop.Binary{Op: loop.Mul, A: loop.F(alpha), B: v}
		}
		if len(in) == 3 && beta != 0 {
			c := loop.Ld(in[2], bcast(in[2].Shape, out.Shape, []loop.Expr{i, j})...)
			if beta != 1 {
				c = &loop.Binary{Op: loop.Mul, A: loop.F(beta), B: c}
			}
			v = &loop.Binary{Op: loop.Add, A: v, B: c}
		}
		return epi(v, []loop.Expr{i, j})
	}
	return
}

func osDense(f *loop.Func, epi func(loop.Expr, []loop.Expr) loop.Expr, n *ir.Node, in []*loop.Buffer, out *loop.Buffer) error {
	K, a, b, fin := denseAccess(n, in, out, epi)
	i, j := loop.V("i"), loop.V("j")
	f.Body = loop.Nest([]string{"i", "j"}, out.Shape,
		&loop.Decl{Name: "acc", Init: loop.F(0)},
		loop.Loop("k", K, &loop.Assign{Name: "acc", Value: &loop.Binary{Op: loop.Add, A: loop.S("acc"), B: &loop.Binary{Op: loop.Mul, A: a(i, loop.V("k")), B: b(loop.V("k"), j)}}}),
		loop.St(out, fin(loop.S("acc"), i, j), i, j))
	return nil
}

// bcast indexes a buffer of shape in broadcast (numpy rules) to out.
func bcast(in, out []int, idx []loop.Expr) []loop.Expr {
	r := len(out)
	res := make([]loop.Expr, len(in))
	for j := range in {
		d := r - len(in) + j
		if in[j] == 1 && out[d] != 1 {
			res[j] = loop.I(0)
		} else {
			res[j] = idx[d]
		}
	}
	return res
}

// matmulShapes views matmul operands as batched 2-d matrices (a 1-d
// operand becomes [1,K] or [K,1]) and the output as batch+[M,N].
func matmulShapes(in []*loop.Buffer, out *loop.Buffer) (batch []int, M, K, N int, err error) {
	A, B := in[0], in[1]
	if len(A.Shape) == 1 {
		A.Shape = []int{1, A.Shape[0]}
	}
	if len(B.Shape) == 1 {
		B.Shape = []int{B.Shape[0], 1}
	}
	pa, pb := A.Shape, B.Shape
	M, K, N = pa[len(pa)-2], pa[len(pa)-1], pb[len(pb)-1]
	batch, err = ir.BroadcastShapes(pa[:len(pa)-2], pb[:len(pb)-2])
	if err != nil {
		return
	}
	out.Shape = append(append([]int(nil), batch...), M, N)
	return
}

func osMatMul(f *loop.Func, epi func(loop.Expr, []loop.Expr) loop.Expr, n *ir.Node, in []*loop.Buffer, out *loop.Buffer) error {
	if len(f.Params) != 3 {
		return fmt.Errorf("matmul takes no fused epilogue")
	}
	batch, _, K, _, err := matmulShapes(in, out)
	if err != nil {
		return err
	}
	A, B := in[0], in[1]
	bv := names("b", len(batch))
	bidx := loop.Vars(bv)
	ai := bcast(A.Shape[:len(A.Shape)-2], batch, bidx)
	bi := bcast(B.Shape[:len(B.Shape)-2], batch, bidx)
	i, j, k := loop.V("i"), loop.V("j"), loop.V("k")
	oidx := append(append([]loop.Expr(nil), bidx...), i, j)
	f.Body = loop.Nest(append(bv, "i", "j"), out.Shape,
		&loop.Decl{Name: "acc", Init: loop.F(0)},
		loop.Loop("k", K, &loop.Assign{Name: "acc", Value: &loop.Binary{Op: loop.Add, A: loop.S("acc"), B: &loop.Binary{Op: loop.Mul,
			A: loop.Ld(A, append(append([]loop.Expr(nil), ai...), i, k)...),
			B: loop.Ld(B, append(append([]loop.Expr(nil), bi...), k, j)...)}}}),
		loop.St(out, loop.S("acc"), oidx...))
	return nil
}
