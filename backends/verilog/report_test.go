package verilog

import (
	"context"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"wdc/ir"
)

// twoLayers builds x f32[1,3] -> cast fixed<10,4,rne,sat> -> twice (dense
// 3→3, the same weights -> cast fixed<10,4,rne,sat> -> relu) -> cast f32:
// its two dense modules are identical.
func twoLayers(t *testing.T) *ir.Graph {
	t.Helper()
	g := ir.NewGraph("two")
	rng := rand.New(rand.NewSource(5))
	must := func(v *ir.Value, err error) *ir.Value {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const k, n = 3, 3
	w, b := denseParams(t, g, rng, k, n)
	x := must(g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, k}}, ir.Pos{}))
	h := must(g.AddNode("cast", "x.q", []*ir.Value{x}, ir.Attrs{"to": ir.StringAttr("fixed<10,4,rne,sat>")}, ir.Pos{}))
	for _, name := range []string{"a", "b"} {
		h = must(g.AddNode("dense", "fc"+name, []*ir.Value{h, w, b}, nil, ir.Pos{}))
		h = must(g.AddNode("cast", "fc"+name+".q", []*ir.Value{h}, ir.Attrs{"to": ir.StringAttr("fixed<10,4,rne,sat>")}, ir.Pos{}))
		h = must(g.AddNode("relu", "act"+name, []*ir.Value{h}, nil, ir.Pos{}))
	}
	y := must(g.AddNode("cast", "y", []*ir.Value{h}, ir.Attrs{"to": ir.StringAttr("f32")}, ir.Pos{}))
	g.Outputs = []*ir.Value{y}
	return g
}

// TestReportPerModule synthesizes a small two-layer design module by
// module (two jobs), checks that the modules add up to the totals, that
// identical modules are synthesized once, that a second run comes from the
// cache, and that the counts agree with one flattened run of the design.
func TestReportPerModule(t *testing.T) {
	if _, err := exec.LookPath("yosys"); err != nil {
		t.Skip("yosys not installed")
	}
	g := twoLayers(t)
	dir := t.TempDir()
	d, err := Emit(g, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	layers := map[string]Layer{}
	units := 1 // the top level with the light layers
	for _, l := range d.Layers {
		layers[l.Module] = l
		if l.Op == "dense" {
			units++
		}
	}
	var calls, last int
	r, err := ReportWith(context.Background(), dir, ReportOptions{Jobs: 2, Progress: func(done, total int, module string) {
		calls++
		if done != last+1 || total != units || module == "" {
			t.Errorf("progress %d/%d %q after %d", done, total, module, last)
		}
		last = done
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", r.Table())
	if r.Mode != "per-module" || len(r.Modules) != units || calls != units {
		t.Fatalf("mode %q, %d modules for %d runs, %d progress calls", r.Mode, len(r.Modules), units, calls)
	}
	if r.Estimate != d.Estimate {
		t.Errorf("estimate %+v, design says %+v", r.Estimate, d.Estimate)
	}
	var sum Resources
	same := 0
	for i, m := range r.Modules {
		sum.LUT += m.LUT
		sum.FF += m.FF
		sum.DSP += m.DSP
		sum.BRAM += m.BRAM
		if m.Cached {
			t.Errorf("%s cached on the first run", m.Module)
		}
		if m.SameAs != "" {
			same++
		}
		if l, ok := layers[m.Module]; ok && m.DSP != l.Multipliers {
			t.Errorf("%s: %d DSP48, the design has %d multipliers", m.Module, m.DSP, l.Multipliers)
		}
		if (i == len(r.Modules)-1) != (m.Module == d.Top) {
			t.Errorf("module %d is %s", i, m.Module)
		}
	}
	if sum != r.Resources {
		t.Errorf("modules add up to %+v, total %+v", sum, r.Resources)
	}
	if same == 0 {
		t.Errorf("the two identical dense modules were synthesized twice")
	}
	if len(r.Warnings) > 0 {
		t.Errorf("warnings: %v", r.Warnings)
	}
	if r.DSP == 0 || r.LUT == 0 || r.FF == 0 {
		t.Errorf("implausible report %+v", r.Resources)
	}

	// again: everything from the cache
	r2, err := ReportWith(context.Background(), dir, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r2.Modules {
		if !m.Cached {
			t.Errorf("%s not cached on the second run", m.Module)
		}
	}
	if r2.Resources != r.Resources {
		t.Errorf("cached %+v, first run %+v", r2.Resources, r.Resources)
	}
	if !strings.Contains(r2.Note(), "sums over") {
		t.Errorf("note %q does not say the counts are sums", r2.Note())
	}
	// a changed module is synthesized again
	f := filepath.Join(dir, d.Layers[0].File)
	src, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	// a comment does not change the logic: still cached
	if err := os.WriteFile(f, append(src, []byte("\n// edited\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if rc, err := ReportWith(context.Background(), dir, ReportOptions{}); err != nil {
		t.Fatal(err)
	} else if !rc.Modules[0].Cached {
		t.Errorf("a comment made %s miss the cache", rc.Modules[0].Module)
	}
	if err := os.WriteFile(f, []byte(strings.Replace(string(src), "endmodule", "  wire unused_extra = 1'b0;\nendmodule", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r3, err := ReportWith(context.Background(), dir, ReportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range r3.Modules {
		if want := i != 0 && i != len(r3.Modules)-1; m.Cached != want {
			t.Errorf("after editing %s: %s cached %v, want %v", d.Layers[0].File, m.Module, m.Cached, want)
		}
	}
	if err := os.WriteFile(f, src, 0o644); err != nil {
		t.Fatal(err)
	}

	// one flattened run of the whole design
	flat, err := ReportWith(context.Background(), dir, ReportOptions{Flatten: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("flattened:\n%s", flat.Table())
	if flat.DSP != r.DSP || flat.BRAM != r.BRAM {
		t.Errorf("flattened %+v, per module %+v", flat.Resources, r.Resources)
	}
	// a flattened run can merge logic across modules (a cast into the LUTs
	// of the adder tree before it) and drop accumulator bits a cast never
	// reads: it may be a little smaller, never larger
	for _, c := range []struct {
		name       string
		flat, sums int
	}{{"LUT", flat.LUT, r.LUT}, {"FF", flat.FF, r.FF}} {
		if c.flat > c.sums || 10*(c.sums-c.flat) > c.sums {
			t.Errorf("%s: flattened %d, per-module sum %d: not within 10%%", c.name, c.flat, c.sums)
		}
	}
}
