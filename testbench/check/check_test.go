package check

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wdc/frontend/onnx"
)

const shared = "../../../shared/testdata"

func needShared(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(shared, "onnx-backend", "RECOMMENDED-SUBSET.txt")); err != nil {
		t.Skipf("shared test data is absent (%s): skipping", shared)
	}
	return shared
}

// runAll runs dirs and fails the test on any failure, logging the lines.
func runAll(t *testing.T, dirs []string, opts Options, wantPassed int) Summary {
	t.Helper()
	var out bytes.Buffer
	sum, err := Run(dirs, opts, &out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for _, l := range lines {
		if !strings.HasPrefix(l, "PASS") {
			t.Log(l)
		}
	}
	if sum.Failed > 0 || sum.Skipped > 0 || (wantPassed > 0 && sum.Passed != wantPassed) {
		t.Errorf("%d passed, %d failed, %d skipped; want %d passed", sum.Passed, sum.Failed, sum.Skipped, wantPassed)
	}
	last := lines[len(lines)-1]
	if want := strings.TrimSpace(strings.SplitN(last, ",", 3)[0]); !strings.HasSuffix(want, "passed") {
		t.Errorf("last line %q is not the summary", last)
	}
	return sum
}

func tier(t *testing.T, name string) []string {
	dirs, err := TierDirs(filepath.Join(needShared(t), "onnx-backend"), name)
	if err != nil {
		t.Fatal(err)
	}
	return dirs
}

func TestTierA(t *testing.T) {
	dirs := tier(t, "A")
	if len(dirs) != 158 {
		t.Fatalf("tier A has %d tests, want 158", len(dirs))
	}
	runAll(t, dirs, Options{Jobs: 2}, 158)
}

func TestTierB(t *testing.T) {
	dirs := tier(t, "B")
	runAll(t, dirs, Options{Jobs: 2}, len(dirs))
}

// Tier C (recurrent ops) is not supported: each test must fail cleanly
// with the unsupported-operator message.
func TestTierCUnsupported(t *testing.T) {
	dirs := tier(t, "C")
	var out bytes.Buffer
	sum, err := Run(dirs, Options{}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != len(dirs) || sum.Passed != 0 {
		t.Errorf("got %d passed %d failed", sum.Passed, sum.Failed)
	}
	for _, r := range sum.Results {
		if !strings.Contains(r.Err, "unsupported operator") {
			t.Errorf("%s: %s", r.Test, r.Err)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), "0 passed, 9 failed") {
		t.Errorf("summary: %q", out.String())
	}
}

func TestRealModels(t *testing.T) {
	s := needShared(t)
	dirs, _ := filepath.Glob(filepath.Join(s, "models", "*"))
	sum := runAll(t, dirs, Options{}, 0)
	if sum.Passed < 14 {
		t.Errorf("only %d data sets passed", sum.Passed)
	}
}

func TestLightModels(t *testing.T) {
	if testing.Short() {
		t.Skip("light models take about a minute")
	}
	s := needShared(t)
	runAll(t, []string{filepath.Join(s, "onnx-backend", "light")}, Options{Jobs: 2}, 9)
}

func TestLightModelByFile(t *testing.T) {
	s := needShared(t)
	cs, err := Discover(filepath.Join(s, "onnx-backend", "light", "light_squeezenet.onnx"))
	if err != nil || len(cs) != 1 || len(cs[0].Sets) != 1 || len(cs[0].Sets[0].Inputs) != 1 {
		t.Fatalf("%+v %v", cs, err)
	}
}

func TestSkipAndFailLines(t *testing.T) {
	dir := t.TempDir()
	// A model without reference data is skipped with the reason.
	data, err := os.ReadFile(filepath.Join(needShared(t), "onnx-backend", "node", "test_relu", "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "lonely.onnx"), data, 0o644)
	var out bytes.Buffer
	sum, err := Run([]string{filepath.Join(dir, "lonely.onnx")}, Options{}, &out)
	if err != nil || sum.Skipped != 1 {
		t.Fatalf("%v %+v", err, sum)
	}
	if !strings.Contains(out.String(), "SKIP lonely") || !strings.HasSuffix(out.String(), "0 passed, 0 failed, 1 skipped\n") {
		t.Errorf("output %q", out.String())
	}
	// A wrong reference fails with the error sizes printed.
	sum, err = Run([]string{filepath.Join(shared, "onnx-backend", "node", "test_add")}, Options{TargetFunc: func(g *irGraph) (Runner, error) {
		return badRunner{}, nil
	}}, &out)
	if err != nil || sum.Failed != 1 {
		t.Fatalf("%v %+v\n%s", err, sum, out.String())
	}
	if !strings.Contains(out.String(), "FAIL test_add [test_data_set_0] max_abs_err=") {
		t.Errorf("output %q", out.String())
	}
	if _, err := Run([]string{dir}, Options{Target: "fpga9000"}, &out); err == nil {
		t.Error("unknown target accepted")
	}
}

func TestMNISTAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 digits through two models")
	}
	s := needShared(t)
	images := filepath.Join(s, "datasets", "mnist", "images-idx3-ubyte.gz")
	labels := filepath.Join(s, "datasets", "mnist", "labels-idx1-ubyte.gz")
	for _, c := range []struct {
		model string
		pre   Preprocess
		want  int
	}{
		{"mnist-cnn", ScaleUnit, 9941},
		{"mnist-mlp-onnx-mlir", Normalize(0.1307, 0.3081), 9253},
	} {
		g, err := onnx.Load(filepath.Join(s, "models", c.model, "model.onnx"), onnx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		acc, err := Accuracy(g, images, labels, c.pre, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v", c.model, acc)
		if acc.Correct != c.want || acc.Total != 10000 {
			t.Errorf("%s: %v, want %d/10000", c.model, acc, c.want)
		}
	}
}
