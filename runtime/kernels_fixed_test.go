package runtime

import (
	"math/rand/v2"
	"testing"

	"wdc/ir"
)

// randFixed fills a tensor of fixed type e with random words.
func randFixed(rng *rand.Rand, e ir.Elem, shape ir.Shape) *ir.Tensor {
	t := ir.NewTensor(e, shape)
	lo, hi := ir.FixedRange(e)
	for i := range t.I {
		t.I[i] = lo + rng.Int64N(hi-lo+1)
	}
	return t
}

// asFloat gives the f32 tensor of the values a fixed tensor stands for
// (exact for the narrow types used here).
func asFloat(t *ir.Tensor) *ir.Tensor {
	f := make([]float32, t.Len())
	for i := range f {
		f[i] = float32(t.Float(i))
	}
	return ir.FromFloats(t.Shape, f)
}

// sameValues checks that a fixed result stands for exactly the float
// result (both computed exactly: the float kernels accumulate these few
// short dyadic values in float64 without rounding).
func sameValues(t *testing.T, what string, fixed, float *ir.Tensor) {
	t.Helper()
	if !fixed.Shape.Equal(float.Shape) {
		t.Fatalf("%s: shape %v vs %v", what, fixed.Shape, float.Shape)
	}
	for i := range float.F {
		if fixed.Float(i) != float64(float.F[i]) {
			t.Fatalf("%s: element %d is %v (word %d of %v), float kernel gives %v", what, i, fixed.Float(i), fixed.I[i], fixed.Elem, float.F[i])
		}
	}
}

func TestFixedDenseMatMulExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	xe, we, be := ir.FixedType(6, 3), ir.FixedType(6, 2), ir.FixedType(8, 3)
	for _, tr := range [][2]int64{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		as, bs := ir.Shape{3, 7}, ir.Shape{7, 5}
		if tr[0] == 1 {
			as = ir.Shape{7, 3}
		}
		if tr[1] == 1 {
			bs = ir.Shape{5, 7}
		}
		a, b, c := randFixed(rng, xe, as), randFixed(rng, we, bs), randFixed(rng, be, ir.Shape{5})
		attrs := ir.Attrs{"trans_a": ir.IntAttr(tr[0]), "trans_b": ir.IntAttr(tr[1])}
		y := mustRun(t, "dense", attrs, a, b, c)
		if want := ir.FixedType(9+7, 3+2+3+1); y.Elem != want { // F = 3+4 (bias F 5 fits), I = 3+2+⌈log2 7⌉+1
			t.Fatalf("dense type %v, want %v", y.Elem, want)
		}
		sameValues(t, "dense", y, mustRun(t, "dense", attrs, asFloat(a), asFloat(b), asFloat(c)))
		y2 := mustRun(t, "dense", attrs, a, b)
		sameValues(t, "dense without bias", y2, mustRun(t, "dense", attrs, asFloat(a), asFloat(b)))
	}
	a, b := randFixed(rng, xe, ir.Shape{2, 1, 3, 4}), randFixed(rng, we, ir.Shape{3, 4, 2})
	sameValues(t, "matmul", mustRun(t, "matmul", nil, a, b), mustRun(t, "matmul", nil, asFloat(a), asFloat(b)))
}

func TestFixedConvExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	xe, we, be := ir.FixedType(6, 3), ir.FixedType(6, 2), ir.FixedType(10, 2)
	cases := []struct {
		x, w  ir.Shape
		attrs ir.Attrs
	}{
		{ir.Shape{1, 1, 6, 6}, ir.Shape{2, 1, 3, 3}, nil},
		{ir.Shape{2, 3, 7, 6}, ir.Shape{4, 3, 3, 2}, ir.Attrs{"pads": ints(1, 0, 2, 1), "strides": ints(2, 1)}},
		{ir.Shape{1, 4, 9, 9}, ir.Shape{4, 2, 3, 3}, ir.Attrs{"group": ir.IntAttr(2), "dilations": ints(2, 1), "pads": ints(1, 1, 1, 1)}},
		{ir.Shape{1, 2, 10}, ir.Shape{3, 2, 4}, ir.Attrs{"pads": ints(2, 1), "strides": ints(3)}},
		{ir.Shape{1, 2, 4, 5, 3}, ir.Shape{2, 2, 2, 3, 2}, ir.Attrs{"pads": ints(0, 1, 1, 1, 0, 1)}},
		{ir.Shape{1, 3, 5, 5}, ir.Shape{3, 1, 5, 5}, ir.Attrs{"group": ir.IntAttr(3), "pads": ints(2, 2, 2, 2)}},
	}
	for i, c := range cases {
		x, w, b := randFixed(rng, xe, c.x), randFixed(rng, we, c.w), randFixed(rng, be, ir.Shape{c.w[0]})
		y := mustRun(t, "conv", c.attrs, x, w, b)
		sameValues(t, "conv", y, mustRun(t, "conv", c.attrs, asFloat(x), asFloat(w), asFloat(b)))
		y2 := mustRun(t, "conv", c.attrs, x, w)
		sameValues(t, "conv without bias", y2, mustRun(t, "conv", c.attrs, asFloat(x), asFloat(w)))
		if i == 0 && y.Elem != ir.FixedType(18, 10) { // I 3+2+⌈log2 9⌉+1 = 10, F max(3+4, bias 8) = 8
			t.Errorf("conv type %v", y.Elem)
		}
	}
}

func TestFixedBinaryExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	ae, be := ir.FixedType(7, 2), ir.FixedType(9, 5)
	a, b := randFixed(rng, ae, ir.Shape{2, 3, 4}), randFixed(rng, be, ir.Shape{3, 1})
	for _, op := range []string{"add", "sub", "mul"} {
		sameValues(t, op, mustRun(t, op, nil, a, b), mustRun(t, op, nil, asFloat(a), asFloat(b)))
		sameValues(t, op+" swapped", mustRun(t, op, nil, b, a), mustRun(t, op, nil, asFloat(b), asFloat(a)))
	}
	// Extremes: the result types hold the most negative words exactly.
	lo, _ := ir.FixedRange(ae)
	x := i64s(ae, ir.Shape{1}, lo)
	y := mustRun(t, "sub", nil, i64s(ir.FixedType(7, 2), ir.Shape{1}, 0), x)
	if y.Float(0) != 2 {
		t.Errorf("0 − (−2) = %v", y.Float(0))
	}
	if y := mustRun(t, "mul", nil, x, x); y.Float(0) != 4 {
		t.Errorf("(−2)·(−2) = %v", y.Float(0))
	}
}

func TestFixedRelayOps(t *testing.T) {
	e := ir.FixedType(8, 4)
	x := i64s(e, ir.Shape{1, 1, 2, 2}, -5, 3, 7, -128)
	wantI(t, mustRun(t, "relu", nil, x), 0, 3, 7, 0)
	y := mustRun(t, "max_pool", ir.Attrs{"kernel_shape": ints(2, 2)}, x)
	if y.Elem != e {
		t.Errorf("max_pool type %v", y.Elem)
	}
	wantI(t, y, 7)
	wantI(t, mustRun(t, "flatten", nil, x), -5, 3, 7, -128)
}

func TestFixedCastMatchesRequantize(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for it := 0; it < 300; it++ {
		wf, wt := 2+rng.IntN(30), 2+rng.IntN(30)
		from := ir.FixedType(wf, 1+rng.IntN(wf))
		to := ir.Elem{Kind: ir.Fixed, W: wt, I: 1 + rng.IntN(wt), Round: ir.Rounding(rng.IntN(2)), Ovf: ir.Overflow(rng.IntN(2))}
		x := randFixed(rng, from, ir.Shape{64})
		y := mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr(to.String())}, x)
		for i, q := range x.I {
			if want := ir.Requantize(q, from, to); y.I[i] != want {
				t.Fatalf("cast %d from %v to %v: kernel %d, Requantize %d", q, from, to, y.I[i], want)
			}
		}
		f := make([]float32, 64)
		for i := range f {
			f[i] = float32(rng.NormFloat64() * float64(int(1)<<rng.IntN(8)))
			if i%4 == 0 { // ties on the grid
				f[i] = float32(float64(rng.IntN(64)-32)+0.5) / float32(int(1)<<to.Frac()%20)
			}
		}
		y = mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr(to.String())}, ir.FromFloats(ir.Shape{64}, f))
		for i, v := range f {
			if want := ir.QuantizeFloat(float64(v), to); y.I[i] != want {
				t.Fatalf("cast %v to %v: kernel %d, QuantizeFloat %d", v, to, y.I[i], want)
			}
		}
	}
}

func TestLutAndReduce(t *testing.T) {
	e := ir.FixedType(8, 4)
	table := i64s(ir.FixedType(6, 2), ir.Shape{4}, 10, 11, 12, 13)
	x := i64s(e, ir.Shape{2, 3}, -100, -9, -8, 0, 7, 100)
	// idx = clamp((q >> 3) + 2, 0, 3): -13+2→0, -2+2→0, -1+2→1, 2, 0+2→2, 12+2→3
	y := mustRun(t, "lut", ir.Attrs{"shift": ir.IntAttr(3), "offset": ir.IntAttr(2)}, x, table)
	if y.Elem != table.Elem {
		t.Errorf("lut type %v", y.Elem)
	}
	wantI(t, y, 10, 10, 11, 12, 12, 13)
	s := mustRun(t, "reduce_sum", ir.Attrs{"axes": ints(-1)}, x)
	if s.Type.String() != "fixed<10,6>[2,1]" {
		t.Errorf("reduce_sum type %v", s.Type)
	}
	wantI(t, s, -117, 107)
	m := mustRun(t, "reduce_max", ir.Attrs{"axes": ints(0), "keepdims": ir.IntAttr(0)}, x)
	wantI(t, m, 0, 7, 100)
	wantI(t, mustRun(t, "reduce_sum", nil, x), -10)
	fs := mustRun(t, "reduce_sum", ir.Attrs{"axes": ints(1)}, f32(ir.Shape{2, 2}, 1, 2, 3, 4))
	wantF(t, fs, 0, 3, 7)
	fm := mustRun(t, "reduce_max", ir.Attrs{"axes": ints(0)}, f32(ir.Shape{2, 2}, 1, 5, 3, 4))
	wantF(t, fm, 0, 3, 5)
}
