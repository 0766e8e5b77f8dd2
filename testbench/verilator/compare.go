package verilator

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"wdc/backends/verilog"
	"wdc/ir"
	"wdc/passes/quantize"
	"wdc/runtime"
)

// Divergence is the first output word where the hardware and the golden
// fixed-point interpreter disagree.
type Divergence struct {
	Vector   int    `json:"vector"`
	Layer    string `json:"layer"` // the IR value (layer) compared
	Index    int    `json:"index"` // word index within it
	Expected int64  `json:"expected"`
	Got      int64  `json:"got"`
}

func (d *Divergence) String() string {
	return fmt.Sprintf("vector %d, layer %q, index %d: expected %d, got %d", d.Vector, d.Layer, d.Index, d.Expected, d.Got)
}

// Check is the outcome of a simulation compared with the golden model.
type Check struct {
	Vectors       int         `json:"vectors"`
	Mismatches    int         `json:"mismatches"` // vectors with at least one differing word
	First         *Divergence `json:"first_divergence,omitempty"`
	LatencyCycles int         `json:"latency_cycles"`
	IICycles      int         `json:"ii_cycles"`
	// Outputs are the hardware's output words, one row per vector, and
	// Expected the golden model's.
	Outputs  [][]int64 `json:"-"`
	Expected [][]int64 `json:"-"`
}

// Golden runs the quantized graph g on the inputs (tensors of the graph
// input's type) and returns, per vector, the fixed-point words at the
// design's input (what the testbench feeds) and at its output.
func Golden(g *ir.Graph, d *verilog.Design, inputs []*ir.Tensor) (in, out [][]int64, err error) {
	if len(g.Inputs) != 1 {
		return nil, nil, fmt.Errorf("graph %q has %d inputs, want 1", g.Name, len(g.Inputs))
	}
	for v, x := range inputs {
		var gin, gout *ir.Tensor
		if g.Inputs[0].Name == d.Input.Value {
			gin = x
		}
		res, err := runtime.RunObserved(g, map[string]*ir.Tensor{g.Inputs[0].Name: x}, func(n *ir.Node, t *ir.Tensor) {
			switch n.Name() {
			case d.Input.Value:
				gin = t
			case d.Output.Value:
				gout = t
			}
		})
		if err != nil {
			return nil, nil, fmt.Errorf("golden model, vector %d: %v", v, err)
		}
		if gout == nil {
			gout = res[d.Output.Value]
		}
		if gin == nil || gout == nil {
			return nil, nil, fmt.Errorf("the graph has no values %q and %q that the design in/outputs; was it emitted from this graph?", d.Input.Value, d.Output.Value)
		}
		if gin.Len() != d.Input.Count || gout.Len() != d.Output.Count || gin.I == nil || gout.I == nil {
			return nil, nil, fmt.Errorf("the golden values %v and %v do not match the design's ports (%d and %d words)", gin.Type, gout.Type, d.Input.Count, d.Output.Count)
		}
		in = append(in, append([]int64(nil), gin.I...))
		out = append(out, append([]int64(nil), gout.I...))
	}
	return in, out, nil
}

// Run simulates the design in dir on the inputs and compares every output
// word with the golden interpreter on the quantized graph g.
func Run(g *ir.Graph, dir string, inputs []*ir.Tensor, opts Options) (*Check, error) {
	d, err := verilog.LoadDesign(dir)
	if err != nil {
		return nil, err
	}
	win, want, err := Golden(g, d, inputs)
	if err != nil {
		return nil, err
	}
	res, err := SimulateWith(dir, win, opts)
	if err != nil {
		return nil, err
	}
	c := Compare(d, want, res.Outputs)
	c.LatencyCycles, c.IICycles = res.LatencyCycles, res.IICycles
	if c.First != nil && len(d.Taps) > 0 {
		// find the first layer that goes wrong on the first bad vector
		if div, err := locate(g, dir, d, inputs[c.First.Vector], win[c.First.Vector]); err == nil && div != nil {
			div.Vector = c.First.Vector
			c.First = div
		}
	}
	return c, nil
}

// locate simulates one vector recording every layer's result and returns
// the first word that differs from the golden model, in layer order.
func locate(g *ir.Graph, dir string, d *verilog.Design, x *ir.Tensor, words []int64) (*Divergence, error) {
	golden := map[string]*ir.Tensor{}
	if _, err := runtime.RunObserved(g, map[string]*ir.Tensor{g.Inputs[0].Name: x}, func(n *ir.Node, t *ir.Tensor) {
		golden[n.Name()] = t
	}); err != nil {
		return nil, err
	}
	const file = "sim_taps.txt"
	if _, err := SimulateWith(dir, [][]int64{words}, Options{taps: file}); err != nil {
		return nil, err
	}
	text, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	got := map[int][]int64{}
	for _, line := range strings.Split(string(text), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 2 || fs[0] != "0" {
			continue
		}
		t, err := strconv.Atoi(fs[1])
		if err != nil {
			return nil, err
		}
		var ws []int64
		for _, f := range fs[2:] {
			v, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, err
			}
			ws = append(ws, v)
		}
		got[t] = ws
	}
	for i, tap := range d.Taps {
		want := golden[tap.Value]
		ws, ok := got[i]
		if want == nil || !ok || len(ws) != len(want.I) {
			continue
		}
		for j := range ws {
			if ws[j] != want.I[j] {
				return &Divergence{Layer: tap.Value, Index: j, Expected: want.I[j], Got: ws[j]}, nil
			}
		}
	}
	return nil, nil
}

// RunFloat is Run for a design directory alone: it loads the quantized
// graph Emit saved there and feeds it rows of floats (e.g. from ReadDat).
func RunFloat(dir string, rows [][]float32, opts Options) (*Check, error) {
	g, err := verilog.LoadGraph(dir)
	if err != nil {
		return nil, err
	}
	inputs, err := FloatInputs(g, rows)
	if err != nil {
		return nil, err
	}
	return Run(g, dir, inputs, opts)
}

// Compare checks hardware output words against expected ones.
func Compare(d *verilog.Design, want, got [][]int64) *Check {
	c := &Check{Vectors: len(want), Outputs: got, Expected: want}
	for v := range want {
		bad := false
		for i := range want[v] {
			var g int64
			if v < len(got) && i < len(got[v]) {
				g = got[v][i]
			}
			if v >= len(got) || i >= len(got[v]) || g != want[v][i] {
				if !bad {
					c.Mismatches++
					bad = true
				}
				if c.First == nil {
					c.First = &Divergence{Vector: v, Layer: d.Output.Value, Index: i, Expected: want[v][i], Got: g}
				}
			}
		}
	}
	return c
}

// FloatInputs turns rows of floats into tensors of the graph input's
// type (f32, any shape with as many elements as a row).
func FloatInputs(g *ir.Graph, rows [][]float32) ([]*ir.Tensor, error) {
	if len(g.Inputs) != 1 {
		return nil, fmt.Errorf("graph %q has %d inputs, want 1", g.Name, len(g.Inputs))
	}
	t := g.Inputs[0].Type
	if t.Elem != ir.Float32 {
		return nil, fmt.Errorf("input %q is %v, not f32", g.Inputs[0].Name, t)
	}
	n := t.Shape.Elements()
	out := make([]*ir.Tensor, len(rows))
	for i, r := range rows {
		if len(r) != n {
			return nil, fmt.Errorf("input row %d has %d values; %q (%v) needs %d", i, len(r), g.Inputs[0].Name, t, n)
		}
		out[i] = ir.FromFloats(t.Shape, append([]float32(nil), r...))
	}
	return out, nil
}

// ReadDat reads hls4ml's testbench text format (one vector per line,
// numbers separated by spaces); it is passes/quantize's reader.
func ReadDat(path string) ([][]float32, error) { return quantize.ReadDat(path) }
