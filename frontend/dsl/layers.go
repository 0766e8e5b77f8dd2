package dsl

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"wdc/ir"
)

// kwSpec documents one keyword argument of a layer.
type kwSpec struct {
	name string
	kind string // int, ints, float, bool, string, pad, file
	def  string // default as shown in the docs; "" = required or absent
	doc  string
}

// layerDef is a built-in layer: its DSL name, the IR op it lowers to, how
// many input tensors it takes, its keyword arguments and the lowering.
type layerDef struct {
	name   string
	op     string
	doc    string
	minIn  int
	maxIn  int      // -1: any number
	posKw  []string // keyword arguments that may also be given by position after the tensors
	kw     []kwSpec
	rawPos bool // the lowering reads positional arguments itself (numbers allowed)
	lower  func(c *call) (*ir.Value, error)
}

var layers = map[string]*layerDef{}

func def(d *layerDef) {
	if _, dup := layers[d.name]; dup {
		panic("dsl: layer " + d.name + " defined twice")
	}
	layers[d.name] = d
}

// LayerNames lists the built-in layers in sorted order.
func LayerNames() []string {
	names := make([]string, 0, len(layers))
	for n := range layers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// call is one application of a built-in layer.
type call struct {
	e       *elab
	def     *layerDef
	pos     ir.Pos
	name    string // wanted node name ("" = automatic)
	in      []val
	kw      map[string]val
	order   []string
	s       *scope
	tensors []*ir.Value
	node    string
}

func (c *call) label() string { return fmt.Sprintf("layer %s (%s)", c.node, c.def.name) }

func (c *call) errf(format string, args ...any) error {
	return errAt(c.pos, "%s: %s", c.label(), fmt.Sprintf(format, args...))
}

func (c *call) argErr(name, format string, args ...any) error {
	p := c.pos
	if v, ok := c.kw[name]; ok && v.pos.IsValid() {
		p = v.pos
	}
	return errAt(p, "%s: argument %s %s", c.label(), name, fmt.Sprintf(format, args...))
}

func (c *call) kwNames() []string {
	var n []string
	for _, k := range c.def.kw {
		n = append(n, k.name)
	}
	return n
}

func (c *call) lower() (*ir.Value, error) {
	d := c.def
	c.node = c.e.nodeName(c.name, d.name, c.s)
	if !d.rawPos {
		i := 0
		for ; i < len(c.in) && c.in[i].kind == vTensor; i++ {
			c.tensors = append(c.tensors, c.in[i].t)
		}
		rest := c.in[i:]
		if len(rest) > len(d.posKw) {
			extra := rest[len(d.posKw)]
			if extra.kind == vTensor {
				return nil, errAt(c.pos, "%s: tensor arguments must come first, got %s after %s", c.label(), extra.what(), rest[0].what())
			}
			if len(d.posKw) == 0 {
				return nil, errAt(c.pos, "%s: unexpected argument %s; %s takes its settings by name (%s)", c.label(), extra.String(), d.name, strings.Join(c.kwNames(), ", "))
			}
			return nil, errAt(c.pos, "%s: too many arguments; after the input tensors %s takes at most %d by position (%s)", c.label(), d.name, len(d.posKw), strings.Join(d.posKw, ", "))
		}
		for j, v := range rest {
			k := d.posKw[j]
			if v.kind == vTensor {
				return nil, errAt(c.pos, "%s: tensor arguments must come first, got %s as %s", c.label(), v.what(), k)
			}
			if _, dup := c.kw[k]; dup {
				return nil, errAt(c.pos, "%s: argument %s is given both by position and by name", c.label(), k)
			}
			c.kw[k] = v
			c.order = append(c.order, k)
		}
		n := len(c.tensors)
		if n < d.minIn || (d.maxIn >= 0 && n > d.maxIn) {
			return nil, c.countErr(n)
		}
	}
	for _, k := range c.order {
		ok := false
		for _, s := range d.kw {
			if s.name == k {
				ok = true
			}
		}
		if !ok {
			names := c.kwNames()
			takes := "takes no keyword arguments"
			if len(names) > 0 {
				takes = "takes " + strings.Join(names, ", ")
			}
			return nil, errAt(c.kw[k].pos, "%s: unknown argument %s%s; %s %s", c.label(), k, suggestion(k, names), d.name, takes)
		}
	}
	return d.lower(c)
}

func (c *call) countErr(n int) error {
	d := c.def
	want := fmt.Sprintf("%d input tensors", d.minIn)
	switch {
	case d.maxIn < 0:
		want = fmt.Sprintf("at least %d input tensors", d.minIn)
	case d.maxIn != d.minIn:
		want = fmt.Sprintf("%d to %d input tensors", d.minIn, d.maxIn)
	case d.minIn == 1:
		want = "1 input tensor"
	}
	if n == 0 {
		return errAt(c.pos, "%s: needs %s; write x -> %s(...) or %s(x, ...)", c.label(), want, d.name, d.name)
	}
	return errAt(c.pos, "%s: takes %s, got %d", c.label(), want, n)
}

func (c *call) has(name string) bool { _, ok := c.kw[name]; return ok }

func (c *call) x() *ir.Value { return c.tensors[0] }

func (c *call) int(name string, def int64, required bool) (int64, error) {
	v, ok := c.kw[name]
	if !ok {
		if required {
			return 0, errAt(c.pos, "%s: missing argument %s", c.label(), name)
		}
		return def, nil
	}
	if v.kind != vInt {
		return 0, c.argErr(name, "must be an integer, got %s", v.what())
	}
	return v.i, nil
}

func (c *call) positive(name string, def int64, required bool) (int64, error) {
	v, err := c.int(name, def, required)
	if err == nil && v < 1 {
		err = c.argErr(name, "must be positive, got %d", v)
	}
	return v, err
}

func (c *call) float(name string, def float64) (float64, error) {
	v, ok := c.kw[name]
	if !ok {
		return def, nil
	}
	f, isNum := v.num()
	if !isNum {
		return 0, c.argErr(name, "must be a number, got %s", v.what())
	}
	return f, nil
}

func (c *call) bool(name string, def bool) (bool, error) {
	v, ok := c.kw[name]
	if !ok {
		return def, nil
	}
	if v.kind != vBool {
		return false, c.argErr(name, "must be true or false, got %s", v.what())
	}
	return v.b, nil
}

func (c *call) str(name, def string, allowed ...string) (string, error) {
	v, ok := c.kw[name]
	if !ok {
		return def, nil
	}
	if v.kind != vString {
		return "", c.argErr(name, "must be a string, got %s", v.what())
	}
	if len(allowed) > 0 && !contains(allowed, v.s) {
		return "", c.argErr(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v.s)
	}
	return v.s, nil
}

// intList reads an integer or a list of integers.
func (c *call) intList(name string, v val) ([]int64, error) {
	switch v.kind {
	case vInt:
		return []int64{v.i}, nil
	case vList:
		out := make([]int64, len(v.list))
		for i, x := range v.list {
			if x.kind != vInt {
				return nil, c.argErr(name, "must be a list of integers, got %s", v.what())
			}
			out[i] = x.i
		}
		return out, nil
	}
	return nil, c.argErr(name, "must be an integer or a list of integers, got %s", v.what())
}

// ints reads an int (repeated n times) or a list of n ints, all >= lo.
func (c *call) ints(name string, n int, def int64, required bool, lo int64) ([]int64, error) {
	v, ok := c.kw[name]
	if !ok {
		if required {
			return nil, errAt(c.pos, "%s: missing argument %s", c.label(), name)
		}
		return repeat(def, n), nil
	}
	l, err := c.intList(name, v)
	if err != nil {
		return nil, err
	}
	if v.kind == vInt {
		l = repeat(v.i, n)
	}
	if len(l) != n {
		return nil, c.argErr(name, "needs 1 or %d values (one per spatial dimension), got %d", n, len(l))
	}
	for _, x := range l {
		if x < lo {
			return nil, c.argErr(name, "values must be at least %d, got %v", lo, l)
		}
	}
	return l, nil
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// pads reads a window's padding: an int p (every side), a list of n (one
// per spatial dimension, both sides), a list of 2n (begin pads then end
// pads: [top, left, bottom, right] in 2-d, the ONNX order), "valid" (none)
// or "same" (output size ceil(in/stride), any odd unit of padding at the
// end as in TensorFlow and ONNX SAME_UPPER).
func (c *call) pads(name string, in ir.Shape, kernel, strides, dil []int64) ([]int64, error) {
	n := len(kernel)
	v, ok := c.kw[name]
	if !ok {
		return repeat(0, 2*n), nil
	}
	if v.kind == vString {
		switch v.s {
		case "valid":
			return repeat(0, 2*n), nil
		case "same":
			out := make([]int64, 2*n)
			for i := 0; i < n; i++ {
				size := int64(in[2+i])
				o := (size + strides[i] - 1) / strides[i]
				total := max((o-1)*strides[i]+(kernel[i]-1)*dil[i]+1-size, 0)
				out[i], out[n+i] = total/2, total-total/2
			}
			return out, nil
		}
		return nil, c.argErr(name, "must be an integer, a list, \"same\" or \"valid\", got %q", v.s)
	}
	l, err := c.intList(name, v)
	if err != nil {
		return nil, err
	}
	for _, x := range l {
		if x < 0 || x > math.MaxInt32 {
			return nil, c.argErr(name, "values must be between 0 and %d, got %v", math.MaxInt32, l)
		}
	}
	switch {
	case v.kind == vInt:
		return repeat(v.i, 2*n), nil
	case len(l) == n:
		return append(append([]int64{}, l...), l...), nil
	case len(l) == 2*n:
		return l, nil
	}
	return nil, c.argErr(name, "needs 1, %d (per dimension) or %d (begin pads then end pads) values, got %d", n, 2*n, len(l))
}

// weight makes the constant NODE.pname, from the file named by the
// argument pname when given, else from the network's weights archive or
// the seeded initialiser.
func (c *call) weight(pname string, shape []int64, init initSpec) (*ir.Value, error) {
	elem := c.x().Type.Elem
	s := make(ir.Shape, len(shape))
	for i, d := range shape {
		if d < 0 || d > ir.MaxElements {
			return nil, c.errf("weight %s would have dimension %d", pname, d)
		}
		s[i] = int(d)
	}
	t := ir.Type{Elem: elem, Shape: s}
	if s.Elements() < 0 {
		return nil, c.errf("weight %s %v is too large", pname, t)
	}
	name := c.node + "." + pname
	var src *weightSource
	if v, ok := c.kw[pname]; ok {
		if v.kind != vString {
			return nil, c.argErr(pname, "must name a weight file (\"w.npy\", \"w.npz\" or \"w.npz:key\"), got %s", v.what())
		}
		ws, err := parseSource(v.s, name, v.pos)
		if err != nil {
			return nil, err
		}
		src = &ws
	}
	return c.e.constant(name, t, src, init, c.label(), c.pos)
}

// bias reads bias=true|false and makes NODE.b of the given size, or nil.
func (c *call) bias(n int64) (*ir.Value, error) {
	on, err := c.bool("bias", true)
	if err != nil {
		return nil, err
	}
	if !on {
		if c.has("b") {
			return nil, c.argErr("b", "names a bias file but bias=false")
		}
		return nil, nil
	}
	return c.weight("b", []int64{n}, initSpec{kind: initZeros})
}

func (c *call) make(op string, inputs []*ir.Value, attrs ir.Attrs) (*ir.Value, error) {
	return c.e.g.AddNode(op, c.node, inputs, attrs, c.pos)
}

func ints(v []int64) ir.Attr { return ir.IntsAttr(append([]int64{}, v...)...) }

func prod(v []int64) int64 {
	p := int64(1)
	for _, x := range v {
		p *= x
	}
	return p
}

// Keyword argument specs shared by several layers.
var (
	kwKernel    = kwSpec{"kernel", "ints", "", "window size: an int (same in every dimension) or one per spatial dimension"}
	kwStride    = kwSpec{"stride", "ints", "1", "step: an int or one per spatial dimension"}
	kwDilation  = kwSpec{"dilation", "ints", "1", "spacing of kernel taps: an int or one per spatial dimension"}
	kwPad       = kwSpec{"pad", "pad", "0", "padding: p, [p_h, p_w], [top, left, bottom, right] (begin pads then end pads), \"same\" or \"valid\""}
	kwBias      = kwSpec{"bias", "bool", "true", "add a bias vector b"}
	kwW         = kwSpec{"w", "file", "", "weight file: \"x.npy\", \"x.npz\" (key NODE.w) or \"x.npz:key\""}
	kwB         = kwSpec{"b", "file", "", "bias file, as for w"}
	kwOut       = kwSpec{"out", "int", "", "number of output channels or features"}
	kwGroups    = kwSpec{"groups", "int", "1", "channel groups; in and out channels must be divisible by it"}
	kwDepthwise = kwSpec{"depthwise", "bool", "false", "one group per input channel (groups = in channels; out defaults to in channels)"}
)

func init() {
	for _, v := range []struct {
		name string
		rank int
	}{{"conv", 0}, {"conv1d", 3}, {"conv2d", 4}, {"conv3d", 5}} {
		rank := v.rank
		def(&layerDef{
			name: v.name, op: "conv", minIn: 1, maxIn: 1, posKw: []string{"out", "kernel"},
			doc: "convolution (cross-correlation) with weights w[out, in/groups, *kernel] and bias b[out]",
			kw:  []kwSpec{kwOut, kwKernel, kwStride, kwDilation, kwPad, kwGroups, kwDepthwise, kwBias, kwW, kwB},
			lower: func(c *call) (*ir.Value, error) {
				return lowerConv(c, rank)
			},
		})
	}
	def(&layerDef{
		name: "conv_transpose", op: "conv_transpose", minIn: 1, maxIn: 1, posKw: []string{"out", "kernel"},
		doc: "transposed convolution with weights w[in, out/groups, *kernel] and bias b[out]",
		kw: []kwSpec{kwOut, kwKernel, kwStride, kwDilation,
			{"pad", "pad", "0", "padding removed from the output: p, one per dimension, or begin pads then end pads"},
			{"output_pad", "ints", "0", "extra size added at the end of each spatial dimension"},
			kwGroups, kwBias, kwW, kwB},
		lower: lowerConvTranspose,
	})
	def(&layerDef{
		name: "dense", op: "dense", minIn: 1, maxIn: 1, posKw: []string{"out"},
		doc: "fully connected layer y = alpha·x·w + beta·b, x[batch, in], w[in, out] (w[out, in] with transpose_w)",
		kw: []kwSpec{kwOut, kwBias,
			{"transpose_w", "bool", "false", "store w as [out, in] (PyTorch's Linear layout); IR trans_b"},
			{"transpose_x", "bool", "false", "use xᵀ (x is [in, batch]); IR trans_a"},
			{"alpha", "float", "1.0", "scale of x·w"},
			{"beta", "float", "1.0", "scale of the bias"},
			kwW, kwB},
		lower: lowerDense,
	})
	def(&layerDef{
		name: "matmul", op: "matmul", minIn: 1, maxIn: 2, posKw: []string{"out"},
		doc: "numpy matmul of two tensors, or of one tensor and a weight w[K, out] made from out=",
		kw:  []kwSpec{{"out", "int", "", "with one tensor: columns of the weight w[K, out]"}, kwW},
		lower: func(c *call) (*ir.Value, error) {
			if len(c.tensors) == 2 {
				if c.has("out") || c.has("w") {
					return nil, c.errf("takes either two tensors or one tensor and out=, not both")
				}
				return c.make("matmul", c.tensors, nil)
			}
			out, err := c.positive("out", 0, true)
			if err != nil {
				return nil, err
			}
			x := c.x().Type.Shape
			if len(x) == 0 {
				return nil, c.errf("input %s is a scalar", c.x().Name)
			}
			k := int64(x[len(x)-1])
			w, err := c.weight("w", []int64{k, out}, initSpec{kind: initHe, fanIn: int(k)})
			if err != nil {
				return nil, err
			}
			return c.make("matmul", []*ir.Value{c.x(), w}, nil)
		},
	})
	for _, op := range []struct{ name, doc string }{
		{"add", "a + b with numpy broadcasting"}, {"sub", "a − b with numpy broadcasting"},
		{"mul", "a · b with numpy broadcasting"}, {"div", "a / b with numpy broadcasting"},
	} {
		name := op.name
		def(&layerDef{name: name, op: name, minIn: 2, maxIn: 2, rawPos: true,
			doc:   op.doc + "; either operand may be a number (a scalar constant NODE.c)",
			lower: func(c *call) (*ir.Value, error) { return lowerBinary(c, name) }})
	}
	for _, op := range []struct{ name, doc string }{
		{"relu", "max(x, 0)"}, {"sigmoid", "1 / (1 + exp(−x))"}, {"tanh", "hyperbolic tangent"},
		{"global_avg_pool", "mean over all spatial dimensions, keeping them as size 1"},
	} {
		name := op.name
		def(&layerDef{name: name, op: name, minIn: 1, maxIn: 1, doc: op.doc,
			lower: func(c *call) (*ir.Value, error) { return c.make(name, c.tensors, nil) }})
	}
	def(&layerDef{name: "leaky_relu", op: "leaky_relu", minIn: 1, maxIn: 1, posKw: []string{"alpha"},
		doc: "x if x >= 0 else alpha·x", kw: []kwSpec{{"alpha", "float", "0.01", "slope for negative x"}},
		lower: func(c *call) (*ir.Value, error) {
			a, err := c.float("alpha", 0.01)
			if err != nil {
				return nil, err
			}
			return c.make("leaky_relu", c.tensors, ir.Attrs{"alpha": ir.FloatAttr(a)})
		}})
	def(&layerDef{name: "clip", op: "clip", minIn: 1, maxIn: 1, posKw: []string{"min", "max"},
		doc: "min(max(x, min), max)",
		kw:  []kwSpec{{"min", "float", "-inf", "lower bound"}, {"max", "float", "inf", "upper bound"}},
		lower: func(c *call) (*ir.Value, error) {
			lo, err := c.float("min", math.Inf(-1))
			if err != nil {
				return nil, err
			}
			hi, err := c.float("max", math.Inf(1))
			if err != nil {
				return nil, err
			}
			if lo > hi {
				return nil, c.errf("min %g is above max %g", lo, hi)
			}
			attrs := ir.Attrs{}
			if c.has("min") {
				attrs["min"] = ir.FloatAttr(lo)
			}
			if c.has("max") {
				attrs["max"] = ir.FloatAttr(hi)
			}
			return c.make("clip", c.tensors, attrs)
		}})
	def(&layerDef{name: "relu6", op: "clip", minIn: 1, maxIn: 1, doc: "min(max(x, 0), 6) (clip with min=0, max=6)",
		lower: func(c *call) (*ir.Value, error) {
			return c.make("clip", c.tensors, ir.Attrs{"min": ir.FloatAttr(0), "max": ir.FloatAttr(6)})
		}})
	for _, name := range []string{"max_pool", "avg_pool"} {
		kw := []kwSpec{kwKernel,
			{"stride", "ints", "kernel", "step: an int or one per spatial dimension (default: the kernel size)"},
			kwDilation, kwPad, {"ceil", "bool", "false", "round the output size up (IR ceil_mode)"}}
		doc := "max over each window"
		if name == "avg_pool" {
			kw = append(kw, kwSpec{"count_include_pad", "bool", "false", "padding counts in the divisor"})
			doc = "mean over each window"
		}
		op := name
		def(&layerDef{name: name, op: name, minIn: 1, maxIn: 1, posKw: []string{"kernel"}, doc: doc, kw: kw,
			lower: func(c *call) (*ir.Value, error) { return lowerPool(c, op) }})
	}
	def(&layerDef{name: "batch_norm", op: "batch_norm", minIn: 1, maxIn: 1,
		doc: "inference batch normalization with per-channel scale, bias, mean and var",
		kw: []kwSpec{{"eps", "float", "1e-5", "added to the variance (IR epsilon)"},
			{"scale", "file", "", "scale file (key NODE.scale)"}, {"bias", "file", "", "bias file (key NODE.bias)"},
			{"mean", "file", "", "running-mean file (key NODE.mean)"}, {"var", "file", "", "running-variance file (key NODE.var)"}},
		lower: lowerBatchNorm,
	})
	def(&layerDef{name: "softmax", op: "softmax", minIn: 1, maxIn: 1, posKw: []string{"axis"},
		doc: "softmax along one axis", kw: []kwSpec{{"axis", "int", "-1", "the axis normalized (negative counts from the end)"}},
		lower: func(c *call) (*ir.Value, error) { return intAttrLayer(c, "softmax", "axis", "axis", -1) }})
	def(&layerDef{name: "flatten", op: "flatten", minIn: 1, maxIn: 1, posKw: []string{"axis"},
		doc: "reshape to 2-d: the dimensions before axis form the rows", kw: []kwSpec{{"axis", "int", "1", "first dimension of the columns"}},
		lower: func(c *call) (*ir.Value, error) { return intAttrLayer(c, "flatten", "axis", "axis", 1) }})
	def(&layerDef{name: "reshape", op: "reshape", minIn: 1, maxIn: 1, posKw: []string{"shape"},
		doc: "same data, new shape", kw: []kwSpec{{"shape", "ints", "", "the new shape; one -1 is inferred, 0 copies the input dimension"}},
		lower: func(c *call) (*ir.Value, error) {
			v, ok := c.kw["shape"]
			if !ok {
				return nil, errAt(c.pos, "%s: missing argument shape", c.label())
			}
			s, err := c.intList("shape", v)
			if err != nil {
				return nil, err
			}
			return c.make("reshape", c.tensors, ir.Attrs{"shape": ints(s)})
		}})
	def(&layerDef{name: "transpose", op: "transpose", minIn: 1, maxIn: 1, posKw: []string{"perm"},
		doc: "permute dimensions: out.shape[i] = x.shape[perm[i]]", kw: []kwSpec{{"perm", "ints", "reversed", "the permutation"}},
		lower: func(c *call) (*ir.Value, error) {
			attrs := ir.Attrs{}
			if v, ok := c.kw["perm"]; ok {
				p, err := c.intList("perm", v)
				if err != nil {
					return nil, err
				}
				attrs["perm"] = ints(p)
			}
			return c.make("transpose", c.tensors, attrs)
		}})
	def(&layerDef{name: "concat", op: "concat", minIn: 1, maxIn: -1,
		doc: "join tensors along an axis", kw: []kwSpec{{"axis", "int", "1", "the axis joined (1: channels)"}},
		lower: func(c *call) (*ir.Value, error) { return intAttrLayer(c, "concat", "axis", "axis", 1) }})
	def(&layerDef{name: "pad", op: "pad", minIn: 1, maxIn: 1, posKw: []string{"pads"},
		doc: "pad each dimension with a constant, a reflection, the edge value or a wrap-around",
		kw: []kwSpec{{"pads", "ints", "", "p (every spatial dimension, both sides), begin then end pads of the spatial dimensions ([top, left, bottom, right]), or of every dimension (2·rank values)"},
			{"mode", "string", "\"constant\"", "constant, reflect, edge or wrap"},
			{"value", "float", "0", "fill value in constant mode"}},
		lower: lowerPad,
	})
	def(&layerDef{name: "lrn", op: "lrn", minIn: 1, maxIn: 1, posKw: []string{"size"},
		doc: "local response normalization across channels",
		kw: []kwSpec{{"size", "int", "", "number of channels summed"}, {"alpha", "float", "1e-4", "scale"},
			{"beta", "float", "0.75", "exponent"}, {"bias", "float", "1.0", "offset"}},
		lower: func(c *call) (*ir.Value, error) {
			size, err := c.positive("size", 0, true)
			if err != nil {
				return nil, err
			}
			attrs := ir.Attrs{"size": ir.IntAttr(size)}
			for _, k := range []struct {
				name string
				def  float64
			}{{"alpha", 1e-4}, {"beta", 0.75}, {"bias", 1}} {
				f, err := c.float(k.name, k.def)
				if err != nil {
					return nil, err
				}
				if c.has(k.name) {
					attrs[k.name] = ir.FloatAttr(f)
				}
			}
			return c.make("lrn", c.tensors, attrs)
		}})
	def(&layerDef{name: "cast", op: "cast", minIn: 1, maxIn: 1, posKw: []string{"to"},
		doc: "convert elements to another type", kw: []kwSpec{{"to", "string", "", "the element type, e.g. \"f16\", \"i8\" or \"fixed<16,6>\""}},
		lower: func(c *call) (*ir.Value, error) {
			if !c.has("to") {
				return nil, errAt(c.pos, "%s: missing argument to", c.label())
			}
			to, err := c.str("to", "")
			if err != nil {
				return nil, err
			}
			return c.make("cast", c.tensors, ir.Attrs{"to": ir.StringAttr(to)})
		}})
}

func intAttrLayer(c *call, op, kw, attr string, def int64) (*ir.Value, error) {
	v, err := c.int(kw, def, false)
	if err != nil {
		return nil, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return nil, c.argErr(kw, "is out of range: %d", v)
	}
	return c.make(op, c.tensors, ir.Attrs{attr: ir.IntAttr(v)})
}

func (c *call) floatInput() error {
	if e := c.x().Type.Elem; !e.IsFloat() && !c.has("w") {
		return c.errf("input %s is %v; seeded weights need a float input (load integer weights with w=\"file\", or use cast)", c.x().Name, c.x().Type)
	}
	return nil
}

func lowerConv(c *call, rank int) (*ir.Value, error) {
	x := c.x()
	r := x.Type.Rank()
	if (rank > 0 && r != rank) || r < 3 {
		want := "rank >= 3 [N, C, spatial...]"
		if rank > 0 {
			want = fmt.Sprintf("rank %d %s", rank, map[int]string{3: "[N, C, W]", 4: "[N, C, H, W]", 5: "[N, C, D, H, W]"}[rank])
		}
		return nil, c.errf("needs an input of %s, got %s: %v", want, x.Name, x.Type)
	}
	spatial := r - 2
	cin := int64(x.Type.Shape[1])
	dw, err := c.bool("depthwise", false)
	if err != nil {
		return nil, err
	}
	groups, err := c.positive("groups", 1, false)
	if err != nil {
		return nil, err
	}
	out := cin
	if dw {
		if c.has("groups") {
			return nil, c.argErr("groups", "cannot be combined with depthwise=true (which sets groups = in channels = %d)", cin)
		}
		groups = max(cin, 1)
		if out, err = c.positive("out", cin, false); err != nil {
			return nil, err
		}
	} else if out, err = c.positive("out", 0, true); err != nil {
		return nil, err
	}
	kernel, err := c.ints("kernel", spatial, 0, true, 1)
	if err != nil {
		return nil, err
	}
	strides, err := c.ints("stride", spatial, 1, false, 1)
	if err != nil {
		return nil, err
	}
	dil, err := c.ints("dilation", spatial, 1, false, 1)
	if err != nil {
		return nil, err
	}
	pads, err := c.pads("pad", x.Type.Shape, kernel, strides, dil)
	if err != nil {
		return nil, err
	}
	if cin%groups != 0 || out%groups != 0 {
		return nil, c.errf("groups=%d must divide the input channels (%d) and out (%d)", groups, cin, out)
	}
	if err := c.floatInput(); err != nil {
		return nil, err
	}
	wshape := append([]int64{out, cin / groups}, kernel...)
	w, err := c.weight("w", wshape, initSpec{kind: initHe, fanIn: int(min(cin/groups*prod(kernel), math.MaxInt32))})
	if err != nil {
		return nil, err
	}
	inputs := []*ir.Value{x, w}
	b, err := c.bias(out)
	if err != nil {
		return nil, err
	}
	if b != nil {
		inputs = append(inputs, b)
	}
	return c.make("conv", inputs, ir.Attrs{
		"strides": ints(strides), "dilations": ints(dil), "pads": ints(pads), "group": ir.IntAttr(groups),
	})
}

func lowerConvTranspose(c *call) (*ir.Value, error) {
	x := c.x()
	r := x.Type.Rank()
	if r < 3 {
		return nil, c.errf("needs an input of rank >= 3 [N, C, spatial...], got %s: %v", x.Name, x.Type)
	}
	spatial := r - 2
	cin := int64(x.Type.Shape[1])
	out, err := c.positive("out", 0, true)
	if err != nil {
		return nil, err
	}
	groups, err := c.positive("groups", 1, false)
	if err != nil {
		return nil, err
	}
	kernel, err := c.ints("kernel", spatial, 0, true, 1)
	if err != nil {
		return nil, err
	}
	strides, err := c.ints("stride", spatial, 1, false, 1)
	if err != nil {
		return nil, err
	}
	dil, err := c.ints("dilation", spatial, 1, false, 1)
	if err != nil {
		return nil, err
	}
	if v, ok := c.kw["pad"]; ok && v.kind == vString {
		return nil, c.argErr("pad", "must be numbers for conv_transpose (\"same\" and \"valid\" are for conv and pooling)")
	}
	pads, err := c.pads("pad", x.Type.Shape, kernel, strides, dil)
	if err != nil {
		return nil, err
	}
	opad, err := c.ints("output_pad", spatial, 0, false, 0)
	if err != nil {
		return nil, err
	}
	if cin%groups != 0 || out%groups != 0 {
		return nil, c.errf("groups=%d must divide the input channels (%d) and out (%d)", groups, cin, out)
	}
	if err := c.floatInput(); err != nil {
		return nil, err
	}
	wshape := append([]int64{cin, out / groups}, kernel...)
	w, err := c.weight("w", wshape, initSpec{kind: initHe, fanIn: int(min(out/groups*prod(kernel), math.MaxInt32))})
	if err != nil {
		return nil, err
	}
	inputs := []*ir.Value{x, w}
	b, err := c.bias(out)
	if err != nil {
		return nil, err
	}
	if b != nil {
		inputs = append(inputs, b)
	}
	attrs := ir.Attrs{"strides": ints(strides), "dilations": ints(dil), "pads": ints(pads), "group": ir.IntAttr(groups)}
	if c.has("output_pad") {
		attrs["output_padding"] = ints(opad)
	}
	return c.make("conv_transpose", inputs, attrs)
}

func lowerDense(c *call) (*ir.Value, error) {
	x := c.x()
	if x.Type.Rank() != 2 {
		return nil, c.errf("needs a rank-2 input [batch, features], got %s: %v; flatten it first (x -> flatten -> dense(...))", x.Name, x.Type)
	}
	out, err := c.positive("out", 0, true)
	if err != nil {
		return nil, err
	}
	tw, err := c.bool("transpose_w", false)
	if err != nil {
		return nil, err
	}
	tx, err := c.bool("transpose_x", false)
	if err != nil {
		return nil, err
	}
	alpha, err := c.float("alpha", 1)
	if err != nil {
		return nil, err
	}
	beta, err := c.float("beta", 1)
	if err != nil {
		return nil, err
	}
	if err := c.floatInput(); err != nil {
		return nil, err
	}
	k := int64(x.Type.Shape[1])
	if tx {
		k = int64(x.Type.Shape[0])
	}
	wshape := []int64{k, out}
	if tw {
		wshape = []int64{out, k}
	}
	w, err := c.weight("w", wshape, initSpec{kind: initHe, fanIn: int(k)})
	if err != nil {
		return nil, err
	}
	inputs := []*ir.Value{x, w}
	b, err := c.bias(out)
	if err != nil {
		return nil, err
	}
	if b != nil {
		inputs = append(inputs, b)
	} else if c.has("beta") {
		return nil, c.argErr("beta", "scales the bias, but bias=false")
	}
	attrs := ir.Attrs{}
	if c.has("alpha") {
		attrs["alpha"] = ir.FloatAttr(alpha)
	}
	if c.has("beta") {
		attrs["beta"] = ir.FloatAttr(beta)
	}
	if tx {
		attrs["trans_a"] = ir.IntAttr(1)
	}
	if tw {
		attrs["trans_b"] = ir.IntAttr(1)
	}
	return c.make("dense", inputs, attrs)
}

func lowerBinary(c *call, op string) (*ir.Value, error) {
	if len(c.order) > 0 {
		k := c.order[0]
		return nil, errAt(c.kw[k].pos, "%s: unknown argument %s; %s takes two operands and no keyword arguments", c.label(), k, op)
	}
	if len(c.in) != 2 {
		if len(c.in) == 0 {
			return nil, c.countErr(0)
		}
		return nil, errAt(c.pos, "%s: takes 2 operands, got %d", c.label(), len(c.in))
	}
	var tensor *ir.Value
	for _, v := range c.in {
		if v.kind == vTensor {
			tensor = v.t
			break
		}
	}
	if tensor == nil {
		return nil, errAt(c.pos, "%s: needs at least one tensor operand, got %s and %s", c.label(), c.in[0].what(), c.in[1].what())
	}
	inputs := make([]*ir.Value, 2)
	for i, v := range c.in {
		if v.kind == vTensor {
			inputs[i] = v.t
			continue
		}
		f, ok := v.num()
		if !ok {
			return nil, errAt(c.pos, "%s: operand %d must be a tensor or a number, got %s", c.label(), i+1, v.what())
		}
		el := tensor.Type.Elem
		t := ir.NewTensor(el, ir.Shape{})
		if el.IsFloat() {
			t.F[0] = float32(f)
		} else {
			lo, hi := el.IntRange()
			if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) || el.Kind == ir.Fixed {
				return nil, errAt(c.pos, "%s: %g is not a value of %v", c.label(), f, el)
			}
			t.I[0] = int64(f)
		}
		cv, err := c.e.g.AddConst(c.node+".c", t, c.pos)
		if err != nil {
			return nil, err
		}
		inputs[i] = cv
	}
	return c.make(op, inputs, nil)
}

func lowerPool(c *call, op string) (*ir.Value, error) {
	x := c.x()
	r := x.Type.Rank()
	if r < 3 {
		return nil, c.errf("needs an input of rank >= 3 [N, C, spatial...], got %s: %v", x.Name, x.Type)
	}
	spatial := r - 2
	kernel, err := c.ints("kernel", spatial, 0, true, 1)
	if err != nil {
		return nil, err
	}
	strides := kernel
	if c.has("stride") {
		if strides, err = c.ints("stride", spatial, 1, false, 1); err != nil {
			return nil, err
		}
	}
	dil, err := c.ints("dilation", spatial, 1, false, 1)
	if err != nil {
		return nil, err
	}
	pads, err := c.pads("pad", x.Type.Shape, kernel, strides, dil)
	if err != nil {
		return nil, err
	}
	ceil, err := c.bool("ceil", false)
	if err != nil {
		return nil, err
	}
	attrs := ir.Attrs{"kernel_shape": ints(kernel), "strides": ints(strides), "pads": ints(pads)}
	if c.has("dilation") {
		attrs["dilations"] = ints(dil)
	}
	if ceil {
		attrs["ceil_mode"] = ir.IntAttr(1)
	}
	if op == "avg_pool" {
		cip, err := c.bool("count_include_pad", false)
		if err != nil {
			return nil, err
		}
		if cip {
			attrs["count_include_pad"] = ir.IntAttr(1)
		}
	}
	return c.make(op, []*ir.Value{x}, attrs)
}

func lowerBatchNorm(c *call) (*ir.Value, error) {
	x := c.x()
	if x.Type.Rank() < 2 {
		return nil, c.errf("needs an input of rank >= 2 [N, C, ...], got %s: %v", x.Name, x.Type)
	}
	eps, err := c.float("eps", 1e-5)
	if err != nil {
		return nil, err
	}
	if eps < 0 || math.IsNaN(eps) {
		return nil, c.argErr("eps", "must not be negative, got %g", eps)
	}
	if err := c.floatInput(); err != nil {
		return nil, err
	}
	ch := int64(x.Type.Shape[1])
	inputs := []*ir.Value{x}
	for _, p := range []struct {
		name string
		init initKind
	}{{"scale", initOnes}, {"bias", initZeros}, {"mean", initZeros}, {"var", initOnes}} {
		v, err := c.weight(p.name, []int64{ch}, initSpec{kind: p.init})
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, v)
	}
	attrs := ir.Attrs{}
	if c.has("eps") {
		attrs["epsilon"] = ir.FloatAttr(eps)
	}
	return c.make("batch_norm", inputs, attrs)
}

func lowerPad(c *call) (*ir.Value, error) {
	x := c.x()
	r := x.Type.Rank()
	v, ok := c.kw["pads"]
	if !ok {
		return nil, errAt(c.pos, "%s: missing argument pads", c.label())
	}
	l, err := c.intList("pads", v)
	if err != nil {
		return nil, err
	}
	for _, p := range l {
		if p < -ir.MaxElements || p > ir.MaxElements {
			return nil, c.argErr("pads", "values are out of range: %v", l)
		}
	}
	spatial := r - 2
	pads := make([]int64, 2*r)
	switch {
	case v.kind == vInt && spatial >= 1:
		for d := 2; d < r; d++ {
			pads[d], pads[r+d] = v.i, v.i
		}
	case len(l) == 2*r:
		copy(pads, l)
	case spatial >= 1 && len(l) == 2*spatial:
		copy(pads[2:r], l[:spatial])
		copy(pads[r+2:], l[spatial:])
	default:
		return nil, c.argErr("pads", "needs %d values (begin then end pads of every dimension of %v)%s, got %v", 2*r, x.Type,
			map[bool]string{true: fmt.Sprintf(", %d (of the spatial dimensions) or a single integer", 2*spatial)}[spatial >= 1], v.String())
	}
	mode, err := c.str("mode", "constant", "constant", "reflect", "edge", "wrap")
	if err != nil {
		return nil, err
	}
	value, err := c.float("value", 0)
	if err != nil {
		return nil, err
	}
	attrs := ir.Attrs{"pads": ints(pads), "mode": ir.StringAttr(mode)}
	if c.has("value") {
		attrs["value"] = ir.FloatAttr(value)
	}
	return c.make("pad", []*ir.Value{x}, attrs)
}
