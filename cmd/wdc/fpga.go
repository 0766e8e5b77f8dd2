package main

import (
	"fmt"
	"io"
	"os"

	"wdc/backends/hls"
	"wdc/ir"
	"wdc/passes/quantize"
	"wdc/runtime"
)

// inputVector concatenates g's inputs in order, as the hardware and the C
// simulation take them.
func inputVector(g *ir.Graph, feeds map[string]*ir.Tensor) ([]float32, error) {
	var vec []float32
	for _, v := range g.Inputs {
		t := feeds[v.Name]
		if !t.Elem.IsFloat() {
			return nil, fmt.Errorf("input %s is %v: the FPGA targets take float inputs", v.Name, t.Type)
		}
		vec = append(vec, t.F...)
	}
	return vec, nil
}

// fixedWords concatenates the golden fixed-point words of every output.
func fixedWords(qg *ir.Graph, feeds map[string]*ir.Tensor) ([]int64, error) {
	gold, err := quantize.RunFixed(qg, feeds)
	if err != nil {
		return nil, err
	}
	var words []int64
	for _, o := range qg.Outputs {
		words = append(words, gold[o.Name].I...)
	}
	return words, nil
}

// firstMismatch compares words from hardware with the golden model.
func firstMismatch(got, want []int64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d output words, the golden model has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("output word %d is %d, the golden fixed-point model says %d", i, got[i], want[i])
		}
	}
	return nil
}

// runHLS quantizes g, emits HLS C++, runs its C simulation on the inputs
// and checks every output word against the golden fixed-point interpreter.
func runHLS(w io.Writer, g *ir.Graph, feeds map[string]*ir.Tensor, q *quantFlags, buildDir string) (map[string]*ir.Tensor, error) {
	qg, err := q.quantize(g)
	if err != nil {
		return nil, err
	}
	dir := buildDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wdc-hls-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	if err := hls.Emit(qg, dir, hls.Options{}); err != nil {
		return nil, err
	}
	vec, err := inputVector(g, feeds)
	if err != nil {
		return nil, err
	}
	got, err := hls.CSim(dir, [][]float32{vec})
	if err != nil {
		return nil, err
	}
	want, err := fixedWords(qg, feeds)
	if err != nil {
		return nil, err
	}
	if err := firstMismatch(got[0], want); err != nil {
		return nil, fmt.Errorf("hls C simulation disagrees with the golden model: %v", err)
	}
	fmt.Fprintf(w, "hls: C simulation matches the golden fixed-point model bit for bit (%d output words)\n", len(want))
	return runtime.Run(qg, feeds)
}
