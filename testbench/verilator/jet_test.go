package verilator

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"wdc/backends/verilog"
	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/passes/quantize"
)

func sharedData(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"../../../shared/testdata", "/work/shared/testdata"} {
		if _, err := os.Stat(filepath.Join(p, "models")); err == nil {
			return p
		}
	}
	t.Skip("shared test data (../shared/testdata) is missing")
	return ""
}

func jetTagger(t *testing.T) (*ir.Graph, *ir.Graph, [][]float32) {
	t.Helper()
	s := sharedData(t)
	g, err := onnx.Load(filepath.Join(s, "models", "jet-tagger", "onnx", "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := quantize.Quantize(g, quantize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := ReadDat(filepath.Join(s, "models", "jet-tagger", "tb_input_features.dat"))
	if err != nil {
		t.Fatal(err)
	}
	return g, q, vecs
}

// TestJetTagger: the hls4ml jet tagger at fixed<16,6> (round-half-even,
// saturate), R = 1, all 1,000 vectors of tb_input_features.dat bit-exact
// against the golden model, latency at most 10 cycles, II 1.
func TestJetTagger(t *testing.T) {
	needTools(t)
	t.Parallel()
	_, q, vecs := jetTagger(t)
	inputs, err := FloatInputs(q, vecs)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, c, _ := emitCheck(t, q, verilog.Options{}, inputs, Options{})
	t.Logf("%d vectors: latency %d cycles, II %d, estimate %+v (%.1fs)", c.Vectors, c.LatencyCycles, c.IICycles, d.Estimate, time.Since(start).Seconds())
	if c.Vectors != 1000 {
		t.Errorf("%d vectors, want 1000", c.Vectors)
	}
	if c.LatencyCycles > 10 {
		t.Errorf("latency %d cycles, want at most 10", c.LatencyCycles)
	}
	if c.IICycles != 1 {
		t.Errorf("II %d, want 1", c.IICycles)
	}
	for _, l := range d.Layers {
		t.Logf("%-40s %-10s %-22s latency %d stage %d mult %d", l.Module, l.Op, l.Precision, l.Latency, l.Stage, l.Multipliers)
	}
}

// TestJetTaggerSynth synthesizes the jet tagger with yosys synth_xilinx.
// It takes long on two cores, so it runs only with WDC_SYNTH_JET=1
// (docs/fpga.md gives the figures):
//
//	WDC_SYNTH_JET=1 go test ./testbench/verilator -run TestJetTaggerSynth -v -timeout 2h
func TestJetTaggerSynth(t *testing.T) {
	if os.Getenv("WDC_SYNTH_JET") == "" {
		t.Skip("set WDC_SYNTH_JET=1 to synthesize the jet tagger with yosys (slow)")
	}
	_, q, _ := jetTagger(t)
	dir := os.Getenv("WDC_SYNTH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if _, err := verilog.Emit(q, dir, verilog.Options{}); err != nil {
		t.Fatal(err)
	}
	r, err := verilog.Report(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("jet tagger, fixed<16,6>, R=1:\n%s", r.Table())
}
