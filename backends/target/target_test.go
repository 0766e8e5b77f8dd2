package target

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"wdc/frontend/onnx"
	"wdc/frontend/onnx/onnxpb"
	"wdc/ir"
	"wdc/testbench/check"
)

// The CPU target against the ONNX backend suite and the real models of
// /work/shared/testdata, through the same engine as `wdc check --target
// cpu`. Every model is compiled with clang (about 1–2 s of CPU each, most
// of it the runtime's C), so the default run covers the integer tests of
// tier A and every convolution algorithm forced on the tier-A conv tests
// and the MNIST CNN; WDC_LONG=1 adds all of tier A (158 tests) and every
// real model.

const shared = "../../../shared/testdata"

func needData(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(shared)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "onnx-backend", "RECOMMENDED-SUBSET.txt")); err != nil {
		t.Skipf("test data not found (%s): %v", dir, err)
	}
	return dir
}

func runCheck(t *testing.T, dirs []string, tf check.Target) check.Summary {
	t.Helper()
	var out bytes.Buffer
	sum, err := check.Run(dirs, check.Options{Target: "cpu", TargetFunc: tf, Jobs: runtime.NumCPU()}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "FAIL") {
			t.Error(line)
		}
	}
	if sum.Failed > 0 || sum.Passed == 0 {
		t.Errorf("%d passed, %d failed", sum.Passed, sum.Failed)
	}
	return sum
}

func tierA(t *testing.T, data string) []string {
	dirs, err := check.TierDirs(filepath.Join(data, "onnx-backend"), "A")
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

// modelOf reads a test folder's model.
func modelOf(t *testing.T, dir string) *onnxpb.ModelProto {
	cases, err := check.Discover(dir)
	if err != nil || len(cases) == 0 {
		t.Fatalf("%s: %v", dir, err)
	}
	m, err := onnx.ReadModel(cases[0].Model)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	return m
}

func hasOp(m *onnxpb.ModelProto, op string) bool {
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == op {
			return true
		}
	}
	return false
}

// hasIntIO reports whether a graph input or output is an integer tensor
// (ONNX elem types 2..7: u8, i8, u16, i16, i32, i64).
func hasIntIO(m *onnxpb.ModelProto) bool {
	for _, v := range append(append([]*onnxpb.ValueInfoProto{}, m.GetGraph().GetInput()...), m.GetGraph().GetOutput()...) {
		if e := v.GetType().GetTensorType().GetElemType(); e >= 2 && e <= 7 {
			return true
		}
	}
	return false
}

// TestCPUIntegerTierA: the tier-A tests with integer tensors (u8 max
// pool, i32 pads, i8 clip) compile and match the interpreter exactly.
func TestCPUIntegerTierA(t *testing.T) {
	data := needData(t)
	var dirs []string
	for _, d := range tierA(t, data) {
		if hasIntIO(modelOf(t, d)) {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) < 7 {
		t.Errorf("found %d integer tests in tier A, want at least 7: %v", len(dirs), dirs)
	}
	sum := runCheck(t, dirs, nil)
	t.Logf("integer tier-A tests on cpu: %d passed, %d failed", sum.Passed, sum.Failed)
}

// TestCPUConvAlgorithms forces each convolution algorithm in turn on the
// tier-A conv tests and the MNIST CNN (layers an algorithm does not apply
// to keep the cost model's choice).
func TestCPUConvAlgorithms(t *testing.T) {
	data := needData(t)
	var dirs []string
	for _, d := range tierA(t, data) {
		if hasOp(modelOf(t, d), "Conv") {
			dirs = append(dirs, d)
		}
	}
	if cnn := filepath.Join(data, "models", "mnist-cnn"); dirExists(cnn) {
		dirs = append(dirs, cnn)
	}
	sort.Strings(dirs)
	if len(dirs) < 6 {
		t.Fatalf("found %d conv tests, want at least 6: %v", len(dirs), dirs)
	}
	for _, algo := range []string{"direct", "im2col", "winograd2", "winograd4", "fft"} {
		t.Run(algo, func(t *testing.T) {
			sum := runCheck(t, dirs, func(g *ir.Graph) (check.Runner, error) {
				return Open("cpu", g, Options{ConvAlgo: algo})
			})
			t.Logf("%s forced: %d passed, %d failed", algo, sum.Passed, sum.Failed)
		})
	}
}

// TestCPUTierAAndModels (WDC_LONG=1): all of tier A and every real model
// on the cpu target (a few minutes: one clang build per test).
func TestCPUTierAAndModels(t *testing.T) {
	if os.Getenv("WDC_LONG") == "" {
		t.Skip("set WDC_LONG=1 to compile all 158 tier-A tests and the real models (minutes)")
	}
	data := needData(t)
	sum := runCheck(t, tierA(t, data), nil)
	t.Logf("tier A on cpu: %d passed, %d failed", sum.Passed, sum.Failed)
	if sum.Passed+sum.Failed != 158 {
		t.Errorf("tier A has %d checks, want 158", sum.Passed+sum.Failed)
	}
	models, _ := filepath.Glob(filepath.Join(data, "models", "*"))
	var dirs []string
	for _, m := range models {
		if dirExists(m) {
			dirs = append(dirs, m)
		}
	}
	sum = runCheck(t, dirs, nil)
	t.Logf("real models on cpu: %d passed, %d failed", sum.Passed, sum.Failed)
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
