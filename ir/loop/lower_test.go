package loop

import (
	"fmt"
	"math"
	"testing"

	"wdc/ir"
	"wdc/runtime"
)

// Tolerances for float32 results against the interpreter.
const rtol, atol = 1e-4, 1e-5

func closeTo(got, want []float32) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.Abs(g-w) > atol+rtol*math.Abs(w) || g != g {
			return fmt.Errorf("element %d: got %v, want %v", i, g, w)
		}
	}
	return nil
}

// evalGraphNode lowers the single node of g and evaluates it with Eval.
func evalNode(t *testing.T, f *Func, g *ir.Graph, feeds map[string]*ir.Tensor) []float32 {
	t.Helper()
	n := g.Nodes[0]
	params := make([][]float32, len(f.Params))
	for i, v := range n.Inputs {
		params[i] = append([]float32(nil), feeds[v.Name].F...)
	}
	out := make([]float32, n.Out.Type.Shape.Elements())
	for i := range out {
		out[i] = float32(math.NaN()) // every element must be written
	}
	params[len(params)-1] = out
	if err := Eval(f, params); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLowerEveryOp(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range OpCases() {
		t.Run(c.Name, func(t *testing.T) {
			g, feeds, err := c.Graph(1)
			if err != nil {
				t.Fatal(err)
			}
			want, err := runtime.Run(g, feeds)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Lower(g.Nodes[0])
			if err != nil {
				t.Fatal(err)
			}
			got := evalNode(t, f, g, feeds)
			if err := closeTo(got, want["y"].F); err != nil {
				t.Fatalf("%v\n%s", err, f)
			}
			// The default schedule must not change the result.
			s := f.Clone()
			if err := DefaultSchedule(s); err != nil {
				t.Fatal(err)
			}
			got2 := evalNode(t, s, g, feeds)
			if err := closeTo(got2, want["y"].F); err != nil {
				t.Fatalf("after DefaultSchedule: %v\n%s", err, s)
			}
		})
		covered[c.Op] = true
	}
	for _, op := range Supported() {
		if !covered[op] {
			t.Errorf("op %s has a lowering but no test case", op)
		}
	}
}

func TestUnsupportedOpIsAnError(t *testing.T) {
	g := ir.NewGraph("q")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{4}}, ir.Pos{})
	y, err := g.AddNode("cast", "y", []*ir.Value{x}, ir.Attrs{"to": ir.StringAttr("bool")}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lower(y.Producer); err == nil {
		t.Fatal("lowering a cast to bool succeeded")
	}
	q, _ := g.AddInput("q", ir.Type{Elem: ir.Int8, Shape: ir.Shape{4}}, ir.Pos{})
	sc, _ := g.AddInput("s", ir.Type{Elem: ir.Float32, Shape: ir.Shape{}}, ir.Pos{})
	z, err := g.AddNode("dequantize_linear", "z", []*ir.Value{q, sc}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y, z}
	if u := Unsupported(g); len(u) != 1 || u[0] != "dequantize_linear" {
		t.Fatalf("Unsupported = %v", u)
	}
}
