package graphopt

import (
	"math"
	"math/rand"
	"testing"

	"wdc/ir"
	"wdc/passes"
	"wdc/runtime"
)

func randTensor(r *rand.Rand, shape ir.Shape, positive bool) *ir.Tensor {
	t := ir.NewTensor(ir.Float32, shape)
	for i := range t.F {
		t.F[i] = float32(r.NormFloat64())
		if positive {
			t.F[i] = 0.5 + float32(r.Float64())
		}
	}
	return t
}

// net builds x -> conv(w) -> add(bias const [M,1,1]) -> batch_norm ->
// relu -> flatten -> dense(trans_b=1) -> add(const) -> out, plus a dead
// branch and a constant subexpression (mul of two constants).
func net(t *testing.T) (*ir.Graph, map[string]*ir.Tensor) {
	r := rand.New(rand.NewSource(1))
	g := ir.NewGraph("net")
	must := func(v *ir.Value, err error) *ir.Value {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := func(name string, s ir.Shape, pos bool) *ir.Value {
		return must(g.AddConst(name, randTensor(r, s, pos), ir.Pos{}))
	}
	x := must(g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2, 6, 6}}, ir.Pos{}))
	w := c("w", ir.Shape{3, 2, 3, 3}, false)
	cb := c("cb", ir.Shape{3, 1, 1}, false)
	k1, k2 := c("k1", ir.Shape{3}, false), c("k2", ir.Shape{3}, false)
	scale := must(g.AddNode("mul", "scale", []*ir.Value{k1, k2}, nil, ir.Pos{}))
	conv := must(g.AddNode("conv", "conv", []*ir.Value{x, w}, ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)}, ir.Pos{}))
	biased := must(g.AddNode("add", "biased", []*ir.Value{conv, cb}, nil, ir.Pos{}))
	bn := must(g.AddNode("batch_norm", "bn", []*ir.Value{biased, scale, c("bb", ir.Shape{3}, false), c("bm", ir.Shape{3}, false), c("bv", ir.Shape{3}, true)}, nil, ir.Pos{}))
	relu := must(g.AddNode("relu", "relu", []*ir.Value{bn}, nil, ir.Pos{}))
	must(g.AddNode("sigmoid", "dead", []*ir.Value{relu}, nil, ir.Pos{}))
	flat := must(g.AddNode("flatten", "flat", []*ir.Value{relu}, nil, ir.Pos{}))
	dw := c("dw", ir.Shape{4, 108}, false)
	d := must(g.AddNode("dense", "d", []*ir.Value{flat, dw}, ir.Attrs{"trans_b": ir.IntAttr(1)}, ir.Pos{}))
	out := must(g.AddNode("add", "out", []*ir.Value{d, c("db", ir.Shape{4}, false)}, nil, ir.Pos{}))
	g.Outputs = []*ir.Value{out}
	return g, map[string]*ir.Tensor{"x": randTensor(r, ir.Shape{1, 2, 6, 6}, false)}
}

func TestOptimizePreservesResults(t *testing.T) {
	g, feeds := net(t)
	want, err := runtime.Run(g, feeds)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Clone(g)
	if err != nil {
		t.Fatal(err)
	}
	if err := Optimize(c); err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range c.Nodes {
		ops[n.Op]++
	}
	want2 := map[string]int{"conv": 1, "relu": 1, "flatten": 1, "dense": 1}
	for op, k := range want2 {
		if ops[op] != k {
			t.Errorf("after optimization: %d %s nodes, want %d (ops %v)", ops[op], op, k, ops)
		}
	}
	if len(c.Nodes) != 4 {
		t.Errorf("after optimization: %d nodes, want 4:\n%v", len(c.Nodes), ops)
	}
	for _, n := range c.Nodes {
		if n.Op == "dense" && n.Int("trans_b") != 0 {
			t.Error("dense weights were not pretransposed")
		}
	}
	got, err := runtime.Run(c, feeds)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want["out"].F {
		if math.Abs(float64(got["out"].F[i]-w)) > 1e-4+1e-4*math.Abs(float64(w)) {
			t.Fatalf("element %d: %v, want %v", i, got["out"].F[i], w)
		}
	}
	// The original graph is untouched.
	if len(g.Nodes) != 9 {
		t.Errorf("Optimize of a clone changed the original (%d nodes)", len(g.Nodes))
	}
}

func TestPassesRegistered(t *testing.T) {
	for _, name := range []string{"fold-constants", "fold-batchnorm", "fuse-bias", "pretranspose-weights", "eliminate-dead"} {
		if _, err := passes.Lookup(name); err != nil {
			t.Error(err)
		}
	}
}

func TestPackIntervals(t *testing.T) {
	// a and b overlap in time, c reuses a's space after a dies.
	iv := []Interval{{Size: 100, Start: 0, End: 1}, {Size: 50, Start: 1, End: 2}, {Size: 80, Start: 2, End: 3}}
	off, size, peak := PackIntervals(iv, 1)
	if off[0] == off[1] || size != 150 || peak != 150 {
		t.Fatalf("offsets %v size %d peak %d", off, size, peak)
	}
	for i := range iv {
		for j := range iv {
			a, b := iv[i], iv[j]
			if i < j && a.Start <= b.End && b.Start <= a.End && off[i] < off[j]+b.Size && off[j] < off[i]+a.Size {
				t.Errorf("buffers %d and %d overlap in time and space", i, j)
			}
		}
	}
}

func TestPlanMemory(t *testing.T) {
	g, _ := net(t)
	p := PlanMemory(g)
	if p.Arena > p.Naive || p.Peak > p.Arena || p.Arena == 0 {
		t.Fatalf("plan: %v", p)
	}
	t.Log(p)
}
