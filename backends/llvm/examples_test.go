package llvm_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"wdc/backends/llvm"
	"wdc/frontend/dsl"
	"wdc/ir"
)

func randomFeeds(g *ir.Graph, seed int64) map[string]*ir.Tensor {
	r := rand.New(rand.NewSource(seed))
	feeds := map[string]*ir.Tensor{}
	for _, v := range g.Inputs {
		t := ir.NewTensor(ir.Float32, v.Type.Shape)
		for i := range t.F {
			t.F[i] = float32(r.Float64())
		}
		feeds[v.Name] = t
	}
	return feeds
}

func loadExample(t *testing.T, name string) *ir.Graph {
	t.Helper()
	path := filepath.Join("..", "..", "examples", name+".wdc")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not present", path)
	}
	g, err := dsl.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestExamplesCompiled compiles the bundled example networks and compares
// the compiled model with the interpreter on random inputs.
func TestExamplesCompiled(t *testing.T) {
	needClang(t)
	for _, name := range []string{"lenet5", "jet_tagger", "resnet18"} {
		t.Run(name, func(t *testing.T) {
			g := loadExample(t, name)
			feeds := randomFeeds(g, 1)
			start := time.Now()
			// Whole networks accumulate float32 rounding over many layers;
			// the interpreter accumulates in float64.
			a := compileRun(t, g, feeds, llvm.Options{Threads: 2}, 1e-3, 1e-4)
			t.Logf("%s: emit %.2fs, clang %.2fs (CPU %.2fs), %d kernels, %s weights, arena %d bytes (peak live %d, unshared %d), total %v",
				name, a.EmitTime, a.ClangTime, a.ClangCPU, len(a.Kernels), byteSize(a.Weights), a.Arena, a.Peak, a.Naive, time.Since(start))
			// CPU time, not wall time: the test machine may be shared.
			if name == "resnet18" && a.EmitTime+a.ClangCPU > 10 {
				t.Errorf("compiling ResNet-18 took %.1fs (emit) + %.1fs (clang CPU), want < 10s", a.EmitTime, a.ClangCPU)
			}
		})
	}
}

func byteSize(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d B", n)
}

// TestDeterministicIR checks that two builds give byte-identical LLVM IR.
func TestDeterministicIR(t *testing.T) {
	g := loadExample(t, "lenet5")
	p1, err := llvm.Build(g, llvm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := llvm.Build(g, llvm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err1 := p1.LL()
	b, err2 := p2.LL()
	c, err3 := p1.LL()
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatal(err1, err2, err3)
	}
	if a != b {
		t.Fatal("two builds of lenet5 gave different LLVM IR")
	}
	if a != c {
		t.Fatal("rendering the same program twice gave different LLVM IR")
	}
}
