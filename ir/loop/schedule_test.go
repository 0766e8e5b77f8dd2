package loop

import (
	"strings"
	"testing"

	"wdc/ir"
	"wdc/runtime"
)

func caseNamed(t *testing.T, name string) OpCase {
	for _, c := range OpCases() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %s", name)
	return OpCase{}
}

// checkSchedule lowers a case, applies sched and compares with the interpreter.
func checkSchedule(t *testing.T, caseName string, sched func(f *Func) error) *Func {
	t.Helper()
	c := caseNamed(t, caseName)
	g, feeds, err := c.Graph(3)
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
	if err := sched(f); err != nil {
		t.Fatalf("%v\n%s", err, f)
	}
	if err := closeTo(evalNode(t, f, g, feeds), want["y"].F); err != nil {
		t.Fatalf("%v\n%s", err, f)
	}
	return f
}

func TestSchedules(t *testing.T) {
	// dense: for i { for j {init}; for k { for j {update} } ; for j {finish} }
	t.Run("split_remainder", func(t *testing.T) {
		f := checkSchedule(t, "dense", func(f *Func) error { return Split(f, "j", 4) }) // N = 7
		if !strings.Contains(f.String(), "j_i in [0, min(4, (7 - (j_o * 4))))") {
			t.Errorf("split bound not clamped:\n%s", f)
		}
	})
	t.Run("split_exact", func(t *testing.T) {
		f := checkSchedule(t, "relu", func(f *Func) error { return Split(f, "i1", 11) }) // 33
		if !strings.Contains(f.String(), "i1_i in [0, 11)") {
			t.Errorf("split of an exact multiple not constant:\n%s", f)
		}
	})
	t.Run("tile", func(t *testing.T) {
		f := checkSchedule(t, "transpose", func(f *Func) error { return Tile(f, "i1", "i2", 2, 3) })
		s := f.String()
		if strings.Index(s, "i2_o in") > strings.Index(s, "i1_i in") {
			t.Errorf("tile did not move i2_o outside i1_i:\n%s", s)
		}
	})
	t.Run("reorder", func(t *testing.T) {
		checkSchedule(t, "add_bcast", func(f *Func) error { return Reorder(f, "i0", "i1") })
	})
	t.Run("reorder_not_perfect", func(t *testing.T) {
		c := caseNamed(t, "dense")
		g, _, _ := c.Graph(1)
		f, _ := Lower(g.Nodes[0])
		if err := Reorder(f, "i", "j"); err == nil {
			t.Error("reorder of an imperfect nest succeeded")
		}
	})
	t.Run("fuse", func(t *testing.T) {
		f := checkSchedule(t, "conv_group", func(f *Func) error { return Fuse(f, "n", "m") })
		if !strings.Contains(f.String(), "nm in [0, 6)") {
			t.Errorf("fuse:\n%s", f)
		}
	})
	t.Run("unroll", func(t *testing.T) {
		checkSchedule(t, "conv3x3", func(f *Func) error {
			if err := Unroll(f, "k1"); err != nil {
				return err
			}
			return ExpandUnrolled(f)
		})
	})
	t.Run("vectorize_parallel", func(t *testing.T) {
		f := checkSchedule(t, "max_pool", func(f *Func) error {
			if err := Vectorize(f, "o1"); err != nil {
				return err
			}
			return Parallelize(f, "n")
		})
		if !strings.Contains(f.String(), "parallel n in") || !strings.Contains(f.String(), "vectorized o1 in") {
			t.Errorf("kinds not printed:\n%s", f)
		}
	})
	t.Run("parallel_not_top", func(t *testing.T) {
		c := caseNamed(t, "relu")
		g, _, _ := c.Graph(1)
		f, _ := Lower(g.Nodes[0])
		if err := Parallelize(f, "i1"); err == nil {
			t.Error("parallel inner loop accepted")
		}
	})
	t.Run("pack", func(t *testing.T) {
		f := checkSchedule(t, "dense_trans_b", func(f *Func) error {
			_, err := Pack(f, f.Params[1], []int{1, 0})
			return err
		})
		if !strings.Contains(f.String(), "b_packed[k, j]") {
			t.Errorf("pack did not rewrite loads:\n%s", f)
		}
	})
}

func TestPrintedForm(t *testing.T) {
	g := ir.NewGraph("p")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{2, 3}}, ir.Pos{})
	y, _ := g.AddNode("relu", "y", []*ir.Value{x}, nil, ir.Pos{})
	f, err := Lower(y.Producer)
	if err != nil {
		t.Fatal(err)
	}
	want := `func y(x: f32[2,3], y: f32[2,3]) {
  for i0 in [0, 2) {
    for i1 in [0, 3) {
      y[i0, i1] = max(x[i0, i1], 0.0)
    }
  }
}
`
	if f.String() != want {
		t.Errorf("got\n%s\nwant\n%s", f, want)
	}
}

func TestFusedEpilogue(t *testing.T) {
	// conv -> add(bias-like, broadcast) -> relu, lowered as one nest.
	g := ir.NewGraph("f")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2, 6, 6}}, ir.Pos{})
	w, _ := g.AddInput("w", ir.Type{Elem: ir.Float32, Shape: ir.Shape{3, 2, 3, 3}}, ir.Pos{})
	b, _ := g.AddInput("b", ir.Type{Elem: ir.Float32, Shape: ir.Shape{3, 1, 1}}, ir.Pos{})
	c, _ := g.AddNode("conv", "c", []*ir.Value{x, w}, ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)}, ir.Pos{})
	a, _ := g.AddNode("sub", "a", []*ir.Value{b, c}, nil, ir.Pos{})
	r, err := g.AddNode("relu", "r", []*ir.Value{a}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{r}
	feeds := map[string]*ir.Tensor{}
	for i, v := range g.Inputs {
		tt := ir.NewTensor(ir.Float32, v.Type.Shape)
		for j := range tt.F {
			tt.F[j] = float32((j*7+i*3)%11)/5 - 1
		}
		feeds[v.Name] = tt
	}
	want, err := runtime.Run(g, feeds)
	if err != nil {
		t.Fatal(err)
	}
	f, err := LowerFused(g.Nodes)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Params) != 4 {
		t.Fatalf("params %d:\n%s", len(f.Params), f)
	}
	out := make([]float32, 3*36)
	if err := Eval(f, [][]float32{feeds["x"].F, feeds["w"].F, feeds["b"].F, out}); err != nil {
		t.Fatal(err)
	}
	if err := closeTo(out, want["r"].F); err != nil {
		t.Fatalf("%v\n%s", err, f)
	}
}
