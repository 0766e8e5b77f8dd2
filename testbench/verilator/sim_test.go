package verilator

import (
	"math/rand"
	"os/exec"
	"strings"
	"testing"

	"wdc/backends/verilog"
	"wdc/ir"
)

func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"verilator", "g++", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

// gb builds small quantized graphs for tests.
type gb struct {
	t   *testing.T
	g   *ir.Graph
	rng *rand.Rand
	k   int
}

func newGB(t *testing.T, name string, n int, in ir.Elem) (*gb, *ir.Value) {
	b := &gb{t: t, g: ir.NewGraph(name), rng: rand.New(rand.NewSource(1))}
	x, err := b.g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, n}}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	return b, b.cast(x, in)
}

func (b *gb) name(op string) string {
	b.k++
	return op + "_" + strings.Repeat("", 0) + string(rune('a'+b.k%26)) + string(rune('0'+b.k/26))
}

func (b *gb) node(op string, in []*ir.Value, attrs ir.Attrs) *ir.Value {
	b.t.Helper()
	v, err := b.g.AddNode(op, b.name(op), in, attrs, ir.Pos{})
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *gb) cast(x *ir.Value, e ir.Elem) *ir.Value {
	return b.node("cast", []*ir.Value{x}, ir.Attrs{"to": ir.StringAttr(e.String())})
}

// konst adds a constant of random words (limited to ±lim).
func (b *gb) konst(e ir.Elem, shape ir.Shape, lim int64) *ir.Value {
	b.t.Helper()
	n := shape.Elements()
	w := make([]int64, n)
	for i := range w {
		w[i] = b.rng.Int63n(2*lim+1) - lim
		if b.rng.Intn(8) == 0 {
			w[i] = 0
		}
	}
	b.k++
	v, err := b.g.AddConst("c"+string(rune('a'+b.k%26))+string(rune('0'+b.k/26)), ir.FromInts(e, shape, w), ir.Pos{})
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *gb) dense(x *ir.Value, nout int, we, be ir.Elem) *ir.Value {
	k := x.Type.Shape[1]
	w := b.konst(we, ir.Shape{k, nout}, 1<<(we.W-1)-1)
	in := []*ir.Value{x, w}
	if be.Kind == ir.Fixed {
		in = append(in, b.konst(be, ir.Shape{nout}, 1<<(be.W-1)-1))
	}
	return b.node("dense", in, nil)
}

func (b *gb) finish(y *ir.Value) *ir.Graph {
	b.t.Helper()
	out := b.cast(y, ir.Float32)
	b.g.Outputs = []*ir.Value{out}
	if err := b.g.Verify(); err != nil {
		b.t.Fatal(err)
	}
	return b.g
}

func randomInputs(g *ir.Graph, n int, scale float64) []*ir.Tensor {
	rng := rand.New(rand.NewSource(7))
	t := g.Inputs[0].Type
	var out []*ir.Tensor
	for i := 0; i < n; i++ {
		d := make([]float32, t.Shape.Elements())
		for j := range d {
			d[j] = float32(rng.NormFloat64() * scale)
		}
		out = append(out, ir.FromFloats(t.Shape, d))
	}
	return out
}

// emitCheck emits g, lints it and simulates it bit-exact against the golden model.
func emitCheck(t *testing.T, g *ir.Graph, opts verilog.Options, inputs []*ir.Tensor, sim Options) (*verilog.Design, *Check) {
	t.Helper()
	dir := t.TempDir()
	d, err := verilog.Emit(g, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := Lint(dir); err != nil {
		t.Fatal(err)
	}
	c, err := Run(g, dir, inputs, sim)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mismatches != 0 {
		t.Fatalf("%d of %d vectors differ; first: %v", c.Mismatches, c.Vectors, c.First)
	}
	if sim.ReadySeed == 0 && c.LatencyCycles != d.LatencyCycles {
		t.Errorf("measured latency %d cycles, the design predicts %d", c.LatencyCycles, d.LatencyCycles)
	}
	if sim.ReadySeed == 0 && len(inputs) > 2 && c.IICycles != d.IICycles {
		t.Errorf("measured II %d cycles, the design predicts %d", c.IICycles, d.IICycles)
	}
	return d, c
}

func TestDenseReluSmall(t *testing.T) {
	needTools(t)
	b, x := newGB(t, "small", 6, ir.FixedType(8, 3))
	h := b.dense(x, 4, ir.FixedType(8, 2), ir.FixedType(8, 4))
	h = b.cast(h, ir.Elem{Kind: ir.Fixed, W: 10, I: 4, Round: ir.RoundHalfEven, Ovf: ir.Saturate})
	h = b.node("relu", []*ir.Value{h}, nil)
	y := b.dense(h, 3, ir.FixedType(6, 1), ir.FixedType(9, 5))
	y = b.cast(y, ir.FixedType(12, 6))
	g := b.finish(y)
	d, c := emitCheck(t, g, verilog.Options{}, randomInputs(g, 50, 2), Options{})
	t.Logf("latency %d (predicted %d), II %d, estimate %+v", c.LatencyCycles, d.LatencyCycles, c.IICycles, d.Estimate)
}
