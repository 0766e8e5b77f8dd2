package loop

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"wdc/ir"
	"wdc/runtime"
)

func evalGemm(t *testing.T, f *Func, g *Gemm, n *ir.Node, feeds map[string]*ir.Tensor, extra ...[]float32) []float32 {
	t.Helper()
	params := make([][]float32, len(f.Params))
	for i, v := range n.Inputs {
		params[i] = append([]float32(nil), feeds[v.Name].F...)
	}
	for i, e := range extra {
		params[len(n.Inputs)+i] = e
	}
	out := make([]float32, f.Output().Size())
	for i := range out {
		out[i] = float32(math.NaN())
	}
	params[len(params)-1] = out
	if err := g.Eval(f, params); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGemmPlans(t *testing.T) {
	cases := append(GemmCases(), OpCases()...)
	planned := 0
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			g, feeds, err := c.Graph(3)
			if err != nil {
				t.Fatal(err)
			}
			want, err := runtime.Run(g, feeds)
			if err != nil {
				t.Fatal(err)
			}
			f, gm, err := LowerGemm([]*ir.Node{g.Nodes[0]})
			if err != nil {
				t.Fatal(err)
			}
			if gm == nil {
				return
			}
			planned++
			got := evalGemm(t, f, gm, g.Nodes[0], feeds)
			if err := closeTo(got, want["y"].F); err != nil {
				t.Fatalf("%s: %v", gm, err)
			}
		})
	}
	if planned < len(GemmCases()) {
		t.Errorf("only %d cases became a Gemm", planned)
	}
}

// TestGemmEpilogues checks the fused chains: add+relu applied by the
// GEMM, others by the Epilogue nest.
func TestGemmEpilogues(t *testing.T) {
	for _, chain := range [][]string{{"relu"}, {"add"}, {"add", "relu"}, {"sigmoid"}, {"relu", "add"}, {"mul", "tanh"}} {
		t.Run(fmt.Sprint(chain), func(t *testing.T) {
			g := ir.NewGraph("epi")
			r := rand.New(rand.NewSource(5))
			feeds := map[string]*ir.Tensor{}
			in := func(name string, s ir.Shape) *ir.Value {
				v, err := g.AddInput(name, ir.Type{Elem: ir.Float32, Shape: s}, ir.Pos{})
				if err != nil {
					t.Fatal(err)
				}
				tt := ir.NewTensor(ir.Float32, s)
				for i := range tt.F {
					tt.F[i] = float32(r.NormFloat64())
				}
				feeds[name] = tt
				return v
			}
			x, w, b := in("x", ir.Shape{1, 4, 6, 6}), in("w", ir.Shape{5, 4, 3, 3}), in("b", ir.Shape{5})
			y, err := g.AddNode("conv", "c", []*ir.Value{x, w, b}, ir.Attrs{"pads": ints(1, 1, 1, 1)}, ir.Pos{})
			if err != nil {
				t.Fatal(err)
			}
			nodes := []*ir.Node{y.Producer}
			var extra [][]float32
			for i, op := range chain {
				var ins []*ir.Value
				if op == "add" || op == "mul" {
					e := in(fmt.Sprintf("e%d", i), y.Type.Shape)
					ins = []*ir.Value{e, y}
					extra = append(extra, feeds[e.Name].F)
				} else {
					ins = []*ir.Value{y}
				}
				if y, err = g.AddNode(op, fmt.Sprintf("y%d", i), ins, nil, ir.Pos{}); err != nil {
					t.Fatal(err)
				}
				nodes = append(nodes, y.Producer)
			}
			g.Outputs = []*ir.Value{y}
			want, err := runtime.Run(g, feeds)
			if err != nil {
				t.Fatal(err)
			}
			f, gm, err := LowerGemm(nodes)
			if err != nil || gm == nil {
				t.Fatalf("LowerGemm: %v, %v", gm, err)
			}
			native := len(chain) <= 2 && (chain[0] == "add" || chain[0] == "relu") && (len(chain) == 1 || chain[1] == "relu")
			if native != (gm.Epilogue == nil) {
				t.Errorf("%s: native epilogue %v expected", gm, native)
			}
			got := evalGemm(t, f, gm, nodes[0], feeds, extra...)
			if err := closeTo(got, want[y.Name].F); err != nil {
				t.Fatalf("%s: %v", gm, err)
			}
		})
	}
}
