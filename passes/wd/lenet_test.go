package wd

import (
	"testing"

	"wdc/ir"
)

// builder wraps ir.Graph construction for tests, failing the test on error.
type builder struct {
	t *testing.T
	g *ir.Graph
}

func newBuilder(t *testing.T, name string) *builder {
	t.Helper()
	return &builder{t: t, g: ir.NewGraph(name)}
}

func (b *builder) input(name string, shape ...int) *ir.Value {
	b.t.Helper()
	v, err := b.g.AddInput(name, ir.Type{Elem: ir.Float32, Shape: shape}, ir.Pos{})
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *builder) weight(name string, shape ...int) *ir.Value {
	b.t.Helper()
	v, err := b.g.AddConst(name, ir.NewTensor(ir.Float32, shape), ir.Pos{})
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *builder) node(op, name string, attrs ir.Attrs, in ...*ir.Value) *ir.Value {
	b.t.Helper()
	v, err := b.g.AddNode(op, name, in, attrs, ir.Pos{})
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *builder) output(vs ...*ir.Value) *ir.Graph {
	b.g.Outputs = append(b.g.Outputs, vs...)
	if err := b.g.Verify(); err != nil {
		b.t.Fatal(err)
	}
	return b.g
}

func ints(v ...int64) ir.Attr { return ir.IntsAttr(v...) }

// lenet5 builds the classic LeNet-5 for one 1x32x32 image: conv 6@5x5 +
// bias, relu, 2x2 max pool, conv 16@5x5 + bias, relu, 2x2 max pool,
// flatten, dense 400->120 (+bias), relu, dense 120->84 (+bias), relu,
// dense 84->10 (+bias). No softmax: the graph ends with the logits.
func lenet5(t *testing.T) *ir.Graph {
	b := newBuilder(t, "lenet5")
	pool := ir.Attrs{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}
	x := b.input("x", 1, 1, 32, 32)
	c1 := b.node("conv", "conv1", nil, x, b.weight("w1", 6, 1, 5, 5), b.weight("b1", 6))
	r1 := b.node("relu", "relu1", nil, c1)
	p1 := b.node("max_pool", "pool1", pool, r1)
	c2 := b.node("conv", "conv2", nil, p1, b.weight("w2", 16, 6, 5, 5), b.weight("b2", 16))
	r2 := b.node("relu", "relu2", nil, c2)
	p2 := b.node("max_pool", "pool2", pool, r2)
	f := b.node("flatten", "flat", nil, p2)
	d1 := b.node("dense", "fc1", nil, f, b.weight("w3", 400, 120), b.weight("b3", 120))
	r3 := b.node("relu", "relu3", nil, d1)
	d2 := b.node("dense", "fc2", nil, r3, b.weight("w4", 120, 84), b.weight("b4", 84))
	r4 := b.node("relu", "relu4", nil, d2)
	d3 := b.node("dense", "fc3", nil, r4, b.weight("w5", 84, 10), b.weight("b5", 10))
	return b.output(d3)
}

// TestLeNet5 pins the numbers quoted in docs/work-depth.md: if a cost
// formula changes, this test fails and the doc must be updated with it.
func TestLeNet5(t *testing.T) {
	r, err := Analyze(lenet5(t))
	if err != nil {
		t.Fatal(err)
	}
	// Per layer (docs/work-depth.md, "LeNet-5"):
	//   conv1 6·28·28·(1·5·5) MACs + 4704 bias = 117600 + 4704 = 122304, D = 0+3+3+1 = 7
	//   relu1 4704, D 1; pool1 1176·4 = 4704, D 1+1 = 2
	//   conv2 16·10·10·(6·5·5) + 1600 = 240000 + 1600 = 241600, D = 3+3+3+1 = 10
	//   relu2 1600, D 1; pool2 400·4 = 1600, D 2; flatten 0, D 0
	//   fc1 120·400 + 120 = 48120, D 9+1 = 10; relu3 120, D 1
	//   fc2 84·120 + 84 = 10164, D 7+1 = 8; relu4 84, D 1
	//   fc3 10·84 + 10 = 850, D 7+1 = 8
	const wantW = 122304 + 4704 + 4704 + 241600 + 1600 + 1600 + 48120 + 120 + 10164 + 84 + 850
	const wantD = 7 + 1 + 2 + 10 + 1 + 2 + 0 + 10 + 1 + 8 + 1 + 8
	if wantW != 435850 || wantD != 51 {
		t.Fatalf("the hand sums in this test are wrong: %d, %d", wantW, wantD)
	}
	if r.Work != wantW || r.Depth != wantD {
		t.Errorf("LeNet-5: W = %d, D = %d; docs/work-depth.md says W = %d, D = %d", r.Work, r.Depth, wantW, wantD)
	}
	if r.MACs != 416520 || r.FLOPs != 416520+wantW {
		t.Errorf("LeNet-5: MACs = %d, FLOPs = %d; want 416520 and %d", r.MACs, r.FLOPs, 416520+wantW)
	}
	if len(r.CriticalPath) != 12 {
		t.Errorf("LeNet-5 is a chain, every node is on the critical path; got %v", r.CriticalPath)
	}
}

// leadingTerms re-counts a report with the bare Table 4/6 leading terms:
// dot products and pooling windows only, without the bias adds (work and
// their one step) and without activations (element-wise ops).
func leadingTerms(r *Report) (w, d int64) {
	for _, o := range r.Ops {
		switch o.Op {
		case "conv", "dense":
			w += o.MACs
		case "max_pool":
			w += o.Work
		}
	}
	// The graphs here are chains, so the depth is the sum over the nodes.
	for _, o := range r.Ops {
		switch o.Op {
		case "conv", "dense":
			d += o.Depth - 1 // every conv and dense here has a bias
		case "max_pool":
			d += o.Depth
		}
	}
	return w, d
}

// TestLeNetConventions pins the alternative counts that
// docs/work-depth.md compares with the paper's W = 665,832, D = 41.
func TestLeNetConventions(t *testing.T) {
	r, err := Analyze(lenet5(t))
	if err != nil {
		t.Fatal(err)
	}
	// Leading terms: 416520 MACs + 4704 + 1600 pooling = 422824;
	// D = 6 + 2 + 9 + 2 + 9 + 7 + 7 = 42.
	if w, d := leadingTerms(r); w != 422824 || d != 42 {
		t.Errorf("LeNet-5 leading terms: W = %d, D = %d; want 422824, 42", w, d)
	}
	// Counting multiplies and adds separately doubles the dot products
	// alone past the paper's total: 2·416520 = 833040 > 665832.
	if 2*r.MACs != 833040 {
		t.Errorf("2·MACs = %d", 2*r.MACs)
	}

	// Caffe's MNIST LeNet: 1x28x28, conv 20@5x5, pool, conv 50@5x5, pool,
	// dense 800->500, relu, dense 500->10.
	b := newBuilder(t, "caffe-lenet")
	pool := ir.Attrs{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}
	x := b.input("x", 1, 1, 28, 28)
	c1 := b.node("conv", "conv1", nil, x, b.weight("w1", 20, 1, 5, 5), b.weight("b1", 20))
	p1 := b.node("max_pool", "pool1", pool, c1)
	c2 := b.node("conv", "conv2", nil, p1, b.weight("w2", 50, 20, 5, 5), b.weight("b2", 50))
	p2 := b.node("max_pool", "pool2", pool, c2)
	f := b.node("flatten", "flat", nil, p2)
	d1 := b.node("dense", "ip1", nil, f, b.weight("w3", 800, 500), b.weight("b3", 500))
	r1 := b.node("relu", "relu1", nil, d1)
	d2 := b.node("dense", "ip2", nil, r1, b.weight("w4", 500, 10), b.weight("b4", 10))
	rc, err := Analyze(b.output(d2))
	if err != nil {
		t.Fatal(err)
	}
	// wdc: conv1 288000+11520, pool1 2880·4, conv2 1600000+3200, pool2 800·4,
	// ip1 400000+500, relu 500, ip2 5000+10 = 2323450;
	// D = 7 + 2 + 12 + 2 + 0 + 11 + 1 + 10 = 45.
	if rc.Work != 2323450 || rc.Depth != 45 {
		t.Errorf("Caffe LeNet: W = %d, D = %d; want 2323450, 45", rc.Work, rc.Depth)
	}
	// Without the bias steps the depth is 6 + 2 + 11 + 2 + 10 + 1 + 9 = 41.
	if d := rc.Depth - 4; d != 41 {
		t.Errorf("Caffe LeNet without bias steps: D = %d", d)
	}
}
