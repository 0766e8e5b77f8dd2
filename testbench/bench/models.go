package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"wdc/frontend/onnx/onnxpb"
)

// The bench models are built here as ONNX (opset 13) with random weights
// from a fixed seed, so no download and no Python is needed to make them,
// and every machine benchmarks the same bytes.

// BenchModel is one model of the `make bench` suite.
type BenchModel struct {
	Name  string
	Doc   string
	Runs  int      // suggested interleaved rounds (the interpreter is slow on the big ones)
	Peers []string // the peers that make sense for it
	// Build makes the ONNX model; nil for a model read from Path.
	Build func() *onnxpb.ModelProto
	// Path, relative to the shared test data directory, for models that
	// are not generated.
	Path string
}

var allPeers = []string{"onnxruntime", "pytorch"}

// Suite is the `make bench` list, in order.
var Suite = []BenchModel{
	{Name: "lenet5", Doc: "LeNet-5, 1x1x32x32 (conv 6@5x5, pool, conv 16@5x5, pool, dense 400-120-84-10)", Runs: 50, Peers: allPeers, Build: LeNet5},
	{Name: "jet-tagger", Doc: "hls4ml jet-tagging MLP 16-64-32-32-5 (shared test data)", Runs: 50, Peers: allPeers, Path: "models/jet-tagger/onnx/model.onnx"},
	{Name: "resnet18", Doc: "ResNet-18, torchvision shapes, batch 1, 1x3x224x224", Runs: 5, Peers: allPeers, Build: ResNet18},
	{Name: "conv3x3-64-56", Doc: "conv 3x3 64->64 @56x56, pad 1", Runs: 5, Peers: allPeers, Build: func() *onnxpb.ModelProto { return ConvLayer(64, 64, 3, 56) }},
	{Name: "conv3x3-256-14", Doc: "conv 3x3 256->256 @14x14, pad 1", Runs: 5, Peers: allPeers, Build: func() *onnxpb.ModelProto { return ConvLayer(256, 256, 3, 14) }},
	{Name: "conv1x1-256-64-56", Doc: "conv 1x1 256->64 @56x56", Runs: 5, Peers: allPeers, Build: func() *onnxpb.ModelProto { return ConvLayer(256, 64, 1, 56) }},
	{Name: "sgemm-1024", Doc: "SGEMM 1024x1024x1024 (MatMul of an input by a constant)", Runs: 5, Peers: []string{"onnxruntime", "pytorch", "openblas"}, Build: func() *onnxpb.ModelProto { return SGEMM(1024) }},
}

// SuiteNames lists the suite's model names.
func SuiteNames() []string {
	var out []string
	for _, m := range Suite {
		out = append(out, m.Name)
	}
	return out
}

// LookupSuite finds a suite model by name.
func LookupSuite(name string) (BenchModel, bool) {
	for _, m := range Suite {
		if m.Name == name {
			return m, true
		}
	}
	return BenchModel{}, false
}

// genVersion is part of generated file names: bump it when a generator
// changes, so stale cached files are not reused.
const genVersion = "v1"

// ModelPath returns the ONNX file of a suite model: a generated model is
// written into cacheDir (once; reused while its file exists), a shared one
// is found under sharedDir (the shared test data directory; "" : found by
// SharedTestdata).
func ModelPath(m BenchModel, cacheDir, sharedDir string) (string, error) {
	if m.Build == nil {
		if sharedDir == "" {
			sharedDir = SharedTestdata()
		}
		if sharedDir == "" {
			return "", fmt.Errorf("model %s: cannot find the shared test data (set WDC_TESTDATA to the testdata directory)", m.Name)
		}
		p := filepath.Join(sharedDir, m.Path)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("model %s: %v", m.Name, err)
		}
		return p, nil
	}
	p := filepath.Join(cacheDir, m.Name+"-"+genVersion+".onnx")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m.Build())
	if err != nil {
		return "", fmt.Errorf("model %s: %v", m.Name, err)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return "", err
	}
	return p, os.Rename(tmp, p)
}

// ResolveModel accepts an ONNX path or a suite model name.
func ResolveModel(nameOrPath, cacheDir string) (string, error) {
	if st, err := os.Stat(nameOrPath); err == nil && !st.IsDir() {
		return nameOrPath, nil
	}
	if m, ok := LookupSuite(nameOrPath); ok {
		return ModelPath(m, cacheDir, "")
	}
	return "", fmt.Errorf("%s is neither a model file nor a bench model (%s)", nameOrPath, strings.Join(SuiteNames(), ", "))
}

// SharedTestdata finds the shared test data: $WDC_TESTDATA, else a
// shared/testdata beside an ancestor of the working directory.
func SharedTestdata() string {
	if d := os.Getenv("WDC_TESTDATA"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		for _, c := range []string{filepath.Join(d, "shared", "testdata"), filepath.Join(d, "..", "shared", "testdata")} {
			if st, err := os.Stat(filepath.Join(c, "README.md")); err == nil && !st.IsDir() {
				return filepath.Clean(c)
			}
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// ---------------------------------------------------------------- builder

type builder struct {
	g    *onnxpb.GraphProto
	rng  *rand.Rand
	next map[string]int
}

func newBuilder(name string, seed int64) *builder {
	return &builder{g: &onnxpb.GraphProto{Name: proto.String(name)}, rng: rand.New(rand.NewSource(seed)), next: map[string]int{}}
}

func (b *builder) fresh(prefix string) string {
	b.next[prefix]++
	return fmt.Sprintf("%s_%d", prefix, b.next[prefix])
}

func valueInfo(name string, shape []int64) *onnxpb.ValueInfoProto {
	var dims []*onnxpb.TensorShapeProto_Dimension
	for _, d := range shape {
		dims = append(dims, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: dims}},
	}}}
}

func (b *builder) input(name string, shape ...int64) string {
	b.g.Input = append(b.g.Input, valueInfo(name, shape))
	return name
}

func (b *builder) output(name string, shape ...int64) {
	b.g.Output = append(b.g.Output, valueInfo(name, shape))
}

// init adds a float initializer.
func (b *builder) init(prefix string, data []float32, shape ...int64) string {
	name := b.fresh(prefix)
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, data)
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), Dims: shape, DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: buf.Bytes(),
	})
	return name
}

func (b *builder) initInt64(prefix string, data []int64) string {
	name := b.fresh(prefix)
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{
		Name: proto.String(name), Dims: []int64{int64(len(data))}, DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: data,
	})
	return name
}

func (b *builder) normal(n int, std float64) []float32 {
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(b.rng.NormFloat64() * std)
	}
	return f
}

func (b *builder) uniform(n int, lo, hi float64) []float32 {
	f := make([]float32, n)
	for i := range f {
		f[i] = float32(lo + (hi-lo)*b.rng.Float64())
	}
	return f
}

func attrInts(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func attrInt(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// node adds a node and returns its output name (out, or a fresh one).
func (b *builder) node(op, out string, ins []string, attrs ...*onnxpb.AttributeProto) string {
	if out == "" {
		out = b.fresh(strings.ToLower(op))
	}
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{
		Name: proto.String(out), OpType: proto.String(op), Input: ins, Output: []string{out}, Attribute: attrs,
	})
	return out
}

func (b *builder) model() *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:       proto.Int64(8),
		ProducerName:    proto.String("wdc bench"),
		ProducerVersion: proto.String(genVersion),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph:           b.g,
	}
}

// conv adds a conv (He-initialised weights) with an optional bias.
func (b *builder) conv(x string, cin, cout, k, stride, pad int64, bias bool) string {
	w := b.init("w", b.normal(int(cout*cin*k*k), math.Sqrt(2/float64(cout*k*k))), cout, cin, k, k)
	ins := []string{x, w}
	if bias {
		ins = append(ins, b.init("b", b.uniform(int(cout), -0.1, 0.1), cout))
	}
	return b.node("Conv", "", ins, attrInts("kernel_shape", k, k), attrInts("strides", stride, stride), attrInts("pads", pad, pad, pad, pad))
}

func (b *builder) bn(x string, c int64) string {
	n := int(c)
	return b.node("BatchNormalization", "", []string{x,
		b.init("bn_scale", b.uniform(n, 0.5, 1.0), c), b.init("bn_bias", b.uniform(n, -0.1, 0.1), c),
		b.init("bn_mean", b.uniform(n, -0.1, 0.1), c), b.init("bn_var", b.uniform(n, 0.5, 1.5), c)},
		attrFloat("epsilon", 1e-5))
}

func (b *builder) relu(x string) string { return b.node("Relu", "", []string{x}) }

// gemm adds y = x·Wᵀ + b (PyTorch's Linear layout, transB = 1).
func (b *builder) gemm(x, out string, in, outN int64) string {
	bound := 1 / math.Sqrt(float64(in))
	w := b.init("fc_w", b.uniform(int(outN*in), -bound, bound), outN, in)
	bb := b.init("fc_b", b.uniform(int(outN), -bound, bound), outN)
	return b.node("Gemm", out, []string{x, w, bb}, attrInt("transB", 1))
}

// ---------------------------------------------------------------- models

// ResNet18 is torchvision's resnet18 (BasicBlock, [2, 2, 2, 2]) at batch 1,
// 1x3x224x224 -> 1x1000, with random weights (seed 18), batch norms kept
// as separate nodes as an exported PyTorch model has them.
func ResNet18() *onnxpb.ModelProto {
	b := newBuilder("resnet18", 18)
	x := b.input("input", 1, 3, 224, 224)
	x = b.relu(b.bn(b.conv(x, 3, 64, 7, 2, 3, false), 64))
	x = b.node("MaxPool", "", []string{x}, attrInts("kernel_shape", 3, 3), attrInts("strides", 2, 2), attrInts("pads", 1, 1, 1, 1))
	cin := int64(64)
	for stage, cout := range []int64{64, 128, 256, 512} {
		for blk := 0; blk < 2; blk++ {
			stride := int64(1)
			if stage > 0 && blk == 0 {
				stride = 2
			}
			y := b.relu(b.bn(b.conv(x, cin, cout, 3, stride, 1, false), cout))
			y = b.bn(b.conv(y, cout, cout, 3, 1, 1, false), cout)
			short := x
			if stride != 1 || cin != cout {
				short = b.bn(b.conv(x, cin, cout, 1, stride, 0, false), cout)
			}
			x = b.relu(b.node("Add", "", []string{y, short}))
			cin = cout
		}
	}
	x = b.node("GlobalAveragePool", "", []string{x})
	x = b.node("Flatten", "", []string{x}, attrInt("axis", 1))
	b.gemm(x, "logits", 512, 1000)
	b.output("logits", 1, 1000)
	return b.model()
}

// LeNet5 is the classic LeNet-5 of docs/work-depth.md: 1x1x32x32, conv
// 6@5x5, relu, max pool 2, conv 16@5x5, relu, max pool 2, flatten, dense
// 400-120-84-10 with relus, logits out (seed 5).
func LeNet5() *onnxpb.ModelProto {
	b := newBuilder("lenet5", 5)
	x := b.input("input", 1, 1, 32, 32)
	pool := func(x string) string {
		return b.node("MaxPool", "", []string{x}, attrInts("kernel_shape", 2, 2), attrInts("strides", 2, 2))
	}
	x = pool(b.relu(b.conv(x, 1, 6, 5, 1, 0, true)))
	x = pool(b.relu(b.conv(x, 6, 16, 5, 1, 0, true)))
	x = b.node("Flatten", "", []string{x}, attrInt("axis", 1))
	x = b.relu(b.gemm(x, "", 400, 120))
	x = b.relu(b.gemm(x, "", 120, 84))
	b.gemm(x, "logits", 84, 10)
	b.output("logits", 1, 10)
	return b.model()
}

// ConvLayer is one k x k convolution cin -> cout at hw x hw, stride 1,
// "same" padding, with bias, batch 1 (seed 1).
func ConvLayer(cin, cout, k, hw int64) *onnxpb.ModelProto {
	b := newBuilder(fmt.Sprintf("conv%dx%d_%d_%d_%d", k, k, cin, cout, hw), 1)
	x := b.input("input", 1, cin, hw, hw)
	y := b.conv(x, cin, cout, k, 1, (k-1)/2, true)
	b.g.Node[len(b.g.Node)-1].Output[0] = "output"
	b.g.Node[len(b.g.Node)-1].Name = proto.String("output")
	_ = y
	b.output("output", 1, cout, hw, hw)
	return b.model()
}

// SGEMM is C = A·B with A an n x n input and B an n x n constant (seed 2).
func SGEMM(n int64) *onnxpb.ModelProto {
	b := newBuilder(fmt.Sprintf("sgemm%d", n), 2)
	a := b.input("a", n, n)
	w := b.init("b", b.uniform(int(n*n), -1, 1), n, n)
	b.node("MatMul", "c", []string{a, w})
	b.output("c", n, n)
	return b.model()
}
