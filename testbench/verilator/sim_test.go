package verilator

import (
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
func emitCheck(t *testing.T, g *ir.Graph, opts verilog.Options, inputs []*ir.Tensor, sim Options) (*verilog.Design, *Check, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := verilog.Emit(g, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := Build(dir); err != nil { // first: its verilation (-Wall) also lints
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := Lint(dir); err != nil {
		t.Fatal(err)
	}
	t2 := time.Now()
	c, err := Run(g, dir, inputs, sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build %.1fs, lint %.1fs, golden model and simulation %.1fs", t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), time.Since(t2).Seconds())
	if bt, err := LastBuild(dir); err == nil {
		t.Logf("build: %v", bt)
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
	return d, c, dir
}

func TestDenseReluSmall(t *testing.T) {
	needTools(t)
	t.Parallel()
	b, x := newGB(t, "small", 6, ir.FixedType(8, 3))
	h := b.dense(x, 4, ir.FixedType(8, 2), ir.FixedType(8, 4))
	h = b.cast(h, ir.Elem{Kind: ir.Fixed, W: 10, I: 4, Round: ir.RoundHalfEven, Ovf: ir.Saturate})
	h = b.node("relu", []*ir.Value{h}, nil)
	y := b.dense(h, 3, ir.FixedType(6, 1), ir.FixedType(9, 5))
	y = b.cast(y, ir.FixedType(12, 6))
	g := b.finish(y)
	d, c, dir := emitCheck(t, g, verilog.Options{}, randomInputs(g, 50, 2), Options{})
	t.Logf("latency %d (predicted %d), II %d, estimate %+v", c.LatencyCycles, d.LatencyCycles, c.IICycles, d.Estimate)
	// from the directory alone, as `wdc sim DIR --input FILE` does
	c2, err := RunFloat(dir, [][]float32{{1, -2, 0.5, 3, -0.25, 7}, {0, 0, 0, 0, 0, 0}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Vectors != 2 || c2.Mismatches != 0 {
		t.Fatalf("RunFloat: %+v", c2)
	}
}

func fx(w, i int, r ir.Rounding, o ir.Overflow) ir.Elem {
	return ir.Elem{Kind: ir.Fixed, W: w, I: i, Round: r, Ovf: o}
}

// TestOpsBitExact runs casts with every rounding and overflow mode,
// lookups, element-wise arithmetic, reductions and relu side by side in
// one design (joined by concat) against the golden model, with and
// without back-pressure.
func TestOpsBitExact(t *testing.T) {
	needTools(t)
	t.Parallel()
	b, xq := newGB(t, "ops", 8, ir.FixedType(12, 5))
	var br []*ir.Value
	var casts []*ir.Value
	for _, r := range []ir.Rounding{ir.Truncate, ir.RoundHalfEven} {
		for _, o := range []ir.Overflow{ir.Wrap, ir.Saturate} {
			c := b.cast(xq, fx(6, 2, r, o))
			casts = append(casts, c)
			br = append(br, c)
		}
	}
	br = append(br, b.cast(xq, fx(14, 4, ir.RoundHalfEven, ir.Saturate)))
	br = append(br, b.cast(xq, fx(9, 5, ir.RoundHalfEven, ir.Wrap)))
	tab1 := b.konst(ir.FixedType(10, 1), ir.Shape{32}, 511)
	br = append(br, b.node("lut", []*ir.Value{xq, tab1}, ir.Attrs{"shift": ir.IntAttr(5), "offset": ir.IntAttr(16)}))
	tab2 := b.konst(ir.FixedType(8, 3), ir.Shape{20}, 127)
	br = append(br, b.node("lut", []*ir.Value{casts[1], tab2}, ir.Attrs{"shift": ir.IntAttr(-1), "offset": ir.IntAttr(3)}))
	br = append(br, b.node("add", []*ir.Value{xq, b.konst(ir.FixedType(8, 2), ir.Shape{1, 8}, 127)}, nil))
	br = append(br, b.node("sub", []*ir.Value{casts[0], xq}, nil))
	br = append(br, b.node("mul", []*ir.Value{casts[2], b.konst(ir.FixedType(5, 1), ir.Shape{8}, 15)}, nil))
	br = append(br, b.node("mul", []*ir.Value{casts[0], casts[3]}, nil))
	br = append(br, b.node("reduce_sum", []*ir.Value{xq}, ir.Attrs{"axes": ir.IntsAttr(1)}))
	br = append(br, b.node("reduce_max", []*ir.Value{xq}, ir.Attrs{"axes": ir.IntsAttr(1)}))
	br = append(br, b.node("relu", []*ir.Value{xq}, nil))
	common := ir.FixedType(24, 12)
	for i := range br {
		br[i] = b.cast(br[i], common)
	}
	y := b.node("concat", br, ir.Attrs{"axis": ir.IntAttr(1)})
	g := b.finish(y)
	inputs := randomInputs(g, 200, 6)
	d, c, dir := emitCheck(t, g, verilog.Options{}, inputs, Options{})
	t.Logf("latency %d, II %d", c.LatencyCycles, c.IICycles)
	// back-pressure: the same words, whatever the consumer's pace; the
	// directory given relative to the working directory
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(wd, dir)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Run(g, rel, inputs, Options{ReadySeed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Mismatches != 0 {
		t.Fatalf("with back-pressure %d vectors differ; first: %v", c2.Mismatches, c2.First)
	}
	// a corrupted table must be reported as a divergence
	var mem string
	for _, f := range d.MemFiles {
		mem = f
	}
	path := filepath.Join(dir, mem)
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(text), "\n")
	for i := range lines {
		if lines[i] != "" {
			lines[i] = strings.Repeat("7", len(lines[i]))
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	c3, err := Run(g, dir, inputs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var lutLayer string
	for _, l := range d.Layers {
		if l.Op == "lut" && l.Module+".mem" == mem {
			lutLayer = l.Node
		}
	}
	if c3.Mismatches == 0 || c3.First == nil || c3.First.Layer != lutLayer {
		t.Fatalf("corrupted table not located in layer %q: %+v", lutLayer, c3.First)
	}
	t.Logf("corrupted %s: %d mismatches, first %v", mem, c3.Mismatches, c3.First)
}

// TestReuseFactors: dense layers time-multiplexed with reuse factors that
// divide the inputs (R=2), straddle outputs (R=3 with 4 inputs), exceed
// the inputs (R=8 with 6) and leave one multiplier (R=K·N), bit-exact,
// with the input throttled to the largest R.
func TestReuseFactors(t *testing.T) {
	needTools(t)
	t.Parallel()
	b, x := newGB(t, "reuse", 4, ir.FixedType(10, 4))
	h1 := b.dense(x, 6, ir.FixedType(8, 2), ir.FixedType(8, 3))
	h := b.node("relu", []*ir.Value{b.cast(h1, fx(10, 4, ir.RoundHalfEven, ir.Saturate))}, nil)
	h2 := b.dense(h, 4, ir.FixedType(7, 1), ir.FixedType(12, 6))
	h = b.cast(h2, fx(12, 5, ir.Truncate, ir.Saturate))
	h3 := b.dense(h, 3, ir.FixedType(9, 3), ir.Elem{})
	h4 := b.dense(b.cast(h3, ir.FixedType(10, 5)), 2, ir.FixedType(9, 3), ir.FixedType(9, 3))
	y := b.cast(h4, ir.FixedType(16, 8))
	g := b.finish(y)
	opts := verilog.Options{Reuse: map[string]int{h1.Name: 3, h2.Name: 8, h3.Name: 12, h4.Name: 2}}
	inputs := randomInputs(g, 40, 3)
	d, c, dir := emitCheck(t, g, opts, inputs, Options{})
	if d.IICycles != 12 {
		t.Errorf("II %d, want 12", d.IICycles)
	}
	for _, l := range d.Layers {
		if l.Op == "dense" {
			t.Logf("%s: R=%d, %d multipliers, latency %d", l.Node, l.Reuse, l.Multipliers, l.Latency)
		}
	}
	t.Logf("latency %d, II %d", c.LatencyCycles, c.IICycles)
	c2, err := Run(g, dir, inputs, Options{ReadySeed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Mismatches != 0 {
		t.Fatalf("with back-pressure %d vectors differ; first: %v", c2.Mismatches, c2.First)
	}
}

// TestSmallCNN: streamed convolutions (padding, strides, a non-square
// kernel), max pooling (with a window that leaves rows unused), flatten
// and dense, bit-exact.
func TestSmallCNN(t *testing.T) {
	needTools(t)
	t.Parallel()
	b := &gb{t: t, g: ir.NewGraph("cnn"), rng: rand.New(rand.NewSource(2))}
	x, err := b.g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2, 7, 6}}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	h := b.cast(x, ir.FixedType(10, 4))
	w1 := b.konst(ir.FixedType(8, 2), ir.Shape{3, 2, 3, 3}, 127)
	b1 := b.konst(ir.FixedType(8, 3), ir.Shape{3}, 127)
	h = b.node("conv", []*ir.Value{h, w1, b1}, ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)})
	h = b.node("relu", []*ir.Value{b.cast(h, fx(12, 5, ir.RoundHalfEven, ir.Saturate))}, nil)
	h = b.node("max_pool", []*ir.Value{h}, ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2), "strides": ir.IntsAttr(2, 2)})
	w2 := b.konst(ir.FixedType(8, 2), ir.Shape{2, 3, 2, 2}, 127)
	h = b.node("conv", []*ir.Value{h, w2}, ir.Attrs{"strides": ir.IntsAttr(1, 2), "pads": ir.IntsAttr(0, 1, 1, 0)})
	h = b.cast(h, fx(12, 6, ir.Truncate, ir.Saturate))
	h = b.node("flatten", []*ir.Value{h}, nil)
	h = b.dense(h, 3, ir.FixedType(8, 2), ir.FixedType(8, 3))
	y := b.cast(h, ir.FixedType(16, 8))
	g := b.finish(y)
	inputs := randomInputs(g, 12, 2)
	d, c, dir := emitCheck(t, g, verilog.Options{}, inputs, Options{})
	t.Logf("latency %d, II %d, layers:", c.LatencyCycles, c.IICycles)
	for _, l := range d.Layers {
		t.Logf("  %-12s %-10s latency %3d stage %3d", l.Node, l.Op, l.Latency, l.Stage)
	}
	c2, err := Run(g, dir, inputs, Options{ReadySeed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Mismatches != 0 {
		t.Fatalf("with back-pressure %d vectors differ; first: %v", c2.Mismatches, c2.First)
	}
}

func TestReadDat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "in.dat")
	if err := os.WriteFile(p, []byte("1 2.5 -3\n\n4 5 6e-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadDat(p)
	if err != nil || len(rows) != 2 || rows[1][2] != float32(0.6) {
		t.Fatalf("ReadDat: %v %v", rows, err)
	}
	if err := os.WriteFile(p, []byte("1 2\n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDat(p); err == nil {
		t.Error("ragged .dat accepted")
	}
}

func TestSimulateErrors(t *testing.T) {
	if _, err := Simulate(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "design.json") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestMissingVerilator(t *testing.T) {
	b, x := newGB(t, "tiny", 2, ir.FixedType(8, 3))
	g := b.finish(b.node("relu", []*ir.Value{x}, nil))
	dir := t.TempDir()
	if _, err := verilog.Emit(g, dir, verilog.Options{}); err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("PATH")
	t.Setenv("PATH", t.TempDir())
	_, err := Simulate(dir, [][]int64{{1, 2}})
	if err == nil || !strings.Contains(err.Error(), "install the Debian package verilator") {
		t.Errorf("missing verilator: %v", err)
	}
	if _, err := verilog.Report(dir); err == nil || !strings.Contains(err.Error(), "install the Debian package yosys") {
		t.Errorf("missing yosys: %v", err)
	}
	t.Setenv("PATH", path)
	// bad vectors are refused before anything is built
	if _, err := Simulate(dir, [][]int64{{1, 2, 3}}); err == nil || !strings.Contains(err.Error(), "has 3 words; the design takes 2") {
		t.Errorf("wrong vector length: %v", err)
	}
	if _, err := Simulate(dir, [][]int64{{1, 200}}); err == nil || !strings.Contains(err.Error(), "does not fit fixed<8,3>") {
		t.Errorf("word out of range: %v", err)
	}
}

// TestOverlappingPool: a max pooling whose windows overlap (3×3, stride
// 2, padded) is not fused into the convolution before it and runs as a
// comparator layer of its own, bit-exact; a 3×3/3 pooling dropping a row
// and a column is fused.
func TestOverlappingPool(t *testing.T) {
	needTools(t)
	t.Parallel()
	b := &gb{t: t, g: ir.NewGraph("pools"), rng: rand.New(rand.NewSource(4))}
	x, err := b.g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 1, 8, 7}}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	h := b.cast(x, ir.FixedType(10, 4))
	h = b.node("conv", []*ir.Value{h, b.konst(ir.FixedType(8, 2), ir.Shape{2, 1, 2, 2}, 127)}, ir.Attrs{"pads": ir.IntsAttr(1, 1, 0, 0)})
	h = b.node("relu", []*ir.Value{b.cast(h, fx(12, 5, ir.RoundHalfEven, ir.Saturate))}, nil)
	p1 := b.node("max_pool", []*ir.Value{h}, ir.Attrs{"kernel_shape": ir.IntsAttr(3, 3), "strides": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(1, 1, 1, 1)})
	h = b.node("conv", []*ir.Value{p1, b.konst(ir.FixedType(8, 2), ir.Shape{3, 2, 1, 1}, 127)}, nil)
	h = b.cast(h, fx(12, 5, ir.Truncate, ir.Wrap))
	p2 := b.node("max_pool", []*ir.Value{h}, ir.Attrs{"kernel_shape": ir.IntsAttr(3, 3), "strides": ir.IntsAttr(3, 3)})
	h = b.node("flatten", []*ir.Value{p2}, nil)
	y := b.cast(h, ir.FixedType(16, 8))
	g := b.finish(y)
	d, c, _ := emitCheck(t, g, verilog.Options{}, randomInputs(g, 6, 2), Options{ReadySeed: 0})
	var ops []string
	for _, l := range d.Layers {
		ops = append(ops, l.Op)
	}
	if got := strings.Join(ops, " "); got != "conv max_pool conv flatten cast" {
		t.Errorf("layers %q", got)
	}
	t.Logf("latency %d, II %d, layers %v", c.LatencyCycles, c.IICycles, ops)
}

// TestConvReuse: streamed convolutions with reuse factors (R = 4 with the
// fused cast, ReLU and pooling; R = 3, which splits a multiplier's
// products across two output channels; R = M·C·K1·K2, one multiplier) and
// a fully parallel one, bit-exact with and without back-pressure, with
// the latency and II the design predicts.
func TestConvReuse(t *testing.T) {
	needTools(t)
	t.Parallel()
	b := &gb{t: t, g: ir.NewGraph("convreuse"), rng: rand.New(rand.NewSource(5))}
	x, err := b.g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2, 6, 5}}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	h := b.cast(x, ir.FixedType(10, 4))
	c1 := b.node("conv", []*ir.Value{h, b.konst(ir.FixedType(8, 2), ir.Shape{4, 2, 3, 3}, 127), b.konst(ir.FixedType(8, 3), ir.Shape{4}, 127)}, ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)})
	h = b.node("relu", []*ir.Value{b.cast(c1, fx(12, 5, ir.RoundHalfEven, ir.Saturate))}, nil)
	h = b.node("max_pool", []*ir.Value{h}, ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2), "strides": ir.IntsAttr(2, 2)})
	c2 := b.node("conv", []*ir.Value{h, b.konst(ir.FixedType(8, 2), ir.Shape{3, 4, 2, 2}, 127)}, ir.Attrs{"pads": ir.IntsAttr(1, 0, 0, 1), "strides": ir.IntsAttr(1, 2)})
	h = b.cast(c2, fx(12, 6, ir.Truncate, ir.Saturate))
	c3 := b.node("conv", []*ir.Value{h, b.konst(ir.FixedType(6, 1), ir.Shape{2, 3, 2, 1}, 31)}, nil)
	h = b.cast(c3, fx(12, 6, ir.RoundHalfEven, ir.Wrap))
	h = b.node("flatten", []*ir.Value{h}, nil)
	y := b.cast(h, ir.FixedType(16, 8))
	g := b.finish(y)
	opts := verilog.Options{Reuse: map[string]int{c1.Name: 4, c2.Name: 3, c3.Name: 12}}
	inputs := randomInputs(g, 8, 2)
	d, c, dir := emitCheck(t, g, opts, inputs, Options{})
	for _, l := range d.Layers {
		t.Logf("%-10s %-8s R=%-2d multipliers %-3d latency %4d stage %4d", l.Node, l.Op, l.Reuse, l.Multipliers+l.ShiftAdd, l.Latency, l.Stage)
	}
	if d.Layers[0].Multipliers != 4*2*3*3/4 || d.Layers[0].Reuse != 4 {
		t.Errorf("first conv: %d multipliers, R=%d", d.Layers[0].Multipliers, d.Layers[0].Reuse)
	}
	t.Logf("latency %d, II %d", c.LatencyCycles, c.IICycles)
	c2r, err := Run(g, dir, inputs, Options{ReadySeed: 11})
	if err != nil {
		t.Fatal(err)
	}
	if c2r.Mismatches != 0 {
		t.Fatalf("with back-pressure %d vectors differ; first: %v", c2r.Mismatches, c2r.First)
	}
	// a reuse factor that does not divide the layer: nothing written
	bad := t.TempDir()
	_, err = verilog.Emit(g, bad, verilog.Options{Reuse: map[string]int{c1.Name: 7}})
	if err == nil || !strings.Contains(err.Error(), "reuse factor 7 does not divide the layer's 4×2×3×3 = 72 multiplications (divisors near it: 6, 8)") {
		t.Errorf("bad conv reuse factor: %v", err)
	}
	if ents, _ := os.ReadDir(bad); len(ents) != 0 {
		t.Errorf("%d files written despite the error", len(ents))
	}
}
