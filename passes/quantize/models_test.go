package quantize

import (
	"os"
	"path/filepath"
	"testing"

	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/testbench/check"
)

// shared returns /work/shared/testdata (or ../shared/testdata relative to
// the repository), skipping the test when it is absent.
func shared(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"../../../shared/testdata", "/work/shared/testdata"} {
		if _, err := os.Stat(filepath.Join(p, "models")); err == nil {
			return p
		}
	}
	t.Skip("shared test data (../shared/testdata) is missing: the reference-model tests need it")
	return ""
}

func loadModel(t *testing.T, path string) *ir.Graph {
	t.Helper()
	g, err := onnx.Load(path, onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// JetTagger loads the jet tagger and its 1,000 test vectors.
func jetTagger(t *testing.T) (*ir.Graph, [][]float32) {
	s := shared(t)
	g := loadModel(t, filepath.Join(s, "models", "jet-tagger", "onnx", "model.onnx"))
	vecs, err := ReadDat(filepath.Join(s, "models", "jet-tagger", "tb_input_features.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 1000 {
		t.Fatalf("%d vectors, want 1000", len(vecs))
	}
	return g, vecs
}

func TestJetTaggerFixed16_6(t *testing.T) {
	g, vecs := jetTagger(t)
	q, err := Quantize(g, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	feeds, err := Feeds(g, vecs)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(g, q, feeds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("jet tagger at fixed<16,6>: %v", rep)
	for _, l := range rep.Layers {
		t.Logf("  %-30s max |err| %.6g", l.Name, l.MaxAbsErr)
	}
	if rep.Agreement() < 0.99 {
		t.Errorf("top-1 agreement %.2f%% < 99%%", 100*rep.Agreement())
	}
}

func TestJetTaggerPlainApFixed(t *testing.T) {
	// hls4ml's ap_fixed<16,6>: truncation and wrap-around everywhere.
	g, vecs := jetTagger(t)
	c := DefaultConfig()
	c.Default = ir.FixedType(16, 6)
	q, err := Quantize(g, c)
	if err != nil {
		t.Fatal(err)
	}
	feeds, _ := Feeds(g, vecs)
	rep, err := Compare(g, q, feeds)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("jet tagger at fixed<16,6,trn,wrap>: %v", rep)
	if rep.Agreement() < 0.99 {
		t.Errorf("top-1 agreement %.2f%% < 99%%", 100*rep.Agreement())
	}
}

func TestMNISTCNNAccuracy(t *testing.T) {
	s := shared(t)
	g := loadModel(t, filepath.Join(s, "models", "mnist-cnn", "model.onnx"))
	images := filepath.Join(s, "datasets", "mnist", "images-idx3-ubyte.gz")
	labels := filepath.Join(s, "datasets", "mnist", "labels-idx1-ubyte.gz")
	q, err := Quantize(g, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		img, err := check.ReadIDX(images)
		if err != nil {
			t.Fatal(err)
		}
		var vecs [][]float32
		for i := 0; i < 300; i++ {
			v := make([]float32, 784)
			check.ScaleUnit(img.Data[i*784:(i+1)*784], v)
			vecs = append(vecs, v)
		}
		feeds, _ := Feeds(g, vecs)
		rep, err := Compare(g, q, feeds)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("-short: 300 digits only: %v", rep)
		if rep.Agreement() < 0.99 {
			t.Errorf("top-1 agreement with float %.2f%% < 99%%", 100*rep.Agreement())
		}
		return
	}
	acc, err := check.Accuracy(q, images, labels, check.ScaleUnit, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The float model scores 9,941/10,000 (99.41%, testbench/check's TestMNISTAccuracy pins it).
	t.Logf("mnist-cnn at fixed<16,6,rne,sat>: %v (float: 99.41%%)", acc)
	if acc.Total != 10000 || acc.Percent() < 99.41-0.5 {
		t.Errorf("fixed-point accuracy %v is more than 0.5 points below the float 99.41%%", acc)
	}
}
