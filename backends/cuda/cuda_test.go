package cuda_test

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"wdc/backends/cuda"
	"wdc/ir"
	"wdc/ir/loop"
	"wdc/runtime"
)

func needTools(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("g++ is not installed")
	}
}

func compareOut(name string, got, want *ir.Tensor, rt, at float64) error {
	if got.Len() != want.Len() {
		return fmt.Errorf("output %q: %d elements, want %d", name, got.Len(), want.Len())
	}
	for i := range want.F {
		d := math.Abs(float64(got.F[i]) - float64(want.F[i]))
		if d > at+rt*math.Abs(float64(want.F[i])) || got.F[i] != got.F[i] && want.F[i] == want.F[i] {
			return fmt.Errorf("output %q element %d: got %v, want %v", name, i, got.F[i], want.F[i])
		}
	}
	return nil
}

// emitRun emits g, compiles its kernels to PTX (when clang-19 is there),
// builds the CPU emulation, runs it on feeds and compares every output
// with the interpreter.
func emitRun(t *testing.T, g *ir.Graph, feeds map[string]*ir.Tensor, opts cuda.Options, rt, at float64, emuFlags ...string) *cuda.Artifact {
	t.Helper()
	want, err := runtime.Run(g, feeds)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if keep := os.Getenv("WDC_TEST_KEEP"); keep != "" {
		dir = filepath.Join(keep, t.Name())
	}
	a, err := cuda.Emit(g, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cuda.FindClang(); err != nil && os.Getenv("WDC_REQUIRE_CLANG19") != "" {
		t.Fatal(err)
	} else if err == nil && !noPTX(emuFlags) {
		if err := cuda.CheckPTX(dir); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := cuda.BuildEmulator(dir, emuFlags...)
	if err != nil {
		t.Fatal(err)
	}
	var ins []*ir.Tensor
	for _, in := range a.Inputs {
		ins = append(ins, feeds[in.Name])
	}
	outs, err := cuda.RunDriver(dir, exe, a, ins)
	if err != nil {
		t.Fatal(err)
	}
	for j, o := range a.Outputs {
		if err := compareOut(o.Name, outs[j], want[o.Name], rt, at); err != nil {
			t.Fatalf("%v (artifact %s)", err, dir)
		}
	}
	return a
}

// opsGraph merges every op case of loop.OpCases into one graph.
func opsGraph(t *testing.T, filter func(loop.OpCase) bool) (*ir.Graph, map[string]*ir.Tensor) {
	g := ir.NewGraph("ops")
	feeds := map[string]*ir.Tensor{}
	for ci, c := range loop.OpCases() {
		if filter != nil && !filter(c) {
			continue
		}
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
	return g, feeds
}

func TestEveryOpGrid(t *testing.T) {
	t.Parallel()
	needTools(t)
	g, feeds := opsGraph(t, nil)
	a := emitRun(t, g, feeds, cuda.Options{SingleKernel: -1}, 1e-4, 1e-5)
	t.Logf("%d kernels, %d launches", len(a.Kernels), a.Launches)
}

func TestEveryOpSingleKernel(t *testing.T) {
	t.Parallel()
	needTools(t)
	g, feeds := opsGraph(t, nil)
	a := emitRun(t, g, feeds, cuda.Options{SingleKernel: 1}, 1e-4, 1e-5, "-DWDC_EMU_REVERSE")
	if a.Launches != 1 || !a.SingleKernel {
		t.Errorf("single kernel mode: %d launches", a.Launches)
	}
}

// TestTiledGEMM forces the shared-memory tiled GEMM on every conv, dense
// and matmul case, and runs the threads in reverse order, so a missing
// barrier shows.
func TestTiledGEMM(t *testing.T) {
	t.Parallel()
	needTools(t)
	g, feeds := opsGraph(t, func(c loop.OpCase) bool { return c.Op == "conv" || c.Op == "dense" || c.Op == "matmul" })
	for _, flags := range [][]string{{"-DWDC_EMU_REVERSE"}} {
		a := emitRun(t, g, feeds, cuda.Options{SingleKernel: -1, TileMinMACs: 1}, 1e-4, 1e-5, flags...)
		tiled := 0
		for _, k := range a.Kernels {
			if k.Kind == "tiled" {
				tiled++
			}
		}
		if tiled != len(a.Kernels) {
			t.Errorf("%d of %d kernels tiled", tiled, len(a.Kernels))
		}
	}
}

// TestTiledSizes runs the tiled GEMM on shapes that straddle every tile
// configuration (edges in M, N and K), with a fused bias and relu.
func TestTiledSizes(t *testing.T) {
	t.Parallel()
	needTools(t)
	g := ir.NewGraph("gemm_sizes")
	for _, s := range [][3]int{{1, 1, 1}, {33, 65, 17}, {130, 129, 9}, {70, 300, 40}} {
		M, K, N := s[0], s[1], s[2]
		p := fmt.Sprintf("g%dx%dx%d_", M, K, N)
		a, _ := g.AddInput(p+"a", ir.Type{Elem: ir.Float32, Shape: ir.Shape{M, K}}, ir.Pos{})
		b, _ := g.AddInput(p+"b", ir.Type{Elem: ir.Float32, Shape: ir.Shape{K, N}}, ir.Pos{})
		c, _ := g.AddInput(p+"c", ir.Type{Elem: ir.Float32, Shape: ir.Shape{N}}, ir.Pos{})
		d, err := g.AddNode("dense", p+"d", []*ir.Value{a, b, c}, nil, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		r, _ := g.AddNode("relu", p+"r", []*ir.Value{d}, nil, ir.Pos{})
		mm, err := g.AddNode("matmul", p+"mm", []*ir.Value{a, b}, nil, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		g.Outputs = append(g.Outputs, r, mm)
	}
	feeds := randomFeeds(g, 3)
	for cfg := 0; cfg <= 4; cfg++ {
		flags := []string{"-DWDC_EMU_REVERSE"}
		if cfg > 1 { // the same template: PTX checked for the automatic choice and 128×128
			flags = append(flags, skipPTX)
		}
		emitRun(t, g, feeds, cuda.Options{SingleKernel: -1, TileMinMACs: 1, TileConfig: cfg}, 1e-4, 1e-5, flags...)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	g := ir.NewGraph("u")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{4}}, ir.Pos{})
	c, err := g.AddNode("cast", "c", []*ir.Value{x}, ir.Attrs{"to": ir.StringAttr("i32")}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := g.AddNode("cast", "d", []*ir.Value{c}, ir.Attrs{"to": ir.StringAttr("f32")}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{d}
	if _, err := cuda.Emit(g, t.TempDir(), cuda.Options{}); err == nil || !strings.Contains(err.Error(), "cast") {
		t.Errorf("unsupported op: err = %v", err)
	}
	if _, err := cuda.Emit(nil, t.TempDir(), cuda.Options{}); err == nil {
		t.Error("nil graph: no error")
	}
	g2 := ir.NewGraph("i")
	xi, _ := g2.AddInput("x", ir.Type{Elem: ir.Int32, Shape: ir.Shape{4}}, ir.Pos{})
	g2.Outputs = []*ir.Value{xi}
	if _, err := cuda.Emit(g2, t.TempDir(), cuda.Options{}); err == nil || !strings.Contains(err.Error(), "f32") {
		t.Errorf("int32 input: err = %v", err)
	}
}

// TestDeterministic: the same graph gives byte-identical sources.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	g, _ := opsGraph(t, nil)
	var srcs []string
	for i := 0; i < 2; i++ {
		p, err := cuda.Build(g, cuda.Options{SingleKernel: -1, TileMinMACs: 1})
		if err != nil {
			t.Fatal(err)
		}
		s, err := p.Source()
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, s)
	}
	if srcs[0] != srcs[1] {
		t.Error("two builds differ")
	}
}

// TestPoolsOneThreadPerOutput: a padded 2-D pool maps every output element
// to its own thread. (The CPU's interior/edge split of a pool, parallel over
// images and channels only, ran ResNet-18's max pool on 64 GPU threads:
// 1.16 ms, half the model, on an H100.)
func TestPoolsOneThreadPerOutput(t *testing.T) {
	t.Parallel()
	g, _ := opsGraph(t, func(c loop.OpCase) bool {
		return strings.HasSuffix(c.Name, "_pool_wide") || c.Name == "avg_pool_wide_incl"
	})
	p, err := cuda.Build(g, cuda.Options{SingleKernel: -1})
	if err != nil {
		t.Fatal(err)
	}
	src, err := p.Source()
	if err != nil {
		t.Fatal(err)
	}
	// max_pool_wide: 1×3×23×41, 3×3/2 pad 1 -> 1×3×12×21; avg_pool_wide_incl:
	// 2×2×20×37, 3×2 strides 1,2 pads 1,0,2,1 -> 2×2×21×19.
	for _, want := range []string{"756 independent iterations", "1596 independent iterations"} {
		if !strings.Contains(src, want) {
			t.Errorf("no kernel with %s:\n%s", want, src)
		}
	}
}
