package runtime

// Dense algebra and element-wise kernels.

import (
	"fmt"
	"math"

	"wdc/ir"
)

func init() {
	register("dense", denseKernel)
	register("matmul", matmulKernel)
	for _, op := range []string{"add", "sub", "mul", "div"} {
		register(op, binaryKernel(op))
	}
	register("relu", reluKernel)
	register("leaky_relu", floatUnary("leaky_relu", func(n *ir.Node) func(float64) float64 {
		alpha := n.Float("alpha")
		return func(v float64) float64 {
			if v >= 0 {
				return v
			}
			return alpha * v
		}
	}))
	register("sigmoid", floatUnary("sigmoid", func(*ir.Node) func(float64) float64 {
		return func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	}))
	register("tanh", floatUnary("tanh", func(*ir.Node) func(float64) float64 { return math.Tanh }))
	register("clip", clipKernel)
	register("softmax", softmaxKernel)
}

// gemmBlock is the number of output columns one parallel work item covers.
const gemmBlock = 64

// gemm computes out[i·n+j] = Σ_kk a[i·k+kk]·B[kk,j] in float64, with a
// contiguous [m,k] and B stored as [k,n] (bT false) or as [n,k] (bT true).
// Each output element is computed by one goroutine in a fixed order.
func gemm(a, b []float32, m, n, k int, bT bool, out []float64) {
	a, b, out = a[:m*k], b[:k*n], out[:m*n]
	nb := (n + gemmBlock - 1) / gemmBlock
	parallel(m*nb, func(_, item int) {
		i, jb := item/nb, item%nb
		j0, j1 := jb*gemmBlock, min(n, (jb+1)*gemmBlock)
		arow := a[i*k : (i+1)*k]
		acc := out[i*n+j0 : i*n+j1]
		if bT {
			for j := j0; j < j1; j++ {
				acc[j-j0] = dot(arow, b[j*k:(j+1)*k])
			}
			return
		}
		clear(acc)
		for kk, av := range arow {
			w := float64(av)
			row := b[kk*n+j0 : kk*n+j1]
			row = row[:len(acc)]
			for j, bv := range row {
				acc[j] += w * float64(bv)
			}
		}
	})
}

// dot is Σ x[i]·y[i] in float64 with four interleaved partial sums.
func dot(x, y []float32) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i]) * float64(y[i])
		s1 += float64(x[i+1]) * float64(y[i+1])
		s2 += float64(x[i+2]) * float64(y[i+2])
		s3 += float64(x[i+3]) * float64(y[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// transpose2 returns the [cols,rows] transpose of a row-major [rows,cols] matrix.
func transpose2(a []float32, rows, cols int) []float32 {
	t := make([]float32, rows*cols)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = a[r*cols+c]
		}
	}
	return t
}

// denseKernel is ONNX Gemm: y = alpha·A'·B' + beta·C.
func denseKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	if err := needFloat("dense", in); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	if a.Rank() != 2 || b.Rank() != 2 {
		return nil, fmt.Errorf("a %v and b %v must be matrices", a.Shape, b.Shape)
	}
	m, k := a.Shape[0], a.Shape[1]
	ad := a.F
	if n.Int("trans_a") != 0 {
		m, k = k, m
		ad = transpose2(a.F, a.Shape[0], a.Shape[1])
	}
	bT := n.Int("trans_b") != 0
	k2, nn := b.Shape[0], b.Shape[1]
	if bT {
		k2, nn = nn, k2
	}
	if k != k2 {
		return nil, fmt.Errorf("a %v and b %v disagree on the inner dimension: %d vs %d", a.Shape, b.Shape, k, k2)
	}
	shape := ir.Shape{m, nn}
	var cst []int
	if len(in) == 3 {
		bc, err := ir.BroadcastShapes(shape, in[2].Shape)
		if err != nil || !bc.Equal(shape) {
			return nil, fmt.Errorf("c %v does not broadcast to the result %v", in[2].Shape, shape)
		}
		cst = broadcastStrides(in[2].Shape, shape)
	}
	acc := make([]float64, m*nn)
	gemm(ad, b.F, m, nn, k, bT, acc)
	alpha, beta := n.Float("alpha"), n.Float("beta")
	out := ir.NewTensor(a.Elem, shape)
	for i := 0; i < m; i++ {
		for j := 0; j < nn; j++ {
			v := alpha * acc[i*nn+j]
			if cst != nil {
				v += beta * float64(in[2].F[i*cst[0]+j*cst[1]])
			}
			out.F[i*nn+j] = float32(v)
		}
	}
	return out, nil
}

// matmulKernel is numpy matmul: batched with broadcasting, 1-d operands
// promoted to matrices and the promoted dimension dropped again.
func matmulKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	if err := needFloat("matmul", in); err != nil {
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
	// Strides of whole matrices over the broadcast batch dimensions.
	sa := broadcastStrides(pa[:len(pa)-2], batch)
	sb := broadcastStrides(pb[:len(pb)-2], batch)
	out := ir.NewTensor(a.Elem, shape)
	nb := batch.Elements()
	acc := make([]float64, m*nn)
	idx := make([]int, len(batch))
	for bi := 0; bi < nb; bi++ {
		oa, ob := 0, 0
		for d := range batch {
			oa += idx[d] * sa[d]
			ob += idx[d] * sb[d]
		}
		gemm(a.F[oa*m*k:], b.F[ob*k*nn:], m, nn, k, false, acc)
		dst := out.F[bi*m*nn:][:m*nn]
		for i, v := range acc {
			dst[i] = float32(v)
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

// binaryKernel implements add, sub, mul and div with numpy broadcasting.
// Floats compute in float32 (correctly rounded); integers wrap to their
// width, and integer division truncates toward zero and reports division
// by zero. Fixed-point operands need a RegisterFixedKernel variant.
func binaryKernel(op string) Kernel {
	return func(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
		a, b := in[0], in[1]
		if a.Elem != b.Elem {
			return nil, fmt.Errorf("operands have different element types: %v and %v", a.Type, b.Type)
		}
		e := a.Elem
		if e.Kind == ir.Fixed {
			return nil, fmt.Errorf("%s of fixed-point tensors (%v) has no interpreter kernel", op, e)
		}
		shape, err := ir.BroadcastShapes(a.Shape, b.Shape)
		if err != nil {
			return nil, err
		}
		out := ir.NewTensor(e, shape)
		it := shape
		if len(it) == 0 {
			it = ir.Shape{1}
		}
		pa := a.Shape
		pb := b.Shape
		st := [][]int{broadcastStrides(pa, it), broadcastStrides(pb, it)}
		last := len(it) - 1
		inner, ia, ib := it[last], st[0][last], st[1][last]
		if e.IsFloat() {
			var f func(x, y float32) float32
			switch op {
			case "add":
				f = func(x, y float32) float32 { return x + y }
			case "sub":
				f = func(x, y float32) float32 { return x - y }
			case "mul":
				f = func(x, y float32) float32 { return x * y }
			default:
				f = func(x, y float32) float32 { return x / y }
			}
			forEachRow(it, st, func(row int, offs []int) {
				dst := out.F[row*inner : (row+1)*inner]
				for j := range dst {
					dst[j] = f(a.F[offs[0]+j*ia], b.F[offs[1]+j*ib])
				}
			})
			return out, nil
		}
		divZero := false
		var f func(x, y int64) int64
		switch op {
		case "add":
			f = func(x, y int64) int64 { return x + y }
		case "sub":
			f = func(x, y int64) int64 { return x - y }
		case "mul":
			f = func(x, y int64) int64 { return x * y }
		default:
			f = func(x, y int64) int64 {
				if y == 0 {
					divZero = true
					return 0
				}
				return x / y
			}
		}
		forEachRow(it, st, func(row int, offs []int) {
			dst := out.I[row*inner : (row+1)*inner]
			for j := range dst {
				dst[j] = WrapInt(f(a.I[offs[0]+j*ia], b.I[offs[1]+j*ib]), e)
			}
		})
		if divZero {
			return nil, fmt.Errorf("integer division by zero (%v / %v)", a.Type, b.Type)
		}
		return out, nil
	}
}

func reluKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x := in[0]
	out := ir.NewTensor(x.Elem, x.Shape)
	if x.Elem.IsFloat() {
		for i, v := range x.F {
			if v < 0 {
				v = 0
			}
			out.F[i] = v
		}
		return out, nil
	}
	for i, v := range x.I {
		out.I[i] = max(v, 0)
	}
	return out, nil
}

// floatUnary builds an element-wise kernel evaluated in float64.
func floatUnary(op string, mk func(n *ir.Node) func(float64) float64) Kernel {
	return func(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
		if err := needFloat(op, in); err != nil {
			return nil, err
		}
		f := mk(n)
		x := in[0]
		out := ir.NewTensor(x.Elem, x.Shape)
		for i, v := range x.F {
			out.F[i] = float32(f(float64(v)))
		}
		return out, nil
	}
}

// clipKernel computes min(max(x, min), max). On integer tensors the
// bounds become ⌈min⌉ and ⌊max⌋ saturated to the type's range (scaled by
// 2^frac for fixed point), and the clamp is done on integers.
func clipKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x := in[0]
	lo, hi := n.Float("min"), n.Float("max")
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return nil, fmt.Errorf("clip bounds min=%v max=%v must not be NaN", lo, hi)
	}
	out := ir.NewTensor(x.Elem, x.Shape)
	if x.Elem.IsFloat() {
		for i, v := range x.F {
			out.F[i] = float32(math.Min(math.Max(float64(v), lo), hi))
			if v != v {
				out.F[i] = v
			}
		}
		return out, nil
	}
	if x.Elem.Kind == ir.Fixed {
		lo, hi = math.Ldexp(lo, x.Elem.Frac()), math.Ldexp(hi, x.Elem.Frac())
	}
	ilo, ihi := floatToInt(math.Ceil(lo), x.Elem), floatToInt(math.Floor(hi), x.Elem)
	for i, v := range x.I {
		out.I[i] = min(max(v, ilo), ihi)
	}
	return out, nil
}

// softmaxKernel normalizes along one axis: exp(x − max) / Σ exp(x − max),
// in float64.
func softmaxKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	if err := needFloat("softmax", in); err != nil {
		return nil, err
	}
	x := in[0]
	ax, err := ir.NormAxis(n.Int("axis"), x.Rank())
	if err != nil {
		return nil, err
	}
	outer := prodInts(x.Shape[:ax])
	dim := x.Shape[ax]
	inner := prodInts(x.Shape[ax+1:])
	out := ir.NewTensor(x.Elem, x.Shape)
	e := make([]float64, dim)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			base := o*dim*inner + i
			m := math.Inf(-1)
			for j := 0; j < dim; j++ {
				m = math.Max(m, float64(x.F[base+j*inner]))
			}
			s := 0.0
			for j := 0; j < dim; j++ {
				e[j] = math.Exp(float64(x.F[base+j*inner]) - m)
				s += e[j]
			}
			for j := 0; j < dim; j++ {
				out.F[base+j*inner] = float32(e[j] / s)
			}
		}
	}
	return out, nil
}
