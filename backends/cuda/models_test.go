package cuda_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"wdc/backends/cuda"
	"wdc/frontend/dsl"
	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/runtime"
)

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

// TestExamples emits the example networks, compiles them to PTX, runs the
// CPU emulation and compares with the interpreter. The jet tagger and
// LeNet-5 must become one kernel; ResNet-18 (grid mode, tiled convs) runs
// unless -short.
func TestExamples(t *testing.T) {
	t.Parallel()
	needTools(t)
	for _, name := range []string{"jet_tagger", "lenet5", "resnet18"} {
		t.Run(name, func(t *testing.T) {
			if name == "resnet18" && testing.Short() {
				t.Skip("-short")
			}
			g := loadExample(t, name)
			a := emitRun(t, g, randomFeeds(g, 1), cuda.Options{}, 1e-3, 1e-4)
			t.Logf("%s: %d kernel groups, %d launches, single kernel %v, arena %d bytes, weights %d bytes", name, len(a.Kernels), a.Launches, a.SingleKernel, a.Arena, a.Weights)
			if name != "resnet18" && (!a.SingleKernel || a.Launches != 1) {
				t.Errorf("%s: want one kernel, got %d launches", name, a.Launches)
			}
			if name == "resnet18" {
				tiled := 0
				for _, k := range a.Kernels {
					if k.Kind == "tiled" {
						tiled++
					}
				}
				if tiled < 20 {
					t.Errorf("resnet18: %d tiled kernels, want every conv and the fc (21)", tiled)
				}
			}
		})
	}
}

const onnxNode = "/work/shared/testdata/onnx-backend/node"

// ONNXCases are the tier-A ONNX conformance tests of conv, gemm, matmul
// and pooling that the GPU check also runs.
func onnxCases(t *testing.T) []string {
	data, err := os.ReadFile(filepath.Join(onnxNode, "..", "RECOMMENDED-SUBSET.txt"))
	if err != nil {
		t.Skip("ONNX test data not present")
	}
	return cuda.TierAConvGemmPool(string(data))
}

func loadONNXCase(t *testing.T, name string) (*ir.Graph, map[string]*ir.Tensor) {
	t.Helper()
	dir := filepath.Join(onnxNode, name)
	g, err := onnx.Load(filepath.Join(dir, "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*ir.Tensor{}
	for i, in := range g.Inputs {
		tt, _, err := runtime.ReadTensorPB(filepath.Join(dir, "test_data_set_0", "input_"+itoa(i)+".pb"))
		if err != nil {
			t.Fatal(err)
		}
		feeds[in.Name] = tt
	}
	return g, feeds
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestONNXTierA merges the tier-A conv/gemm/matmul/pool tests into one
// graph per mode (grid with tiling forced, single kernel) and compares
// the emulation with the interpreter.
func TestONNXTierA(t *testing.T) {
	t.Parallel()
	needTools(t)
	names := onnxCases(t)
	if len(names) < 20 {
		t.Fatalf("only %d tier-A conv/gemm/pool cases found", len(names))
	}
	used := 0
	g := ir.NewGraph("onnx_tier_a")
	feeds := map[string]*ir.Tensor{}
	for _, name := range names {
		cg, cf := loadONNXCase(t, name)
		if err := cuda.Compilable(cg); err != nil {
			t.Logf("%s: skipped: %v", name, err)
			continue
		}
		used++
		if err := cuda.MergeInto(g, cg, name+"_", cf, feeds); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	t.Logf("%d of %d tier-A conv/gemm/matmul/pool tests merged", used, len(names))
	emitRun(t, g, feeds, cuda.Options{SingleKernel: -1, TileMinMACs: 1}, 1e-4, 1e-5)
	emitRun(t, g, feeds, cuda.Options{SingleKernel: 1}, 1e-4, 1e-5, skipPTX)
}
