package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wdc/ir"
	"wdc/runtime"
)

// wdc runs the command line in-process and returns stdout, stderr and the error.
func wdc(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

func mustWDC(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := wdc(t, args...)
	if err != nil {
		t.Fatalf("wdc %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func TestRunExamples(t *testing.T) {
	for _, c := range []struct{ model, output, shape string }{
		{"../../examples/lenet5.wdc", "probs", "f32[1,10]"},
		{"../../examples/jet_tagger.wdc", "probs", "f32[1,5]"},
		{"../../examples/resnet18.wdc", "logits", "f32[1,1000]"},
		{"../../examples/mlp_from_npz.wdc", "probs", "f32[1,3]"},
	} {
		t.Run(filepath.Base(c.model), func(t *testing.T) {
			dir := t.TempDir()
			out, stderr, err := wdc(t, "run", c.model, "--output-dir", dir)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "output "+c.output+": "+c.shape) || !strings.Contains(out, "argmax") {
				t.Errorf("summary missing:\n%s", out)
			}
			if !strings.Contains(stderr, "not given: using uniform random values") {
				t.Errorf("the random input is not announced: %q", stderr)
			}
			got, err := runtime.LoadNPY(filepath.Join(dir, c.output+".npy"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Type.String() != c.shape {
				t.Errorf("written %v, want %s", got.Type, c.shape)
			}
		})
	}
}

// A model printed with `wdc ir --full` is itself a model that gives the
// same answer, bit for bit.
func TestIRRoundTripThroughFiles(t *testing.T) {
	dir := t.TempDir()
	irFile := filepath.Join(dir, "jet.ir")
	if err := os.WriteFile(irFile, []byte(mustWDC(t, "ir", "../../examples/jet_tagger.wdc", "--full")), 0o644); err != nil {
		t.Fatal(err)
	}
	mustWDC(t, "run", "../../examples/jet_tagger.wdc", "-o", filepath.Join(dir, "a"))
	mustWDC(t, "run", irFile, "-o", filepath.Join(dir, "b"))
	a, _ := runtime.LoadNPY(filepath.Join(dir, "a", "probs.npy"))
	b, _ := runtime.LoadNPY(filepath.Join(dir, "b", "probs.npy"))
	if a == nil || b == nil || !a.Equal(b) {
		t.Fatalf("outputs differ: %v vs %v", a, b)
	}
	if out := mustWDC(t, "ir", "../../examples/jet_tagger.wdc"); !strings.Contains(out, "elided") {
		t.Errorf("large constants are not elided by default")
	}
	if out := mustWDC(t, "ir", "../../examples/lenet5.wdc", "--after", "shape-inference"); !strings.Contains(out, "// after pass shape-inference") {
		t.Errorf("no dump after the pass:\n%s", out)
	}
	if out := mustWDC(t, "ir", "--list"); !strings.Contains(out, "shape-inference") || !strings.Contains(out, "analysis") {
		t.Errorf("passes not listed:\n%s", out)
	}
}

func TestRunONNXWithInputs(t *testing.T) {
	dir := t.TempDir()
	out := mustWDC(t, "run", "testdata/mnist-cnn/model.onnx", "--input", "Input3=testdata/mnist-cnn/test_data_set_0/input_0.pb", "-o", dir)
	if !strings.Contains(out, "output Plus214_Output_0: f32[1,10]") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	got, err := runtime.LoadNPY(filepath.Join(dir, "Plus214_Output_0.npy"))
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := runtime.ReadTensorPB("testdata/mnist-cnn/test_data_set_0/output_0.pb")
	if err != nil {
		t.Fatal(err)
	}
	for i := range want.F {
		if d := got.F[i] - want.F[i]; d > 1e-3 || d < -1e-3 {
			t.Fatalf("output %d: %v, want %v", i, got.F[i], want.F[i])
		}
	}
}

func TestCostJSON(t *testing.T) {
	var r struct {
		Graph        string   `json:"graph"`
		Work         int64    `json:"work"`
		Depth        int64    `json:"depth"`
		MACs         int64    `json:"macs"`
		CriticalPath []string `json:"critical_path"`
		Ops          []struct {
			Node string `json:"node"`
			Op   string `json:"op"`
		} `json:"ops"`
	}
	if err := json.Unmarshal([]byte(mustWDC(t, "cost", "../../examples/lenet5.wdc", "--json")), &r); err != nil {
		t.Fatal(err)
	}
	// LeNet-5's dot products: 117,600 + 240,000 + 48,000 + 10,080 + 840.
	// W and D as docs/work-depth.md states them for this example.
	if r.Graph != "lenet5" || r.MACs != 416520 || r.Work != 437466 || r.Depth != 64 || len(r.Ops) == 0 || len(r.CriticalPath) == 0 {
		t.Fatalf("unexpected report: %+v", r)
	}
	table := mustWDC(t, "cost", "../../examples/resnet18.wdc", "--algorithms")
	for _, want := range []string{"critical", "Brent", "winograd"} {
		if !strings.Contains(strings.ToLower(table), strings.ToLower(want)) {
			t.Errorf("cost table lacks %q", want)
		}
	}
}

func TestCheck(t *testing.T) {
	out := mustWDC(t, "check", "testdata/test_conv_with_strides_padding", "testdata/mnist-cnn")
	if !strings.Contains(out, "5 passed, 0 failed") {
		t.Fatalf("check summary:\n%s", out)
	}
}

func TestAccuracy(t *testing.T) {
	s := filepath.Join("..", "..", "..", "shared", "testdata")
	if _, err := os.Stat(s); err != nil {
		t.Skipf("skipping: the shared test data (%s) is absent", s)
	}
	mnist := filepath.Join(s, "datasets", "mnist")
	out, stderr, err := wdc(t, "accuracy", "testdata/mnist-cnn/model.onnx",
		"--images", filepath.Join(mnist, "images-idx3-ubyte.gz"), "--labels", filepath.Join(mnist, "labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err, stderr)
	}
	if !strings.Contains(out, "9941/10000 correct (99.41% top-1)") {
		t.Fatalf("accuracy: %s", out)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.wdc", "network n\ninput x: f32[1,4]\noutput y = x -> dense(out=3) -> frobnicate\n")
	shape := write("shape.wdc", "network n\ninput a: f32[1,4]\ninput b: f32[1,5]\noutput y = add(a, b)\n")
	junk := write("junk.onnx", "\x08\x07this is not a model")
	vec := filepath.Join(dir, "v.npy")
	if err := runtime.SaveNPY(vec, runtimeVector(7)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"run", "nope.wdc"}, "cannot read model"},
		{[]string{"run", write("m.txt", "x")}, `unknown model format ".txt"`},
		{[]string{"run", bad}, bad + ":3:"},
		{[]string{"run", shape}, "[1,4] and [1,5]"},
		{[]string{"run", junk}, "junk.onnx"},
		{[]string{"run", "../../examples/jet_tagger.wdc", "--input", "nosuch=" + vec}, `the model has no input "nosuch"`},
		{[]string{"run", "../../examples/jet_tagger.wdc", "--input", "features=" + vec}, "the model expects f32[1,16]"},
		{[]string{"run", "../../examples/jet_tagger.wdc", "--input", "features"}, "want NAME=FILE"},
		{[]string{"ir", "../../examples/lenet5.wdc", "--after", "nosuchpass"}, "nosuchpass"},
		{[]string{"ops", "frob"}, `unknown op "frob"`},
		{[]string{"check"}, "no tests given"},
		{[]string{"accuracy", "../../examples/lenet5.wdc", "--preprocess", "odd"}, "want unit, raw or mnist-norm"},
	}
	for _, c := range cases {
		_, _, err := wdc(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("wdc %s: got %v, want an error containing %q", strings.Join(c.args, " "), err, c.want)
		}
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, c := range newRoot().Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		if c.Example == "" || c.Short == "" {
			t.Errorf("wdc %s lacks a short description or an example", c.Name())
		}
	}
}

func runtimeVector(n int) *ir.Tensor {
	t := ir.NewTensor(ir.Float32, ir.Shape{1, n})
	for i := range t.F {
		t.F[i] = float32(i)
	}
	return t
}

func TestCompileAndRunTargets(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		target, model string
		files         []string
	}{
		{"cpu", "../../examples/lenet5.wdc", []string{"model.so", "model.h", "model.ll", "manifest.json"}},
		{"cuda", "../../examples/lenet5.wdc", []string{"model.cu", "model.h", "driver.cu", "Makefile", "weights.bin"}},
		{"hls", "../../examples/jet_tagger.wdc", []string{"wdc_hls.json", "tb.cpp"}},
	} {
		out := filepath.Join(dir, c.target)
		mustWDC(t, "compile", c.model, "--target", c.target, "-o", out)
		for _, f := range c.files {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("compile --target %s: %v", c.target, err)
			}
		}
	}
	if out := mustWDC(t, "run", "../../examples/lenet5.wdc", "--target", "cpu", "--explain"); !strings.Contains(out, "matches the interpreter") || !strings.Contains(out, "<- chosen") {
		t.Errorf("run --target cpu:\n%s", out)
	}
	if out := mustWDC(t, "run", "../../examples/lenet5.wdc", "--target", "cpu", "--conv-algo", "winograd2"); !strings.Contains(out, "matches the interpreter") {
		t.Errorf("run --target cpu --conv-algo winograd2:\n%s", out)
	}
	if out := mustWDC(t, "run", "../../examples/jet_tagger.wdc", "--target", "hls", "--precision", "fixed<16,6>"); !strings.Contains(out, "bit for bit") {
		t.Errorf("run --target hls:\n%s", out)
	}
	if out := mustWDC(t, "run", "../../examples/jet_tagger.wdc", "--precision", "fixed<16,6,rne,sat>"); !strings.Contains(out, "top-1 agreement") {
		t.Errorf("run --precision:\n%s", out)
	}
	if _, _, err := wdc(t, "compile", "../../examples/lenet5.wdc", "--target", "fpga", "-o", dir); err == nil || !strings.Contains(err.Error(), "unknown target") {
		t.Errorf("unknown target: %v", err)
	}
}

// The FPGA flow from the command line: compile to Verilog, simulate a few
// vectors in Verilator bit-exact against the golden model, run in one step.
func TestVerilogFlow(t *testing.T) {
	dir := t.TempDir()
	rtl := filepath.Join(dir, "rtl")
	out := mustWDC(t, "compile", "../../examples/mlp_from_npz.wdc", "--target", "verilog", "-o", rtl)
	if !strings.Contains(out, "predicted latency") {
		t.Fatalf("compile output:\n%s", out)
	}
	vecs := ir.NewTensor(ir.Float32, ir.Shape{5, 4})
	for i := range vecs.F {
		vecs.F[i] = float32(i%7) - 3
	}
	in := filepath.Join(dir, "vecs.npy")
	if err := runtime.SaveNPY(in, vecs); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Vectors    int `json:"vectors"`
		Mismatches int `json:"mismatches"`
		Latency    int `json:"latency_cycles"`
		II         int `json:"ii_cycles"`
	}
	js := mustWDC(t, "sim", rtl, "--input", in, "--json", "-o", filepath.Join(dir, "sim"))
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if res.Vectors != 5 || res.Mismatches != 0 || res.Latency <= 0 || res.II <= 0 {
		t.Fatalf("sim: %+v", res)
	}
	words, err := runtime.LoadNPY(filepath.Join(dir, "sim", "probs.fixed.words.npy"))
	if err != nil || !words.Shape.Equal(ir.Shape{5, 3}) {
		t.Fatalf("sim outputs: %v %v", words, err)
	}
	if out := mustWDC(t, "run", "../../examples/mlp_from_npz.wdc", "--target", "verilog"); !strings.Contains(out, "bit for bit") {
		t.Errorf("run --target verilog:\n%s", out)
	}
	// --add-levels 1: a register after every adder level (at most one
	// multiply-add between registers): longer, still bit-exact.
	rtl1 := filepath.Join(dir, "rtl1")
	mustWDC(t, "compile", "../../examples/mlp_from_npz.wdc", "--target", "verilog", "--add-levels", "1", "-o", rtl1)
	var res1 = res
	js = mustWDC(t, "sim", rtl1, "--input", in, "--json")
	if err := json.Unmarshal([]byte(js), &res1); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	if res1.Vectors != 5 || res1.Mismatches != 0 || res1.Latency <= res.Latency || res1.II != res.II {
		t.Fatalf("sim with --add-levels 1: %+v (default: %+v)", res1, res)
	}
}
