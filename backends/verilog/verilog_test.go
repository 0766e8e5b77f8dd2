package verilog

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"wdc/ir"
)

// small builds x f32[1,k] -> cast fixed<8,3> -> dense (fixed<8,2> weights,
// fixed<8,4> bias) -> cast fixed<10,4,rne,sat> -> relu -> cast f32.
func small(t *testing.T, k, n int) *ir.Graph {
	t.Helper()
	g := ir.NewGraph("small")
	rng := rand.New(rand.NewSource(3))
	must := func(v *ir.Value, err error) *ir.Value {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	x := must(g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, k}}, ir.Pos{}))
	xq := must(g.AddNode("cast", "x.q", []*ir.Value{x}, ir.Attrs{"to": ir.StringAttr("fixed<8,3>")}, ir.Pos{}))
	w, b := denseParams(t, g, rng, k, n)
	h := must(g.AddNode("dense", "fc", []*ir.Value{xq, w, b}, nil, ir.Pos{}))
	h = must(g.AddNode("cast", "fc.q", []*ir.Value{h}, ir.Attrs{"to": ir.StringAttr("fixed<10,4,rne,sat>")}, ir.Pos{}))
	h = must(g.AddNode("relu", "act", []*ir.Value{h}, nil, ir.Pos{}))
	y := must(g.AddNode("cast", "y", []*ir.Value{h}, ir.Attrs{"to": ir.StringAttr("f32")}, ir.Pos{}))
	g.Outputs = []*ir.Value{y}
	return g
}

// denseParams adds constants w fixed<8,2>[k,n] and b fixed<8,4>[n] drawn
// from rng (weights first) to g.
func denseParams(t *testing.T, g *ir.Graph, rng *rand.Rand, k, n int) (w, b *ir.Value) {
	t.Helper()
	wd := make([]int64, k*n)
	for i := range wd {
		wd[i] = rng.Int63n(255) - 127
	}
	bd := make([]int64, n)
	for i := range bd {
		bd[i] = rng.Int63n(255) - 127
	}
	var err error
	if w, err = g.AddConst("w", ir.FromInts(ir.FixedType(8, 2), ir.Shape{k, n}, wd), ir.Pos{}); err != nil {
		t.Fatal(err)
	}
	if b, err = g.AddConst("b", ir.FromInts(ir.FixedType(8, 4), ir.Shape{n}, bd), ir.Pos{}); err != nil {
		t.Fatal(err)
	}
	return w, b
}

func TestEmitFilesAndDeterminism(t *testing.T) {
	g := small(t, 6, 4)
	d1, d2 := t.TempDir(), t.TempDir()
	des, err := Emit(g, d1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Emit(g, d2, Options{}); err != nil {
		t.Fatal(err)
	}
	if des.Input.Value != "x.q" || des.Output.Value != "act" || des.Input.Count != 6 || des.Output.Count != 4 {
		t.Errorf("ports %+v %+v", des.Input, des.Output)
	}
	if des.LatencyCycles != 2 || des.IICycles != 1 {
		t.Errorf("latency %d II %d, want 2 and 1", des.LatencyCycles, des.IICycles)
	}
	// one file per layer, comments naming the layer and its precision
	if len(des.Files) != 4 || des.Files[len(des.Files)-1] != "top.v" {
		t.Errorf("files %v", des.Files)
	}
	text, _ := os.ReadFile(filepath.Join(d1, des.Layers[0].File))
	if !strings.Contains(string(text), `layer "fc" (dense)`) || !strings.Contains(string(text), "result: "+des.Layers[0].Precision) {
		t.Errorf("dense file lacks its layer comment:\n%s", text)
	}
	for _, f := range append(des.Files, DesignFile) {
		a, _ := os.ReadFile(filepath.Join(d1, f))
		b, _ := os.ReadFile(filepath.Join(d2, f))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", f)
		}
	}
	back, err := LoadDesign(d1)
	if err != nil || back.Top != "top" || back.LatencyCycles != 2 {
		t.Errorf("LoadDesign: %+v %v", back, err)
	}
}

func TestEmitErrorsBeforeWriting(t *testing.T) {
	g := small(t, 6, 4)
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{ReuseFactor: 5}, "reuse factor 5 does not divide the layer's 6×4 = 24 multiplications (divisors near it: 4, 6)"},
		{Options{Reuse: map[string]int{"nope": 2}}, `"nope", which is not a dense node`},
		{Options{Top: "1top"}, "not a Verilog identifier"},
	} {
		dir := filepath.Join(t.TempDir(), "out")
		_, err := Emit(g, dir, c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.opts, err, c.want)
		}
		if _, serr := os.Stat(dir); serr == nil {
			t.Errorf("%+v: %s was created despite the error", c.opts, dir)
		}
	}
	// a float graph is refused with a hint
	f := ir.NewGraph("float")
	x, _ := f.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 4}}, ir.Pos{})
	y, _ := f.AddNode("relu", "y", []*ir.Value{x}, nil, ir.Pos{})
	f.Outputs = []*ir.Value{y}
	if _, err := Emit(f, t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), "run the quantization pass first") {
		t.Errorf("float graph: %v", err)
	}
	// unsupported ops are all listed
	q := ir.NewGraph("soft")
	x, _ = q.AddInput("x", ir.Type{Elem: ir.FixedType(8, 3), Shape: ir.Shape{1, 4}}, ir.Pos{})
	a, _ := q.AddNode("softmax", "s1", []*ir.Value{x}, nil, ir.Pos{})
	b, _ := q.AddNode("sigmoid", "s2", []*ir.Value{a}, nil, ir.Pos{})
	q.Outputs = []*ir.Value{b}
	if _, err := Emit(q, t.TempDir(), Options{}); err == nil || !strings.Contains(err.Error(), `"s1" (softmax)`) || !strings.Contains(err.Error(), `"s2" (sigmoid)`) {
		t.Errorf("unsupported ops: %v", err)
	}
}

// TestReportSmall synthesizes a small design with yosys.
func TestReportSmall(t *testing.T) {
	if _, err := exec.LookPath("yosys"); err != nil {
		t.Skip("yosys not installed")
	}
	g := small(t, 4, 3)
	dir := t.TempDir()
	d, err := Emit(g, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Report(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", r.Table())
	if r.DSP == 0 || r.LUT == 0 || r.FF == 0 {
		t.Errorf("implausible report %+v", r.Resources)
	}
	if r.Estimate != d.Estimate {
		t.Errorf("estimate %+v, design says %+v", r.Estimate, d.Estimate)
	}
}

func TestCSD(t *testing.T) {
	for v := int64(-70000); v <= 70000; v++ {
		var sum int64
		last := -2
		for _, d := range csd(v) {
			if d.shift == last+1 {
				t.Fatalf("%d: adjacent digits %v", v, csd(v))
			}
			last = d.shift
			if d.neg {
				sum -= 1 << d.shift
			} else {
				sum += 1 << d.shift
			}
		}
		if sum != v {
			t.Fatalf("csd(%d) = %v sums to %d", v, csd(v), sum)
		}
	}
	if n := len(csd(7)); n != 2 { // 8 - 1
		t.Errorf("csd(7) has %d digits, want 2", n)
	}
}
