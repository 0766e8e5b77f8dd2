package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"wdc/ir"
)

// runNode builds a one-node graph whose operands are graph inputs, runs it
// through Run (which checks the result type against the IR) and returns
// the result or the first error.
func runNode(op string, attrs ir.Attrs, ins ...*ir.Tensor) (*ir.Tensor, error) {
	g := ir.NewGraph("t")
	var vals []*ir.Value
	feeds := map[string]*ir.Tensor{}
	for i, t := range ins {
		name := fmt.Sprintf("in%d", i)
		v, err := g.AddInput(name, t.Type, ir.Pos{})
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		feeds[name] = t
	}
	out, err := g.AddNode(op, "y", vals, attrs, ir.Pos{})
	if err != nil {
		return nil, err
	}
	g.Outputs = []*ir.Value{out}
	res, err := Run(g, feeds)
	if err != nil {
		return nil, err
	}
	return res["y"], nil
}

// mustRun is runNode that fails the test on error.
func mustRun(t *testing.T, op string, attrs ir.Attrs, ins ...*ir.Tensor) *ir.Tensor {
	t.Helper()
	y, err := runNode(op, attrs, ins...)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return y
}

func ints(v ...int64) ir.Attr { return ir.IntsAttr(v...) }

func f32(shape ir.Shape, v ...float32) *ir.Tensor { return ir.FromFloats(shape, v) }

func i64s(e ir.Elem, shape ir.Shape, v ...int64) *ir.Tensor { return ir.FromInts(e, shape, v) }

// arange is 0, 1, 2, ... (scaled) as an f32 tensor.
func arange(shape ir.Shape, start, step float32) *ir.Tensor {
	t := ir.NewTensor(ir.Float32, shape)
	for i := range t.F {
		t.F[i] = start + step*float32(i)
	}
	return t
}

// randT is a seeded uniform [-1, 1) f32 tensor.
func randT(seed uint64, shape ir.Shape) *ir.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	t := ir.NewTensor(ir.Float32, shape)
	for i := range t.F {
		t.F[i] = float32(r.Float64()*2 - 1)
	}
	return t
}

// wantShape checks a result's shape.
func wantShape(t *testing.T, got *ir.Tensor, shape ir.Shape) {
	t.Helper()
	if !got.Shape.Equal(shape) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
}

// wantF compares float data with a tolerance relative to max(1, |want|).
func wantF(t *testing.T, got *ir.Tensor, tol float64, want ...float32) {
	t.Helper()
	if len(got.F) != len(want) {
		t.Fatalf("got %d values %v, want %d %v", len(got.F), got.F, len(want), want)
	}
	for i := range want {
		g, w := float64(got.F[i]), float64(want[i])
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) || math.IsNaN(g) != math.IsNaN(w) {
			t.Fatalf("element %d: got %v, want %v (all: %v)", i, g, w, got.F)
		}
	}
}

// closeF compares two float slices elementwise.
func closeF(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s: element %d: got %v, want %v", what, i, got[i], want[i])
		}
	}
}

func wantI(t *testing.T, got *ir.Tensor, want ...int64) {
	t.Helper()
	if len(got.I) != len(want) {
		t.Fatalf("got %v, want %v", got.I, want)
	}
	for i := range want {
		if got.I[i] != want[i] {
			t.Fatalf("element %d: got %d, want %d (all: %v)", i, got.I[i], want[i], got.I)
		}
	}
}

func f64s(f []float32) []float64 {
	d := make([]float64, len(f))
	for i, v := range f {
		d[i] = float64(v)
	}
	return d
}
