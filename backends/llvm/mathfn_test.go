package llvm_test

import (
	"math"
	"testing"

	"wdc/backends/llvm"
	"wdc/ir"
	"wdc/runtime"
	"wdc/runtime/native"
)

// TestInlineExpTanh compares the inline expf/tanhf (through exp-based
// sigmoid and tanh) with the interpreter on special values and a grid.
func TestInlineExpTanh(t *testing.T) {
	needClang(t)
	vals := []float32{float32(math.Inf(-1)), float32(math.Inf(1)), float32(math.NaN()), -200, -103, -100, -88.5, -87.4, -87.3,
		-50, -20, -9, -7.9, -1, -1e-3, -3e-4, -1e-6, 0, float32(math.Copysign(0, -1)), 1e-6, 3e-4, 1e-3, 0.5, 1, 7.9, 9, 20, 50, 87, 88.5, 88.7, 88.8, 100}
	for x := -12.0; x <= 12; x += 0.01 {
		vals = append(vals, float32(x))
	}
	g := ir.NewGraph("mathfn")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{len(vals)}}, ir.Pos{})
	var outs []*ir.Value
	for _, op := range []string{"tanh", "sigmoid"} {
		y, err := g.AddNode(op, op, []*ir.Value{x}, nil, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, y)
	}
	g.Outputs = outs
	xt := ir.NewTensor(ir.Float32, ir.Shape{len(vals)})
	copy(xt.F, vals)
	feeds := map[string]*ir.Tensor{"x": xt}
	want, err := runtime.Run(g, feeds)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := llvm.Compile(g, dir, llvm.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := native.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		for i, wv := range w.F {
			gv := got[name].F[i]
			if math.IsNaN(float64(wv)) != math.IsNaN(float64(gv)) || math.Abs(float64(gv-wv)) > 1e-6+2e-6*math.Abs(float64(wv)) {
				t.Errorf("%s(%v) = %v, want %v", name, vals[i], gv, wv)
			}
		}
	}
}
