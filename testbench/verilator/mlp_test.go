package verilator

import (
	"path/filepath"
	"testing"
	"time"

	"wdc/backends/verilog"
	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/passes/quantize"
	"wdc/runtime"
)

// TestMNISTMLP: hls4ml's MNIST MLP (784-256-256-10, softmax) at
// fixed<16,6> with reuse factor 128 in every dense layer (1,568 + 512 +
// 20 multipliers), its three published samples (test_data_set_0)
// bit-exact against the golden model, and each classified as the float
// model's published output does.
func TestMNISTMLP(t *testing.T) {
	needTools(t)
	t.Parallel()
	s := sharedData(t)
	dirModel := filepath.Join(s, "models", "mnist-mlp-hls4ml")
	g, err := onnx.Load(filepath.Join(dirModel, "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := quantize.Quantize(g, quantize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	x, _, err := runtime.ReadTensorPB(filepath.Join(dirModel, "test_data_set_0", "input_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := runtime.ReadTensorPB(filepath.Join(dirModel, "test_data_set_0", "output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	n, k := x.Type.Shape[0], x.Type.Shape[1]
	var inputs []*ir.Tensor
	for i := 0; i < n; i++ {
		inputs = append(inputs, ir.FromFloats(q.Inputs[0].Type.Shape, x.F[i*k:(i+1)*k]))
	}
	const R = 128
	start := time.Now()
	d, c, _ := emitCheck(t, q, verilog.Options{ReuseFactor: R}, inputs, Options{})
	if c.Vectors != n || n != 3 {
		t.Fatalf("%d vectors simulated, the data set has %d (want 3)", c.Vectors, n)
	}
	if c.IICycles != R {
		t.Errorf("II %d cycles, want %d", c.IICycles, R)
	}
	mults := 0
	for _, l := range d.Layers {
		mults += l.Multipliers
		if l.Op == "dense" {
			t.Logf("%-12s R=%d, %d multipliers, latency %d", l.Node, l.Reuse, l.Multipliers, l.Latency)
		}
	}
	if mults != 784*256/R+256*256/R+2560/R+10 { // + softmax's 10 products
		t.Errorf("%d multipliers", mults)
	}
	nout := want.Type.Shape[1]
	for i, row := range c.Outputs {
		best, ref := 0, 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
			if want.F[i*nout+j] > want.F[i*nout+ref] {
				ref = j
			}
		}
		if best != ref {
			t.Errorf("sample %d: the fixed-point design says %d, the published float output %d", i, best, ref)
		}
	}
	t.Logf("MNIST MLP, R=%d: %d samples bit-exact, latency %d cycles, II %d, %d multipliers, estimate %+v (%.1fs)",
		R, c.Vectors, c.LatencyCycles, c.IICycles, mults, d.Estimate, time.Since(start).Seconds())
}
