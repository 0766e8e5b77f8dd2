package dsl

import (
	"strings"
	"testing"

	"wdc/ir"
)

func mustParse(t *testing.T, src string) *ir.Graph {
	t.Helper()
	g, err := Parse("t.wdc", []byte(src))
	if err != nil {
		t.Fatalf("%v\nsource:\n%s", err, src)
	}
	return g
}

// TestLayerLowering checks, for each layer, the IR op, its attributes, the
// result shape and the shapes of the weights it makes.
func TestLayerLowering(t *testing.T) {
	cases := []struct {
		in, expr string
		op       string
		attrs    string // "name=value ..." as printed by ir.Attr, sorted
		shape    string
		weights  string // "name:type ..." of the node's constants
	}{
		{"f32[1,3,32,32]", "x -> conv2d(out=8, kernel=3)", "conv",
			"dilations=[1, 1] group=1 pads=[0, 0, 0, 0] strides=[1, 1]", "[1,8,30,30]", "y.w:f32[8,3,3,3] y.b:f32[8]"},
		{"f32[1,3,32,32]", "x -> conv2d(8, 3, stride=2, pad=1, bias=false)", "conv",
			"dilations=[1, 1] group=1 pads=[1, 1, 1, 1] strides=[2, 2]", "[1,8,16,16]", "y.w:f32[8,3,3,3]"},
		{"f32[1,3,32,32]", "x -> conv2d(out=4, kernel=[3,5], stride=[1,2], dilation=2, pad=[1,2])", "conv",
			"dilations=[2, 2] group=1 pads=[1, 2, 1, 2] strides=[1, 2]", "[1,4,30,14]", "y.w:f32[4,3,3,5] y.b:f32[4]"},
		{"f32[1,3,32,32]", "x -> conv2d(out=4, kernel=3, pad=[0,1,2,3])", "conv",
			"dilations=[1, 1] group=1 pads=[0, 1, 2, 3] strides=[1, 1]", "[1,4,32,34]", "y.w:f32[4,3,3,3] y.b:f32[4]"},
		{"f32[1,3,32,32]", `x -> conv2d(out=4, kernel=4, stride=2, pad="same")`, "conv",
			"dilations=[1, 1] group=1 pads=[1, 1, 1, 1] strides=[2, 2]", "[1,4,16,16]", "y.w:f32[4,3,4,4] y.b:f32[4]"},
		{"f32[1,3,7,7]", `x -> conv2d(out=4, kernel=2, pad="same")`, "conv",
			"dilations=[1, 1] group=1 pads=[0, 0, 1, 1] strides=[1, 1]", "[1,4,7,7]", "y.w:f32[4,3,2,2] y.b:f32[4]"},
		{"f32[1,3,7,7]", `x -> conv2d(out=4, kernel=3, pad="valid")`, "conv",
			"dilations=[1, 1] group=1 pads=[0, 0, 0, 0] strides=[1, 1]", "[1,4,5,5]", "y.w:f32[4,3,3,3] y.b:f32[4]"},
		{"f32[1,8,16,16]", "x -> conv2d(out=16, kernel=3, groups=4, pad=1)", "conv",
			"dilations=[1, 1] group=4 pads=[1, 1, 1, 1] strides=[1, 1]", "[1,16,16,16]", "y.w:f32[16,2,3,3] y.b:f32[16]"},
		{"f32[1,8,16,16]", "x -> conv2d(kernel=3, depthwise=true, pad=1)", "conv",
			"dilations=[1, 1] group=8 pads=[1, 1, 1, 1] strides=[1, 1]", "[1,8,16,16]", "y.w:f32[8,1,3,3] y.b:f32[8]"},
		{"f32[2,4,10]", "x -> conv1d(out=6, kernel=3)", "conv",
			"dilations=[1] group=1 pads=[0, 0] strides=[1]", "[2,6,8]", "y.w:f32[6,4,3] y.b:f32[6]"},
		{"f32[1,2,4,4,4]", "x -> conv3d(out=3, kernel=3, pad=1)", "conv",
			"dilations=[1, 1, 1] group=1 pads=[1, 1, 1, 1, 1, 1] strides=[1, 1, 1]", "[1,3,4,4,4]", "y.w:f32[3,2,3,3,3] y.b:f32[3]"},
		{"f32[1,4,5,5]", "x -> conv_transpose(out=2, kernel=3, stride=2, pad=1, output_pad=1)", "conv_transpose",
			"dilations=[1, 1] group=1 output_padding=[1, 1] pads=[1, 1, 1, 1] strides=[2, 2]", "[1,2,10,10]", "y.w:f32[4,2,3,3] y.b:f32[2]"},
		{"f32[2,16]", "x -> dense(out=8)", "dense", "", "[2,8]", "y.w:f32[16,8] y.b:f32[8]"},
		{"f32[2,16]", "x -> dense(8, transpose_w=true, bias=false, alpha=0.5)", "dense", "alpha=0.5 trans_b=1", "[2,8]", "y.w:f32[8,16]"},
		{"f32[16,2]", "x -> dense(out=8, transpose_x=true, beta=2)", "dense", "beta=2.0 trans_a=1", "[2,8]", "y.w:f32[16,8] y.b:f32[8]"},
		{"f32[2,3,16]", "x -> matmul(out=4)", "matmul", "", "[2,3,4]", "y.w:f32[16,4]"},
		{"f32[2,16]", "x -> relu", "relu", "", "[2,16]", ""},
		{"f32[2,16]", "x -> sigmoid()", "sigmoid", "", "[2,16]", ""},
		{"f32[2,16]", "tanh(x)", "tanh", "", "[2,16]", ""},
		{"f32[2,16]", "x -> leaky_relu(alpha=0.2)", "leaky_relu", "alpha=0.2", "[2,16]", ""},
		{"f32[2,16]", "x -> clip(min=-1, max=1)", "clip", "max=1.0 min=-1.0", "[2,16]", ""},
		{"f32[2,16]", "x -> relu6", "clip", "max=6.0 min=0.0", "[2,16]", ""},
		{"f32[1,3,8,8]", "x -> max_pool(kernel=2)", "max_pool", "kernel_shape=[2, 2] pads=[0, 0, 0, 0] strides=[2, 2]", "[1,3,4,4]", ""},
		{"f32[1,3,8,8]", "x -> max_pool(3, stride=2, pad=1, ceil=true)", "max_pool",
			"ceil_mode=1 kernel_shape=[3, 3] pads=[1, 1, 1, 1] strides=[2, 2]", "[1,3,5,5]", ""},
		{"f32[1,3,8,8]", "x -> avg_pool(kernel=3, stride=1, pad=[0,0,1,1], count_include_pad=true)", "avg_pool",
			"count_include_pad=1 kernel_shape=[3, 3] pads=[0, 0, 1, 1] strides=[1, 1]", "[1,3,7,7]", ""},
		{"f32[1,3,8,8]", "x -> global_avg_pool", "global_avg_pool", "", "[1,3,1,1]", ""},
		{"f32[1,3,8,8]", "x -> batch_norm(eps=0.001)", "batch_norm", "epsilon=0.001", "[1,3,8,8]",
			"y.scale:f32[3] y.bias:f32[3] y.mean:f32[3] y.var:f32[3]"},
		{"f32[2,10]", "x -> softmax", "softmax", "axis=-1", "[2,10]", ""},
		{"f32[2,10,3]", "x -> softmax(axis=1)", "softmax", "axis=1", "[2,10,3]", ""},
		{"f32[2,3,4,5]", "x -> flatten", "flatten", "axis=1", "[2,60]", ""},
		{"f32[2,3,4,5]", "x -> flatten(2)", "flatten", "axis=2", "[6,20]", ""},
		{"f32[2,3,4,5]", "x -> reshape(shape=[2,-1,5])", "reshape", "shape=[2, -1, 5]", "[2,12,5]", ""},
		{"f32[2,3,4,5]", "x -> transpose(perm=[0,2,3,1])", "transpose", "perm=[0, 2, 3, 1]", "[2,4,5,3]", ""},
		{"f32[2,3,4]", "x -> transpose", "transpose", "", "[4,3,2]", ""},
		{"f32[1,2,4,4]", "concat(x, x, x)", "concat", "axis=1", "[1,6,4,4]", ""},
		{"f32[1,2,4,4]", "x -> concat(x, axis=-1)", "concat", "axis=-1", "[1,2,4,8]", ""},
		{"f32[1,2,4,4]", "x -> pad(pads=1)", "pad", "mode=\"constant\" pads=[0, 0, 1, 1, 0, 0, 1, 1]", "[1,2,6,6]", ""},
		{"f32[1,2,4,4]", `x -> pad(pads=[1,0,2,3], mode="reflect")`, "pad", "mode=\"reflect\" pads=[0, 0, 1, 0, 0, 0, 2, 3]", "[1,2,7,7]", ""},
		{"f32[1,2,4,4]", `x -> pad([0,0,0,1, 0,0,0,1], mode="edge", value=2)`, "pad", "mode=\"edge\" pads=[0, 0, 0, 1, 0, 0, 0, 1] value=2.0", "[1,2,4,6]", ""},
		{"f32[1,8,4,4]", "x -> lrn(size=5, alpha=0.001)", "lrn", "alpha=0.001 size=5", "[1,8,4,4]", ""},
		{"f32[1,8]", `x -> cast(to="f16")`, "cast", "to=\"f16\"", "[1,8]", ""},
		{"f32[2,8]", "x -> add(x)", "add", "", "[2,8]", ""},
		{"f32[2,8]", "sub(x, x)", "sub", "", "[2,8]", ""},
		{"f32[2,8]", "x -> mul(0.5)", "mul", "", "[2,8]", "y.c:f32[]"},
		{"f32[2,8]", "x / 4", "div", "", "[2,8]", "y.c:f32[]"},
		{"f32[2,8]", "x * x + x", "add", "", "[2,8]", ""},
		{"f32[2,8]", "2 - x", "sub", "", "[2,8]", "y.c:f32[]"},
	}
	for _, tc := range cases {
		src := "input x: " + tc.in + "\noutput y = " + tc.expr + "\n"
		g, err := Parse("t.wdc", []byte(src))
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		n := g.Outputs[0].Producer
		if n == nil || n.Op != tc.op || n.Name() != "y" {
			t.Errorf("%s: output is %v, want op %s named y", tc.expr, n, tc.op)
			continue
		}
		var attrs []string
		for _, k := range n.Attrs.Names() {
			attrs = append(attrs, k+"="+n.Attrs[k].String())
		}
		if got := strings.Join(attrs, " "); got != tc.attrs {
			t.Errorf("%s: attrs %q, want %q", tc.expr, got, tc.attrs)
		}
		if got := n.Out.Type.Shape.String(); got != tc.shape || n.Out.Type.Elem != ir.Float32 && tc.op != "cast" {
			t.Errorf("%s: result %v, want %s", tc.expr, n.Out.Type, tc.shape)
		}
		var ws []string
		for _, in := range n.Inputs {
			if in.IsConst() {
				ws = append(ws, in.Name+":"+in.Type.String())
			}
		}
		if got := strings.Join(ws, " "); got != tc.weights {
			t.Errorf("%s: weights %q, want %q", tc.expr, got, tc.weights)
		}
		if n.Pos.Line != 2 || n.Pos.File != "t.wdc" {
			t.Errorf("%s: node position %v", tc.expr, n.Pos)
		}
		for _, v := range g.Values() {
			if !v.Pos.IsValid() {
				t.Errorf("%s: value %s has no position", tc.expr, v.Name)
			}
		}
	}
}

// Every op the IR defines can be written in the language: through a
// layer that lowers to it, or by its own name.
func TestEveryIROpReachable(t *testing.T) {
	lowered := map[string]bool{}
	for _, d := range layers {
		lowered[d.op] = true
	}
	for _, op := range ir.OpNames() {
		if lowered[op] {
			continue
		}
		if _, shadowed := layers[op]; shadowed {
			t.Errorf("IR op %s is shadowed by a layer that does not lower to it", op)
		}
	}
	// The quantization ops by their IR names.
	g := mustParse(t, `
input x: f32[1,4]
param s: f32[] = 0.5
param zp: i8[] = 3
q = quantize_linear(x, s, zp)
output y = dequantize_linear(q, s, zp)
`)
	if g.Outputs[0].Producer.Op != "dequantize_linear" || g.Lookup("q").Type.String() != "i8[1,4]" {
		t.Errorf("raw ops: got %v", g)
	}
	if _, err := Parse("t.wdc", []byte("input x: f32[1,4]\noutput y = quantize_linear(x, 2)\n")); err == nil || !strings.Contains(err.Error(), "t.wdc:2:12: IR op quantize_linear: argument 2 must be a tensor") {
		t.Errorf("raw op error: %v", err)
	}
}

func TestNamingAndComposition(t *testing.T) {
	g := mustParse(t, `
network demo
input x: f32[1,3,8,8]
a = x -> c1: conv2d(out=4, kernel=3, pad=1) -> relu -> r2: relu
b = relu(conv2d(a, 4, 1))
output o = add(a, b)
`)
	if g.Name != "demo" {
		t.Errorf("name %q", g.Name)
	}
	for _, name := range []string{"c1", "c1.w", "c1.b", "relu_1", "r2", "conv2d_1", "conv2d_1.w", "b", "o"} {
		if g.Lookup(name) == nil {
			t.Errorf("no value %s; values: %v", name, names(g))
		}
	}
	if g.Lookup("a") != nil {
		t.Errorf("a is an alias of r2 and must not be a graph name")
	}
	// An output named after an existing tensor renames it.
	g = mustParse(t, "input x: f32[2]\nh = x -> relu\noutput y = h\n")
	if g.Outputs[0].Name != "y" || g.Lookup("h") != nil {
		t.Errorf("output rename: %v", names(g))
	}
	// Graph name defaults to the file name.
	g, err := Parse("some/dir/mynet.wdc", []byte("input x: f32[2]\noutput y = relu(x)"))
	if err != nil || g.Name != "mynet" {
		t.Errorf("default name: %v %v", g, err)
	}
}

func names(g *ir.Graph) []string {
	var s []string
	for _, v := range g.Values() {
		s = append(s, v.Name)
	}
	return s
}

func TestBlocks(t *testing.T) {
	g := mustParse(t, `
input x: f32[1,8,8,8]
block res(x, out, stride=1, act="relu") {
    y = x -> c: conv2d(out, 3, stride=stride, pad=1)
    if stride > 1 {
        s = x -> proj: conv2d(out, 1, stride=stride)
    } else if out != 8 {
        s = x -> widen: conv2d(out, 1)
    } else {
        s = x
    }
    if act == "relu" {
        return add(y, s) -> relu
    }
    return y + s
}
block pair(x, w) {
    a = x -> res(out=w)
    return a -> second: res(out=w, act="none")
}
b1 = x -> res(out=8)
b2 = b1 -> res(16, 2)
b3 = res(b2, out=32)
output p = b3 -> pair(w=32)
`)
	for _, name := range []string{"b1.c", "b1.c.w", "b1", "b2.proj.w", "b2", "b3.widen", "b3", "p.a.c.w", "p.a.widen", "p.a", "p.second.c", "p"} {
		if g.Lookup(name) == nil {
			t.Errorf("no value %s; values: %v", name, names(g))
		}
	}
	if g.Lookup("b1.proj") != nil || g.Lookup("b1.widen") != nil {
		t.Errorf("b1 took a shortcut branch it should not have")
	}
	if op := g.Lookup("p").Producer.Op; op != "add" {
		t.Errorf("p.second without relu ends in %s", op)
	}
	if got := g.Lookup("b2").Type.Shape.String(); got != "[1,16,4,4]" {
		t.Errorf("b2: %s", got)
	}
	// Positions inside a block point at the block body.
	if p := g.Lookup("b2.proj").Pos; p.Line != 6 {
		t.Errorf("b2.proj at %v, want line 6", p)
	}
}

func names2(vs []*ir.Value) []string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Name)
	}
	return s
}
