package verilator

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"wdc/backends/verilog"
	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/passes/quantize"
	"wdc/runtime"
	"wdc/testbench/check"
)

// TestMNISTCNN streams the first 100 MNIST digits through the MNIST CNN
// at fixed<16,6> in Verilator, bit-exact against the golden model: two
// streamed convolutions with their casts, ReLUs and poolings fused (the
// first fully parallel, the second at reuse factor 4), and the dense layer
// at R = 256. About half a minute of Verilator build on two cores
// (docs/fpga.md); -short skips it.
func TestMNISTCNN(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the MNIST CNN's Verilator build takes about a minute")
	}
	needTools(t)
	t.Parallel()
	s := sharedData(t)
	g, err := onnx.Load(filepath.Join(s, "models", "mnist-cnn", "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := quantize.Quantize(g, quantize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := check.ReadIDX(filepath.Join(s, "datasets", "mnist", "images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	labels, err := check.ReadIDX(filepath.Join(s, "datasets", "mnist", "labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	// The model's own test sets first (bit-exact is all they check), then
	// the digits.
	var inputs []*ir.Tensor
	for k := 0; ; k++ {
		x, _, err := runtime.ReadTensorPB(filepath.Join(s, "models", "mnist-cnn", "test_data_set_"+strconv.Itoa(k), "input_0.pb"))
		if err != nil {
			if k == 0 {
				t.Fatal(err)
			}
			break
		}
		inputs = append(inputs, ir.FromFloats(q.Inputs[0].Type.Shape, x.F))
	}
	sets := len(inputs)
	const n = 100
	for i := 0; i < n; i++ {
		px := make([]float32, 784)
		check.ScaleUnit(imgs.Data[i*784:(i+1)*784], px)
		inputs = append(inputs, ir.FromFloats(q.Inputs[0].Type.Shape, px))
	}
	opts := verilog.Options{Reuse: map[string]int{}}
	for _, nd := range q.Nodes {
		if nd.Op == "dense" {
			opts.Reuse[nd.Name()] = 256 // 10 multipliers; the convolutions' II (over 1,000 cycles) dominates anyway
		}
	}
	// The second convolution (3,200 products) at reuse factor 4: 800
	// multipliers, II 1,297 cycles, and a third less build time than fully
	// parallel; WDC_MNIST_CONV_REUSE=R sets another (1: fully parallel,
	// 1,076 DSP + 2,118 shift-and-add products; docs/fpga.md has both).
	r := 4
	if v := os.Getenv("WDC_MNIST_CONV_REUSE"); v != "" {
		if r, err = strconv.Atoi(v); err != nil {
			t.Fatalf("WDC_MNIST_CONV_REUSE=%q: %v", v, err)
		}
	}
	convs := 0
	for _, nd := range q.Nodes {
		if nd.Op == "conv" {
			if convs++; convs == 2 {
				opts.Reuse[nd.Name()] = r
			}
		}
	}
	start := time.Now()
	d, c, _ := emitCheck(t, q, opts, inputs, Options{})
	correct := 0
	for i, row := range c.Outputs[sets:] {
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == int(labels.Data[i]) {
			correct++
		}
	}
	if c.Vectors != sets+n {
		t.Errorf("%d vectors simulated, want the %d test sets and %d digits", c.Vectors, sets, n)
	}
	if correct < 97 {
		t.Errorf("%d of %d digits classified correctly; the float model gets 99.41%% of the 10,000", correct, n)
	}
	t.Logf("MNIST CNN: %d test sets and %d digits bit-exact, %d/%d digits correct, latency %d cycles, II %d, estimate %+v (%.0fs)",
		sets, n, correct, n, c.LatencyCycles, c.IICycles, d.Estimate, time.Since(start).Seconds())
}
