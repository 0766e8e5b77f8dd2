package quantize

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wdc/ir"
	"wdc/runtime"
)

type gb struct {
	t *testing.T
	g *ir.Graph
}

func (b gb) must(v *ir.Value, err error) *ir.Value {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b gb) c(name string, shape ir.Shape, v ...float32) *ir.Value {
	return b.must(b.g.AddConst(name, ir.FromFloats(shape, v), ir.Pos{}))
}

func (b gb) n(op, name string, a ir.Attrs, ins ...*ir.Value) *ir.Value {
	b.t.Helper()
	return b.must(b.g.AddNode(op, name, ins, a, ir.Pos{}))
}

// tiny: x[1,2] -> matmul W[2,3] + B -> relu -> softmax
func tiny(t *testing.T, w00 float32) *ir.Graph {
	b := gb{t, ir.NewGraph("tiny")}
	x := b.must(b.g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2}}, ir.Pos{}))
	m := b.n("matmul", "fc", nil, x, b.c("W", ir.Shape{2, 3}, w00, 0.5, -0.25, 1, -1, 0.75))
	a := b.n("add", "fc_b", nil, m, b.c("B", ir.Shape{3}, 0.1, -0.2, 0.3))
	r := b.n("relu", "act", nil, a)
	s := b.n("softmax", "out", nil, r)
	b.g.Outputs = []*ir.Value{s}
	return b.g
}

func TestQuantizeStructure(t *testing.T) {
	g := tiny(t, 2)
	q, err := Quantize(g, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// matmul+add fused into one dense layer; softmax as lut ops.
	var ops []string
	for _, n := range q.Nodes {
		ops = append(ops, n.Op)
	}
	want := "cast dense cast relu reduce_max sub lut reduce_sum lut mul cast cast"
	if got := strings.Join(ops, " "); got != want {
		t.Errorf("ops %q, want %q", got, want)
	}
	for _, name := range []string{"x.q", "fc_b.acc", "fc_b", "act", "out.fixed", "out"} {
		if q.Lookup(name) == nil {
			t.Errorf("no value %q", name)
		}
	}
	if q.Lookup("fc_b").Type.Elem != DefaultConfig().Default || q.Lookup("out").Type.Elem != ir.Float32 {
		t.Errorf("types: %v %v", q.Lookup("fc_b").Type, q.Lookup("out").Type)
	}
	fo, err := FixedOutputs(q)
	if err != nil || fo[0].Name != "out.fixed" {
		t.Fatalf("FixedOutputs: %v %v", fo, err)
	}
	x := ir.FromFloats(ir.Shape{1, 2}, []float32{0.5, -1})
	words, err := RunFixed(q, map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	res, err := runtime.Run(q, map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	fres, _ := runtime.Run(g, map[string]*ir.Tensor{"x": x})
	for i := 0; i < 3; i++ {
		if got := ir.FixedValue(words["out"].I[i], words["out"].Elem); float32(got) != res["out"].F[i] {
			t.Errorf("fixed word %d: %v vs output %v", i, got, res["out"].F[i])
		}
		if d := math.Abs(float64(res["out"].F[i] - fres["out"].F[i])); d > 0.01 {
			t.Errorf("softmax %d: fixed %v, float %v", i, res["out"].F[i], fres["out"].F[i])
		}
	}
}

func TestWeightsDoNotFit(t *testing.T) {
	g := tiny(t, 40) // fixed<16,6> holds [-32, 32)
	_, err := Quantize(g, DefaultConfig())
	if err == nil || !strings.Contains(err.Error(), `layer "fc_b"`) || !strings.Contains(err.Error(), "largest weight is 40") || !strings.Contains(err.Error(), "7 integer bits") {
		t.Fatalf("want a weight-range error naming the layer and 40, got %v", err)
	}
	cfg := DefaultConfig()
	cfg.Layers = map[string]Layer{"fc": {Weight: ir.FixedType(16, 7)}}
	if _, err := Quantize(g, cfg); err != nil {
		t.Errorf("override by the matmul's name: %v", err)
	}
	cfg.Layers = map[string]Layer{"nope": {Weight: ir.FixedType(16, 7)}}
	if _, err := Quantize(g, cfg); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown layer in config: %v", err)
	}
}

func TestUnsupportedListedAtOnce(t *testing.T) {
	b := gb{t, ir.NewGraph("bad")}
	x := b.must(b.g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2, 4, 4}}, ir.Pos{}))
	p := b.n("avg_pool", "pool", ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2)}, x)
	l := b.n("leaky_relu", "lr", nil, p)
	d := b.n("div", "dv", nil, l, l)
	b.g.Outputs = []*ir.Value{d}
	_, err := Quantize(b.g, DefaultConfig())
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{"3 layer(s)", `"pool" (avg_pool)`, `"lr" (leaky_relu)`, `"dv" (div)`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
}

func TestConvBatchNormFolding(t *testing.T) {
	b := gb{t, ir.NewGraph("cbn")}
	x := b.must(b.g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 1, 4, 4}}, ir.Pos{}))
	c := b.n("conv", "conv", ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)}, x, b.c("w", ir.Shape{2, 1, 3, 3}, 0.1, 0.2, 0.3, -0.1, 0.5, 0.1, 0, 0.25, -0.5, 1, -1, 0.5, 0.25, 0, 0.125, -0.25, 0.5, 1), b.c("cb", ir.Shape{2}, 0.5, -0.5))
	bn := b.n("batch_norm", "bn", nil, c, b.c("g", ir.Shape{2}, 2, 0.5), b.c("be", ir.Shape{2}, 0.1, 0.2), b.c("mu", ir.Shape{2}, 0.3, -0.3), b.c("var", ir.Shape{2}, 4, 0.25))
	b.g.Outputs = []*ir.Value{b.n("relu", "r", nil, bn)}
	q, err := Quantize(b.g, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range q.Nodes {
		if n.Op == "batch_norm" || n.Op == "mul" {
			t.Errorf("batch_norm not folded: %s", n.Where())
		}
	}
	vec := make([]float32, 16)
	for i := range vec {
		vec[i] = float32(i%5) - 1.5
	}
	feeds, _ := Feeds(b.g, [][]float32{vec})
	rep, err := Compare(b.g, q, feeds)
	if err != nil {
		t.Fatal(err)
	}
	if rep.MaxAbsErr > 0.01 {
		t.Errorf("folded conv+bn error %v", rep.MaxAbsErr)
	}
}

func TestConfigFile(t *testing.T) {
	c, err := ParseConfig([]byte(`{"precision": "fixed<12,4>", "weight_rounding": "trn", "table_size": 256,
		"layers": {"fc": {"weight": "fixed<8,2,rne,sat>", "result": "fixed<10,5>"}}}`), "cfg.json")
	if err != nil {
		t.Fatal(err)
	}
	if c.Default != ir.FixedType(12, 4) || c.WeightRound != ir.Truncate || c.TableSize != 256 || c.Layers["fc"].Result != ir.FixedType(10, 5) {
		t.Errorf("parsed %+v", c)
	}
	back, err := ParseConfig(c.JSON(), "round-trip")
	if err != nil || back.Default != c.Default || back.Layers["fc"] != c.Layers["fc"] || back.CalibMargin != c.CalibMargin {
		t.Errorf("round trip: %+v %v", back, err)
	}
	for _, bad := range []struct{ text, want string }{
		{`{"precison": "fixed<16,6>"}`, "unknown field"},
		{`{"precision": "f32"}`, "not a fixed-point type"},
		{`{"precision": "fixed<70,6>"}`, "W <= 62"},
		{"{\n  \"precision\": ,\n}", "cfg.json:2:"},
		{`{"layers": {"fc": {"result": "fixed<8>"}}}`, "layers.fc.result"},
		{`{"weight_overflow": "clamp"}`, "wrap or sat"},
	} {
		_, err := ParseConfig([]byte(bad.text), "cfg.json")
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: want an error with %q, got %v", bad.text, bad.want, err)
		}
	}
	p := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(p, c.JSON(), 0o644)
	if _, err := LoadConfig(p); err != nil {
		t.Error(err)
	}
}

func TestCalibrate(t *testing.T) {
	g := tiny(t, 2)
	feeds, _ := Feeds(g, [][]float32{{10, 3}, {-4, 7}})
	c, err := Calibrate(g, feeds, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// x up to 10: 5 integer bits + margin 1; fc_b = x·W + B up to 10·2+3 = 23.1: 6 + 1.
	if got := c.Layers["x"].Result; got.I != 6 || got.W != 16 {
		t.Errorf("input precision %v", got)
	}
	if got := c.Layers["fc_b"].Result; got.I != 7 {
		t.Errorf("fc_b precision %v", got)
	}
	if got := c.Layers["fc_b"].Weight; got.I != 3 { // weights up to 2: needs 3 integer bits
		t.Errorf("fc_b weight precision %v", got)
	}
	if _, err := Quantize(g, c); err != nil {
		t.Fatal(err)
	}
	if _, err := Calibrate(g, nil, DefaultConfig()); err == nil {
		t.Error("calibration without samples accepted")
	}
}

func TestReadDat(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.dat")
	os.WriteFile(p, []byte("1 2.5 -3\n\n4 5 6e-1\n"), 0o644)
	v, err := ReadDat(p)
	if err != nil || len(v) != 2 || v[1][2] != 0.6 || v[0][1] != 2.5 {
		t.Errorf("ReadDat: %v %v", v, err)
	}
	os.WriteFile(p, []byte("1 2\n3 x\n"), 0o644)
	if _, err := ReadDat(p); err == nil || !strings.Contains(err.Error(), "a.dat:2: value 2") {
		t.Errorf("bad number: %v", err)
	}
	os.WriteFile(p, []byte("1 2\n3\n"), 0o644)
	if _, err := ReadDat(p); err == nil || !strings.Contains(err.Error(), "a.dat:2: 1 values") {
		t.Errorf("ragged: %v", err)
	}
}
