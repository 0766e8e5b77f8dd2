package llvm_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wdc/backends/llvm"
	"wdc/ir"
	"wdc/ir/loop"
	"wdc/runtime"
	"wdc/runtime/native"
)

const rtol, atol = 1e-4, 1e-5

func needClang(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("clang-14"); err != nil {
		t.Skip("clang-14 is not installed")
	}
}

func compare(got, want map[string]*ir.Tensor, rt, at float64) error {
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			return fmt.Errorf("output %q missing", name)
		}
		if !g.Shape.Equal(w.Shape) {
			return fmt.Errorf("output %q: shape %v, want %v", name, g.Shape, w.Shape)
		}
		for i := range w.F {
			d := math.Abs(float64(g.F[i]) - float64(w.F[i]))
			if d > at+rt*math.Abs(float64(w.F[i])) || g.F[i] != g.F[i] {
				return fmt.Errorf("output %q element %d: got %v, want %v", name, i, g.F[i], w.F[i])
			}
		}
	}
	return nil
}

// compileRun compiles g, runs it natively on feeds, and compares with the
// interpreter.
func compileRun(t *testing.T, g *ir.Graph, feeds map[string]*ir.Tensor, opts llvm.Options, rt, at float64, moreThreads ...int) *llvm.Artifact {
	t.Helper()
	want, err := runtime.Run(g, feeds)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if keep := os.Getenv("WDC_TEST_KEEP"); keep != "" { // keep artifacts for inspection
		dir = filepath.Join(keep, g.Name)
	}
	a, err := llvm.Compile(g, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := native.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.Run(feeds)
	if err != nil {
		t.Fatal(err)
	}
	if err := compare(got, want, rt, at); err != nil {
		t.Fatalf("%v (artifact %s)", err, dir)
	}
	for _, n := range moreThreads {
		if err := m.SetThreads(n); err != nil {
			t.Fatal(err)
		}
		got, err := m.Run(feeds)
		if err != nil {
			t.Fatal(err)
		}
		if err := compare(got, want, rt, at); err != nil {
			t.Fatalf("with %d threads: %v (artifact %s)", n, err, dir)
		}
	}
	best := time.Duration(math.MaxInt64)
	for i := 0; i < 3; i++ {
		t0 := time.Now()
		if _, err := m.Run(feeds); err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(t0))
	}
	t.Logf("%s: best of 3 runs %v (%d threads)", g.Name, best, opts.Threads)
	return a
}

// TestEveryOpCompiled compiles every op case of loop.OpCases, merged into
// one graph with many outputs (one clang run), and compares each output
// with the interpreter.
func TestEveryOpCompiled(t *testing.T) {
	needClang(t)
	g := ir.NewGraph("ops")
	feeds := map[string]*ir.Tensor{}
	for ci, c := range loop.OpCases() {
		cg, cf, err := c.Graph(int64(ci) + 7)
		if err != nil {
			t.Fatal(err)
		}
		var ins []*ir.Value
		for _, v := range cg.Inputs {
			name := c.Name + "_" + v.Name
			nv, err := g.AddInput(name, v.Type, ir.Pos{})
			if err != nil {
				t.Fatal(err)
			}
			feeds[name] = cf[v.Name]
			ins = append(ins, nv)
		}
		n := cg.Nodes[0]
		out, err := g.AddNode(n.Op, c.Name, ins, n.Attrs, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		g.Outputs = append(g.Outputs, out)
	}
	// Compiled once, run with 2 threads, then 1 and 3.
	compileRun(t, g, feeds, llvm.Options{Threads: 2}, rtol, atol, 1, 3)
}

func TestMissingClang(t *testing.T) {
	g := ir.NewGraph("x")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{2}}, ir.Pos{})
	y, _ := g.AddNode("relu", "y", []*ir.Value{x}, nil, ir.Pos{})
	g.Outputs = []*ir.Value{y}
	_, err := llvm.Compile(g, t.TempDir(), llvm.Options{Clang: "clang-does-not-exist"})
	if err == nil || !strings.Contains(err.Error(), "Debian package") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnsupportedOpsListedAtOnce(t *testing.T) {
	g := ir.NewGraph("u")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{4}}, ir.Pos{})
	q, _ := g.AddInput("q", ir.Type{Elem: ir.Int8, Shape: ir.Shape{4}}, ir.Pos{})
	s, _ := g.AddInput("s", ir.Type{Elem: ir.Float32, Shape: ir.Shape{}}, ir.Pos{})
	c, err := g.AddNode("dequantize_linear", "c", []*ir.Value{q, s}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := g.AddNode("add", "d", []*ir.Value{c, x}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{d}
	_, err = llvm.Build(g, llvm.Options{})
	if err == nil || !strings.Contains(err.Error(), "cannot compile op(s) dequantize_linear") {
		t.Fatalf("err = %v", err)
	}
}
