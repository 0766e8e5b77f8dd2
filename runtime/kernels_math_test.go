package runtime

import (
	"math"
	"strings"
	"testing"

	"wdc/ir"
)

func TestDense(t *testing.T) {
	a := f32(ir.Shape{2, 3}, 1, 2, 3, 4, 5, 6)
	b := f32(ir.Shape{3, 2}, 1, 0, 0, 1, 2, -1)
	// a·b = [[7, -1], [16, -1]]
	y := mustRun(t, "dense", nil, a, b)
	wantShape(t, y, ir.Shape{2, 2})
	wantF(t, y, 0, 7, -1, 16, -1)
	// C broadcast as a row [2], a column [2,1] and a scalar; alpha, beta.
	y = mustRun(t, "dense", ir.Attrs{"alpha": ir.FloatAttr(2), "beta": ir.FloatAttr(0.5)}, a, b, f32(ir.Shape{2}, 10, 20))
	wantF(t, y, 0, 19, 8, 37, 8)
	y = mustRun(t, "dense", nil, a, b, f32(ir.Shape{2, 1}, 10, 20))
	wantF(t, y, 0, 17, 9, 36, 19)
	y = mustRun(t, "dense", nil, a, b, f32(ir.Shape{}, 1))
	wantF(t, y, 0, 8, 0, 17, 0)
	// Transposes: aᵀ is [3,2]·… use aᵀ·a = [3,3] and b·bᵀ.
	y = mustRun(t, "dense", ir.Attrs{"trans_a": ir.IntAttr(1)}, a, a)
	wantShape(t, y, ir.Shape{3, 3})
	wantF(t, y, 0, 17, 22, 27, 22, 29, 36, 27, 36, 45)
	y = mustRun(t, "dense", ir.Attrs{"trans_b": ir.IntAttr(1)}, a, a)
	wantShape(t, y, ir.Shape{2, 2})
	wantF(t, y, 0, 14, 32, 32, 77)
	y = mustRun(t, "dense", ir.Attrs{"trans_a": ir.IntAttr(1), "trans_b": ir.IntAttr(1)}, b, a)
	wantShape(t, y, ir.Shape{2, 2})
	wantF(t, y, 0, 7, 16, -1, -1)
	// A wide product (crosses the column block size) vs a direct loop.
	A := randT(1, ir.Shape{3, 70})
	B := randT(2, ir.Shape{150, 70})
	y = mustRun(t, "dense", ir.Attrs{"trans_b": ir.IntAttr(1)}, A, B)
	y2 := mustRun(t, "dense", nil, A, mustRun(t, "transpose", nil, B))
	var want []float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 150; j++ {
			s := 0.0
			for k := 0; k < 70; k++ {
				s += float64(A.F[i*70+k]) * float64(B.F[j*70+k])
			}
			want = append(want, s)
		}
	}
	closeF(t, "dense trans_b", f64s(y.F), want, 1e-6)
	closeF(t, "dense", f64s(y2.F), want, 1e-6)
}

// naiveMatMul multiplies with explicit numpy broadcasting of batch dims.
func naiveMatMul(a, b *ir.Tensor) ([]float64, ir.Shape) {
	pa, pb := a.Shape, b.Shape
	if len(pa) == 1 {
		pa = ir.Shape{1, pa[0]}
	}
	if len(pb) == 1 {
		pb = ir.Shape{pb[0], 1}
	}
	m, k, n := pa[len(pa)-2], pa[len(pa)-1], pb[len(pb)-1]
	batch, _ := ir.BroadcastShapes(pa[:len(pa)-2], pb[:len(pb)-2])
	var out []float64
	idx := make([]int, len(batch))
	for bi := 0; bi < batch.Elements(); bi++ {
		r := bi
		for d := len(batch) - 1; d >= 0; d-- {
			idx[d] = r % batch[d]
			r /= batch[d]
		}
		offOf := func(s ir.Shape) int {
			bs := s[:len(s)-2]
			o := 0
			for d := range bs {
				j := idx[len(batch)-len(bs)+d]
				if bs[d] == 1 {
					j = 0
				}
				o = o*bs[d] + j
			}
			return o * s[len(s)-2] * s[len(s)-1]
		}
		oa, ob := offOf(pa), offOf(pb)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for kk := 0; kk < k; kk++ {
					s += float64(a.F[oa+i*k+kk]) * float64(b.F[ob+kk*n+j])
				}
				out = append(out, s)
			}
		}
	}
	shape, _ := ir.MatMulShape(a.Shape, b.Shape)
	return out, shape
}

func TestMatMul(t *testing.T) {
	// Hand case: 1-d · 1-d is a scalar; 1-d operands promote.
	v := f32(ir.Shape{3}, 1, 2, 3)
	y := mustRun(t, "matmul", nil, v, v)
	wantShape(t, y, ir.Shape{})
	wantF(t, y, 0, 14)
	m := f32(ir.Shape{3, 2}, 1, 2, 3, 4, 5, 6)
	y = mustRun(t, "matmul", nil, v, m)
	wantShape(t, y, ir.Shape{2})
	wantF(t, y, 0, 22, 28)
	y = mustRun(t, "matmul", nil, f32(ir.Shape{2, 3}, 1, 0, 1, 0, 1, 0), v)
	wantShape(t, y, ir.Shape{2})
	wantF(t, y, 0, 4, 2)
	cases := []struct{ a, b ir.Shape }{
		{ir.Shape{4, 5}, ir.Shape{5, 3}},
		{ir.Shape{2, 4, 5}, ir.Shape{5, 3}},
		{ir.Shape{4, 5}, ir.Shape{3, 5, 2}},
		{ir.Shape{2, 1, 4, 5}, ir.Shape{3, 5, 6}},
		{ir.Shape{3, 1, 2, 5}, ir.Shape{1, 4, 5, 70}},
		{ir.Shape{5}, ir.Shape{2, 5, 3}},
		{ir.Shape{2, 3, 5}, ir.Shape{5}},
	}
	for i, c := range cases {
		a, b := randT(uint64(300+i), c.a), randT(uint64(400+i), c.b)
		y := mustRun(t, "matmul", nil, a, b)
		want, shape := naiveMatMul(a, b)
		wantShape(t, y, shape)
		closeF(t, "matmul", f64s(y.F), want, 1e-6)
	}
}

func TestBinaryFloat(t *testing.T) {
	a := f32(ir.Shape{2, 3}, 1, 2, 3, 4, 5, 6)
	row := f32(ir.Shape{3}, 10, 20, 30)
	col := f32(ir.Shape{2, 1}, 2, -1)
	wantF(t, mustRun(t, "add", nil, a, row), 0, 11, 22, 33, 14, 25, 36)
	wantF(t, mustRun(t, "sub", nil, row, a), 0, 9, 18, 27, 6, 15, 24)
	wantF(t, mustRun(t, "mul", nil, a, col), 0, 2, 4, 6, -4, -5, -6)
	wantF(t, mustRun(t, "div", nil, a, col), 0, 0.5, 1, 1.5, -4, -5, -6)
	// [2,1] with [3] broadcasts both ways to [2,3].
	y := mustRun(t, "add", nil, col, row)
	wantShape(t, y, ir.Shape{2, 3})
	wantF(t, y, 0, 12, 22, 32, 9, 19, 29)
	// Scalars and 4-d per-channel broadcasting.
	y = mustRun(t, "mul", nil, f32(ir.Shape{}, 3), f32(ir.Shape{}, 4))
	wantShape(t, y, ir.Shape{})
	wantF(t, y, 0, 12)
	x := arange(ir.Shape{1, 2, 2, 2}, 0, 1)
	y = mustRun(t, "mul", nil, f32(ir.Shape{1, 2, 1, 1}, 1, -1), x)
	wantF(t, y, 0, 0, 1, 2, 3, -4, -5, -6, -7)
	y = mustRun(t, "div", nil, f32(ir.Shape{2}, 1, -1), f32(ir.Shape{1}, 0))
	wantF(t, y, 0, float32(math.Inf(1)), float32(math.Inf(-1)))
}

func TestBinaryInt(t *testing.T) {
	a := i64s(ir.Int32, ir.Shape{4}, 7, -7, 7, -7)
	b := i64s(ir.Int32, ir.Shape{4}, 2, 2, -2, -2)
	wantI(t, mustRun(t, "div", nil, a, b), 3, -3, -3, 3)
	wantI(t, mustRun(t, "mul", nil, a, b), 14, -14, -14, 14)
	// i8 wraps like numpy.
	c := i64s(ir.Int8, ir.Shape{3}, 100, -128, 127)
	d := i64s(ir.Int8, ir.Shape{1}, 100)
	wantI(t, mustRun(t, "add", nil, c, d), -56, -28, -29)
	wantI(t, mustRun(t, "div", nil, i64s(ir.Int8, ir.Shape{1}, -128), i64s(ir.Int8, ir.Shape{1}, -1)), -128)
	u := i64s(ir.Uint8, ir.Shape{2}, 3, 250)
	wantI(t, mustRun(t, "sub", nil, u, i64s(ir.Uint8, ir.Shape{}, 5)), 254, 245)
	// Division by zero is an error naming the problem, not a panic.
	_, err := runNode("div", nil, a, i64s(ir.Int32, ir.Shape{4}, 1, 0, 1, 1))
	if err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Fatalf("want a division by zero error, got %v", err)
	}
	// Fixed point without a fixed-point variant is a clear error.
	fx := ir.FixedType(8, 4)
	fixed := i64s(fx, ir.Shape{2}, 100, -100)
	saved, had := fixedKernels["add"]
	delete(fixedKernels, "add")
	_, err = kernels["add"](&ir.Node{Op: "add", Out: &ir.Value{Name: "y"}}, []*ir.Tensor{fixed, fixed})
	if err == nil || !strings.Contains(err.Error(), "fixed") {
		t.Errorf("want a fixed-point error, got %v", err)
	}
	// A registered variant takes over for fixed-point operands only.
	fixedKernels["add"] = func(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
		return i64s(fx, ir.Shape{1}, 42), nil
	}
	y, err := kernels["add"](&ir.Node{Op: "add", Out: &ir.Value{Name: "y"}}, []*ir.Tensor{fixed, fixed})
	if err != nil || y.I[0] != 42 {
		t.Errorf("fixed-point variant not used: %v %v", y, err)
	}
	wantF(t, mustRun(t, "add", nil, f32(ir.Shape{1}, 1), f32(ir.Shape{1}, 2)), 0, 3)
	delete(fixedKernels, "add")
	if had {
		fixedKernels["add"] = saved
	}
}

func TestUnary(t *testing.T) {
	x := f32(ir.Shape{5}, -2, -0.5, 0, 0.5, 3)
	wantF(t, mustRun(t, "relu", nil, x), 0, 0, 0, 0, 0.5, 3)
	wantF(t, mustRun(t, "leaky_relu", nil, x), 1e-7, -0.02, -0.005, 0, 0.5, 3)
	wantF(t, mustRun(t, "leaky_relu", ir.Attrs{"alpha": ir.FloatAttr(0.1)}, x), 1e-7, -0.2, -0.05, 0, 0.5, 3)
	wantF(t, mustRun(t, "sigmoid", nil, f32(ir.Shape{5}, -2, 0, 3, -1000, 1000)), 1e-7, 0.11920291930437088, 0.5, 0.9525741338729858, 0, 1)
	wantF(t, mustRun(t, "tanh", nil, f32(ir.Shape{2}, -1, 0.5)), 1e-7, -0.7615941762924194, 0.46211716532707214)
	wantI(t, mustRun(t, "relu", nil, i64s(ir.Int8, ir.Shape{3}, -5, 0, 5)), 0, 0, 5)
	if _, err := runNode("sigmoid", nil, i64s(ir.Int8, ir.Shape{1}, 1)); err == nil {
		t.Fatal("sigmoid of i8 should be an error")
	}
}

func TestClip(t *testing.T) {
	x := f32(ir.Shape{5}, -2, -0.5, 0, 0.5, 3)
	wantF(t, mustRun(t, "clip", ir.Attrs{"min": ir.FloatAttr(-1), "max": ir.FloatAttr(1)}, x), 0, -1, -0.5, 0, 0.5, 1)
	wantF(t, mustRun(t, "clip", ir.Attrs{"min": ir.FloatAttr(0)}, x), 0, 0, 0, 0, 0.5, 3)
	wantF(t, mustRun(t, "clip", nil, x), 0, -2, -0.5, 0, 0.5, 3)
	// min > max gives max everywhere (ONNX: min(max(x, lo), hi)).
	wantF(t, mustRun(t, "clip", ir.Attrs{"min": ir.FloatAttr(2), "max": ir.FloatAttr(1)}, x), 0, 1, 1, 1, 1, 1)
	// Integers clamp in the integer domain: bounds ⌈min⌉ and ⌊max⌋.
	u := i64s(ir.Uint8, ir.Shape{5}, 0, 3, 4, 200, 255)
	y := mustRun(t, "clip", ir.Attrs{"min": ir.FloatAttr(3.5), "max": ir.FloatAttr(199.9)}, u)
	if y.Elem != ir.Uint8 {
		t.Fatalf("clip of u8 gave %v", y.Type)
	}
	wantI(t, y, 4, 4, 4, 199, 199)
	wantI(t, mustRun(t, "clip", ir.Attrs{"min": ir.FloatAttr(-1000), "max": ir.FloatAttr(1000)}, u), 0, 3, 4, 200, 255)
	i8 := i64s(ir.Int8, ir.Shape{4}, -128, -7, 6, 127)
	wantI(t, mustRun(t, "clip", ir.Attrs{"min": ir.FloatAttr(-6), "max": ir.FloatAttr(6)}, i8), -6, -6, 6, 6)
	wantI(t, mustRun(t, "clip", ir.Attrs{"max": ir.FloatAttr(0)}, i8), -128, -7, 0, 0)
	// Fixed point bounds scale by 2^frac: fixed<8,4> has 4 fraction bits.
	fx := ir.FixedType(8, 4)
	wantI(t, mustRun(t, "clip", ir.Attrs{"min": ir.FloatAttr(-1), "max": ir.FloatAttr(1.5)}, i64s(fx, ir.Shape{3}, -100, 0, 100)), -16, 0, 24)
}

func TestSoftmax(t *testing.T) {
	y := mustRun(t, "softmax", nil, f32(ir.Shape{1, 3}, 1000, 1001, 1002))
	wantF(t, y, 1e-6, 0.09003057330846786, 0.2447284758090973, 0.6652409434318542)
	y = mustRun(t, "softmax", nil, f32(ir.Shape{2}, -3e38, 3e38))
	wantF(t, y, 0, 0, 1)
	// Every axis of a 3-d tensor, negative axes too, against a direct formula.
	x := randT(5, ir.Shape{2, 3, 4})
	for i := range x.F {
		x.F[i] *= 50
	}
	for ax := -3; ax < 3; ax++ {
		y := mustRun(t, "softmax", ir.Attrs{"axis": ir.IntAttr(int64(ax))}, x)
		a := (ax + 3) % 3
		st := x.Shape.Strides()
		for i := range x.F {
			// The softmax of element i along axis a.
			pos := (i / st[a]) % x.Shape[a]
			base := i - pos*st[a]
			mx := math.Inf(-1)
			for j := 0; j < x.Shape[a]; j++ {
				mx = math.Max(mx, float64(x.F[base+j*st[a]]))
			}
			s := 0.0
			for j := 0; j < x.Shape[a]; j++ {
				s += math.Exp(float64(x.F[base+j*st[a]]) - mx)
			}
			want := math.Exp(float64(x.F[i])-mx) / s
			if math.Abs(float64(y.F[i])-want) > 1e-6 {
				t.Fatalf("axis %d element %d: got %v, want %v", ax, i, y.F[i], want)
			}
		}
	}
}
