package verilog

import (
	"strings"
	"testing"

	"wdc/ir"
)

// cnnGraph: x f32[1,2,6,6] -> cast -> conv 3×3 (pads 1) -> cast ->
// relu -> max_pool (kernel k, strides s) -> cast f32.
func cnnGraph(t *testing.T, k, s int) *ir.Graph {
	t.Helper()
	g := ir.NewGraph("cnn")
	must := func(v *ir.Value, err error) *ir.Value {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	x := must(g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2, 6, 6}}, ir.Pos{}))
	xq := must(g.AddNode("cast", "x.q", []*ir.Value{x}, ir.Attrs{"to": ir.StringAttr("fixed<8,3>")}, ir.Pos{}))
	wd := make([]int64, 3*2*3*3)
	for i := range wd {
		wd[i] = int64(i%7) - 3
	}
	w := must(g.AddConst("w", ir.FromInts(ir.FixedType(8, 2), ir.Shape{3, 2, 3, 3}, wd), ir.Pos{}))
	h := must(g.AddNode("conv", "conv", []*ir.Value{xq, w}, ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)}, ir.Pos{}))
	h = must(g.AddNode("cast", "conv.q", []*ir.Value{h}, ir.Attrs{"to": ir.StringAttr("fixed<10,4,rne,sat>")}, ir.Pos{}))
	h = must(g.AddNode("relu", "act", []*ir.Value{h}, nil, ir.Pos{}))
	h = must(g.AddNode("max_pool", "pool", []*ir.Value{h}, ir.Attrs{"kernel_shape": ir.IntsAttr(int64(k), int64(k)), "strides": ir.IntsAttr(int64(s), int64(s))}, ir.Pos{}))
	y := must(g.AddNode("cast", "y", []*ir.Value{h}, ir.Attrs{"to": ir.StringAttr("f32")}, ir.Pos{}))
	g.Outputs = []*ir.Value{y}
	return g
}

// The cast, ReLU and a non-overlapping pooling after a convolution are
// generated inside it (per output pixel); an overlapping pooling stays a
// layer of its own. (testbench/verilator checks both bit-exact.)
func TestConvEpilogueFusion(t *testing.T) {
	for _, c := range []struct {
		k, s   int
		layers string
	}{
		{2, 2, "conv"},
		{3, 3, "conv"},
		{2, 1, "conv max_pool"},
	} {
		g := cnnGraph(t, c.k, c.s)
		d, err := Emit(g, t.TempDir(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		var ops []string
		for _, l := range d.Layers {
			ops = append(ops, l.Op)
		}
		if got := strings.Join(ops, " "); got != c.layers {
			t.Errorf("pool %d/%d: layers %q, want %q", c.k, c.s, got, c.layers)
		}
		if d.Output.Value != "pool" || d.Taps[len(d.Taps)-1].Value != "pool" {
			t.Errorf("pool %d/%d: output %q, last tap %+v", c.k, c.s, d.Output.Value, d.Taps[len(d.Taps)-1])
		}
		if c.layers == "conv" && d.Layers[0].Precision != g.Lookup("pool").Type.String() {
			t.Errorf("pool %d/%d: the conv layer gives %s, want the pooled %v", c.k, c.s, d.Layers[0].Precision, g.Lookup("pool").Type)
		}
		if c.layers != "conv" && d.Layers[0].Precision != g.Lookup("act").Type.String() {
			t.Errorf("pool %d/%d: the conv layer gives %s, want the ReLU's %v", c.k, c.s, d.Layers[0].Precision, g.Lookup("act").Type)
		}
	}
}
