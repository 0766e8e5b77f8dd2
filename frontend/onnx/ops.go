package onnx

import (
	"fmt"
	"math"
	"strings"

	"wdc/frontend/onnx/onnxpb"
	"wdc/ir"
	"wdc/runtime"
)

// supported lists the default-domain operators the importer translates.
var supported = map[string]bool{}

func init() {
	for _, op := range strings.Fields(`Conv ConvTranspose Gemm MatMul Add Sub Mul Div Sum Relu LeakyRelu
		Sigmoid Tanh Clip MaxPool AveragePool GlobalAveragePool BatchNormalization Softmax Flatten
		Reshape Transpose Concat Pad LRN Cast Constant ConstantOfShape Shape Gather Unsqueeze Squeeze
		Identity Dropout Slice Range QuantizeLinear DequantizeLinear QLinearConv QLinearMatMul
		ConvInteger MatMulInteger`) {
		supported[op] = true
	}
}

// node is one ONNX node being translated.
type node struct {
	im    *importer
	p     *onnxpb.NodeProto
	in    []*val // nil where an optional input is absent
	attrs map[string]*onnxpb.AttributeProto
}

func (nd *node) attr(name string) *onnxpb.AttributeProto { return nd.attrs[name] }

func (nd *node) intAttr(name string, def int64) int64 {
	if a := nd.attrs[name]; a != nil {
		return a.GetI()
	}
	return def
}

func (nd *node) floatAttr(name string, def float64) float64 {
	if a := nd.attrs[name]; a != nil {
		return float64(a.GetF())
	}
	return def
}

func (nd *node) strAttr(name, def string) string {
	if a := nd.attrs[name]; a != nil {
		return string(a.GetS())
	}
	return def
}

func (nd *node) intsAttr(name string) ([]int64, bool) {
	a := nd.attrs[name]
	if a == nil {
		return nil, false
	}
	return a.Ints, true
}

func toInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func to64(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// input returns input i, or nil if absent.
func (nd *node) input(i int) *val {
	if i < len(nd.in) {
		return nd.in[i]
	}
	return nil
}

// need returns input i, which must be present.
func (nd *node) need(i int) (*val, error) {
	if x := nd.input(i); x != nil {
		return x, nil
	}
	return nil, fmt.Errorf("input %d is required", i)
}

// irIn returns the IR value of input i.
func (nd *node) irIn(i int) (*ir.Value, error) {
	x, err := nd.need(i)
	if err != nil {
		return nil, err
	}
	return nd.im.irValue(x)
}

// typeOf returns input i's type without materializing a constant.
func (nd *node) typeOf(i int) (ir.Type, error) {
	x, err := nd.need(i)
	if err != nil {
		return ir.Type{}, err
	}
	if x.v != nil {
		return x.v.Type, nil
	}
	c, err := nd.im.constant(x)
	if err != nil {
		return ir.Type{}, err
	}
	return c.Type, nil
}

// constIn returns input i's constant value, or an error saying it must be one.
func (nd *node) constIn(i int, what string) (*ir.Tensor, error) {
	x, err := nd.need(i)
	if err != nil {
		return nil, err
	}
	c, err := nd.im.constant(x)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, &NotConstError{Value: x.name, Input: x.v != nil && x.v.Producer == nil && x.v.Const == nil,
			msg: fmt.Sprintf("%s (input %d, %q) must be a constant known at import time (computed from initializers and static shapes only)", what, i, x.name)}
	}
	return c, nil
}

// allConst reports whether every present input is a known constant.
func (nd *node) allConst() bool {
	for _, x := range nd.in {
		if x == nil {
			continue
		}
		if x.c == nil && x.tp == nil {
			return false
		}
	}
	return true
}

func (nd *node) outName(i int) string {
	if i < len(nd.p.Output) {
		return nd.p.Output[i]
	}
	return ""
}

// setConst records output 0 as a constant.
func (nd *node) setConst(t *ir.Tensor) error {
	if err := nd.im.checkSize(t.Type, "result"); err != nil {
		return err
	}
	if err := nd.im.account(t); err != nil {
		return err
	}
	name := nd.outName(0)
	if name != "" {
		nd.im.vals[name] = &val{name: name, c: t}
	}
	return nil
}

// alias makes output 0 the same value as x.
func (nd *node) alias(x *val) {
	if name := nd.outName(0); name != "" {
		nd.im.vals[name] = x
	}
}

// emit adds one IR node whose result is ONNX output 0.
func (nd *node) emit(op string, inputs []*ir.Value, attrs ir.Attrs) (*ir.Value, error) {
	name := nd.outName(0)
	if name == "" {
		name = nd.im.fresh(nd.p.GetOpType())
	}
	return nd.emitNamed(op, name, inputs, attrs, true)
}

// emitAux adds an intermediate IR node named after output 0 plus suffix.
func (nd *node) emitAux(op, suffix string, inputs []*ir.Value, attrs ir.Attrs) (*ir.Value, error) {
	base := nd.outName(0)
	if base == "" {
		base = nd.p.GetOpType()
	}
	return nd.emitNamed(op, nd.im.fresh(base+"/"+suffix), inputs, attrs, false)
}

func (nd *node) emitNamed(op, name string, inputs []*ir.Value, attrs ir.Attrs, final bool) (*ir.Value, error) {
	for _, in := range inputs {
		if in == nil {
			return nil, fmt.Errorf("internal: missing operand for %s", op)
		}
	}
	v, err := nd.im.g.AddNode(op, name, inputs, attrs, ir.Pos{})
	if err != nil {
		return nil, err
	}
	if err := nd.im.checkSize(v.Type, fmt.Sprintf("result %q", name)); err != nil {
		return nil, err
	}
	if final && nd.outName(0) != "" {
		nd.im.vals[nd.outName(0)] = &val{name: nd.outName(0), v: v}
	}
	return v, nil
}

// onlyFirstOutput refuses nodes whose other outputs are used.
func (nd *node) onlyFirstOutput(why string) error {
	for i, o := range nd.p.Output {
		if i > 0 && o != "" && nd.im.used[o] {
			return fmt.Errorf("output %d (%q) is used, but %s", i, o, why)
		}
	}
	return nil
}

func (im *importer) convert(p *onnxpb.NodeProto, idx int) error {
	nd := &node{im: im, p: p, attrs: map[string]*onnxpb.AttributeProto{}}
	for _, a := range p.Attribute {
		if a.GetRefAttrName() != "" {
			return fmt.Errorf("attribute %q refers to a function attribute; functions are not supported", a.GetName())
		}
		nd.attrs[a.GetName()] = a
	}
	for _, in := range p.Input {
		if in == "" {
			nd.in = append(nd.in, nil)
			continue
		}
		x := im.vals[in]
		if x == nil {
			return fmt.Errorf("input %q has no value (it is an optional output of an earlier node that is not computed)", in)
		}
		nd.in = append(nd.in, x)
	}
	if len(p.Output) == 0 {
		return fmt.Errorf("the node has no outputs")
	}
	op := p.GetOpType()
	switch op {
	case "Constant":
		return nd.constant()
	case "ConstantOfShape":
		return nd.constantOfShape()
	case "Shape":
		return nd.shape()
	case "Identity":
		x, err := nd.need(0)
		if err != nil {
			return err
		}
		nd.alias(x)
		return nil
	case "Dropout":
		if err := nd.onlyFirstOutput("the dropout mask exists only in training"); err != nil {
			return err
		}
		if tm := nd.input(2); tm != nil {
			c, err := nd.constIn(2, "training_mode")
			if err != nil {
				return err
			}
			if c.Len() > 0 && c.I[0] != 0 {
				return fmt.Errorf("training_mode is true; only inference is supported")
			}
		}
		x, err := nd.need(0)
		if err != nil {
			return err
		}
		nd.alias(x)
		return nil
	case "Cast":
		return nd.cast()
	case "Gather":
		return nd.gather()
	case "Slice":
		return nd.slice()
	case "Range":
		return nd.rangeOp()
	case "Unsqueeze", "Squeeze":
		return nd.squeeze(op == "Unsqueeze")
	case "Reshape":
		return nd.reshape()
	case "Flatten":
		return nd.flatten()
	case "Add", "Sub", "Mul", "Div":
		return nd.binary(strings.ToLower(op))
	case "Sum":
		return nd.sum()
	case "Concat":
		return nd.concat()
	case "Relu", "Sigmoid", "Tanh":
		return nd.unary(strings.ToLower(op), nil)
	case "LeakyRelu":
		return nd.unary("leaky_relu", ir.Attrs{"alpha": ir.FloatAttr(nd.floatAttr("alpha", 0.01))})
	case "Clip":
		return nd.clip()
	case "GlobalAveragePool":
		return nd.unary("global_avg_pool", nil)
	case "Transpose":
		attrs := ir.Attrs{}
		if p, ok := nd.intsAttr("perm"); ok {
			attrs["perm"] = ir.IntsAttr(p...)
		}
		return nd.unary("transpose", attrs)
	case "LRN":
		return nd.unary("lrn", ir.Attrs{
			"size":  ir.IntAttr(nd.intAttr("size", 0)),
			"alpha": ir.FloatAttr(nd.floatAttr("alpha", 1e-4)),
			"beta":  ir.FloatAttr(nd.floatAttr("beta", 0.75)),
			"bias":  ir.FloatAttr(nd.floatAttr("bias", 1)),
		})
	case "Softmax":
		return nd.softmax()
	case "MatMul":
		return nd.simple("matmul", 2, 2, nil)
	case "Gemm":
		return nd.simple("dense", 2, 3, ir.Attrs{
			"alpha":   ir.FloatAttr(nd.floatAttr("alpha", 1)),
			"beta":    ir.FloatAttr(nd.floatAttr("beta", 1)),
			"trans_a": ir.IntAttr(nd.intAttr("transA", 0)),
			"trans_b": ir.IntAttr(nd.intAttr("transB", 0)),
		})
	case "Conv":
		return nd.conv("conv", 0, 1)
	case "ConvInteger":
		return nd.convInteger()
	case "QLinearConv":
		return nd.conv("qlinear_conv", 0, 3)
	case "ConvTranspose":
		return nd.convTranspose()
	case "MaxPool", "AveragePool":
		return nd.pool(op)
	case "BatchNormalization":
		return nd.batchNorm()
	case "Pad":
		return nd.pad()
	case "QuantizeLinear":
		return nd.quantize()
	case "DequantizeLinear":
		attrs := ir.Attrs{"axis": ir.IntAttr(nd.intAttr("axis", 1)), "block_size": ir.IntAttr(nd.intAttr("block_size", 0))}
		return nd.simple("dequantize_linear", 2, 3, attrs)
	case "QLinearMatMul":
		return nd.simple("qlinear_matmul", 8, 8, nil)
	case "MatMulInteger":
		return nd.integerOp("matmul_integer", 0, 1, nil)
	}
	return fmt.Errorf("operator %s is not supported", op)
}

// simple maps inputs [0, k) one to one onto an IR op; absent optional
// inputs may only be trailing.
func (nd *node) simple(op string, min, max int, attrs ir.Attrs) error {
	var ins []*ir.Value
	for i := 0; i < len(nd.in) && i < max; i++ {
		if nd.in[i] == nil {
			for j := i + 1; j < len(nd.in) && j < max; j++ {
				if nd.in[j] != nil {
					return fmt.Errorf("input %d is absent but input %d is given; not supported", i, j)
				}
			}
			break
		}
		v, err := nd.im.irValue(nd.in[i])
		if err != nil {
			return err
		}
		ins = append(ins, v)
	}
	if len(ins) < min {
		return fmt.Errorf("needs at least %d inputs, has %d", min, len(ins))
	}
	if len(nd.in) > max {
		return fmt.Errorf("takes at most %d inputs, has %d", max, len(nd.in))
	}
	_, err := nd.emit(op, ins, attrs)
	return err
}

func (nd *node) unary(op string, attrs ir.Attrs) error { return nd.simple(op, 1, 1, attrs) }

func (nd *node) constant() error {
	if len(nd.attrs) != 1 {
		return fmt.Errorf("needs exactly one value attribute, has %d", len(nd.attrs))
	}
	for name, a := range nd.attrs {
		switch name {
		case "value":
			if a.T == nil {
				return fmt.Errorf("attribute value holds no tensor")
			}
			t, err := runtime.DecodeTensorProto(a.T, nd.im.opts.maxTensor())
			if err != nil {
				return err
			}
			return nd.setConst(t)
		case "value_float":
			return nd.setConst(ir.FromFloats(ir.Shape{}, []float32{a.GetF()}))
		case "value_floats":
			return nd.setConst(ir.FromFloats(ir.Shape{len(a.Floats)}, append([]float32(nil), a.Floats...)))
		case "value_int":
			return nd.setConst(ir.FromInts(ir.Int64, ir.Shape{}, []int64{a.GetI()}))
		case "value_ints":
			return nd.setConst(ir.FromInts(ir.Int64, ir.Shape{len(a.Ints)}, append([]int64(nil), a.Ints...)))
		default:
			return fmt.Errorf("attribute %q (string or sparse constants) is not supported", name)
		}
	}
	return nil
}

func (nd *node) constantOfShape() error {
	s, err := nd.constIn(0, "shape")
	if err != nil {
		return err
	}
	if s.Rank() != 1 || s.Elem.IsFloat() {
		return fmt.Errorf("shape must be a 1-d integer tensor, got %v", s.Type)
	}
	shape := make(ir.Shape, len(s.I))
	for i, d := range s.I {
		if d < 0 || d > ir.MaxElements {
			return fmt.Errorf("shape %v has an invalid dimension", s.I)
		}
		shape[i] = int(d)
	}
	fill := ir.FromFloats(ir.Shape{1}, []float32{0})
	if a := nd.attr("value"); a != nil && a.T != nil {
		fill, err = runtime.DecodeTensorProto(a.T, 1<<20)
		if err != nil {
			return err
		}
		if fill.Len() != 1 {
			return fmt.Errorf("value must hold one element, has %d", fill.Len())
		}
	}
	t := ir.Type{Elem: fill.Elem, Shape: shape}
	if err := nd.im.checkSize(t, "result"); err != nil {
		return err
	}
	out := ir.NewTensor(fill.Elem, shape)
	for i := range out.F {
		out.F[i] = fill.F[0]
	}
	for i := range out.I {
		out.I[i] = fill.I[0]
	}
	return nd.setConst(out)
}

func (nd *node) shape() error {
	t, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	r := int64(t.Rank())
	start, end := nd.intAttr("start", 0), nd.intAttr("end", r)
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end = clamp(start), clamp(end)
	var dims []int64
	for i := start; i < end; i++ {
		dims = append(dims, int64(t.Shape[i]))
	}
	return nd.setConst(ir.FromInts(ir.Int64, ir.Shape{len(dims)}, dims))
}

func (nd *node) cast() error {
	to := nd.intAttr("to", 0)
	e, err := runtime.ElemFromONNX(int32(to))
	if err != nil {
		return fmt.Errorf("to: %v", err)
	}
	if nd.allConst() {
		c, err := nd.constIn(0, "input")
		if err != nil {
			return err
		}
		return nd.setConst(runtime.Cast(c, e))
	}
	t, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	if t.Elem == e {
		nd.alias(nd.in[0])
		return nil
	}
	return nd.unary("cast", ir.Attrs{"to": ir.StringAttr(e.String())})
}

func (nd *node) gather() error {
	data, err := nd.constIn(0, "data (Gather is folded at import; the IR has no gather op)")
	if err != nil {
		return err
	}
	idx, err := nd.constIn(1, "indices")
	if err != nil {
		return err
	}
	out, err := gatherTensor(data, idx, int(nd.intAttr("axis", 0)), nd.im.opts.maxTensor())
	if err != nil {
		return err
	}
	return nd.setConst(out)
}

func (nd *node) slice() error {
	data, err := nd.constIn(0, "data (Slice is folded at import)")
	if err != nil {
		return err
	}
	var starts, ends, axes, steps []int64
	if nd.im.opset < 10 {
		starts, _ = nd.intsAttr("starts")
		ends, _ = nd.intsAttr("ends")
		axes, _ = nd.intsAttr("axes")
	} else {
		get := func(i int, what string) ([]int64, error) {
			if nd.input(i) == nil {
				return nil, nil
			}
			c, err := nd.constIn(i, what)
			if err != nil {
				return nil, err
			}
			if c.Elem.IsFloat() {
				return nil, fmt.Errorf("%s must be integers", what)
			}
			return c.I, nil
		}
		if starts, err = get(1, "starts"); err != nil {
			return err
		}
		if ends, err = get(2, "ends"); err != nil {
			return err
		}
		if axes, err = get(3, "axes"); err != nil {
			return err
		}
		if steps, err = get(4, "steps"); err != nil {
			return err
		}
	}
	out, err := sliceTensor(data, starts, ends, axes, steps)
	if err != nil {
		return err
	}
	return nd.setConst(out)
}

func (nd *node) rangeOp() error {
	var v [3]*ir.Tensor
	for i, what := range []string{"start", "limit", "delta"} {
		c, err := nd.constIn(i, what)
		if err != nil {
			return err
		}
		if c.Len() != 1 {
			return fmt.Errorf("%s must be a scalar", what)
		}
		v[i] = c
	}
	e := v[0].Elem
	if v[0].Elem.IsFloat() {
		s, l, d := float64(v[0].F[0]), float64(v[1].F[0]), float64(v[2].F[0])
		if d == 0 {
			return fmt.Errorf("delta is zero")
		}
		q := math.Ceil((l - s) / d)
		if math.IsNaN(q) || q > ir.MaxElements {
			return fmt.Errorf("range from %g to %g by %g is too long", s, l, d)
		}
		n := int64(math.Max(q, 0))
		if n > ir.MaxElements || n*4 > nd.im.opts.maxTensor() {
			return fmt.Errorf("range of %d elements exceeds the memory budget", n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(s + float64(i)*d)
		}
		return nd.setConst(ir.FromFloats(ir.Shape{int(n)}, out))
	}
	s, l, d := v[0].I[0], v[1].I[0], v[2].I[0]
	if d == 0 {
		return fmt.Errorf("delta is zero")
	}
	q := math.Ceil(float64(l-s) / float64(d))
	if math.IsNaN(q) || q > ir.MaxElements {
		return fmt.Errorf("range from %d to %d by %d is too long", s, l, d)
	}
	n := int64(math.Max(q, 0))
	if n > ir.MaxElements || n*8 > nd.im.opts.maxTensor() {
		return fmt.Errorf("range of %d elements exceeds the memory budget", n)
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = s + int64(i)*d
	}
	return nd.setConst(ir.FromInts(e, ir.Shape{int(n)}, out))
}

// squeeze handles Unsqueeze and Squeeze: a reshape to a computed shape.
func (nd *node) squeeze(unsq bool) error {
	t, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	var axes []int64
	var hasAxes bool
	if nd.im.opset < 13 {
		axes, hasAxes = nd.intsAttr("axes")
	} else if nd.input(1) != nil {
		c, err := nd.constIn(1, "axes")
		if err != nil {
			return err
		}
		if c.Elem.IsFloat() {
			return fmt.Errorf("axes must be integers")
		}
		axes, hasAxes = c.I, true
	}
	var shape ir.Shape
	if unsq {
		if !hasAxes {
			return fmt.Errorf("axes is required")
		}
		r := t.Rank() + len(axes)
		ins := make([]bool, r)
		for _, a := range axes {
			ax, err := ir.NormAxis(int(a), r)
			if err != nil {
				return err
			}
			if ins[ax] {
				return fmt.Errorf("axes %v repeat axis %d", axes, ax)
			}
			ins[ax] = true
		}
		j := 0
		for i := 0; i < r; i++ {
			if ins[i] {
				shape = append(shape, 1)
			} else {
				shape = append(shape, t.Shape[j])
				j++
			}
		}
	} else {
		drop := make([]bool, t.Rank())
		if hasAxes {
			for _, a := range axes {
				ax, err := ir.NormAxis(int(a), t.Rank())
				if err != nil {
					return err
				}
				if t.Shape[ax] != 1 {
					return fmt.Errorf("cannot squeeze axis %d of shape %v: it is not 1", a, t.Shape)
				}
				drop[ax] = true
			}
		} else {
			for i, d := range t.Shape {
				drop[i] = d == 1
			}
		}
		shape = ir.Shape{}
		for i, d := range t.Shape {
			if !drop[i] {
				shape = append(shape, d)
			}
		}
	}
	if shape == nil {
		shape = ir.Shape{}
	}
	return nd.reshapeTo(shape)
}

// reshapeTo reshapes input 0 to a resolved shape: folded for constants.
func (nd *node) reshapeTo(shape ir.Shape) error {
	if shape.Elements() == 0 { // an empty result is known: no data at all
		t, err := nd.typeOf(0)
		if err != nil {
			return err
		}
		if t.Shape.Elements() != 0 {
			return fmt.Errorf("cannot reshape %v to %v", t.Shape, shape)
		}
		return nd.setConst(ir.NewTensor(t.Elem, shape))
	}
	if nd.in[0].v == nil {
		c, err := nd.constIn(0, "data")
		if err != nil {
			return err
		}
		if c.Shape.Elements() != shape.Elements() {
			return fmt.Errorf("cannot reshape %v to %v", c.Shape, shape)
		}
		return nd.setConst(c.Reshaped(shape))
	}
	if nd.in[0].v.Type.Shape.Equal(shape) {
		nd.alias(nd.in[0])
		return nil
	}
	in, err := nd.irIn(0)
	if err != nil {
		return err
	}
	_, err = nd.emit("reshape", []*ir.Value{in}, ir.Attrs{"shape": ir.IntsAttr(to64(shape)...)})
	return err
}

func (nd *node) reshape() error {
	t, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	var target []int64
	if nd.im.opset < 5 {
		target, _ = nd.intsAttr("shape")
	} else {
		c, err := nd.constIn(1, "shape")
		if err != nil {
			return err
		}
		if c.Elem.IsFloat() || c.Rank() != 1 {
			return fmt.Errorf("shape must be a 1-d integer tensor, got %v", c.Type)
		}
		target = c.I
	}
	for _, d := range target {
		if d < -1 || d > ir.MaxElements {
			return fmt.Errorf("shape %v has an invalid dimension", target)
		}
	}
	shape, err := ir.ResolveReshape(t.Shape, toInts(target), nd.intAttr("allowzero", 0) != 0)
	if err != nil {
		return err
	}
	return nd.reshapeTo(shape)
}

func (nd *node) flatten() error {
	t, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	ax := int(nd.intAttr("axis", 1))
	if ax < 0 {
		ax += t.Rank()
	}
	if ax < 0 || ax > t.Rank() {
		return fmt.Errorf("axis %d is out of range for rank %d", nd.intAttr("axis", 1), t.Rank())
	}
	if nd.in[0].v == nil {
		a, b := 1, 1
		for i, d := range t.Shape {
			if i < ax {
				a *= d
			} else {
				b *= d
			}
		}
		return nd.reshapeTo(ir.Shape{a, b})
	}
	return nd.unary("flatten", ir.Attrs{"axis": ir.IntAttr(int64(ax))})
}

func (nd *node) binary(op string) error {
	if len(nd.in) != 2 || nd.in[0] == nil || nd.in[1] == nil {
		return fmt.Errorf("needs two inputs")
	}
	if nd.allConst() {
		a, err := nd.constIn(0, "a")
		if err != nil {
			return err
		}
		b, err := nd.constIn(1, "b")
		if err != nil {
			return err
		}
		out, err := binaryTensor(op, a, b, nd.im.opts.maxTensor())
		if err != nil {
			return err
		}
		return nd.setConst(out)
	}
	return nd.simple(op, 2, 2, nil)
}

func (nd *node) sum() error {
	if len(nd.in) == 0 {
		return fmt.Errorf("needs at least one input")
	}
	for _, x := range nd.in {
		if x == nil {
			return fmt.Errorf("inputs must not be absent")
		}
	}
	if len(nd.in) == 1 {
		nd.alias(nd.in[0])
		return nil
	}
	if nd.allConst() {
		acc, err := nd.constIn(0, "x")
		if err != nil {
			return err
		}
		for i := 1; i < len(nd.in); i++ {
			c, err := nd.constIn(i, "x")
			if err != nil {
				return err
			}
			if acc, err = binaryTensor("add", acc, c, nd.im.opts.maxTensor()); err != nil {
				return err
			}
		}
		return nd.setConst(acc)
	}
	acc, err := nd.irIn(0)
	if err != nil {
		return err
	}
	for i := 1; i < len(nd.in); i++ {
		b, err := nd.irIn(i)
		if err != nil {
			return err
		}
		if i == len(nd.in)-1 {
			acc, err = nd.emit("add", []*ir.Value{acc, b}, nil)
		} else {
			acc, err = nd.emitAux("add", fmt.Sprintf("sum%d", i), []*ir.Value{acc, b}, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (nd *node) concat() error {
	a := nd.attr("axis")
	if a == nil {
		return fmt.Errorf("missing required attribute axis")
	}
	for _, x := range nd.in {
		if x == nil {
			return fmt.Errorf("inputs must not be absent")
		}
	}
	if nd.allConst() {
		var ts []*ir.Tensor
		for i := range nd.in {
			c, err := nd.constIn(i, "x")
			if err != nil {
				return err
			}
			ts = append(ts, c)
		}
		out, err := concatTensors(ts, int(a.GetI()), nd.im.opts.maxTensor())
		if err != nil {
			return err
		}
		return nd.setConst(out)
	}
	return nd.simple("concat", 1, len(nd.in), ir.Attrs{"axis": ir.IntAttr(a.GetI())})
}

// scalarAttr reads a constant scalar input as a float attribute value.
func (nd *node) scalarIn(i int, what string) (float64, bool, error) {
	if nd.input(i) == nil {
		return 0, false, nil
	}
	c, err := nd.constIn(i, what)
	if err != nil {
		return 0, false, err
	}
	if c.Len() != 1 {
		return 0, false, fmt.Errorf("%s must hold one value, has %d", what, c.Len())
	}
	return c.Float(0), true, nil
}

func (nd *node) clip() error {
	attrs := ir.Attrs{}
	if nd.im.opset < 11 {
		if a := nd.attr("min"); a != nil {
			attrs["min"] = ir.FloatAttr(float64(a.GetF()))
		}
		if a := nd.attr("max"); a != nil {
			attrs["max"] = ir.FloatAttr(float64(a.GetF()))
		}
	} else {
		for i, name := range []string{"min", "max"} {
			v, ok, err := nd.scalarIn(i+1, name)
			if err != nil {
				return err
			}
			if ok {
				attrs[name] = ir.FloatAttr(v)
			}
		}
	}
	x, err := nd.irIn(0)
	if err != nil {
		return err
	}
	_, err = nd.emit("clip", []*ir.Value{x}, attrs)
	return err
}

func (nd *node) softmax() error {
	t, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	x, err := nd.irIn(0)
	if err != nil {
		return err
	}
	if nd.im.opset >= 13 {
		_, err = nd.emit("softmax", []*ir.Value{x}, ir.Attrs{"axis": ir.IntAttr(nd.intAttr("axis", -1))})
		return err
	}
	// Before opset 13: flatten to 2-d at axis, normalize rows, reshape back.
	ax, err := ir.NormAxis(int(nd.intAttr("axis", 1)), t.Rank())
	if err != nil {
		return err
	}
	if ax == t.Rank()-1 {
		_, err = nd.emit("softmax", []*ir.Value{x}, ir.Attrs{"axis": ir.IntAttr(int64(ax))})
		return err
	}
	f, err := nd.emitAux("flatten", "flatten", []*ir.Value{x}, ir.Attrs{"axis": ir.IntAttr(int64(ax))})
	if err != nil {
		return err
	}
	s, err := nd.emitAux("softmax", "softmax", []*ir.Value{f}, ir.Attrs{"axis": ir.IntAttr(1)})
	if err != nil {
		return err
	}
	_, err = nd.emit("reshape", []*ir.Value{s}, ir.Attrs{"shape": ir.IntsAttr(to64(t.Shape)...)})
	return err
}

// window resolves auto_pad, strides, dilations and pads for a node
// sliding a kernel over the spatial dimensions of x.
func (nd *node) window(x ir.Shape, kernel []int) (ir.Attrs, error) {
	spatial := len(x) - 2
	if spatial < 1 {
		return nil, fmt.Errorf("input %v must have rank >= 3", x)
	}
	get := func(name string, def int) ([]int, error) {
		v, ok := nd.intsAttr(name)
		if !ok {
			out := make([]int, spatial)
			for i := range out {
				out[i] = def
			}
			return out, nil
		}
		if len(v) != spatial {
			return nil, fmt.Errorf("%s %v needs %d values", name, v, spatial)
		}
		for _, s := range v {
			if s < 1 || s > ir.MaxElements {
				return nil, fmt.Errorf("%s %v must be positive", name, v)
			}
		}
		return toInts(v), nil
	}
	strides, err := get("strides", 1)
	if err != nil {
		return nil, err
	}
	dil, err := get("dilations", 1)
	if err != nil {
		return nil, err
	}
	if len(kernel) != spatial {
		return nil, fmt.Errorf("kernel %v needs %d values", kernel, spatial)
	}
	if ks, ok := nd.intsAttr("kernel_shape"); ok {
		if len(ks) != spatial {
			return nil, fmt.Errorf("kernel_shape %v needs %d values", ks, spatial)
		}
		for i := range ks {
			if int(ks[i]) != kernel[i] {
				return nil, fmt.Errorf("kernel_shape %v disagrees with the weights' spatial shape %v", ks, kernel)
			}
		}
	}
	pads := make([]int, 2*spatial)
	switch ap := nd.strAttr("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
		if p, ok := nd.intsAttr("pads"); ok {
			if len(p) != 2*spatial {
				return nil, fmt.Errorf("pads %v needs %d values", p, 2*spatial)
			}
			for i, v := range p {
				if v < 0 || v > ir.MaxElements {
					return nil, fmt.Errorf("pads %v must not be negative", p)
				}
				pads[i] = int(v)
			}
		}
	case "VALID":
	case "SAME_UPPER", "SAME_LOWER":
		for i := 0; i < spatial; i++ {
			in := x[2+i]
			out := (in + strides[i] - 1) / strides[i]
			total := max(0, (out-1)*strides[i]+(kernel[i]-1)*dil[i]+1-in)
			small := total / 2
			if ap == "SAME_UPPER" {
				pads[i], pads[spatial+i] = small, total-small
			} else {
				pads[i], pads[spatial+i] = total-small, small
			}
		}
	default:
		return nil, fmt.Errorf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", ap)
	}
	return ir.Attrs{
		"strides":   ir.IntsAttr(to64(strides)...),
		"dilations": ir.IntsAttr(to64(dil)...),
		"pads":      ir.IntsAttr(to64(pads)...),
	}, nil
}

// conv handles Conv (x at 0, w at 1) and QLinearConv (x at 0, w at 3).
func (nd *node) conv(op string, xi, wi int) error {
	xt, err := nd.typeOf(xi)
	if err != nil {
		return err
	}
	wt, err := nd.typeOf(wi)
	if err != nil {
		return err
	}
	if wt.Rank() < 3 || xt.Rank() != wt.Rank() {
		return fmt.Errorf("x %v and w %v must both be rank >= 3 and of equal rank", xt.Shape, wt.Shape)
	}
	attrs, err := nd.window(xt.Shape, wt.Shape[2:])
	if err != nil {
		return err
	}
	attrs["group"] = ir.IntAttr(nd.intAttr("group", 1))
	if op == "qlinear_conv" {
		return nd.simple(op, 8, 9, attrs)
	}
	return nd.simple(op, 2, 3, attrs)
}

// zeroOf makes a scalar zero constant of element type e.
func (nd *node) zeroOf(e ir.Elem, suffix string) (*ir.Value, error) {
	t := ir.NewTensor(e, ir.Shape{})
	base := nd.outName(0)
	if base == "" {
		base = nd.p.GetOpType()
	}
	return nd.im.g.AddConst(nd.im.fresh(base+"/"+suffix), t, ir.Pos{})
}

// integerOp maps ConvInteger/MatMulInteger: (a, b, a_zp?, b_zp?), filling
// an absent a_zp with zero when b_zp is given.
func (nd *node) integerOp(op string, ai, bi int, attrs ir.Attrs) error {
	a, err := nd.irIn(ai)
	if err != nil {
		return err
	}
	b, err := nd.irIn(bi)
	if err != nil {
		return err
	}
	ins := []*ir.Value{a, b}
	if nd.input(3) != nil {
		if nd.input(2) == nil {
			z, err := nd.zeroOf(a.Type.Elem, "zero_point")
			if err != nil {
				return err
			}
			ins = append(ins, z)
		} else {
			z, err := nd.irIn(2)
			if err != nil {
				return err
			}
			ins = append(ins, z)
		}
		z, err := nd.irIn(3)
		if err != nil {
			return err
		}
		ins = append(ins, z)
	} else if nd.input(2) != nil {
		z, err := nd.irIn(2)
		if err != nil {
			return err
		}
		ins = append(ins, z)
	}
	_, err = nd.emit(op, ins, attrs)
	return err
}

func (nd *node) convInteger() error {
	xt, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	wt, err := nd.typeOf(1)
	if err != nil {
		return err
	}
	if wt.Rank() < 3 || xt.Rank() != wt.Rank() {
		return fmt.Errorf("x %v and w %v must both be rank >= 3 and of equal rank", xt.Shape, wt.Shape)
	}
	attrs, err := nd.window(xt.Shape, wt.Shape[2:])
	if err != nil {
		return err
	}
	attrs["group"] = ir.IntAttr(nd.intAttr("group", 1))
	return nd.integerOp("conv_integer", 0, 1, attrs)
}

func (nd *node) convTranspose() error {
	xt, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	wt, err := nd.typeOf(1)
	if err != nil {
		return err
	}
	if wt.Rank() < 3 || xt.Rank() != wt.Rank() {
		return fmt.Errorf("x %v and w %v must both be rank >= 3 and of equal rank", xt.Shape, wt.Shape)
	}
	spatial := xt.Rank() - 2
	kernel := []int(wt.Shape[2:])
	// Reuse window() for strides, dilations, kernel_shape and explicit pads;
	// auto_pad means something else here and is resolved below.
	ap := nd.strAttr("auto_pad", "NOTSET")
	saved := nd.attrs["auto_pad"]
	delete(nd.attrs, "auto_pad")
	attrs, err := nd.window(xt.Shape, kernel)
	if saved != nil {
		nd.attrs["auto_pad"] = saved
	}
	if err != nil {
		return err
	}
	strides, dil := toInts(attrs["strides"].Ints), toInts(attrs["dilations"].Ints)
	pads := toInts(attrs["pads"].Ints)
	outPad := make([]int, spatial)
	if v, ok := nd.intsAttr("output_padding"); ok {
		if len(v) != spatial {
			return fmt.Errorf("output_padding %v needs %d values", v, spatial)
		}
		for i, p := range v {
			if p < 0 || p > ir.MaxElements {
				return fmt.Errorf("output_padding %v must not be negative", v)
			}
			outPad[i] = int(p)
		}
	}
	var target []int
	if v, ok := nd.intsAttr("output_shape"); ok {
		if len(v) == spatial+2 {
			v = v[2:]
		}
		if len(v) != spatial {
			return fmt.Errorf("output_shape %v needs %d values", v, spatial)
		}
		for _, d := range v {
			if d < 1 || d > ir.MaxElements {
				return fmt.Errorf("output_shape %v must be positive", v)
			}
		}
		target = toInts(v)
	} else if ap == "SAME_UPPER" || ap == "SAME_LOWER" {
		target = make([]int, spatial)
		for i := range target {
			target[i] = xt.Shape[2+i] * strides[i]
		}
	} else if ap != "NOTSET" && ap != "VALID" && ap != "" {
		return fmt.Errorf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", ap)
	} else if ap == "VALID" {
		pads = make([]int, 2*spatial)
	}
	if target != nil {
		for i := 0; i < spatial; i++ {
			total := strides[i]*(xt.Shape[2+i]-1) + outPad[i] + (kernel[i]-1)*dil[i] + 1 - target[i]
			if total < 0 { // the output is larger than the natural size: extend at the end
				outPad[i] += -total
				total = 0
			}
			if ap == "SAME_UPPER" {
				pads[i], pads[spatial+i] = total/2, total-total/2
			} else {
				pads[i], pads[spatial+i] = total-total/2, total/2
			}
		}
	}
	attrs["pads"] = ir.IntsAttr(to64(pads)...)
	attrs["group"] = ir.IntAttr(nd.intAttr("group", 1))
	for _, p := range outPad {
		if p != 0 {
			attrs["output_padding"] = ir.IntsAttr(to64(outPad)...)
			break
		}
	}
	return nd.simple("conv_transpose", 2, 3, attrs)
}

func (nd *node) pool(op string) error {
	if err := nd.onlyFirstOutput("MaxPool's indices output is not supported"); err != nil {
		return err
	}
	xt, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	ks, ok := nd.intsAttr("kernel_shape")
	if !ok {
		return fmt.Errorf("missing required attribute kernel_shape")
	}
	for _, k := range ks {
		if k < 1 || k > ir.MaxElements {
			return fmt.Errorf("kernel_shape %v must be positive", ks)
		}
	}
	attrs, err := nd.window(xt.Shape, toInts(ks))
	if err != nil {
		return err
	}
	attrs["kernel_shape"] = ir.IntsAttr(ks...)
	attrs["ceil_mode"] = ir.IntAttr(nd.intAttr("ceil_mode", 0))
	irop := "max_pool"
	if op == "AveragePool" {
		irop = "avg_pool"
		attrs["count_include_pad"] = ir.IntAttr(nd.intAttr("count_include_pad", 0))
	}
	return nd.unary(irop, attrs)
}

func (nd *node) batchNorm() error {
	if nd.intAttr("training_mode", 0) != 0 {
		return fmt.Errorf("training_mode=1 is not supported (inference only)")
	}
	if nd.im.opset < 9 && nd.intAttr("spatial", 1) == 0 {
		return fmt.Errorf("spatial=0 is not supported")
	}
	if err := nd.onlyFirstOutput("the running statistics are computed only in training"); err != nil {
		return err
	}
	return nd.simple("batch_norm", 5, 5, ir.Attrs{"epsilon": ir.FloatAttr(nd.floatAttr("epsilon", 1e-5))})
}

func (nd *node) pad() error {
	xt, err := nd.typeOf(0)
	if err != nil {
		return err
	}
	r := xt.Rank()
	mode := nd.strAttr("mode", "constant")
	var pads []int64
	var value float64
	if nd.im.opset < 11 {
		p, ok := nd.intsAttr("pads")
		if !ok {
			return fmt.Errorf("missing required attribute pads")
		}
		pads = p
		value = nd.floatAttr("value", 0)
	} else {
		c, err := nd.constIn(1, "pads")
		if err != nil {
			return err
		}
		if c.Elem.IsFloat() {
			return fmt.Errorf("pads must be integers")
		}
		pads = c.I
		v, _, err := nd.scalarIn(2, "constant_value")
		if err != nil {
			return err
		}
		value = v
		if nd.input(3) != nil {
			ac, err := nd.constIn(3, "axes")
			if err != nil {
				return err
			}
			if ac.Elem.IsFloat() {
				return fmt.Errorf("axes must be integers")
			}
			if len(pads) != 2*len(ac.I) {
				return fmt.Errorf("pads %v needs %d values for axes %v", pads, 2*len(ac.I), ac.I)
			}
			full := make([]int64, 2*r)
			for i, a := range ac.I {
				ax, err := ir.NormAxis(int(a), r)
				if err != nil {
					return err
				}
				full[ax], full[r+ax] = pads[i], pads[len(ac.I)+i]
			}
			pads = full
		}
	}
	if len(pads) != 2*r {
		return fmt.Errorf("pads %v needs %d values for rank %d", pads, 2*r, r)
	}
	for _, p := range pads {
		if p > ir.MaxElements || p < -ir.MaxElements {
			return fmt.Errorf("pads %v are out of range", pads)
		}
	}
	x, err := nd.irIn(0)
	if err != nil {
		return err
	}
	_, err = nd.emit("pad", []*ir.Value{x}, ir.Attrs{"pads": ir.IntsAttr(pads...), "mode": ir.StringAttr(mode), "value": ir.FloatAttr(value)})
	return err
}

func (nd *node) quantize() error {
	attrs := ir.Attrs{"axis": ir.IntAttr(nd.intAttr("axis", 1)), "block_size": ir.IntAttr(nd.intAttr("block_size", 0))}
	if dt := nd.intAttr("output_dtype", 0); dt != 0 {
		e, err := runtime.ElemFromONNX(int32(dt))
		if err != nil {
			return fmt.Errorf("output_dtype: %v", err)
		}
		attrs["to"] = ir.StringAttr(e.String())
	}
	if nd.input(2) != nil {
		zt, err := nd.typeOf(2)
		if err != nil {
			return err
		}
		if zt.Elem.IsFloat() {
			return fmt.Errorf("zero point of type %v is not supported (only integer quantization)", zt.Elem)
		}
	}
	return nd.simple("quantize_linear", 2, 3, attrs)
}
