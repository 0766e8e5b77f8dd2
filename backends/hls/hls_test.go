package hls

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/passes/quantize"
	"wdc/testbench/check"
)

func needGxx(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/g++"); err != nil {
		t.Skip("g++ is not installed (Debian package g++)")
	}
}

// csimMatches emits q, runs the C simulation on vecs and checks every
// output word against the golden interpreter.
func csimMatches(t *testing.T, q *ir.Graph, vecs [][]float32) {
	t.Helper()
	dir := t.TempDir()
	if err := Emit(q, dir, Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := CSim(dir, vecs)
	if err != nil {
		t.Fatal(err)
	}
	feeds, err := quantize.Feeds(q, vecs)
	if err != nil {
		t.Fatal(err)
	}
	mismatches := 0
	for i, f := range feeds {
		want, err := quantize.RunFixed(q, f)
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for _, o := range q.Outputs {
			w := want[o.Name]
			for j, v := range w.I {
				if got[i][off+j] != v {
					if mismatches < 5 {
						t.Errorf("vector %d, output %q[%d]: C simulation %d, golden %d (%v)", i, o.Name, j, got[i][off+j], v, w.Elem)
					}
					mismatches++
				}
			}
			off += len(w.I)
		}
	}
	if mismatches > 0 {
		t.Fatalf("%d mismatching words over %d vectors", mismatches, len(vecs))
	}
	t.Logf("%d vectors bit-exact", len(vecs))
}

// mixedGraph exercises every op the backend emits.
func mixedGraph(t *testing.T) *ir.Graph {
	rng := rand.New(rand.NewPCG(1, 1))
	g := ir.NewGraph("mixed")
	randT := func(shape ir.Shape, scale float64) *ir.Tensor {
		tt := ir.NewTensor(ir.Float32, shape)
		for i := range tt.F {
			tt.F[i] = float32(rng.NormFloat64() * scale)
		}
		return tt
	}
	must := func(v *ir.Value, err error) *ir.Value {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := func(name string, tt *ir.Tensor) *ir.Value { return must(g.AddConst(name, tt, ir.Pos{})) }
	node := func(op, name string, ins []*ir.Value, a ir.Attrs) *ir.Value {
		return must(g.AddNode(op, name, ins, a, ir.Pos{}))
	}
	x := must(g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2, 6, 5}}, ir.Pos{}))
	c1 := node("conv", "c1", []*ir.Value{x, c("w1", randT(ir.Shape{4, 1, 3, 2}, 0.5)), c("b1", randT(ir.Shape{4}, 0.2))},
		ir.Attrs{"group": ir.IntAttr(2), "pads": ir.IntsAttr(1, 0, 2, 1), "strides": ir.IntsAttr(1, 2), "dilations": ir.IntsAttr(2, 1)})
	bn := node("batch_norm", "bn", []*ir.Value{c1, c("s", randT(ir.Shape{4}, 1)), c("bb", randT(ir.Shape{4}, 1)), c("m", randT(ir.Shape{4}, 1)), c("v", ir.FromFloats(ir.Shape{4}, []float32{1, 2, 0.5, 4}))}, nil)
	r := node("relu", "r", []*ir.Value{bn}, nil)
	mp := node("max_pool", "mp", []*ir.Value{r}, ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(1, 0, 0, 1)})
	tr := node("transpose", "tr", []*ir.Value{mp}, ir.Attrs{"perm": ir.IntsAttr(0, 2, 3, 1)})
	pd := node("pad", "pd", []*ir.Value{tr}, ir.Attrs{"pads": ir.IntsAttr(0, 1, 0, 0, 0, 0, 1, 0), "mode": ir.StringAttr("reflect")})
	fl := node("flatten", "fl", []*ir.Value{pd}, nil)
	k := fl.Type.Shape[1]
	d1 := node("dense", "d1", []*ir.Value{fl, c("dw", randT(ir.Shape{8, k}, 0.3)), c("db", randT(ir.Shape{8}, 0.1))}, ir.Attrs{"trans_b": ir.IntAttr(1)})
	sg := node("sigmoid", "sg", []*ir.Value{d1}, nil)
	th := node("tanh", "th", []*ir.Value{d1}, nil)
	mu := node("mul", "mu", []*ir.Value{sg, th}, nil)
	ad := node("add", "ad", []*ir.Value{mu, c("k", randT(ir.Shape{1, 8}, 0.5))}, nil)
	cc := node("concat", "cc", []*ir.Value{ad, sg}, ir.Attrs{"axis": ir.IntAttr(1)})
	mm := node("matmul", "mm", []*ir.Value{cc, c("mw", randT(ir.Shape{16, 5}, 0.5))}, nil)
	bias := node("add", "mb", []*ir.Value{mm, c("mbias", randT(ir.Shape{5}, 0.5))}, nil)
	sm := node("softmax", "sm", []*ir.Value{bias}, nil)
	sb := node("sub", "sb", []*ir.Value{bias, d1Slice(t, g, d1)}, nil)
	g.Outputs = []*ir.Value{sm, sb}
	if err := g.Verify(); err != nil {
		t.Fatal(err)
	}
	return g
}

// d1Slice is d1's first 5 columns by a matmul with a constant selector.
func d1Slice(t *testing.T, g *ir.Graph, d1 *ir.Value) *ir.Value {
	sel := ir.NewTensor(ir.Float32, ir.Shape{8, 5})
	for i := 0; i < 5; i++ {
		sel.F[i*5+i] = 1
	}
	s, err := g.AddConst("sel", sel, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := g.AddNode("matmul", "slice", []*ir.Value{d1, s}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func randVecs(n, size int, scale float64) [][]float32 {
	rng := rand.New(rand.NewPCG(9, 9))
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = make([]float32, size)
		for j := range vecs[i] {
			vecs[i][j] = float32(rng.NormFloat64() * scale)
		}
		if i%3 == 0 { // exact ties of the input precisions used (7, 10 and 20 fraction bits)
			for k, f := range []int{7, 10, 20} {
				vecs[i][k] = float32(math.Ldexp(float64(2*rng.IntN(64)-63), -f-1))
			}
		}
	}
	return vecs
}

func TestMixedGraphBitExact(t *testing.T) {
	needGxx(t)
	g := mixedGraph(t)
	for _, prec := range []string{"fixed<16,6,rne,sat>", "fixed<10,3>", "fixed<24,4,trn,sat>"} {
		t.Run(prec, func(t *testing.T) {
			cfg := quantize.DefaultConfig()
			cfg.Default, _ = ir.ParseElem(prec)
			cfg.TableSize = 64
			cfg.Layers = map[string]quantize.Layer{"d1": {Result: ir.Elem{Kind: ir.Fixed, W: 9, I: 2}}}
			q, err := quantize.Quantize(g, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Large inputs drive wrap-around and saturation.
			csimMatches(t, q, randVecs(200, 60, 4))
		})
	}
}

func TestEmitErrors(t *testing.T) {
	g := mixedGraph(t)
	err := Emit(g, t.TempDir(), Options{})
	if err == nil || !strings.Contains(err.Error(), "quantize the graph first") || !strings.Contains(err.Error(), "\"c1\" (conv)") {
		t.Errorf("float graph: %v", err)
	}
	q, err := quantize.Quantize(g, quantize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := Emit(q, t.TempDir(), Options{Top: "1bad"}); err == nil {
		t.Errorf("bad top name accepted")
	}
	dir := filepath.Join(t.TempDir(), "none")
	if _, err := CSim(dir, nil); err == nil || !strings.Contains(err.Error(), "not an HLS project") {
		t.Errorf("CSim on a missing project: %v", err)
	}
	// Nothing is written on error.
	out := filepath.Join(t.TempDir(), "x")
	if err := Emit(g, out, Options{}); err == nil {
		t.Fatal("want an error")
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("files written despite the error")
	}
}

func shared(t *testing.T) string {
	for _, p := range []string{"../../../shared/testdata", "/work/shared/testdata"} {
		if _, err := os.Stat(filepath.Join(p, "models")); err == nil {
			return p
		}
	}
	t.Skip("shared test data (../shared/testdata) is missing")
	return ""
}

func TestJetTaggerCSim(t *testing.T) {
	needGxx(t)
	s := shared(t)
	g, err := onnx.Load(filepath.Join(s, "models", "jet-tagger", "onnx", "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := quantize.ReadDat(filepath.Join(s, "models", "jet-tagger", "tb_input_features.dat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, prec := range []string{"fixed<16,6,rne,sat>", "fixed<16,6>"} {
		cfg := quantize.DefaultConfig()
		cfg.Default, _ = ir.ParseElem(prec)
		q, err := quantize.Quantize(g, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(prec, func(t *testing.T) { csimMatches(t, q, vecs) })
	}
}

func TestMNISTCNNCSim(t *testing.T) {
	needGxx(t)
	s := shared(t)
	g, err := onnx.Load(filepath.Join(s, "models", "mnist-cnn", "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := check.ReadIDX(filepath.Join(s, "datasets", "mnist", "images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	var vecs [][]float32
	for i := 0; i < 100; i++ {
		v := make([]float32, 784)
		check.ScaleUnit(img.Data[i*784:(i+1)*784], v)
		vecs = append(vecs, v)
	}
	q, err := quantize.Quantize(g, quantize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	csimMatches(t, q, vecs)
}

func TestConv1DBitExact(t *testing.T) {
	needGxx(t)
	g := ir.NewGraph("c1d")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 2, 9}}, ir.Pos{})
	w := ir.NewTensor(ir.Float32, ir.Shape{3, 2, 3})
	for i := range w.F {
		w.F[i] = float32(i%5)/4 - 0.5
	}
	wv, _ := g.AddConst("w", w, ir.Pos{})
	c, err := g.AddNode("conv", "c", []*ir.Value{x, wv}, ir.Attrs{"pads": ir.IntsAttr(2, 1), "strides": ir.IntsAttr(2), "dilations": ir.IntsAttr(2)}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.AddNode("max_pool", "p", []*ir.Value{c}, ir.Attrs{"kernel_shape": ir.IntsAttr(2), "pads": ir.IntsAttr(1, 0)}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{p}
	q, err := quantize.Quantize(g, quantize.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	csimMatches(t, q, randVecs(50, 18, 3))
}
