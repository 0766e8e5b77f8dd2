package gpu_test

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"wdc/backends/cuda"
	"wdc/ir"
	"wdc/runtime"
	"wdc/testbench/gpu"
)

const testData = "/work/shared/testdata"

// TestPrepareBundle prepares a bundle of a few cases, checks its files
// and scripts, then builds each case's CPU emulation from the bundle's
// sources and compares its outputs with the bundle's golden outputs, as
// run.sh --emulate does (without python).
func TestPrepareBundle(t *testing.T) {
	if _, err := os.Stat(testData); err != nil {
		t.Skip("shared test data not present")
	}
	if _, err := exec.LookPath("g++"); err != nil {
		t.Skip("g++ not installed")
	}
	dir := t.TempDir()
	only := []string{"jet_tagger", "mnist_cnn", "sgemm4096"}
	if err := gpu.PrepareBundle(dir, gpu.Options{Root: filepath.Join("..", ".."), TestData: testData, Only: only}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"run.sh", "check.py", "cases.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("bash", "-n", filepath.Join(dir, "run.sh")).CombinedOutput(); err != nil {
		t.Fatalf("bash -n run.sh: %v\n%s", err, out)
	}
	var cases []gpu.Case
	data, _ := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err := json.Unmarshal(data, &cases); err != nil || len(cases) != len(only) {
		t.Fatalf("cases.json: %v, %d cases", err, len(cases))
	}
	for _, c := range cases {
		cd := filepath.Join(dir, c.Name)
		var g gpu.JGraph
		data, err := os.ReadFile(filepath.Join(cd, "graph.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &g); err != nil || len(g.Nodes) == 0 {
			t.Fatalf("%s: graph.json: %v", c.Name, err)
		}
		var a cuda.Artifact
		data, _ = os.ReadFile(filepath.Join(cd, cuda.ManifestFile))
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		if c.Kind == "sgemm" { // inputs made on the GPU machine
			if a.Kernels[0].Kind != "tiled" || a.Kernels[0].Block != 256 {
				t.Errorf("sgemm: kernel %+v, want the tiled GEMM", a.Kernels[0])
			}
			continue
		}
		exe, err := cuda.BuildEmulator(cd)
		if err != nil {
			t.Fatal(err)
		}
		var ins []*ir.Tensor
		for i := range a.Inputs {
			in, err := runtime.LoadNPY(filepath.Join(cd, "inputs", "input_"+itoa(i)+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			ins = append(ins, in)
		}
		outs, err := cuda.RunDriver(cd, exe, &a, ins)
		if err != nil {
			t.Fatal(err)
		}
		for j := range a.Outputs {
			want, err := runtime.LoadNPY(filepath.Join(cd, "golden", "output_"+itoa(j)+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.F {
				if d := math.Abs(float64(outs[j].F[i] - want.F[i])); d > 1e-4+1e-3*math.Abs(float64(want.F[i])) {
					t.Fatalf("%s output %d element %d: got %v, want %v", c.Name, j, i, outs[j].F[i], want.F[i])
				}
			}
		}
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestUnknownCase(t *testing.T) {
	if _, err := os.Stat(testData); err != nil {
		t.Skip("shared test data not present")
	}
	err := gpu.PrepareBundle(t.TempDir(), gpu.Options{Root: filepath.Join("..", ".."), TestData: testData, Only: []string{"nope"}})
	if err == nil {
		t.Fatal("no error for an unknown case")
	}
}
