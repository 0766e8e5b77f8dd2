package loop

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"wdc/frontend/dsl"
	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/runtime"
)

// convTol is each algorithm's tolerance against the interpreter (which
// accumulates in float64): |got − want| ≤ tol·(1 + max|want|) for every
// element. Direct and im2col sum the same products in the same order;
// Winograd's transforms add and subtract values up to a few times larger
// than the result (F(4x4,3x3)'s matrices have entries up to 8 and 1/24,
// so its error is one to two orders of magnitude above F(2x2,3x3)'s); the
// DFT sums H_f·W_f products of magnitude |x|·|w| per output.
var convTol = map[string]float64{
	ConvDirect: 2e-5, ConvIm2col: 2e-5, ConvWinograd2: 5e-5, ConvWinograd4: 5e-4, ConvFFT: 5e-4,
}

// convErr is max|got − want| / (1 + max|want|).
func convErr(got, want []float32) (float64, error) {
	if len(got) != len(want) {
		return 0, fmt.Errorf("%d values, want %d", len(got), len(want))
	}
	scale, worst := 0.0, 0.0
	for i := range got {
		if got[i] != got[i] {
			return 0, fmt.Errorf("element %d is NaN (not written?)", i)
		}
		scale = math.Max(scale, math.Abs(float64(want[i])))
		worst = math.Max(worst, math.Abs(float64(got[i])-float64(want[i])))
	}
	return worst / (1 + scale), nil
}

// evalGroup lowers nodes (a conv and its fused chain, all in g) with algo
// and evaluates the Func with Eval.
func evalGroup(g *ir.Graph, nodes []*ir.Node, feeds map[string]*ir.Tensor, algo string) ([]float32, *Func, error) {
	f, err := LowerConvAlgo(nodes, algo)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float32, nodes[len(nodes)-1].Out.Type.Shape.Elements())
	for i := range out {
		out[i] = float32(math.NaN())
	}
	params := evalParams(g, nodes, feeds, out)
	if len(params) != len(f.Params) {
		return nil, nil, fmt.Errorf("%d buffers for %d params", len(params), len(f.Params))
	}
	if err := Eval(f, params); err != nil {
		return nil, nil, err
	}
	return out, f, nil
}

// evalParams gathers the data of a fused conv group's parameters.
func evalParams(g *ir.Graph, nodes []*ir.Node, feeds map[string]*ir.Tensor, out []float32) [][]float32 {
	data := func(v *ir.Value) []float32 {
		if v.Const != nil {
			return append([]float32(nil), v.Const.F...)
		}
		return append([]float32(nil), feeds[v.Name].F...)
	}
	var params [][]float32
	for _, v := range nodes[0].Inputs {
		params = append(params, data(v))
	}
	prev := nodes[0].Out
	for _, c := range nodes[1:] {
		if len(c.Inputs) == 2 {
			o := c.Inputs[1]
			if o == prev {
				o = c.Inputs[0]
			}
			params = append(params, data(o))
		}
		prev = c.Out
	}
	return append(params, out)
}

// maxErr records the largest error seen per algorithm, for the log.
type maxErr map[string]float64

func (m maxErr) log(t *testing.T) {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		t.Logf("max error %-10s %.3g (tolerance %.0e)", k, m[k], convTol[k])
	}
}

// checkAlgos runs every applicable algorithm on the conv group and
// compares with want.
func checkAlgos(t *testing.T, g *ir.Graph, nodes []*ir.Node, feeds map[string]*ir.Tensor, want []float32, errs maxErr) {
	t.Helper()
	for _, algo := range ConvAlgos() {
		if ConvAlgoApplies(nodes[0], algo) != nil {
			if _, err := LowerConvAlgo(nodes, algo); err == nil {
				t.Errorf("%s: LowerConvAlgo accepted a layer the algorithm does not apply to", algo)
			}
			continue
		}
		got, f, err := evalGroup(g, nodes, feeds, algo)
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		// The default schedule must not change the result.
		if err := DefaultSchedule(f); err != nil {
			t.Fatalf("%s: schedule: %v", algo, err)
		}
		got2 := make([]float32, len(got))
		if err := Eval(f, evalParams(g, nodes, feeds, got2)); err != nil {
			t.Fatalf("%s: scheduled: %v", algo, err)
		}
		if e, err := convErr(got2, got); err != nil || e > 1e-6 {
			t.Errorf("%s: the default schedule changed the result (%v, %v)", algo, e, err)
		}
		e, err := convErr(got, want)
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		errs[algo] = math.Max(errs[algo], e)
		if e > convTol[algo] {
			t.Errorf("%s: error %.3g above tolerance %.0e", algo, e, convTol[algo])
		}
	}
}

func TestConvAlgosCases(t *testing.T) {
	errs := maxErr{}
	for _, c := range ConvCases() {
		t.Run(c.Name, func(t *testing.T) {
			g, feeds, err := c.Graph(3)
			if err != nil {
				t.Fatal(err)
			}
			want, err := runtime.Run(g, feeds)
			if err != nil {
				t.Fatal(err)
			}
			checkAlgos(t, g, g.Nodes, feeds, want[g.Outputs[0].Name].F, errs)
		})
	}
	errs.log(t)
}

// TestConvAlgosFused checks the fused epilogue (bias, relu, residual add)
// under every algorithm, on an output size that is not a multiple of the
// Winograd tiles.
func TestConvAlgosFused(t *testing.T) {
	g := ir.NewGraph("fused")
	s := func(d ...int) ir.Type { return ir.Type{Elem: ir.Float32, Shape: ir.Shape(d)} }
	x, _ := g.AddInput("x", s(1, 3, 7, 6), ir.Pos{})
	w, _ := g.AddInput("w", s(3, 3, 3, 3), ir.Pos{})
	b, _ := g.AddInput("b", s(3), ir.Pos{})
	c, err := g.AddNode("conv", "c", []*ir.Value{x, w, b}, ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := g.AddNode("relu", "r", []*ir.Value{c}, nil, ir.Pos{})
	y, err := g.AddNode("add", "y", []*ir.Value{x, r}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y}
	feeds := map[string]*ir.Tensor{}
	for i, v := range g.Inputs {
		tt := ir.NewTensor(ir.Float32, v.Type.Shape)
		for j := range tt.F {
			tt.F[j] = float32(math.Sin(float64(7*j + i)))
		}
		feeds[v.Name] = tt
	}
	want, err := runtime.Run(g, feeds)
	if err != nil {
		t.Fatal(err)
	}
	checkAlgos(t, g, g.Nodes, feeds, want["y"].F, maxErr{})
}

// TestConvAlgosONNX runs every algorithm on the ONNX backend suite's
// float conv tests (tier A) with their own inputs and expected outputs.
func TestConvAlgosONNX(t *testing.T) {
	dirs, _ := filepath.Glob("../../../shared/testdata/onnx-backend/node/test_*conv*")
	if len(dirs) == 0 {
		t.Skip("ONNX backend tests not present")
	}
	errs := maxErr{}
	ran := 0
	for _, dir := range dirs {
		base := filepath.Base(dir)
		if strings.Contains(base, "transpose") || strings.Contains(base, "integer") || strings.Contains(base, "qlinear") {
			continue
		}
		t.Run(base, func(t *testing.T) {
			g, err := onnx.Load(filepath.Join(dir, "model.onnx"), onnx.Options{})
			if err != nil {
				t.Fatal(err)
			}
			feeds := map[string]*ir.Tensor{}
			for i, v := range g.Inputs {
				tt, _, err := runtime.ReadTensorPB(filepath.Join(dir, "test_data_set_0", fmt.Sprintf("input_%d.pb", i)))
				if err != nil {
					t.Fatal(err)
				}
				feeds[v.Name] = tt
			}
			ref, _, err := runtime.ReadTensorPB(filepath.Join(dir, "test_data_set_0", "output_0.pb"))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Nodes) != 1 || g.Nodes[0].Op != "conv" {
				t.Skipf("not a single conv node")
			}
			checkAlgos(t, g, g.Nodes, feeds, ref.F, errs)
			ran++
		})
	}
	if ran < 5 {
		t.Errorf("only %d ONNX conv tests ran", ran)
	}
	errs.log(t)
}

// TestConvAlgosLeNet runs every algorithm on LeNet-5's conv layers (its
// own weights, random inputs).
func TestConvAlgosLeNet(t *testing.T) {
	path := "../../examples/lenet5.wdc"
	if _, err := os.Stat(path); err != nil {
		t.Skip("examples/lenet5.wdc not present")
	}
	g, err := dsl.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	errs := maxErr{}
	for i, n := range g.Nodes {
		if n.Op != "conv" {
			continue
		}
		lg, feeds, err := ConvLayerGraph(n, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		want, err := runtime.Run(lg, feeds)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(n.Name(), func(t *testing.T) { checkAlgos(t, lg, lg.Nodes, feeds, want["y"].F, errs) })
	}
	errs.log(t)
}

// TestConvAlgosResNetGeometry runs every algorithm, with Eval, on each
// distinct ResNet-18 conv geometry (kernel, stride, padding, spatial
// size) with the channel counts cut to 4 so that Eval stays fast; the
// full-size layers are compiled and checked in passes/convalgo.
func TestConvAlgosResNetGeometry(t *testing.T) {
	path := "../../examples/resnet18.wdc"
	if _, err := os.Stat(path); err != nil {
		t.Skip("examples/resnet18.wdc not present")
	}
	if testing.Short() {
		t.Skip("short")
	}
	g, err := dsl.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	errs := maxErr{}
	for _, n := range g.Nodes {
		if n.Op != "conv" {
			continue
		}
		x, w := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape
		key := fmt.Sprint(x[2:], w[2:], n.Attrs)
		if seen[key] {
			continue
		}
		seen[key] = true
		h := x[2]
		if h > 56 {
			h = 32 // the stem (224x224): keep the 7x7 stride-2 geometry, smaller image
		}
		c := OpCase{Name: n.Name(), Op: "conv", Shapes: []ir.Shape{{1, 4, h, h}, {4, 4, w[2], w[3]}}, Attrs: n.Attrs}
		lg, feeds, err := c.Graph(5)
		if err != nil {
			t.Fatal(err)
		}
		want, err := runtime.Run(lg, feeds)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprintf("%s_%dx%d_k%d", n.Name(), h, h, w[2]), func(t *testing.T) {
			checkAlgos(t, lg, lg.Nodes, feeds, want[lg.Outputs[0].Name].F, errs)
		})
	}
	errs.log(t)
}

func TestConvAlgoErrors(t *testing.T) {
	c := ConvCases()[9] // stride 2
	g, _, err := c.Graph(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{ConvWinograd2, ConvWinograd4, ConvFFT, "bogus"} {
		_, err := LowerConvAlgo(g.Nodes, a)
		if err == nil {
			t.Errorf("%s accepted a stride-2 conv", a)
			continue
		}
		t.Logf("%s: %v", a, err)
	}
	if err := ConvAlgoApplies(g.Nodes[0], ConvIm2col); err != nil {
		t.Error(err)
	}
}
