package llvm_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"wdc/backends/llvm"
	"wdc/ir"
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

// TestCExampleUnderASan compiles LeNet-5 with AddressSanitizer, builds
// the example C driver (examples/c) against it with its Makefile, runs it
// on two threads, and checks that it runs clean and matches the
// interpreter.
func TestCExampleUnderASan(t *testing.T) {
	needClang(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	g := loadExample(t, "lenet5")
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		t.Fatalf("lenet5 has %d inputs and %d outputs", len(g.Inputs), len(g.Outputs))
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if _, err := llvm.Compile(g, model, llvm.Options{Threads: 2, CFlags: []string{"-O1", "-g"}, ExtraCFlags: []string{"-fsanitize=address", "-fno-omit-frame-pointer"}}); err != nil {
		t.Fatal(err)
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
	want, err := runtime.Run(g, feeds)
	if err != nil {
		t.Fatal(err)
	}
	o := g.Outputs[0]
	got := map[string]*ir.Tensor{o.Name: ir.FromFloats(o.Type.Shape, readFloats(t, filepath.Join(work, "output0.bin")))}
	if err := compare(got, want, 1e-3, 1e-4); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", out)
}
