package llvm_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"wdc/backends/llvm"
	"wdc/ir"
	"wdc/ir/loop"
	"wdc/runtime"
)

func writeFloats(t *testing.T, path string, f []float32) {
	t.Helper()
	b := make([]byte, 4*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFloats(t *testing.T, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

// TestCExampleUnderASan compiles LeNet-5, a small network whose
// convolutions take the Winograd driver and the strided padded copy, a
// stem whose product applies its max pool, and strided direct convs,
// with AddressSanitizer, builds the example C driver (examples/c) against
// each with its Makefile, runs it on two threads, and checks that it runs
// clean and matches the interpreter.
func TestCExampleUnderASan(t *testing.T) {
	needClang(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	t.Run("lenet5", func(t *testing.T) { asanRun(t, loadExample(t, "lenet5"), nil, "") })
	t.Run("winograd_strided", func(t *testing.T) {
		g, lower := winogradStrided(t)
		asanRun(t, g, lower, "winograd F(")
	})
	t.Run("pooled_stem", func(t *testing.T) {
		defer llvm.SetFusePoolMin(1)()
		asanRun(t, pooledStem(t), nil, "maxpool[3x3 s2,2 p1,1 -> 5x75]")
	})
	t.Run("strided_direct", func(t *testing.T) { asanRun(t, stridedDirect(t), nil, "") })
}

// stridedDirect is two strided convs that run direct (TestGemmDirectConv)
// on the host kernel: a 3×3 one whose weights outweigh its input (two
// threads split the channel panels, reading one padded copy), then a 1×1
// one (a single thread, padding the input rows it reads per chunk).
func stridedDirect(t *testing.T) *ir.Graph {
	g, y := convGraph(t, "strided_direct", ir.Shape{1, 16, 3, 56}, ir.Shape{160, 16, 3, 3}, 1, 2, 1, 41)
	var err error
	if y, err = g.AddNode("relu", "relu", []*ir.Value{y}, nil, ir.Pos{}); err != nil {
		t.Fatal(err)
	}
	if y, err = g.AddNode("conv", "ds", []*ir.Value{y, patternConst(t, g, "ds.w", ir.Shape{64, 160, 1, 1}, 29), patternConst(t, g, "ds.b", ir.Shape{64}, 7)},
		ir.Attrs{"strides": ir.IntsAttr(2, 2)}, ir.Pos{}); err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y}
	return g
}

// pooledStem is a ResNet-like stem, conv 7×7/2 then ReLU and a 3×3/2 max
// pool that the product applies itself, on rows wide enough for several
// chunks of pool rows on each of two threads.
func pooledStem(t *testing.T) *ir.Graph {
	g, y := convGraph(t, "pooled_stem", ir.Shape{1, 3, 20, 300}, ir.Shape{20, 3, 7, 7}, 1, 2, 3, 37)
	var err error
	if y, err = g.AddNode("relu", "relu", []*ir.Value{y}, nil, ir.Pos{}); err != nil {
		t.Fatal(err)
	}
	if y, err = g.AddNode("max_pool", "pool", []*ir.Value{y},
		ir.Attrs{"kernel_shape": ir.IntsAttr(3, 3), "strides": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(1, 1, 1, 1)}, ir.Pos{}); err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y}
	return g
}

// winogradStrided is a small network whose three 3×3 convolutions take
// the Winograd driver (F(4×4), then F(2×2), through the returned Lower
// hook) and, with stride 2, the strided padded copy, followed by a 1×1
// stride-2 conv (the padded copy of only the rows and phase it reads).
func winogradStrided(t *testing.T) (*ir.Graph, func([]*ir.Node) (*loop.Func, *loop.Gemm, error)) {
	g := ir.NewGraph("winograd_strided")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 8, 17, 19}}, ir.Pos{})
	cst := func(name string, s ir.Shape) *ir.Value { return patternConst(t, g, name, s, 31) }
	y := x
	for i, c := range []struct {
		m      int
		stride int64
	}{{16, 1}, {20, 2}, {24, 1}} {
		var err error
		n := fmt.Sprintf("c%d", i)
		y, err = g.AddNode("conv", n, []*ir.Value{y, cst(n+".w", ir.Shape{c.m, y.Type.Shape[1], 3, 3}), cst(n+".b", ir.Shape{c.m})},
			ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1), "strides": ir.IntsAttr(c.stride, c.stride)}, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		if y, err = g.AddNode("relu", n+".r", []*ir.Value{y}, nil, ir.Pos{}); err != nil {
			t.Fatal(err)
		}
	}
	y, err := g.AddNode("conv", "ds", []*ir.Value{y, cst("ds.w", ir.Shape{8, 24, 1, 1}), cst("ds.b", ir.Shape{8})},
		ir.Attrs{"strides": ir.IntsAttr(2, 2)}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y}
	m := 2
	return g, func(nodes []*ir.Node) (*loop.Func, *loop.Gemm, error) {
		if nodes[0].Op != "conv" || loop.ConvAlgoApplies(nodes[0], loop.ConvWinograd4) != nil {
			return nil, nil, nil
		}
		m = 6 - m // F(4x4) and F(2x2) in turn
		return loop.LowerWinogradGemm(nodes, m)
	}
}

// TestPortableAVX2 runs the same network built for an AVX2 machine
// (-march=haswell: the C runtime's paths without AVX-512, the 6×16
// microkernel) against the interpreter.
func TestPortableAVX2(t *testing.T) {
	needClang(t)
	g, lower := winogradStrided(t)
	compileRun(t, g, randomFeeds(g, 3), llvm.Options{Threads: 2, Lower: lower, Microkernel: llvm.AVX2Kernel, CFlags: []string{"-O2", "-march=haswell"}}, rtol, 1e-4, 1)
}

// asanRun runs g under AddressSanitizer (see TestCExampleUnderASan);
// some GEMM kernel's summary must contain want.
func asanRun(t *testing.T, g *ir.Graph, lower func([]*ir.Node) (*loop.Func, *loop.Gemm, error), want string) {
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		t.Fatalf("%s has %d inputs and %d outputs", g.Name, len(g.Inputs), len(g.Outputs))
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	var gemms []string
	if _, err := llvm.Compile(g, model, llvm.Options{Threads: 2, CFlags: []string{"-O1", "-g", "-march=native"}, ExtraCFlags: []string{"-fsanitize=address", "-fno-omit-frame-pointer"},
		Lower: lower, DumpGemm: func(_ string, gm *loop.Gemm) { gemms = append(gemms, gm.String()) }}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(gemms, "\n"), want) {
		t.Fatalf("no GEMM kernel with %q:\n%s", want, strings.Join(gemms, "\n"))
	}
	work := filepath.Join(dir, "driver")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"main.c", "Makefile"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "c", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk := exec.Command("make", "MODEL="+model, "SANITIZE=address", "CC=clang-14")
	mk.Dir = work
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	feeds := randomFeeds(g, 5)
	in := feeds[g.Inputs[0].Name]
	writeFloats(t, filepath.Join(work, "input0.bin"), in.F)
	run := exec.Command("./run_model", "input0.bin")
	run.Dir = work
	run.Env = append(os.Environ(), "ASAN_OPTIONS=halt_on_error=1:detect_leaks=1")
	var stderr bytes.Buffer
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil || strings.Contains(stderr.String(), "Sanitizer") {
		t.Fatalf("run_model: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	ref, err := runtime.Run(g, feeds)
	if err != nil {
		t.Fatal(err)
	}
	o := g.Outputs[0]
	got := map[string]*ir.Tensor{o.Name: ir.FromFloats(o.Type.Shape, readFloats(t, filepath.Join(work, "output0.bin")))}
	if err := compare(got, ref, 1e-3, 1e-4); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\n%s", strings.Join(gemms, "\n"), out)
}
