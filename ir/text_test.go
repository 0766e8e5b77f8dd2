package ir

import (
	"math"
	"strings"
	"testing"
)

// smallNet builds a graph that touches every attribute kind, integer and
// fixed-point constants, odd names and source positions.
func smallNet(t *testing.T) *Graph {
	g := NewGraph("small net")
	x := mustAdd(t)(g.AddInput("x", Type{Float32, Shape{1, 2, 5, 5}}, Pos{File: "a.wdc", Line: 1, Col: 1}))
	w := NewTensor(Float32, Shape{3, 2, 3, 3})
	for i := range w.F {
		w.F[i] = float32(math.Sin(float64(i))) * 1e-3
	}
	w.F[0] = float32(math.Inf(-1))
	wv := mustAdd(t)(g.AddConst("conv1/w:0", w, Pos{}))
	b := mustAdd(t)(g.AddConst("b", FromFloats(Shape{3}, []float32{1, -2, 0.5}), Pos{}))
	c := mustAdd(t)(g.AddNode("conv", "conv 1", []*Value{x, wv, b}, Attrs{"pads": IntsAttr(1, 1, 1, 1), "strides": IntsAttr(2, 2)}, Pos{File: "a.wdc", Line: 3, Col: 5}))
	r := mustAdd(t)(g.AddNode("clip", "c", []*Value{c}, Attrs{"min": FloatAttr(math.Inf(-1)), "max": FloatAttr(6)}, Pos{}))
	p := mustAdd(t)(g.AddNode("pad", "p", []*Value{r}, Attrs{"pads": IntsAttr(0, 0, 1, 0, 0, 0, 0, 1), "mode": StringAttr("reflect")}, Pos{}))
	f := mustAdd(t)(g.AddNode("flatten", "f", []*Value{p}, nil, Pos{}))
	mustAdd(t)(g.AddConst("q", FromInts(FixedType(16, 6), Shape{2}, []int64{-32768, 32767}), Pos{}))
	mustAdd(t)(g.AddConst("u", FromInts(Uint8, Shape{3}, []int64{0, 128, 255}), Pos{}))
	mustAdd(t)(g.AddConst("i", FromInts(Int64, Shape{}, []int64{-1 << 62}), Pos{}))
	g.Outputs = []*Value{f, r}
	return g
}

func mustAdd(t *testing.T) func(*Value, error) *Value {
	return func(v *Value, err error) *Value {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestPrintParseRoundTrip(t *testing.T) {
	g := smallNet(t)
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	text := g.String()
	back, err := Parse("small.ir", text)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	if err := Equal(g, back); err != nil {
		t.Fatalf("round trip differs: %v\n%s", err, text)
	}
	if again := back.String(); again != text {
		t.Fatalf("second print differs:\n%s\nvs\n%s", text, again)
	}
	if !strings.Contains(text, `loc("a.wdc":3:5)`) || !strings.Contains(text, `%"conv 1"`) || !strings.Contains(text, "%conv1/w:0") {
		t.Errorf("positions or names missing:\n%s", text)
	}
}

func TestElidedConstantsDoNotParse(t *testing.T) {
	var b strings.Builder
	if err := PrintWith(&b, smallNet(t), PrintOptions{ElideConsts: true, ElideAbove: 8}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "elided") {
		t.Fatalf("no elision:\n%s", b.String())
	}
	if _, err := Parse("e.ir", b.String()); err == nil || !strings.Contains(err.Error(), "without its data") {
		t.Fatalf("want a clear error, got %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"syntax", `graph g { input %x f32[1] }`, `t.ir:1:20: unexpected token "f32[1]"`},
		{"undefined operand", "graph g {\n input %x : f32[2]\n %y = relu(%z) : f32[2]\n output %y\n}", `t.ir:3:2: %y = relu(...): operand %z is not defined above`},
		{"unknown op", "graph g {\n input %x : f32[2]\n %y = frob(%x) : f32[2]\n output %y\n}", `unknown op "frob"`},
		{"shape mismatch", "graph g {\n input %a : f32[2]\n input %b : f32[3]\n %y = add(%a, %b) : f32[2]\n output %y\n}", `shapes [2] and [3] do not broadcast`},
		{"stale type", "graph g {\n input %x : f32[2]\n %y = relu(%x) : f32[3]\n output %y\n}", `%y is written as f32[3] but relu gives f32[2]`},
		{"twice", "graph g {\n input %x : f32[2]\n input %x : f32[2]\n output %x\n}", `"x" is defined twice`},
		{"no output", "graph g {\n input %x : f32[2]\n}", `has no outputs`},
		{"bad output", "graph g {\n input %x : f32[2]\n output %q\n}", `output %q is not defined`},
		{"short data", "graph g {\n const %c : f32[2] = base64 \"AAAAAA==\"\n output %c\n}", `needs 8 bytes of data, got 4`},
		{"bad attr", "graph g {\n input %x : f32[2]\n %y = relu(%x) {alpha = 1.0} : f32[2]\n output %y\n}", `unknown attribute "alpha"`},
		{"bad attr kind", "graph g {\n input %x : f32[2]\n %y = leaky_relu(%x) {alpha = \"big\"} : f32[2]\n output %y\n}", `attribute "alpha" must be float, got string`},
		{"bad type", "graph g {\n input %x : fixed<70,2>[2]\n output %x\n}", `need 2 <= W <= 62`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.ir", c.text)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestVerifyFindsCycle(t *testing.T) {
	g := NewGraph("cyc")
	x := mustAdd(t)(g.AddInput("x", Type{Float32, Shape{2}}, Pos{}))
	a := mustAdd(t)(g.AddNode("relu", "a", []*Value{x}, nil, Pos{}))
	b := mustAdd(t)(g.AddNode("relu", "b", []*Value{a}, nil, Pos{}))
	g.Nodes[0].Inputs[0] = b // a <- b <- a
	g.Outputs = []*Value{b}
	if err := g.Verify(); err == nil || !strings.Contains(err.Error(), "used before it is defined") {
		t.Fatalf("Verify: %v", err)
	}
	if err := g.SortTopologically(); err == nil || !strings.Contains(err.Error(), "cycle: a -> b -> a") {
		t.Fatalf("SortTopologically: %v", err)
	}
}

func TestElemAndTypeText(t *testing.T) {
	for _, s := range []string{"f32[1,3,224,224]", "i8[]", "u8[0]", "fixed<16,6>[16]", "fixed<8,3,rne,sat>[2,2]", "bool[1]"} {
		ty, err := ParseType(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if ty.String() != s {
			t.Errorf("%s printed as %s", s, ty)
		}
	}
	for _, s := range []string{"f33[1]", "f32[-1]", "f32", "fixed<16>[1]", "fixed<16,6,up,sat>[1]", "f32[99999999,99999999,99999999]"} {
		if _, err := ParseType(s); err == nil {
			t.Errorf("%s parsed", s)
		}
	}
}

func TestLog2Ceil(t *testing.T) {
	for n, want := range map[int64]int64{0: 0, 1: 0, 2: 1, 3: 2, 4: 2, 5: 3, 400: 9, 1024: 10, 1025: 11} {
		if got := Log2Ceil(n); got != want {
			t.Errorf("Log2Ceil(%d) = %d, want %d", n, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("graph g {\n input %x : f32[2]\n %y = relu(%x) : f32[2]\n output %y\n}")
	f.Add(`graph "n" { const %c : i8[2] = base64 "AP8=" output %c }`)
	f.Add(`graph g { input %x : f32[1,1,4,4] %y = max_pool(%x) {kernel_shape = [2, 2], pads = [1, 1, 1, 1], ceil_mode = 1} : f32[1,1,3,3] output %y }`)
	f.Fuzz(func(t *testing.T, text string) {
		g, err := Parse("fuzz.ir", text)
		if err != nil {
			return
		}
		back, err := Parse("fuzz2.ir", g.String())
		if err != nil {
			t.Fatalf("printed graph does not parse: %v\n%s", err, g.String())
		}
		if err := Equal(g, back); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}
