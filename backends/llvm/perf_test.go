package llvm_test

import (
	"fmt"
	"math/rand"
	"os"
	goruntime "runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"wdc/backends/llvm"
	"wdc/ir"
	"wdc/runtime/native"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPerf measures the CPU time per run of an example on one thread:
// WDC_PERF=resnet18 go test -run TestPerf -v ./backends/llvm
func TestPerf(t *testing.T) {
	name := os.Getenv("WDC_PERF")
	if name == "" {
		t.Skip()
	}
	g := loadExample(t, name)
	feeds := randomFeeds(g, 1)
	dir := t.TempDir()
	if _, err := llvm.Compile(g, dir, llvm.Options{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	m, err := native.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Run(feeds); err != nil {
		t.Fatal(err)
	}
	c0, w0 := cpuNow(), time.Now()
	n := 5
	for i := 0; i < n; i++ {
		if _, err := m.Run(feeds); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%s: cpu %v/run, wall %v/run", name, (cpuNow()-c0)/time.Duration(n), time.Since(w0)/time.Duration(n))
}

// perfLayers are the single layers of the benchmark table.
func perfLayers() []struct {
	name  string
	build func(g *ir.Graph) error
	flops float64
} {
	r := rand.New(rand.NewSource(1))
	cst := func(g *ir.Graph, name string, s ir.Shape) *ir.Value {
		t := ir.NewTensor(ir.Float32, s)
		for i := range t.F {
			t.F[i] = float32(r.NormFloat64()) * 0.1
		}
		v, _ := g.AddConst(name, t, ir.Pos{})
		return v
	}
	conv := func(c, m, hw, k int) func(g *ir.Graph) error {
		return func(g *ir.Graph) error {
			x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, c, hw, hw}}, ir.Pos{})
			p := int64(k / 2)
			y, err := g.AddNode("conv", "y", []*ir.Value{x, cst(g, "w", ir.Shape{m, c, k, k}), cst(g, "b", ir.Shape{m})}, ir.Attrs{"pads": ir.IntsAttr(p, p, p, p)}, ir.Pos{})
			g.Outputs = []*ir.Value{y}
			return err
		}
	}
	return []struct {
		name  string
		build func(g *ir.Graph) error
		flops float64
	}{
		{"sgemm1024", func(g *ir.Graph) error {
			a, _ := g.AddInput("a", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1024, 1024}}, ir.Pos{})
			y, err := g.AddNode("matmul", "y", []*ir.Value{a, cst(g, "b", ir.Shape{1024, 1024})}, nil, ir.Pos{})
			g.Outputs = []*ir.Value{y}
			return err
		}, 2 * 1024 * 1024 * 1024},
		{"conv3x3_64_56", conv(64, 64, 56, 3), 2 * 64 * 64 * 9 * 56 * 56},
		{"conv3x3_256_14", conv(256, 256, 14, 3), 2 * 256 * 256 * 9 * 14 * 14},
		{"conv1x1_256_64_56", conv(256, 64, 56, 1), 2 * 256 * 64 * 56 * 56},
	}
}

// threadCPU is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID).
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// TestPerfLayers reports GFLOP/s of the benchmark's single layers and the
// example networks: the least thread CPU time of a run on 1 thread, and
// the least wall time on 2 threads (WDC_PERF=layers; WDC_PERF_NOGEMM=1
// compiles without the GEMM for comparison; WDC_PERF_RUNS=n).
func TestPerfLayers(t *testing.T) {
	if os.Getenv("WDC_PERF") != "layers" {
		t.Skip()
	}
	goruntime.LockOSThread()
	defer goruntime.UnlockOSThread()
	runs := 10
	if s := os.Getenv("WDC_PERF_RUNS"); s != "" {
		fmt.Sscan(s, &runs)
	}
	type model struct {
		name  string
		g     *ir.Graph
		flops float64
	}
	var models []model
	for _, l := range perfLayers() {
		g := ir.NewGraph(l.name)
		if err := l.build(g); err != nil {
			t.Fatal(err)
		}
		models = append(models, model{l.name, g, l.flops})
	}
	for _, name := range []string{"lenet5", "resnet18"} {
		if os.Getenv("WDC_PERF_LAYERS_ONLY") != "" {
			break
		}
		models = append(models, model{name, loadExample(t, name), 0})
	}
	for _, md := range models {
		dir := t.TempDir()
		if _, err := llvm.Compile(md.g, dir, perfOptions()); err != nil {
			t.Fatal(err)
		}
		m, err := native.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		feeds := randomFeeds(md.g, 1)
		if _, err := m.Run(feeds); err != nil {
			t.Fatal(err)
		}
		best := func() (cpu, wall time.Duration) {
			cpu, wall = time.Hour, time.Hour
			for i := 0; i < runs; i++ {
				c0, w0 := threadCPU(), time.Now()
				if _, err := m.Run(feeds); err != nil {
					t.Fatal(err)
				}
				cpu, wall = min(cpu, threadCPU()-c0), min(wall, time.Since(w0))
			}
			return
		}
		c1, w1 := best()
		if err := m.SetThreads(2); err != nil {
			t.Fatal(err)
		}
		_, w2 := best()
		gf := func(d time.Duration) string {
			if md.flops == 0 {
				return ""
			}
			return fmt.Sprintf(" (%.1f GFLOP/s)", md.flops/d.Seconds()/1e9)
		}
		t.Logf("%-18s 1 thread: cpu %v%s wall %v%s | 2 threads: wall %v%s", md.name, c1, gf(c1), w1, gf(w1), w2, gf(w2))
		m.Close()
	}
}

// perfOptions: WDC_PERF_NOGEMM=1 disables the GEMM, WDC_PERF_UKR=MRxNR
// picks the microkernel (6x16, 4x24, 14x32, ...).
func perfOptions() llvm.Options {
	o := llvm.Options{Threads: 1, NoGemm: os.Getenv("WDC_PERF_NOGEMM") != ""}
	if s := os.Getenv("WDC_PERF_UKR"); s != "" {
		var mr, nr int
		fmt.Sscanf(s, "%dx%d", &mr, &nr)
		vw := 8
		if nr%16 == 0 && nr > 16 {
			vw = 16
		}
		o.Microkernel = llvm.Microkernel{VW: vw, MR: mr, NV: nr / vw}
	}
	return o
}
