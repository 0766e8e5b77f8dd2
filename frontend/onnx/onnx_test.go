package onnx

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"wdc/frontend/onnx/onnxpb"
	"wdc/ir"
	"wdc/runtime"
)

// Small model builders.

func vi(name string, dt onnxpb.TensorProto_DataType, dims ...int64) *onnxpb.ValueInfoProto {
	var ds []*onnxpb.TensorShapeProto_Dimension
	for _, d := range dims {
		ds = append(ds, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(dt)), Shape: &onnxpb.TensorShapeProto{Dim: ds}}}}}
}

func fvi(name string, dims ...int64) *onnxpb.ValueInfoProto {
	return vi(name, onnxpb.TensorProto_FLOAT, dims...)
}

func nodeP(op, name string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: out, Attribute: attrs}
}

func intA(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), I: proto.Int64(v), Type: onnxpb.AttributeProto_INT.Enum()}
}

func intsA(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Ints: v, Type: onnxpb.AttributeProto_INTS.Enum()}
}

func floatInit(name string, dims []int64, data ...float32) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: data}
}

func int64Init(name string, dims []int64, data ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims, DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: data}
}

func model(opset int64, g *onnxpb.GraphProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}}}
}

func imp(t *testing.T, m *onnxpb.ModelProto, opts Options) (*ir.Graph, error) {
	t.Helper()
	data, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return LoadBytes(data, "test.onnx", opts)
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// reluModel: y = Relu(x) with names that need no sanitizing.
func reluModel() *onnxpb.ModelProto {
	return model(13, &onnxpb.GraphProto{
		Name:   proto.String("g"),
		Node:   []*onnxpb.NodeProto{nodeP("Relu", "layer/relu:0", []string{"in.put/0"}, []string{"out:0/y"})},
		Input:  []*onnxpb.ValueInfoProto{fvi("in.put/0", 2, 3)},
		Output: []*onnxpb.ValueInfoProto{fvi("out:0/y", 2, 3)},
	})
}

func TestNamesKept(t *testing.T) {
	g, err := imp(t, reluModel(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g.Inputs[0].Name != "in.put/0" || g.Outputs[0].Name != "out:0/y" || g.Nodes[0].Op != "relu" {
		t.Errorf("names: %v %v", g.Inputs[0].Name, g.Outputs[0].Name)
	}
}

func TestBadBytes(t *testing.T) {
	good, _ := proto.Marshal(reluModel())
	for name, data := range map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)/2],
		"random":    []byte("\x8f\x01\xffrandom bytes \x00\x12\x99 not a model"),
		"zeros":     make([]byte, 100),
	} {
		_, err := LoadBytes(data, name, Options{})
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := Load("no/such/file.onnx", Options{}); err == nil {
		t.Error("missing file accepted")
	}
}

func TestCycle(t *testing.T) {
	m := model(13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			nodeP("Relu", "A", []string{"b"}, []string{"a"}),
			nodeP("Add", "B", []string{"a", "x"}, []string{"b"}),
		},
		Input:  []*onnxpb.ValueInfoProto{fvi("x", 2)},
		Output: []*onnxpb.ValueInfoProto{fvi("b", 2)},
	})
	_, err := imp(t, m, Options{})
	wantErr(t, err, "cycle", `"A"`, `"B"`)
}

func TestUndefinedInput(t *testing.T) {
	m := reluModel()
	m.Graph.Node[0].Input[0] = "ghost"
	_, err := imp(t, m, Options{})
	wantErr(t, err, `"ghost"`, "not defined", "layer/relu:0")
}

func TestShortInitializer(t *testing.T) {
	m := model(13, &onnxpb.GraphProto{
		Node:        []*onnxpb.NodeProto{nodeP("Add", "add", []string{"x", "w"}, []string{"y"})},
		Input:       []*onnxpb.ValueInfoProto{fvi("x", 2, 3)},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{2, 3}, 1, 2, 3)},
		Output:      []*onnxpb.ValueInfoProto{fvi("y", 2, 3)},
	})
	_, err := imp(t, m, Options{})
	wantErr(t, err, `"w"`, "need 6 values", "holds 3")
}

func TestShapesDisagree(t *testing.T) {
	m := model(13, &onnxpb.GraphProto{
		Node:        []*onnxpb.NodeProto{nodeP("Add", "add", []string{"x", "w"}, []string{"y"})},
		Input:       []*onnxpb.ValueInfoProto{fvi("x", 2, 3)},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{4}, 1, 2, 3, 4)},
		Output:      []*onnxpb.ValueInfoProto{fvi("y", 2, 3)},
	})
	_, err := imp(t, m, Options{})
	wantErr(t, err, `"add"`, "do not broadcast")
}

func TestHugeShapes(t *testing.T) {
	// Dimension products that overflow.
	m := model(13, &onnxpb.GraphProto{
		Node:        []*onnxpb.NodeProto{nodeP("Add", "add", []string{"x", "w"}, []string{"y"})},
		Input:       []*onnxpb.ValueInfoProto{fvi("x", 1)},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{1 << 40, 1 << 40, 1 << 40})},
		Output:      []*onnxpb.ValueInfoProto{fvi("y", 1)},
	})
	_, err := imp(t, m, Options{})
	wantErr(t, err, "overflow")

	// ConstantOfShape beyond the budget.
	m = model(13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			nodeP("ConstantOfShape", "big", []string{"s"}, []string{"c"}),
			nodeP("Add", "add", []string{"x", "c"}, []string{"y"}),
		},
		Input:       []*onnxpb.ValueInfoProto{fvi("x", 1)},
		Initializer: []*onnxpb.TensorProto{int64Init("s", []int64{2}, 1<<14, 1<<14)},
		Output:      []*onnxpb.ValueInfoProto{fvi("y", 1)},
	})
	_, err = imp(t, m, Options{MaxTensorBytes: 1 << 20})
	wantErr(t, err, `"big"`, "memory budget")

	// A graph input beyond the budget.
	m = reluModel()
	m.Graph.Input[0] = fvi("in.put/0", 1<<15, 1<<15)
	_, err = imp(t, m, Options{MaxTensorBytes: 1 << 30})
	wantErr(t, err, "in.put/0", "memory budget")
}

func TestUnsupportedListedAtOnce(t *testing.T) {
	m := model(13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			nodeP("LSTM", "rnn1", []string{"x"}, []string{"a"}),
			nodeP("Relu", "r", []string{"a"}, []string{"b"}),
			nodeP("Frob", "f1", []string{"b"}, []string{"c"}),
			nodeP("Frob", "f2", []string{"c"}, []string{"d"}),
			nodeP("LSTM", "", []string{"d"}, []string{"", "e"}),
		},
		Input:  []*onnxpb.ValueInfoProto{fvi("x", 2)},
		Output: []*onnxpb.ValueInfoProto{fvi("e", 2)},
	})
	m.Graph.Node[2].Domain = proto.String("com.example")
	m.Graph.Node[3].Domain = proto.String("com.example")
	m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: proto.String("com.example"), Version: proto.Int64(3)})
	_, err := imp(t, m, Options{})
	wantErr(t, err, "4 node(s) use 2 unsupported", "LSTM (domain ai.onnx, opset 13): 2 node(s): \"rnn1\", #4 (output \"e\")",
		"Frob (domain com.example, opset 3): 2 node(s): \"f1\", \"f2\"")
	if !IsUnsupported(err) {
		t.Error("IsUnsupported is false")
	}
	// Unsupported ops are reported before anything else, even before a bad opset.
	m.OpsetImport[0].Version = proto.Int64(3)
	_, err = imp(t, m, Options{})
	wantErr(t, err, "unsupported operator")
}

func TestOpsets(t *testing.T) {
	for _, v := range []int64{6, 26} {
		m := reluModel()
		m.OpsetImport[0].Version = proto.Int64(v)
		_, err := imp(t, m, Options{})
		wantErr(t, err, "opset", "not supported")
	}
	m := reluModel()
	m.OpsetImport = nil
	_, err := imp(t, m, Options{})
	wantErr(t, err, "imports no opset")
}

func TestExternalData(t *testing.T) {
	w := floatInit("w", []int64{2, 3})
	w.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	w.ExternalData = []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}
	m := model(13, &onnxpb.GraphProto{
		Node:        []*onnxpb.NodeProto{nodeP("Add", "add", []string{"x", "w"}, []string{"y"})},
		Input:       []*onnxpb.ValueInfoProto{fvi("x", 2, 3)},
		Initializer: []*onnxpb.TensorProto{w},
		Output:      []*onnxpb.ValueInfoProto{fvi("y", 2, 3)},
	})
	_, err := imp(t, m, Options{})
	wantErr(t, err, `"w"`, "external")
}

// Shape arithmetic as exporters write it folds away; unused initializers
// are dropped and initializer-inputs become constants.
func TestShapeFolding(t *testing.T) {
	m := model(13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			nodeP("Shape", "shape", []string{"x"}, []string{"s"}),
			nodeP("Gather", "g0", []string{"s", "zero"}, []string{"n"}),
			nodeP("Unsqueeze", "u", []string{"n", "axes0"}, []string{"n1"}),
			nodeP("Concat", "cat", []string{"n1", "minus1"}, []string{"target"}, intA("axis", 0)),
			nodeP("Reshape", "flat", []string{"x", "target"}, []string{"xf"}),
			nodeP("Identity", "id", []string{"xf"}, []string{"y"}),
		},
		Input: []*onnxpb.ValueInfoProto{fvi("x", 2, 3, 4), fvi("minus1", 1)},
		Initializer: []*onnxpb.TensorProto{
			int64Init("zero", nil, 0), int64Init("axes0", []int64{1}, 0), int64Init("minus1", []int64{1}, -1),
			floatInit("unused", []int64{2}, 1, 2),
		},
		Output: []*onnxpb.ValueInfoProto{fvi("y", 2, 12)},
	})
	g, err := imp(t, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 1 || g.Nodes[0].Op != "reshape" || !g.Outputs[0].Type.Shape.Equal(ir.Shape{2, 12}) {
		t.Fatalf("got %d nodes, output %v", len(g.Nodes), g.Outputs[0].Type)
	}
	if g.Outputs[0].Name != "y" {
		t.Errorf("output is named %q, want y (the Identity's output)", g.Outputs[0].Name)
	}
	if len(g.Consts) != 0 || len(g.Inputs) != 1 {
		t.Errorf("%d constants and %d inputs remain", len(g.Consts), len(g.Inputs))
	}
}

// Softmax before opset 13 flattens at axis; from 13 on it is one axis.
func TestSoftmaxOpsets(t *testing.T) {
	x := make([]float32, 24)
	for i := range x {
		x[i] = float32(i%7) * 0.3
	}
	for _, opset := range []int64{11, 13} {
		m := model(opset, &onnxpb.GraphProto{
			Node:   []*onnxpb.NodeProto{nodeP("Softmax", "sm", []string{"x"}, []string{"y"}, intA("axis", 1))},
			Input:  []*onnxpb.ValueInfoProto{fvi("x", 2, 3, 4)},
			Output: []*onnxpb.ValueInfoProto{fvi("y", 2, 3, 4)},
		})
		g, err := imp(t, m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		out, err := runtime.Run(g, map[string]*ir.Tensor{"x": ir.FromFloats(ir.Shape{2, 3, 4}, x)})
		if err != nil {
			t.Fatal(err)
		}
		y := out["y"]
		// Reference.
		for b := 0; b < 2; b++ {
			for j := 0; j < 4; j++ {
				var sum float64
				groups := [][]int{}
				if opset == 11 { // over the 12 values of b
					var idx []int
					for k := 0; k < 12; k++ {
						idx = append(idx, b*12+k)
					}
					groups = append(groups, idx)
				} else {
					groups = append(groups, []int{b*12 + j, b*12 + 4 + j, b*12 + 8 + j})
				}
				for _, idx := range groups {
					sum = 0
					for _, i := range idx {
						sum += math.Exp(float64(x[i]))
					}
					for _, i := range idx {
						want := math.Exp(float64(x[i])) / sum
						if math.Abs(float64(y.F[i])-want) > 1e-6 {
							t.Fatalf("opset %d: y[%d] = %g, want %g", opset, i, y.F[i], want)
						}
					}
				}
			}
		}
		if opset == 11 && len(g.Nodes) != 3 {
			t.Errorf("opset 11: %d IR nodes, want flatten, softmax, reshape", len(g.Nodes))
		}
	}
}

func TestConvAutoPad(t *testing.T) {
	m := model(13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{nodeP("Conv", "c", []string{"x", "w"}, []string{"y"},
			&onnxpb.AttributeProto{Name: proto.String("auto_pad"), S: []byte("SAME_LOWER"), Type: onnxpb.AttributeProto_STRING.Enum()},
			intsA("strides", 2, 2))},
		Input:       []*onnxpb.ValueInfoProto{fvi("x", 1, 1, 6, 5)},
		Initializer: []*onnxpb.TensorProto{floatInit("w", []int64{1, 1, 4, 3}, make([]float32, 12)...)},
		Output:      []*onnxpb.ValueInfoProto{fvi("y", 1, 1, 3, 3)},
	})
	g, err := imp(t, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// H: out 3, total pad (3-1)*2+4-6 = 2 -> 1/1; W: out 3, total (3-1)*2+3-5 = 2 -> 1/1.
	n := g.Nodes[0]
	if got := n.Ints("pads"); len(got) != 4 || got[0] != 1 || got[1] != 1 || got[2] != 1 || got[3] != 1 {
		t.Errorf("pads %v", got)
	}
	if !g.Outputs[0].Type.Shape.Equal(ir.Shape{1, 1, 3, 3}) {
		t.Errorf("output %v", g.Outputs[0].Type)
	}
}

func TestSymbolicInputShape(t *testing.T) {
	m := reluModel()
	m.Graph.Input[0].Type.GetTensorType().Shape.Dim[0].Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
	g, err := imp(t, m, Options{})
	if err != nil || !g.Inputs[0].Type.Shape.Equal(ir.Shape{1, 3}) {
		t.Fatalf("%v %v", g, err)
	}
	g, err = imp(t, m, Options{InputShapes: map[string]ir.Shape{"in.put/0": {5, 3}}})
	if err != nil || !g.Outputs[0].Type.Shape.Equal(ir.Shape{5, 3}) {
		t.Fatalf("%v %v", g, err)
	}
	_, err = imp(t, m, Options{InputShapes: map[string]ir.Shape{"in.put/0": {5, 4}}})
	wantErr(t, err, "declared with dimension 1 = 3")
}

func TestClipNeedsConstant(t *testing.T) {
	m := model(13, &onnxpb.GraphProto{
		Node:   []*onnxpb.NodeProto{nodeP("Clip", "clip", []string{"x", "lo"}, []string{"y"})},
		Input:  []*onnxpb.ValueInfoProto{fvi("x", 3), fvi("lo")},
		Output: []*onnxpb.ValueInfoProto{fvi("y", 3)},
	})
	_, err := imp(t, m, Options{})
	wantErr(t, err, "must be a constant", "Options.Bind")
	g, err := imp(t, m, Options{Bind: map[string]*ir.Tensor{"lo": ir.FromFloats(ir.Shape{}, []float32{0.5})}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Inputs) != 1 || g.Nodes[0].Float("min") != 0.5 {
		t.Errorf("inputs %d, min %v", len(g.Inputs), g.Nodes[0].Float("min"))
	}
}

func TestSumChain(t *testing.T) {
	m := model(13, &onnxpb.GraphProto{
		Node:   []*onnxpb.NodeProto{nodeP("Sum", "s", []string{"a", "b", "c"}, []string{"y"})},
		Input:  []*onnxpb.ValueInfoProto{fvi("a", 2), fvi("b", 2), fvi("c", 2)},
		Output: []*onnxpb.ValueInfoProto{fvi("y", 2)},
	})
	g, err := imp(t, m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != 2 || g.Nodes[1].Name() != "y" || g.Nodes[0].Name() != "y/sum1" {
		t.Errorf("nodes %v %v", g.Nodes[0].Name(), g.Nodes[len(g.Nodes)-1].Name())
	}
}

func TestSuiteModels(t *testing.T) {
	dir := "../../../shared/testdata/onnx-backend"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data is absent (%s): skipping", dir)
	}
	// The conformance runner (testbench/check) imports and runs them all.
	for _, name := range []string{"light_squeezenet.onnx", "light_shufflenet.onnx"} {
		p := filepath.Join(dir, "light", name)
		if _, err := Load(p, Options{}); err != nil {
			t.Errorf("%v", err)
		}
	}
}
