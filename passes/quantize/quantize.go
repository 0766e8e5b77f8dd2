package quantize

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"wdc/ir"
)

// Supported lists the float ops Quantize accepts.
var Supported = []string{
	"add", "batch_norm", "concat", "conv", "dense", "flatten", "matmul", "max_pool", "mul",
	"pad", "relu", "reshape", "sigmoid", "softmax", "sub", "tanh", "transpose",
}

// FixedSuffix names the last fixed-point value before an output's final
// cast to f32: the words the hardware outputs for output "y" are the
// value "y.fixed" (the operand of the cast node "y").
const FixedSuffix = ".fixed"

// Quantize returns the fixed-point version of the float graph g (g is not
// changed). The result:
//   - keeps g's inputs (f32) and casts each to the input precision ("x.q");
//   - turns weights and biases into fixed-point constants (matmul with a
//     constant matrix followed by an add of a constant vector becomes one
//     dense layer; batch_norm after conv or dense is folded into it first);
//   - computes every layer exactly (the IR's result types are exact) and
//     casts it to the layer's result precision: the value keeps the float
//     node's name, the exact result is "<name>.acc";
//   - replaces softmax, sigmoid and tanh by lookup tables (lut) and exact ops;
//   - casts every output back to f32 under its old name, the fixed words
//     before that cast being "<output>.fixed".
//
// Unsupported layers are all listed in one error, and a precision that
// cannot hold a layer's weights names the layer and its largest weight,
// before anything is built.
func Quantize(g *ir.Graph, cfg Config) (*ir.Graph, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	q := &quantizer{cfg: &cfg, src: g, users: g.Users(), vals: map[*ir.Value]*ir.Value{}, outputs: map[string]bool{}}
	for _, o := range g.Outputs {
		q.outputs[o.Name] = true
	}
	layers, err := q.plan()
	if err != nil {
		return nil, err
	}
	if err := q.checkWeights(layers); err != nil {
		return nil, err
	}
	q.dst = ir.NewGraph(g.Name)
	for _, v := range g.Inputs {
		in, err := q.dst.AddInput(v.Name, v.Type, v.Pos)
		if err != nil {
			return nil, err
		}
		name := v.Name + ".q"
		if q.outputs[v.Name] {
			name = v.Name + FixedSuffix
		}
		q.vals[v] = q.node("cast", name, []*ir.Value{in}, ir.Attrs{"to": ir.StringAttr(cfg.inputType(v.Name).String())}, v.Pos)
	}
	for _, l := range layers {
		q.build(l)
		if q.err != nil {
			return nil, q.err
		}
	}
	for _, o := range g.Outputs {
		fv, ok := q.vals[o]
		if !ok {
			return nil, fmt.Errorf("output %q is a constant; nothing to compute in hardware", o.Name)
		}
		if fv.Name != o.Name+FixedSuffix {
			// The same value is output twice, or an output feeds no cast of
			// its own: give it a named copy.
			fv = q.node("reshape", o.Name+FixedSuffix, []*ir.Value{fv}, ir.Attrs{"shape": shapeAttr(fv.Type.Shape)}, o.Pos)
		}
		out := q.node("cast", o.Name, []*ir.Value{fv}, ir.Attrs{"to": ir.StringAttr(o.Type.Elem.String())}, o.Pos)
		if q.err != nil {
			return nil, q.err
		}
		q.dst.Outputs = append(q.dst.Outputs, out)
	}
	if err := q.dst.Verify(); err != nil {
		return nil, fmt.Errorf("internal error: the quantized graph does not verify: %v", err)
	}
	return q.dst, nil
}

func shapeAttr(s ir.Shape) ir.Attr {
	v := make([]int64, len(s))
	for i, d := range s {
		v[i] = int64(d)
	}
	return ir.IntsAttr(v...)
}

// layer is one unit of the float graph that becomes one hardware layer.
type layer struct {
	kind  string     // the float op, or "dense" for fused matmul+add
	nodes []*ir.Node // the float nodes fused, first to last
	// For dense and conv: float weights and bias after folding.
	w, b *ir.Tensor
}

func (l *layer) last() *ir.Node { return l.nodes[len(l.nodes)-1] }

// names are the float node names, any of which keys the layer's config.
func (l *layer) names() []string {
	s := make([]string, len(l.nodes))
	for i := range l.nodes {
		s[len(l.nodes)-1-i] = l.nodes[i].Name()
	}
	return s
}

type quantizer struct {
	cfg     *Config
	src     *ir.Graph
	dst     *ir.Graph
	users   map[*ir.Value][]*ir.Node
	vals    map[*ir.Value]*ir.Value // float value -> its fixed-point counterpart
	outputs map[string]bool
	err     error
}

func (q *quantizer) soleUser(v *ir.Value, op string) *ir.Node {
	u := q.users[v]
	if len(u) != 1 || u[0].Op != op || q.outputs[v.Name] {
		return nil
	}
	return u[0]
}

// plan groups the float nodes into layers, folding batch norms and
// biases, and lists every unsupported node at once.
func (q *quantizer) plan() ([]*layer, error) {
	var layers []*layer
	var bad []string
	fused := map[*ir.Node]bool{}
	for _, v := range q.src.Inputs {
		if !v.Type.Elem.IsFloat() {
			bad = append(bad, fmt.Sprintf("input %q is %v (graph inputs must be float)", v.Name, v.Type))
		}
	}
	for _, n := range q.src.Nodes {
		if fused[n] {
			continue
		}
		l := &layer{kind: n.Op, nodes: []*ir.Node{n}}
		why := ""
		switch n.Op {
		case "matmul", "dense":
			why = q.planDense(l)
		case "conv":
			why = q.planConv(l)
		case "batch_norm":
			for _, p := range n.Inputs[1:] {
				if !p.IsConst() {
					why = "its scale, bias, mean and variance must be constants"
				}
			}
		case "pad":
			if n.Str("mode") == "constant" && n.Float("value") != 0 {
				why = "constant padding must pad with 0"
			}
		case "add", "sub", "mul", "relu", "max_pool", "flatten", "reshape", "transpose", "concat", "softmax", "sigmoid", "tanh":
		default:
			why = fmt.Sprintf("no fixed-point form (supported: %s)", strings.Join(Supported, ", "))
		}
		if why == "" {
			for _, in := range n.Inputs {
				if !in.Type.Elem.IsFloat() {
					why = fmt.Sprintf("operand %q is %v; only float graphs are quantized", in.Name, in.Type)
				}
			}
		}
		if why != "" {
			bad = append(bad, fmt.Sprintf("%s: %s", n.Where(), why))
			continue
		}
		for _, m := range l.nodes[1:] {
			fused[m] = true
		}
		layers = append(layers, l)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("cannot quantize %d layer(s) of %q:\n  %s", len(bad), q.src.Name, strings.Join(bad, "\n  "))
	}
	return layers, nil
}

// planDense reads a dense or matmul layer into the form y = x·W + b with
// W [K,N] and b [N] as float constants, fusing an add of a constant bias
// and a batch_norm that follow.
func (q *quantizer) planDense(l *layer) string {
	n := l.nodes[0]
	x, wv := n.Inputs[0], n.Inputs[1]
	if wv.IsConst() == false {
		return "the weight (second operand) must be a constant"
	}
	if x.Type.Rank() != 2 || wv.Type.Rank() != 2 {
		return fmt.Sprintf("operands %v and %v must be matrices", x.Type, wv.Type)
	}
	if n.Op == "dense" && n.Int("trans_a") != 0 {
		return "trans_a = 1 is not supported"
	}
	w := floats(wv.Const)
	if n.Op == "dense" && n.Int("trans_b") != 0 {
		w = transpose2(w)
	}
	alpha := 1.0
	if n.Op == "dense" {
		alpha = n.Float("alpha")
	}
	for i := range w.F {
		w.F[i] = float32(alpha * float64(w.F[i]))
	}
	N := w.Shape[1]
	b := make([]float64, N)
	if n.Op == "dense" && len(n.Inputs) == 3 {
		c := n.Inputs[2]
		if !c.IsConst() {
			return "the bias must be a constant"
		}
		bv, ok := vector(c.Const, N)
		if !ok {
			return fmt.Sprintf("bias %v must be one value per output (%d)", c.Type, N)
		}
		for i := range b {
			b[i] = n.Float("beta") * bv[i]
		}
	}
	out := n.Out
	if n.Op == "matmul" {
		l.kind = "dense"
		if a := q.soleUser(out, "add"); a != nil {
			other := a.Inputs[1]
			if other == out {
				other = a.Inputs[0]
			}
			if bv, ok := vector(constOf(other), N); ok && other != out {
				for i := range b {
					b[i] += bv[i]
				}
				l.nodes = append(l.nodes, a)
				out = a.Out
			}
		}
	}
	if bn := q.soleUser(out, "batch_norm"); bn != nil && bnConst(bn) {
		foldBN(bn, w, b, 1)
		l.nodes = append(l.nodes, bn)
	}
	l.w, l.b = w, ir.FromFloats(ir.Shape{N}, f32s(b))
	return ""
}

func (q *quantizer) planConv(l *layer) string {
	n := l.nodes[0]
	if !n.Inputs[1].IsConst() || (len(n.Inputs) == 3 && !n.Inputs[2].IsConst()) {
		return "weights and bias must be constants"
	}
	w := floats(n.Inputs[1].Const)
	M := w.Shape[0]
	b := make([]float64, M)
	if len(n.Inputs) == 3 {
		bv, ok := vector(n.Inputs[2].Const, M)
		if !ok {
			return "bias must have one value per output channel"
		}
		copy(b, bv)
	}
	if bn := q.soleUser(n.Out, "batch_norm"); bn != nil && bnConst(bn) {
		foldBN(bn, w, b, 0)
		l.nodes = append(l.nodes, bn)
	}
	l.w, l.b = w, ir.FromFloats(ir.Shape{M}, f32s(b))
	return ""
}

func bnConst(bn *ir.Node) bool {
	for _, p := range bn.Inputs[1:] {
		if !p.IsConst() {
			return false
		}
	}
	return true
}

// bnAffine gives batch_norm's per-channel y = a·x + c.
func bnAffine(bn *ir.Node) (a, c []float64) {
	scale, bias, mean, vr := floats(bn.Inputs[1].Const), floats(bn.Inputs[2].Const), floats(bn.Inputs[3].Const), floats(bn.Inputs[4].Const)
	eps := bn.Float("epsilon")
	a = make([]float64, len(scale.F))
	c = make([]float64, len(scale.F))
	for i := range a {
		a[i] = float64(scale.F[i]) / math.Sqrt(float64(vr.F[i])+eps)
		c[i] = float64(bias.F[i]) - float64(mean.F[i])*a[i]
	}
	return a, c
}

// foldBN folds batch_norm into weights w and bias b; the output channel
// is w's dimension chAxis (0 for conv [M,...], 1 for dense [K,N]).
func foldBN(bn *ir.Node, w *ir.Tensor, b []float64, chAxis int) {
	a, c := bnAffine(bn)
	st := w.Shape.Strides()
	for i := range w.F {
		ch := (i / st[chAxis]) % w.Shape[chAxis]
		w.F[i] = float32(float64(w.F[i]) * a[ch])
	}
	for i := range b {
		b[i] = b[i]*a[i] + c[i]
	}
}

// floats returns a float32 copy of a constant.
func floats(t *ir.Tensor) *ir.Tensor {
	f := make([]float32, t.Len())
	for i := range f {
		f[i] = float32(t.Float(i))
	}
	return ir.FromFloats(t.Shape, f)
}

func f32s(v []float64) []float32 {
	f := make([]float32, len(v))
	for i, x := range v {
		f[i] = float32(x)
	}
	return f
}

func transpose2(t *ir.Tensor) *ir.Tensor {
	r, c := t.Shape[0], t.Shape[1]
	o := make([]float32, len(t.F))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			o[j*r+i] = t.F[i*c+j]
		}
	}
	return ir.FromFloats(ir.Shape{c, r}, o)
}

func constOf(v *ir.Value) *ir.Tensor {
	if v == nil {
		return nil
	}
	return v.Const
}

// vector reads a constant holding n values laid out along its last
// dimension only ([n], [1,n], ...), or a single value broadcast to n.
func vector(t *ir.Tensor, n int) ([]float64, bool) {
	if t == nil {
		return nil, false
	}
	count := t.Len()
	if t.Rank() > 0 && t.Shape[t.Rank()-1] != count {
		return nil, false
	}
	if count != n && count != 1 {
		return nil, false
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = t.Float(i % count)
	}
	return v, true
}

// checkWeights reports every layer whose weights or biases do not fit
// their precision.
func (q *quantizer) checkWeights(layers []*layer) error {
	var bad []string
	check := func(l *layer, what string, t *ir.Tensor, e ir.Elem) {
		if t == nil {
			return
		}
		worst, wi := 0.0, -1
		for i := range t.F {
			if a := math.Abs(float64(t.F[i])); a > worst || math.IsNaN(a) {
				worst, wi = a, i
			}
		}
		if wi < 0 {
			return
		}
		v := float64(t.F[wi])
		if !Fits(v, e, q.cfg.WeightRound) {
			lo, hi := ir.FixedRange(e)
			bad = append(bad, fmt.Sprintf("layer %q: %s precision %v holds [%g, %g] but the largest %s is %g (element %d); use at least %d integer bits",
				l.last().Name(), what, e, ir.FixedValue(lo, e), ir.FixedValue(hi, e), what, v, wi, IntBits(math.Abs(v))))
		}
	}
	for _, l := range layers {
		switch l.kind {
		case "dense", "conv":
			check(l, "weight", l.w, q.cfg.weightType(l.names()...))
			check(l, "bias", l.b, q.cfg.biasType(l.names()...))
		case "batch_norm":
			a, c := bnAffine(l.nodes[0])
			check(l, "weight", ir.FromFloats(ir.Shape{len(a)}, f32s(a)), q.cfg.weightType(l.names()...))
			check(l, "bias", ir.FromFloats(ir.Shape{len(c)}, f32s(c)), q.cfg.biasType(l.names()...))
		case "add", "sub", "mul":
			for _, in := range l.nodes[0].Inputs {
				if in.IsConst() {
					check(l, "weight", floats(in.Const), q.cfg.weightType(l.names()...))
				}
			}
		}
	}
	// Config entries naming no node are mistakes too.
	known := map[string]bool{}
	for _, v := range q.src.Values() {
		known[v.Name] = true
	}
	var unknown []string
	for k := range q.cfg.Layers {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		bad = append(bad, fmt.Sprintf("the config names layers that %q does not have: %s", q.src.Name, strings.Join(unknown, ", ")))
	}
	if len(bad) > 0 {
		return fmt.Errorf("precision does not fit:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}

// Fits reports whether v, rounded to e's fraction bits with r, lies in
// e's range (so quantizing it neither wraps nor saturates).
func Fits(v float64, e ir.Elem, r ir.Rounding) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	s := math.Ldexp(v, e.Frac())
	if r == ir.RoundHalfEven {
		s = math.RoundToEven(s)
	} else {
		s = math.Floor(s)
	}
	lo, hi := ir.FixedRange(e)
	return s >= float64(lo) && s <= float64(hi)
}

// IntBits is the fewest integer bits (sign included) of a fixed-point
// type whose range holds ±x: the least I >= 1 with x < 2^(I−1).
func IntBits(x float64) int {
	i := 1
	for i < 62 && !(x < math.Ldexp(1, i-1)) {
		i++
	}
	return i
}

// quantConst quantizes a float tensor to e with the config's weight modes.
func (q *quantizer) quantConst(name string, t *ir.Tensor, e ir.Elem) *ir.Value {
	e.Round, e.Ovf = q.cfg.WeightRound, q.cfg.WeightOvf
	c := ir.NewTensor(e, t.Shape)
	for i := range c.I {
		c.I[i] = ir.QuantizeFloat(t.Float(i), e)
	}
	return q.cnst(name, c)
}

func (q *quantizer) cnst(name string, t *ir.Tensor) *ir.Value {
	if q.err != nil {
		return nil
	}
	name = q.fresh(name)
	v, err := q.dst.AddConst(name, t, ir.Pos{})
	if err != nil {
		q.err = err
	}
	return v
}

func (q *quantizer) fresh(name string) string {
	if q.dst.Lookup(name) == nil {
		return name
	}
	for i := 1; ; i++ {
		s := fmt.Sprintf("%s.%d", name, i)
		if q.dst.Lookup(s) == nil {
			return s
		}
	}
}

func (q *quantizer) node(op, name string, ins []*ir.Value, attrs ir.Attrs, pos ir.Pos) *ir.Value {
	if q.err != nil {
		return nil
	}
	v, err := q.dst.AddNode(op, name, ins, attrs, pos)
	if err != nil {
		q.err = err
	}
	return v
}

// outName is the name of the fixed value standing for float value v.
func (q *quantizer) outName(v *ir.Value) string {
	if q.outputs[v.Name] {
		return v.Name + FixedSuffix
	}
	return v.Name
}

// finish casts a layer's exact result r to precision e under the name of
// the float value v (skipping the cast when r already has type e).
func (q *quantizer) finish(r *ir.Value, e ir.Elem, v *ir.Value, pos ir.Pos) {
	if q.err != nil {
		return
	}
	if r.Type.Elem == e && r.Name == q.outName(v) {
		q.vals[v] = r
		return
	}
	q.vals[v] = q.node("cast", q.outName(v), []*ir.Value{r}, ir.Attrs{"to": ir.StringAttr(e.String())}, pos)
}

// operand maps a float operand: a value computed earlier, or a constant
// quantized with the layer's weight precision.
func (q *quantizer) operand(v *ir.Value, l *layer) *ir.Value {
	if fv, ok := q.vals[v]; ok {
		return fv
	}
	if v.IsConst() {
		fv := q.quantConst(v.Name, floats(v.Const), q.cfg.weightType(l.names()...))
		q.vals[v] = fv
		return fv
	}
	if q.err == nil {
		q.err = fmt.Errorf("internal error: operand %q has no fixed-point value", v.Name)
	}
	return nil
}

func copyAttrs(a ir.Attrs, drop ...string) ir.Attrs {
	c := ir.Attrs{}
	for k, v := range a {
		c[k] = v
	}
	for _, k := range drop {
		delete(c, k)
	}
	return c
}

func (q *quantizer) build(l *layer) {
	n := l.nodes[0]
	last := l.last()
	out := last.Out
	names := l.names()
	res := q.cfg.resultType(names...)
	pos := n.Pos
	acc := out.Name + ".acc"
	switch l.kind {
	case "dense", "conv":
		x := q.operand(n.Inputs[0], l)
		w := q.quantConst(n.Inputs[1].Name, l.w, q.cfg.weightType(names...))
		bname := out.Name + ".b"
		if l.kind == "conv" && len(n.Inputs) == 3 && len(l.nodes) == 1 {
			bname = n.Inputs[2].Name
		}
		b := q.quantConst(bname, l.b, q.cfg.biasType(names...))
		attrs := ir.Attrs{}
		if l.kind == "conv" {
			attrs = copyAttrs(n.Attrs)
		}
		r := q.node(l.kind, acc, []*ir.Value{x, w, b}, attrs, pos)
		q.finish(r, res, out, pos)
	case "batch_norm":
		x := q.operand(n.Inputs[0], l)
		a, c := bnAffine(n)
		sh := make(ir.Shape, x.Type.Rank()-1)
		for i := range sh {
			sh[i] = 1
		}
		sh[0] = len(a)
		av := q.quantConst(out.Name+".scale", ir.FromFloats(sh, f32s(a)), q.cfg.weightType(names...))
		cv := q.quantConst(out.Name+".shift", ir.FromFloats(sh.Clone(), f32s(c)), q.cfg.biasType(names...))
		m := q.node("mul", out.Name+".mul", []*ir.Value{x, av}, nil, pos)
		r := q.node("add", acc, []*ir.Value{m, cv}, nil, pos)
		q.finish(r, res, out, pos)
	case "add", "sub", "mul":
		a, b := q.operand(n.Inputs[0], l), q.operand(n.Inputs[1], l)
		r := q.node(n.Op, acc, []*ir.Value{a, b}, nil, pos)
		q.finish(r, res, out, pos)
	case "concat":
		var ins []*ir.Value
		same := true
		for _, in := range n.Inputs {
			v := q.operand(in, l)
			ins = append(ins, v)
			if v != nil && ins[0] != nil && v.Type.Elem != ins[0].Type.Elem {
				same = false
			}
		}
		if !same {
			for i, v := range ins {
				if v != nil && v.Type.Elem != res {
					ins[i] = q.node("cast", fmt.Sprintf("%s.in%d", out.Name, i), []*ir.Value{v}, ir.Attrs{"to": ir.StringAttr(res.String())}, pos)
				}
			}
		}
		q.passThrough(l, ins)
	case "softmax":
		q.softmax(l)
	case "sigmoid", "tanh":
		q.activation(l)
	default: // relu, max_pool, flatten, reshape, transpose, pad: same type
		ins := []*ir.Value{q.operand(n.Inputs[0], l)}
		q.passThrough(l, ins)
	}
}

// passThrough emits an op whose result has its operand's type; a result
// precision configured for the layer adds a cast.
func (q *quantizer) passThrough(l *layer, ins []*ir.Value) {
	n := l.nodes[0]
	over := q.cfg.layer(l.names()...).Result
	name := q.outName(n.Out)
	if over.Kind != ir.Invalid {
		name = n.Out.Name + ".acc"
	}
	r := q.node(n.Op, name, ins, copyAttrs(n.Attrs), n.Pos)
	if over.Kind != ir.Invalid {
		q.finish(r, over, n.Out, n.Pos)
		return
	}
	q.vals[n.Out] = r
}

func log2Ceil(n int) int { return int(ir.Log2Ceil(int64(n))) }

// tableShift is the shift that maps a span of 2^spanBits·2^F raw words
// onto n table entries: the least s with n·2^s >= span.
func tableShift(spanBits, frac, n int) int {
	return spanBits + frac - int(math.Floor(math.Log2(float64(n))))
}

// binCenter is the real value at the middle of the raw words q with
// q >> s == k (for s <= 0 the single word k·2^-s... k >> -s).
func binCenter(k int64, s, frac int) float64 {
	if s <= 0 {
		return math.Ldexp(float64(k), s-frac)
	}
	lo := float64(k) * math.Ldexp(1, s)
	return math.Ldexp(lo+(math.Ldexp(1, s)-1)/2, -frac)
}

func (q *quantizer) table(name string, e ir.Elem, n int, f func(j int) float64) *ir.Value {
	t := ir.NewTensor(e, ir.Shape{n})
	for j := range t.I {
		t.I[j] = ir.QuantizeFloat(f(j), e)
	}
	return q.cnst(name, t)
}

// softmax builds, along the node's axis:
//
//	m = reduce_max(x); d = x − m (<= 0); e = lut_exp(d); s = reduce_sum(e);
//	r = lut_inv(s); y = cast(e·r)
//
// The exp table covers d in [−16, 0]; the reciprocal table s in
// [0, 2^⌈log2 n⌉]; entries hold the function at the middle of their bin.
func (q *quantizer) softmax(l *layer) {
	n := l.nodes[0]
	out := n.Out
	x := q.operand(n.Inputs[0], l)
	if q.err != nil {
		return
	}
	ax, err := ir.NormAxis(n.Int("axis"), x.Type.Rank())
	if err != nil {
		q.err = fmt.Errorf("%s: %v", n.Where(), err)
		return
	}
	size := q.cfg.tableSize(l.names()...)
	axes := ir.Attrs{"axes": ir.IntsAttr(int64(ax)), "keepdims": ir.IntAttr(1)}
	m := q.node("reduce_max", out.Name+".max", []*ir.Value{x}, axes, n.Pos)
	d := q.node("sub", out.Name+".sub", []*ir.Value{x, m}, nil, n.Pos)
	if q.err != nil {
		return
	}
	fd := d.Type.Elem.Frac()
	sh := tableShift(4, fd, size) // d in [−16, 0]
	expT := q.table(out.Name+".exp_table", q.cfg.ExpTable, size, func(j int) float64 {
		k := int64(j - (size - 1))
		if k == 0 {
			return 1 // only d = 0 lands here
		}
		return math.Exp(binCenter(k, sh, fd))
	})
	e := q.node("lut", out.Name+".exp", []*ir.Value{d, expT}, ir.Attrs{"shift": ir.IntAttr(int64(sh)), "offset": ir.IntAttr(int64(size - 1))}, n.Pos)
	s := q.node("reduce_sum", out.Name+".sum", []*ir.Value{e}, axes, n.Pos)
	if q.err != nil {
		return
	}
	fs := s.Type.Elem.Frac()
	span := log2Ceil(x.Type.Shape[ax]) // the sum is at most n
	sh2 := tableShift(span, fs, size)
	invT := q.table(out.Name+".inv_table", q.cfg.InvTable, size, func(j int) float64 {
		c := binCenter(int64(j), sh2, fs)
		if c <= 0 {
			return math.Inf(1) // saturates
		}
		return 1 / c
	})
	r := q.node("lut", out.Name+".inv", []*ir.Value{s, invT}, ir.Attrs{"shift": ir.IntAttr(int64(sh2))}, n.Pos)
	p := q.node("mul", out.Name+".acc", []*ir.Value{e, r}, nil, n.Pos)
	q.finish(p, q.cfg.resultType(l.names()...), out, n.Pos)
}

// activation is sigmoid or tanh by one table over x in [−8, 8).
func (q *quantizer) activation(l *layer) {
	n := l.nodes[0]
	out := n.Out
	x := q.operand(n.Inputs[0], l)
	if q.err != nil {
		return
	}
	size := q.cfg.tableSize(l.names()...)
	f := x.Type.Elem.Frac()
	sh := tableShift(3, f, size/2) // half the table for [0, 8)
	fn := math.Tanh
	if n.Op == "sigmoid" {
		fn = func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	}
	half := size / 2
	t := q.table(out.Name+".table", q.cfg.ActTable, size, func(j int) float64 {
		return fn(binCenter(int64(j-half), sh, f))
	})
	r := q.node("lut", out.Name+".acc", []*ir.Value{x, t}, ir.Attrs{"shift": ir.IntAttr(int64(sh)), "offset": ir.IntAttr(int64(half))}, n.Pos)
	q.finish(r, q.cfg.resultType(l.names()...), out, n.Pos)
}
