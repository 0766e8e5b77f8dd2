package verilator

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"wdc/backends/verilog"
	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/passes/quantize"
	"wdc/testbench/check"
)

// TestMNISTCNN streams the first 100 MNIST digits through the MNIST CNN
// at fixed<16,6> in Verilator, bit-exact against the golden model. Its
// Verilator build is large (about 5,800 constant products), so it runs
// only with WDC_MNIST_RTL=1:
//
//	WDC_MNIST_RTL=1 go test ./testbench/verilator -run TestMNISTCNN -v -timeout 1h
func TestMNISTCNN(t *testing.T) {
	if os.Getenv("WDC_MNIST_RTL") == "" {
		t.Skip("set WDC_MNIST_RTL=1 to simulate the MNIST CNN (slow Verilator build)")
	}
	needTools(t)
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
	const n = 100
	var inputs []*ir.Tensor
	for i := 0; i < n; i++ {
		px := make([]float32, 784)
		check.ScaleUnit(imgs.Data[i*784:(i+1)*784], px)
		inputs = append(inputs, ir.FromFloats(q.Inputs[0].Type.Shape, px))
	}
	opts := verilog.Options{Reuse: map[string]int{}}
	for _, nd := range q.Nodes {
		if nd.Op == "dense" {
			opts.Reuse[nd.Name()] = 256 // 10 multipliers; the first conv's 1,025-cycle II dominates anyway
		}
	}
	start := time.Now()
	d, c, _ := emitCheck(t, q, opts, inputs, Options{})
	correct := 0
	for i, row := range c.Outputs {
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
	t.Logf("MNIST CNN: %d digits bit-exact, %d/%d correct, latency %d cycles, II %d, estimate %+v (%.0fs)",
		c.Vectors, correct, n, c.LatencyCycles, c.IICycles, d.Estimate, time.Since(start).Seconds())
}
