package passes

import (
	"errors"
	"strings"
	"testing"

	"wdc/ir"
)

// Test passes, registered once per test binary.
func init() {
	Register(Pass{Name: "test-break", Doc: "makes a node's recorded type wrong", Run: func(g *ir.Graph) error {
		n := g.Nodes[len(g.Nodes)-1]
		n.Out.Type = ir.Type{Elem: ir.Float32, Shape: ir.Shape{99}}
		return nil
	}})
	Register(Pass{Name: "test-fail", Doc: "returns an error", Run: func(g *ir.Graph) error {
		return errors.New("nothing to do")
	}})
	Register(Pass{Name: "test-panic", Doc: "panics", Run: func(g *ir.Graph) error {
		var m map[string]int
		m["x"] = 1
		return nil
	}})
	Register(Pass{Name: "test-rename", Doc: "renames the first node", Run: func(g *ir.Graph) error {
		return g.Rename(g.Nodes[0].Out, "renamed")
	}})
}

// chain builds x -> relu "a" -> tanh "b" -> output.
func chain(t *testing.T) *ir.Graph {
	t.Helper()
	g := ir.NewGraph("chain")
	x, err := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{2, 3}}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := g.AddNode("relu", "a", []*ir.Value{x}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.AddNode("tanh", "b", []*ir.Value{a}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{b}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPipelines(t *testing.T) {
	for _, name := range []string{"default", "analysis"} {
		if err := RunPipeline(chain(t), name, Options{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	pl, err := LookupPipeline("default")
	if err != nil || strings.Join(pl.Passes, ",") != "verify,shape-inference" {
		t.Errorf("default pipeline: %v %v", pl, err)
	}
}

func TestUnknownNames(t *testing.T) {
	err := RunPipeline(chain(t), "nope", Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown pipeline "nope"`) || !strings.Contains(err.Error(), "analysis, default") {
		t.Errorf("unknown pipeline: %v", err)
	}
	err = RunPasses(chain(t), []string{"verify", "no-such-pass"}, Options{})
	if err == nil || !strings.Contains(err.Error(), `unknown pass "no-such-pass"`) ||
		!strings.Contains(err.Error(), "verify, shape-inference, work-depth") {
		t.Errorf("unknown pass: %v", err)
	}
	// An unknown dump pass is refused before anything runs.
	g := chain(t)
	err = RunPasses(g, []string{"test-rename"}, Options{After: "nah", Dump: func(string, *ir.Graph) {}})
	if err == nil || !strings.Contains(err.Error(), `unknown pass "nah"`) {
		t.Errorf("unknown dump pass: %v", err)
	}
	if g.Nodes[0].Name() != "a" {
		t.Errorf("a pass ran although the options were bad")
	}
	err = RunPipeline(chain(t), "default", Options{After: "work-depth", Dump: func(string, *ir.Graph) {}})
	if err == nil || !strings.Contains(err.Error(), `pass "work-depth" is not part of this run (it runs: verify, shape-inference)`) {
		t.Errorf("dump after a pass outside the pipeline: %v", err)
	}
	err = RunPipeline(chain(t), "default", Options{After: "verify"})
	if err == nil || !strings.Contains(err.Error(), "without a dump function") {
		t.Errorf("dump without a function: %v", err)
	}
}

func TestDumpAfter(t *testing.T) {
	var seen []string
	dump := func(pass string, g *ir.Graph) {
		seen = append(seen, pass+":"+g.Nodes[0].Name())
	}
	g := chain(t)
	if err := RunPasses(g, []string{"verify", "test-rename", "shape-inference"}, Options{After: "test-rename", Dump: dump}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "test-rename:renamed" {
		t.Errorf("dumps %v, want one after test-rename showing the renamed node", seen)
	}
	seen = nil
	var logged []string
	if err := RunPipeline(chain(t), "analysis", Options{After: "*", Dump: dump, Log: func(p string) { logged = append(logged, p) }}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, " ") != "verify:a shape-inference:a work-depth:a" || len(logged) != 3 {
		t.Errorf("dumps after every pass: %v, log %v", seen, logged)
	}
}

func TestBrokenGraphNamesPass(t *testing.T) {
	err := RunPasses(chain(t), []string{"verify", "test-break", "shape-inference"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "pass test-break left an invalid graph") || !strings.Contains(err.Error(), `node "b" (tanh)`) {
		t.Errorf("broken graph: %v", err)
	}
	err = RunPasses(chain(t), []string{"test-fail"}, Options{})
	if err == nil || err.Error() != "pass test-fail: nothing to do" {
		t.Errorf("failing pass: %v", err)
	}
	err = RunPasses(chain(t), []string{"test-panic"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "pass test-panic: internal error (panic)") {
		t.Errorf("panicking pass: %v", err)
	}
	if err := RunPasses(nil, []string{"verify"}, Options{}); err == nil {
		t.Error("nil graph accepted")
	}
}

func TestRegisterDuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering verify twice did not panic")
		}
	}()
	Register(Pass{Name: "verify", Run: func(*ir.Graph) error { return nil }})
}

func TestShapeInference(t *testing.T) {
	// Stale types (as read from hand-edited text) are recomputed, and the
	// nodes are put back in topological order.
	g := chain(t)
	g.Nodes[0].Out.Type = ir.Type{Elem: ir.Float32, Shape: ir.Shape{7}}
	g.Nodes[1].Out.Type = ir.Type{}
	g.Nodes[0], g.Nodes[1] = g.Nodes[1], g.Nodes[0]
	if err := g.Verify(); err == nil {
		t.Fatal("the edited graph should not verify")
	}
	if err := RunPipeline(g, "default", Options{}); err == nil {
		t.Error("the default pipeline verifies first and should reject stale types")
	}
	if err := RunPasses(g, []string{"shape-inference", "verify"}, Options{}); err != nil {
		t.Fatal(err)
	}
	if g.Nodes[0].Name() != "a" || g.Nodes[1].Out.Type.String() != "f32[2,3]" || g.Nodes[0].Out.Type.String() != "f32[2,3]" {
		t.Errorf("after shape inference: %s %v, %s %v", g.Nodes[0].Name(), g.Nodes[0].Out.Type, g.Nodes[1].Name(), g.Nodes[1].Out.Type)
	}

	// A pass changing an input's shape propagates through the graph.
	g = chain(t)
	g.Inputs[0].Type = ir.Type{Elem: ir.Float32, Shape: ir.Shape{5, 1, 4}}
	if err := InferShapes(g); err != nil {
		t.Fatal(err)
	}
	if got := g.Outputs[0].Type.String(); got != "f32[5,1,4]" {
		t.Errorf("output type %s, want f32[5,1,4]", got)
	}

	// A shape rule that fails names the node.
	g = chain(t)
	w, _ := g.AddConst("w", ir.NewTensor(ir.Float32, ir.Shape{4, 4}), ir.Pos{})
	d, err := g.AddNode("dense", "d", []*ir.Value{g.Outputs[0], w}, nil, ir.Pos{File: "m.wdc", Line: 3, Col: 5})
	if err == nil || d != nil {
		t.Fatalf("dense [2,3]x[4,4] should not build")
	}
	n := &ir.Node{Op: "dense", Inputs: []*ir.Value{g.Outputs[0], w}, Attrs: ir.Attrs{}, Pos: ir.Pos{File: "m.wdc", Line: 3, Col: 5}}
	n.Out = &ir.Value{Name: "d", Producer: n, Type: ir.Type{Elem: ir.Float32, Shape: ir.Shape{2, 4}}}
	g.Nodes = append(g.Nodes, n)
	g.Outputs = []*ir.Value{n.Out}
	g.Reindex()
	err = InferShapes(g)
	if err == nil || !strings.Contains(err.Error(), `m.wdc:3:5: node "d" (dense)`) {
		t.Errorf("failing shape rule: %v", err)
	}

	// A cycle is reported with its nodes.
	g = chain(t)
	g.Nodes[0].Inputs[0] = g.Nodes[1].Out
	err = InferShapes(g)
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: %v", err)
	}
}
