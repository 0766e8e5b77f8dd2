package convalgo

import (
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"wdc/backends/llvm"
	"wdc/frontend/dsl"
	"wdc/ir"
	"wdc/ir/loop"
	"wdc/passes/roofline"
	"wdc/runtime"
	"wdc/runtime/native"
)

func needClang(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("clang-14"); err != nil {
		t.Skip("clang-14 is not installed")
	}
}

func feedsFor(g *ir.Graph, seed int64) map[string]*ir.Tensor {
	r := rand.New(rand.NewSource(seed))
	feeds := map[string]*ir.Tensor{}
	for _, v := range g.Inputs {
		t := ir.NewTensor(ir.Float32, v.Type.Shape)
		for i := range t.F {
			t.F[i] = float32(r.NormFloat64())
		}
		feeds[v.Name] = t
	}
	return feeds
}

// compileForced compiles g with plan's choices and loads it.
func compileForced(t testing.TB, g *ir.Graph, plan *Plan, threads int) *native.Model {
	t.Helper()
	dir := t.TempDir()
	if _, err := llvm.Compile(g, dir, llvm.Options{Threads: threads, Lower: plan.Lower}); err != nil {
		t.Fatal(err)
	}
	m, err := native.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// relErr is max|got − want| / (1 + max|want|) over all outputs.
func relErr(got, want map[string]*ir.Tensor) (float64, error) {
	worst := 0.0
	for name, w := range want {
		g, ok := got[name]
		if !ok || len(g.F) != len(w.F) {
			return 0, fmt.Errorf("output %q missing or of the wrong size", name)
		}
		scale, e := 0.0, 0.0
		for i := range w.F {
			if g.F[i] != g.F[i] {
				return 0, fmt.Errorf("output %q element %d is NaN", name, i)
			}
			scale = math.Max(scale, math.Abs(float64(w.F[i])))
			e = math.Max(e, math.Abs(float64(g.F[i])-float64(w.F[i])))
		}
		worst = math.Max(worst, e/(1+scale))
	}
	return worst, nil
}

// TestForcedCompiled compiles the example networks with each algorithm
// forced on every conv layer it applies to and compares the compiled
// model with the interpreter.
func TestForcedCompiled(t *testing.T) {
	needClang(t)
	// ResNet-18 (five compilations, about 70 s on the 2-core test
	// machine) only with WDC_LONG=1.
	nets := []string{"lenet5"}
	if os.Getenv("WDC_LONG") != "" && !testing.Short() {
		nets = append(nets, "resnet18")
	}
	for _, name := range nets {
		path := filepath.Join("..", "..", "examples", name+".wdc")
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s not present", path)
		}
		g, err := dsl.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		feeds := feedsFor(g, 1)
		want, err := runtime.Run(g, feeds)
		if err != nil {
			t.Fatal(err)
		}
		for _, algo := range Algos() {
			t.Run(name+"/"+algo, func(t *testing.T) {
				plan, err := Select(g, Options{Machine: testMachine, Force: algo})
				if err != nil {
					t.Fatal(err)
				}
				forced := 0
				for _, l := range plan.Layers {
					if l.Forced {
						forced++
					}
				}
				m := compileForced(t, g, plan, 2)
				defer m.Close()
				got, err := m.Run(feeds)
				if err != nil {
					t.Fatal(err)
				}
				e, err := relErr(got, want)
				if err != nil {
					t.Fatal(err)
				}
				// Whole networks: float32 accumulation over many layers against the interpreter's float64.
				tol := 1e-3
				t.Logf("%s: %d of %d conv layers forced to %s, max error %.3g", name, forced, len(plan.Layers), algo, e)
				if e > tol {
					t.Errorf("error %.3g above %.0e", e, tol)
				}
			})
		}
	}
}

// calibLayers are the layers timed by TestCalibrate (the single
// layers and LeNet-5's).
func calibLayers(t testing.TB) []*ir.Graph {
	return []*ir.Graph{
		convGraph(t, "conv3x3_64_56", []int{1, 64, 56, 56}, []int{64, 64, 3, 3}, pads1()),
		convGraph(t, "conv3x3_256_14", []int{1, 256, 14, 14}, []int{256, 256, 3, 3}, pads1()),
		convGraph(t, "conv3x3_128_28", []int{1, 128, 28, 28}, []int{128, 128, 3, 3}, pads1()),
		convGraph(t, "conv1x1_256_64_56", []int{1, 256, 56, 56}, []int{64, 256, 1, 1}, nil),
		convGraph(t, "conv7x7_s2_stem", []int{1, 3, 224, 224}, []int{64, 3, 7, 7}, ir.Attrs{"strides": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(3, 3, 3, 3)}),
		convGraph(t, "lenet_c3_5x5", []int{1, 6, 14, 14}, []int{16, 6, 5, 5}, nil),
		convGraph(t, "conv5x5_32_28", []int{1, 32, 28, 28}, []int{32, 32, 5, 5}, ir.Attrs{"pads": ir.IntsAttr(2, 2, 2, 2)}),
	}
}

// TestCalibrate (WDC_CALIBRATE=1) times every algorithm on calibLayers,
// compiled, one thread, and prints the measured efficiency
// W/(T·F_peak per core) per layer, its median per algorithm (the value
// for DefaultEfficiency), and predicted against measured times.
func TestCalibrate(t *testing.T) {
	if os.Getenv("WDC_CALIBRATE") == "" {
		t.Skip("set WDC_CALIBRATE=1 to time the algorithms")
	}
	needClang(t)
	mach, err := roofline.Load(roofline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("machine: %v", mach)
	runs := 5
	effs := map[string][]float64{}
	type row struct {
		layer, algo     string
		pred, meas, eff float64
	}
	var rows []row
	for _, g := range calibLayers(t) {
		feeds := feedsFor(g, 2)
		for _, algo := range Algos() {
			if loop.ConvAlgoApplies(g.Nodes[0], algo) != nil {
				continue
			}
			plan, err := Select(g, Options{Machine: mach, Threads: 1, Force: algo})
			if err != nil {
				t.Fatal(err)
			}
			m := compileForced(t, g, plan, 1)
			m.SetThreads(1)
			if _, err := m.Run(feeds); err != nil {
				t.Fatal(err)
			}
			var ts []float64
			for i := 0; i < runs; i++ {
				t0 := time.Now()
				m.Run(feeds)
				ts = append(ts, time.Since(t0).Seconds())
			}
			m.Close()
			sort.Float64s(ts)
			meas := ts[0] // the least disturbed run on a shared machine
			var c Candidate
			for _, k := range plan.Layers[0].Candidates {
				if k.Algo == algo {
					c = k
				}
			}
			eff := c.FLOPs / (meas * mach.PeakFLOPSPerCore)
			effs[algo] = append(effs[algo], eff)
			rows = append(rows, row{g.Name, algo, c.Time, meas, eff})
		}
	}
	for _, r := range rows {
		t.Logf("%-20s %-10s predicted %9.3f ms  measured %9.3f ms  efficiency %.3f", r.layer, r.algo, r.pred*1e3, r.meas*1e3, r.eff)
	}
	for _, a := range Algos() {
		e := effs[a]
		sort.Float64s(e)
		if len(e) > 0 {
			t.Logf("median efficiency %-10s %.3f (over %d layers)", a, e[len(e)/2], len(e))
		}
	}
}

// TestWinogradGemm checks the backend's Winograd path (transforms around
// the GEMM microkernel, filters transformed at compile time) against the
// interpreter: F(2×2) and F(4×4), odd image sizes (cropped edge tiles),
// more tiles than one panel, channel counts that are not multiples of
// the register tile, a fused bias, residual and ReLU, batch 2, on one
// and two threads (few tiles: the threads split the channels).
func TestWinogradGemm(t *testing.T) {
	needClang(t)
	cases := []struct {
		name          string
		n, c, m, h, w int
		pad           int
		residual      bool
		threads       int
	}{
		{"tiny_edge", 1, 5, 7, 9, 11, 1, false, 1},
		{"many_tiles", 2, 6, 17, 40, 37, 1, true, 2},
		{"wide_channels", 1, 33, 40, 14, 14, 1, true, 2}, // one F(4×4) panel: two threads split the channels
		{"no_pad", 1, 8, 16, 13, 10, 0, false, 1},
		// 128+ output channels on few panels: one item per image takes all
		// its panels (the transformed filters read once), two threads
		// split the channels
		{"wide_layer", 1, 24, 130, 20, 18, 1, true, 2},
		{"wide_layer_batch", 2, 16, 128, 14, 14, 1, false, 1},
		// an odd number of panels on two threads: the last one splits its
		// output channels
		{"odd_panels", 1, 6, 20, 36, 36, 1, false, 2},
	}
	for _, c := range cases {
		g := ir.NewGraph(c.name)
		x, err := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{c.n, c.c, c.h, c.w}}, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewSource(3))
		cst := func(name string, s ir.Shape) *ir.Value {
			tt := ir.NewTensor(ir.Float32, s)
			for i := range tt.F {
				tt.F[i] = float32(r.NormFloat64()) * 0.3
			}
			v, err := g.AddConst(name, tt, ir.Pos{})
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		p := int64(c.pad)
		y, err := g.AddNode("conv", "y", []*ir.Value{x, cst("w", ir.Shape{c.m, c.c, 3, 3}), cst("b", ir.Shape{c.m})}, ir.Attrs{"pads": ir.IntsAttr(p, p, p, p)}, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		out := y
		if c.residual {
			s := y.Type.Shape
			res, err := g.AddInput("res", ir.Type{Elem: ir.Float32, Shape: s}, ir.Pos{})
			if err != nil {
				t.Fatal(err)
			}
			if out, err = g.AddNode("add", "sum", []*ir.Value{y, res}, nil, ir.Pos{}); err != nil {
				t.Fatal(err)
			}
		}
		if out, err = g.AddNode("relu", "out", []*ir.Value{out}, nil, ir.Pos{}); err != nil {
			t.Fatal(err)
		}
		g.Outputs = []*ir.Value{out}
		feeds := feedsFor(g, 5)
		want, err := runtime.Run(g, feeds)
		if err != nil {
			t.Fatal(err)
		}
		for _, algo := range []string{loop.ConvWinograd2, loop.ConvWinograd4} {
			for _, threads := range []int{c.threads} {
				t.Run(fmt.Sprintf("%s/%s/%dthreads", c.name, algo, threads), func(t *testing.T) {
					plan, err := Select(g, Options{Machine: testMachine, Force: algo})
					if err != nil {
						t.Fatal(err)
					}
					var gemms []string
					dir := t.TempDir()
					if _, err := llvm.Compile(g, dir, llvm.Options{Threads: threads, Lower: plan.Lower,
						DumpGemm: func(k string, gm *loop.Gemm) { gemms = append(gemms, gm.String()) }}); err != nil {
						t.Fatal(err)
					}
					if len(gemms) != 1 || !strings.Contains(gemms[0], "winograd F(") {
						t.Fatalf("want one Winograd GEMM kernel, got %q", gemms)
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
					e, err := relErr(got, want)
					if err != nil {
						t.Fatal(err)
					}
					if e > 1e-5 {
						t.Errorf("max error %.3g (relative to the output's scale) above 1e-5", e)
					}
				})
			}
		}
	}
}
