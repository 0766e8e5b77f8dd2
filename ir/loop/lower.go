package loop

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"wdc/ir"
)

// Lower lowers one f32 node to a loop nest. Its parameters are the node's
// inputs in order, then its output.
func Lower(n *ir.Node) (*Func, error) { return LowerFused([]*ir.Node{n}) }

// LowerFused lowers a producer followed by a chain of element-wise ops
// (relu, leaky_relu, sigmoid, tanh, clip, and add/sub/mul/div whose other
// operand broadcasts into the producer's result) as one loop nest: each
// op of the chain is applied to the producer's value just before its
// final store, so the intermediate results are never written. Parameters:
// the producer's inputs, then the other operand of each binary op of the
// chain in order, then the output (the last node's result).
func LowerFused(nodes []*ir.Node) (f *Func, err error) { return lowerFused(nodes, false) }

// LowerFusedFlat is LowerFused with every op as one perfect nest over its
// outputs (no interior/edge split of pools): what a GPU, one thread per
// output element, wants; the split form serializes each image's rows.
func LowerFusedFlat(nodes []*ir.Node) (*Func, error) { return lowerFused(nodes, true) }

func lowerFused(nodes []*ir.Node, flat bool) (f *Func, err error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("loop.LowerFused: no nodes")
	}
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("%s: lowering failed: %v", nodes[0].Where(), r)
		}
	}()
	for _, n := range nodes {
		if err := checkTypes(n); err != nil {
			return nil, err
		}
	}
	p := nodes[0]
	low, ok := lowerings[p.Op]
	if !ok {
		return nil, fmt.Errorf("%s: the CPU backend has no lowering for op %q", p.Where(), p.Op)
	}
	l, in, err := newFused(nodes)
	if err != nil {
		return nil, err
	}
	l.flat = flat
	out := l.param("y", p.Out.Type.Shape)
	out.Elem = nodes[len(nodes)-1].Out.Type.Elem.Kind
	if err := low(l, p, in, out); err != nil {
		return nil, fmt.Errorf("%s: %v", p.Where(), err)
	}
	if len(nodes) > 1 {
		l.f.Name = Sanitize(nodes[len(nodes)-1].Name())
	}
	return l.f, nil
}

// newFused starts a lowering of nodes[0] with the element-wise chain
// nodes[1:] as epilogues: the producer's input parameters, then the
// chain's other operands; the output parameter is not yet added.
func newFused(nodes []*ir.Node) (*lowerer, []*Buffer, error) {
	p := nodes[0]
	l := &lowerer{f: &Func{Name: Sanitize(p.Name())}, names: map[string]bool{}}
	// Inputs of the producer.
	in := make([]*Buffer, len(p.Inputs))
	names := inputNames[p.Op]
	for i, v := range p.Inputs {
		name := "in" + strconv.Itoa(i)
		if len(p.Inputs) == 1 {
			name = "x"
		}
		if i < len(names) {
			name = names[i]
		}
		in[i] = l.param(name, v.Type.Shape)
		in[i].Elem = v.Type.Elem.Kind
	}
	// The chain's extra operands and epilogues.
	prev := p.Out
	for _, c := range nodes[1:] {
		if err := CanFuse(prev, c); err != nil {
			return nil, nil, err
		}
		c := c
		switch c.Op {
		case "add", "sub", "mul", "div":
			j := 1
			if c.Inputs[1] == prev {
				j = 0
			}
			other := l.param("e"+strconv.Itoa(len(l.f.Params)), c.Inputs[j].Type.Shape)
			other.Elem = c.Inputs[j].Type.Elem.Kind
			outShape := prev.Type.Shape
			k := c.Out.Type.Elem.Kind
			l.epi = append(l.epi, func(v Expr, idx []Expr) Expr {
				o := Ld(other, bcastIndex(other.Shape, outShape, idx)...)
				if j == 1 {
					return binExprK(c.Op, k, v, o)
				}
				return binExprK(c.Op, k, o, v)
			})
		default:
			l.epi = append(l.epi, func(v Expr, _ []Expr) Expr { return unaryExpr(c, v) })
		}
		prev = c.Out
	}
	return l, in, nil
}

// LowerEpilogue prepares what a backend needs to render a producer with
// its own (e.g. GPU-specific) loop nest and still apply the fused chain
// nodes[1:]: a Func with exactly the parameters LowerFused would give
// (producer inputs, the chain's other operands, the output "y") and no
// Body, and the chain as a function of the producer's value at output
// index idx (one index per dimension of the producer's result).
func LowerEpilogue(nodes []*ir.Node) (f *Func, epi func(v Expr, idx []Expr) Expr, err error) {
	if len(nodes) == 0 {
		return nil, nil, fmt.Errorf("loop.LowerEpilogue: no nodes")
	}
	for _, n := range nodes {
		if err := checkF32(n); err != nil {
			return nil, nil, err
		}
	}
	l, _, err := newFused(nodes)
	if err != nil {
		return nil, nil, err
	}
	l.param("y", nodes[0].Out.Type.Shape)
	l.f.Name = Sanitize(nodes[len(nodes)-1].Name())
	return l.f, l.final, nil
}

// Fusable reports whether op can carry an element-wise epilogue.
func Fusable(op string) bool { return fusableProducers[op] }

var fusableProducers = map[string]bool{
	"conv": true, "dense": true, "max_pool": true, "avg_pool": true, "global_avg_pool": true,
	"batch_norm": true, "add": true, "sub": true, "mul": true, "div": true, "relu": true,
	"leaky_relu": true, "sigmoid": true, "tanh": true, "clip": true, "conv_transpose": true,
}

// CanFuse reports (as an error saying why not) whether node c, which reads
// prev, can be applied as an epilogue of prev's producer.
func CanFuse(prev *ir.Value, c *ir.Node) error {
	switch c.Op {
	case "relu", "leaky_relu", "sigmoid", "tanh", "clip":
		if c.Inputs[0] != prev {
			return fmt.Errorf("%s does not read %q", c.Where(), prev.Name)
		}
		return nil
	case "add", "sub", "mul", "div":
		if c.Inputs[0] != prev && c.Inputs[1] != prev {
			return fmt.Errorf("%s does not read %q", c.Where(), prev.Name)
		}
		if c.Inputs[0] == c.Inputs[1] {
			return fmt.Errorf("%s reads %q twice", c.Where(), prev.Name)
		}
		if !c.Out.Type.Shape.Equal(prev.Type.Shape) {
			return fmt.Errorf("%s broadcasts %q to %v", c.Where(), prev.Name, c.Out.Type.Shape)
		}
		return nil
	}
	return fmt.Errorf("%s is not an element-wise op that can be fused", c.Where())
}

var inputNames = map[string][]string{
	"conv": {"x", "w", "b"}, "conv_transpose": {"x", "w", "b"}, "dense": {"a", "b", "c"},
	"matmul": {"a", "b"}, "add": {"a", "b"}, "sub": {"a", "b"}, "mul": {"a", "b"}, "div": {"a", "b"},
	"batch_norm": {"x", "scale", "bias", "mean", "var"},
}

// intOps are the ops lowered on integer tensors (i8, u8, i16, u16, i32,
// i64) as well as f32, with the interpreter's semantics: arithmetic
// wraps to the width, clip clamps in the integer domain.
var intOps = map[string]bool{
	"add": true, "sub": true, "mul": true, "relu": true, "clip": true, "max_pool": true,
	"pad": true, "transpose": true, "concat": true, "flatten": true, "reshape": true, "cast": true,
}

// checkTypes accepts f32 everywhere, and the integer kinds for intOps
// (cast: between any two of f32 and the integer kinds).
func checkTypes(n *ir.Node) error {
	if !intOps[n.Op] {
		return checkF32(n)
	}
	ok := func(k ir.Kind) bool { return k == ir.F32 || IsIntKind(k) }
	for i, v := range n.Inputs {
		if !ok(v.Type.Elem.Kind) {
			return fmt.Errorf("%s: input %d (%q) is %v; the CPU backend compiles f32, i8, u8, i16, u16, i32 and i64 tensors", n.Where(), i, v.Name, v.Type)
		}
	}
	if !ok(n.Out.Type.Elem.Kind) {
		return fmt.Errorf("%s: result is %v; the CPU backend compiles f32, i8, u8, i16, u16, i32 and i64 tensors", n.Where(), n.Out.Type)
	}
	return nil
}

func checkF32(n *ir.Node) error {
	for i, v := range n.Inputs {
		if v.Type.Elem.Kind != ir.F32 {
			return fmt.Errorf("%s: input %d (%q) is %v; the CPU backend compiles f32 tensors only", n.Where(), i, v.Name, v.Type)
		}
	}
	if n.Out.Type.Elem.Kind != ir.F32 {
		return fmt.Errorf("%s: result is %v; the CPU backend compiles f32 tensors only", n.Where(), n.Out.Type)
	}
	return nil
}

// Supported lists the ops with a lowering, sorted.
func Supported() []string {
	var s []string
	for k := range lowerings {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Unsupported lists, all at once, the ops of g that cannot be lowered.
func Unsupported(g *ir.Graph) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range g.Nodes {
		if _, ok := lowerings[n.Op]; !ok && !seen[n.Op] {
			seen[n.Op] = true
			out = append(out, n.Op)
		}
	}
	sort.Strings(out)
	return out
}

// Sanitize makes s a C and LLVM identifier (other bytes become _).
func Sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

type lowerer struct {
	f     *Func
	epi   []func(v Expr, idx []Expr) Expr
	names map[string]bool
	flat  bool // one perfect nest over the outputs (LowerFusedFlat)
}

func (l *lowerer) param(name string, shape ir.Shape) *Buffer {
	b := &Buffer{Name: l.fresh(name), Shape: append([]int(nil), shape...), Role: Param}
	l.f.Params = append(l.f.Params, b)
	return b
}

func (l *lowerer) temp(name string, shape []int) *Buffer {
	b := &Buffer{Name: l.fresh(name), Shape: append([]int(nil), shape...), Role: Temp}
	l.f.Temps = append(l.f.Temps, b)
	return b
}

// fresh returns name, or name with a number, unused so far in the Func.
func (l *lowerer) fresh(name string) string {
	n := name
	for i := 1; l.names[n]; i++ {
		n = name + strconv.Itoa(i)
	}
	l.names[n] = true
	return n
}

// vars returns k fresh loop variable names with the given prefix.
func (l *lowerer) vars(prefix string, k int) []string {
	out := make([]string, k)
	for i := range out {
		out[i] = l.fresh(prefix + strconv.Itoa(i))
	}
	return out
}

// final applies the fused epilogues to the value stored at idx.
func (l *lowerer) final(v Expr, idx []Expr) Expr {
	for _, e := range l.epi {
		v = e(v, idx)
	}
	return v
}

// bcastIndex indexes a buffer of shape in that broadcasts (numpy rules)
// to out, at output index idx.
func bcastIndex(in, out []int, idx []Expr) []Expr {
	r := len(out)
	res := make([]Expr, len(in))
	for j := range in {
		d := r - len(in) + j
		if in[j] == 1 && out[d] != 1 {
			res[j] = I(0)
		} else {
			res[j] = idx[d]
		}
	}
	return res
}

func binExpr(op string, a, b Expr) Expr {
	switch op {
	case "add":
		return &Binary{Op: Add, A: a, B: b}
	case "sub":
		return &Binary{Op: Sub, A: a, B: b}
	case "mul":
		return &Binary{Op: Mul, A: a, B: b}
	default:
		return &Binary{Op: Div, A: a, B: b}
	}
}

// binExprK is binExpr on element kind k: integer results wrap to k's
// width (integer division is not lowered: checkTypes rejects it).
func binExprK(op string, k ir.Kind, a, b Expr) Expr {
	v := binExpr(op, a, b)
	if IsIntKind(k) && k != ir.I64 {
		return &Cast{X: v, To: k}
	}
	return v
}

// clipBounds are the integer bounds of clip on kind k: ⌈min⌉ and ⌊max⌋
// saturated to k's range, as the interpreter computes them.
func clipBounds(lo, hi float64, k ir.Kind) (int64, int64) {
	sat := func(f float64) int64 {
		r0, r1 := KindRange(k)
		switch {
		case math.IsNaN(f):
			return 0
		case f <= float64(r0):
			return r0
		case f >= float64(r1):
			return r1
		}
		return int64(f)
	}
	return sat(math.Ceil(lo)), sat(math.Floor(hi))
}

func unaryExpr(n *ir.Node, v Expr) Expr {
	if k := n.Out.Type.Elem.Kind; IsIntKind(k) {
		switch n.Op {
		case "relu":
			return &Binary{Op: Max, A: v, B: I(0)}
		case "clip":
			lo, hi := clipBounds(n.Float("min"), n.Float("max"), k)
			return &Binary{Op: Min, A: &Binary{Op: Max, A: v, B: I(lo)}, B: I(hi)}
		}
		panic("unaryExpr: " + n.Op + " on " + k.String())
	}
	switch n.Op {
	case "relu":
		return &Binary{Op: Max, A: v, B: F(0)}
	case "leaky_relu":
		return Sel(Cmp(GE, v, F(0)), v, &Binary{Op: Mul, A: F(float32(n.Float("alpha"))), B: v})
	case "sigmoid":
		return &Binary{Op: Div, A: F(1), B: &Binary{Op: Add, A: F(1), B: CallF("expf", &Binary{Op: Sub, A: F(0), B: v})}}
	case "tanh":
		return CallF("tanhf", v)
	case "clip":
		lo, hi := n.Float("min"), n.Float("max")
		if !math.IsInf(lo, -1) {
			v = &Binary{Op: Max, A: v, B: F(float32(lo))}
		}
		if !math.IsInf(hi, 1) {
			v = &Binary{Op: Min, A: v, B: F(float32(hi))}
		}
		return v
	}
	panic("unaryExpr: " + n.Op)
}

type lowering func(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error

var lowerings map[string]lowering

func init() {
	lowerings = map[string]lowering{
		"add": lowerBinary, "sub": lowerBinary, "mul": lowerBinary, "div": lowerBinary,
		"relu": lowerUnary, "leaky_relu": lowerUnary, "sigmoid": lowerUnary, "tanh": lowerUnary, "clip": lowerUnary,
		"flatten": lowerAlias, "reshape": lowerAlias, "cast": lowerCast,
		"transpose": lowerTranspose, "concat": lowerConcat, "pad": lowerPad,
		"conv": lowerConv, "conv_transpose": lowerConvTranspose,
		"dense": lowerDense, "matmul": lowerMatMul,
		"max_pool": lowerPool, "avg_pool": lowerPool, "global_avg_pool": lowerGlobalAvgPool,
		"batch_norm": lowerBatchNorm, "softmax": lowerSoftmax, "lrn": lowerLRN,
	}
}

func lowerBinary(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	vs := l.vars("i", len(out.Shape))
	idx := Vars(vs)
	v := binExprK(n.Op, n.Out.Type.Elem.Kind, Ld(in[0], bcastIndex(in[0].Shape, out.Shape, idx)...), Ld(in[1], bcastIndex(in[1].Shape, out.Shape, idx)...))
	l.f.Body = Nest(vs, out.Shape, St(out, l.final(v, idx), idx...))
	return nil
}

func lowerUnary(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	vs := l.vars("i", len(out.Shape))
	idx := Vars(vs)
	l.f.Body = Nest(vs, out.Shape, St(out, l.final(unaryExpr(n, Ld(in[0], idx...)), idx), idx...))
	return nil
}

// lowerAlias copies the data flat; the Func is marked Alias so a backend
// may bind the result to the input's storage instead.
func lowerAlias(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	size := out.Size()
	in[0].Shape, out.Shape = []int{size}, []int{size}
	i := l.fresh("i")
	l.f.Body = []Stmt{Loop(i, size, St(out, l.final(Ld(in[0], V(i)), []Expr{V(i)}), V(i)))}
	l.f.Alias = len(l.epi) == 0
	return nil
}

// lowerCast converts element kinds with the interpreter's semantics (see
// Cast); a cast to the same kind is a copy.
func lowerCast(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	size := out.Size()
	in[0].Shape, out.Shape = []int{size}, []int{size}
	i := l.fresh("i")
	var v Expr = Ld(in[0], V(i))
	if in[0].Kind() != out.Kind() {
		v = &Cast{X: v, To: out.Kind()}
	}
	if size > 0 {
		l.f.Body = []Stmt{Loop(i, size, St(out, l.final(v, []Expr{V(i)}), V(i)))}
	}
	return nil
}

func lowerTranspose(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	perm := ir.TransposePerm(n, len(in[0].Shape))
	vs := l.vars("i", len(out.Shape))
	idx := Vars(vs)
	xi := make([]Expr, len(perm))
	for i, p := range perm {
		xi[p] = idx[i]
	}
	l.f.Body = Nest(vs, out.Shape, St(out, l.final(Ld(in[0], xi...), idx), idx...))
	return nil
}

func lowerConcat(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	ax, err := ir.NormAxis(n.Int("axis"), len(out.Shape))
	if err != nil {
		return err
	}
	off := 0
	for _, b := range in {
		vs := l.vars("i", len(b.Shape))
		idx := Vars(vs)
		oi := append([]Expr(nil), idx...)
		oi[ax] = AddE(idx[ax], I(int64(off)))
		if b.Size() > 0 {
			l.f.Body = append(l.f.Body, Nest(vs, b.Shape, St(out, l.final(Ld(b, idx...), oi), oi...))...)
		}
		off += b.Shape[ax]
	}
	return nil
}

func lowerPad(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x := in[0]
	r := len(x.Shape)
	pads := n.Ints("pads")
	mode := n.Str("mode")
	vs := l.vars("i", r)
	idx := Vars(vs)
	xi := make([]Expr, r)
	var cond Expr
	for d := 0; d < r; d++ {
		pb, pe, size := int64(pads[d]), int64(pads[r+d]), int64(x.Shape[d])
		i := SubE(idx[d], I(pb))
		xi[d] = i
		if pb <= 0 && pe <= 0 {
			continue // a crop (or nothing): always inside
		}
		switch mode {
		case "constant":
			cond = AndE(cond, AndE(Cmp(GE, i, I(0)), Cmp(LT, i, I(size))))
		case "edge":
			xi[d] = MinE(MaxE(i, I(0)), I(size-1))
		case "wrap":
			xi[d] = ModE(AddE(ModE(i, I(size)), I(size)), I(size))
		case "reflect":
			if size == 1 {
				xi[d] = I(0)
				break
			}
			p := 2 * (size - 1)
			m := ModE(AddE(ModE(i, I(p)), I(p)), I(p))
			xi[d] = Sel(Cmp(GE, m, I(size)), SubE(I(p), m), m)
		default:
			return fmt.Errorf("pad mode %q is not supported", mode)
		}
	}
	var body Stmt = St(out, l.final(Ld(x, xi...), idx), idx...)
	if cond != nil {
		var fill Expr = F(float32(n.Float("value")))
		if k := x.Kind(); IsIntKind(k) {
			v := n.Float("value")
			if math.IsNaN(v) {
				v = 0
			}
			fill = I(clipFill(math.Trunc(v), k))
		}
		body = &If{Cond: cond, Then: []Stmt{body}, Else: []Stmt{St(out, l.final(fill, idx), idx...)}}
	}
	if out.Size() > 0 {
		l.f.Body = Nest(vs, out.Shape, body)
	}
	return nil
}

// clipFill saturates an integral float to k's range.
func clipFill(f float64, k ir.Kind) int64 {
	lo, hi := KindRange(k)
	if f <= float64(lo) {
		return lo
	}
	if f >= float64(hi) {
		return hi
	}
	return int64(f)
}

// padded returns x padded with zeros by the window's pads, copied into a
// temp (the "pack" of the direct convolution, which then needs no bounds
// tests), or x itself when there is no padding.
func (l *lowerer) padded(x *Buffer, begin, end []int) *Buffer {
	any := false
	for d := range begin {
		any = any || begin[d] != 0 || end[d] != 0
	}
	if !any {
		return x
	}
	sp := len(begin)
	shape := append([]int(nil), x.Shape...)
	for d := 0; d < sp; d++ {
		shape[2+d] += begin[d] + end[d]
	}
	xp := l.temp("xp", shape)
	vs := l.vars("p", len(shape))
	idx := Vars(vs)
	xi := append([]Expr(nil), idx...)
	var cond Expr
	for d := 0; d < sp; d++ {
		i := SubE(idx[2+d], I(int64(begin[d])))
		xi[2+d] = i
		if begin[d] != 0 || end[d] != 0 {
			cond = AndE(cond, AndE(Cmp(GE, i, I(0)), Cmp(LT, i, I(int64(x.Shape[2+d])))))
		}
	}
	l.f.Body = append(l.f.Body, Nest(vs, shape, &If{Cond: cond,
		Then: []Stmt{St(xp, Ld(x, xi...), idx...)},
		Else: []Stmt{St(xp, F(0), idx...)}})...)
	return xp
}

// lowerConv is the direct convolution in row-update form: for each batch
// item, output channel and output row, the row is set to the bias, then
// for every input channel of the group and every kernel tap the whole
// row is updated with a contiguous (stride-1 when the conv's stride is 1)
// innermost loop, then the epilogue is applied to the row.
func lowerConv(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x, w := in[0], in[1]
	sp := len(x.Shape) - 2
	win := ir.ConvWindow(n, sp, w.Shape[2:])
	G := n.Int("group")
	M, Cg := w.Shape[0], w.Shape[1]
	Mg := M / G
	xp := l.padded(x, win.PadBegin, win.PadEnd)
	O := out.Shape[2:]
	nv, mv := l.fresh("n"), l.fresh("m")
	ov := l.vars("o", sp)
	cv := l.fresh("c")
	kv := l.vars("k", sp)
	last := ov[sp-1]
	oidx := append([]Expr{V(nv), V(mv)}, Vars(ov)...)
	// Input channel: g·Cg + c with g = m / Mg.
	ch := V(cv)
	if G > 1 {
		ch = AddE(MulE(DivE(V(mv), I(int64(Mg))), I(int64(Cg))), V(cv))
	}
	xi := []Expr{V(nv), ch}
	for d := 0; d < sp; d++ {
		xi = append(xi, AddE(MulE(V(ov[d]), I(int64(win.Strides[d]))), MulE(V(kv[d]), I(int64(win.Dilations[d])))))
	}
	wi := append([]Expr{V(mv), V(cv)}, Vars(kv)...)
	var init Expr = F(0)
	if len(in) == 3 {
		init = Ld(in[2], V(mv))
	}
	row := func(body Stmt) Stmt { return Loop(last, O[sp-1], body) }
	update := row(St(out, &Binary{Op: Add, A: Ld(out, oidx...), B: &Binary{Op: Mul, A: Ld(xp, xi...), B: Ld(w, wi...)}}, oidx...))
	red := Nest(append([]string{cv}, kv...), append([]int{Cg}, w.Shape[2:]...), update)
	rowBody := []Stmt{row(St(out, init, oidx...))}
	rowBody = append(rowBody, red...)
	if len(l.epi) > 0 {
		rowBody = append(rowBody, row(St(out, l.final(Ld(out, oidx...), oidx), oidx...)))
	}
	outer := append([]string{nv, mv}, ov[:sp-1]...)
	dims := append([]int{out.Shape[0], out.Shape[1]}, O[:sp-1]...)
	l.f.Body = append(l.f.Body, Nest(outer, dims, rowBody...)...)
	return nil
}

// lowerConvTranspose gathers: y[n,m,o] = b[m] + Σ x[n,c,i]·w[c,m',k] over
// the taps with o = i·stride − pad + k·dilation.
func lowerConvTranspose(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x, w := in[0], in[1]
	sp := len(x.Shape) - 2
	win := ir.ConvWindow(n, sp, w.Shape[2:])
	G := n.Int("group")
	C := x.Shape[1]
	Cg, Mg := C/G, w.Shape[1]
	nv, mv := l.fresh("n"), l.fresh("m")
	ov := l.vars("o", sp)
	cv := l.fresh("c")
	kv := l.vars("k", sp)
	oidx := append([]Expr{V(nv), V(mv)}, Vars(ov)...)
	acc := l.fresh("acc")
	var init Expr = F(0)
	if len(in) == 3 {
		init = Ld(in[2], V(mv))
	}
	ch := V(cv)
	mm := V(mv)
	if G > 1 {
		ch = AddE(MulE(DivE(V(mv), I(int64(Mg))), I(int64(Cg))), V(cv))
		mm = ModE(V(mv), I(int64(Mg)))
	}
	xi := []Expr{V(nv), ch}
	var cond Expr
	for d := 0; d < sp; d++ {
		t := SubE(AddE(V(ov[d]), I(int64(win.PadBegin[d]))), MulE(V(kv[d]), I(int64(win.Dilations[d]))))
		s := I(int64(win.Strides[d]))
		cond = AndE(cond, Cmp(GE, t, I(0)))
		if win.Strides[d] != 1 {
			cond = AndE(cond, Cmp(EQ, ModE(t, s), I(0)))
		}
		q := DivE(t, s)
		cond = AndE(cond, Cmp(LT, q, I(int64(x.Shape[2+d]))))
		xi = append(xi, q)
	}
	wi := append([]Expr{ch, mm}, Vars(kv)...)
	upd := &If{Cond: cond, Then: []Stmt{&Assign{Name: acc, Value: &Binary{Op: Add, A: S(acc), B: &Binary{Op: Mul, A: Ld(x, xi...), B: Ld(w, wi...)}}}}}
	red := Nest(append([]string{cv}, kv...), append([]int{Cg}, w.Shape[2:]...), upd)
	body := append([]Stmt{&Decl{Name: acc, Init: init}}, red...)
	body = append(body, St(out, l.final(S(acc), oidx), oidx...))
	l.f.Body = Nest(append([]string{nv, mv}, ov...), out.Shape, body...)
	return nil
}

// gemmRows emits, for output row i of y[..., i, :] (prefix pre), the
// row-update GEMM: y = 0; for k: y[j] += A(k)·B(k, j); then finish(y).
func (l *lowerer) gemmRows(y *Buffer, pre []Expr, K, N int, a func(k Expr) Expr, b func(k, j Expr) Expr, finish func(v Expr, j Expr) Expr) []Stmt {
	j, k := l.fresh("j"), l.fresh("k")
	yi := append(append([]Expr(nil), pre...), V(j))
	s := []Stmt{
		Loop(j, N, St(y, F(0), yi...)),
		Loop(k, K, Loop(j, N, St(y, &Binary{Op: Add, A: Ld(y, yi...), B: &Binary{Op: Mul, A: a(V(k)), B: b(V(k), V(j))}}, yi...))),
	}
	if finish != nil {
		s = append(s, Loop(j, N, St(y, finish(Ld(y, yi...), V(j)), yi...)))
	}
	return s
}

func lowerDense(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	A, B := in[0], in[1]
	M, N := out.Shape[0], out.Shape[1]
	K := A.Shape[1]
	ta, tb := n.Int("trans_a") != 0, n.Int("trans_b") != 0
	if ta {
		K = A.Shape[0]
	}
	i := l.fresh("i")
	alpha, beta := float32(n.Float("alpha")), float32(n.Float("beta"))
	aAt := func(k Expr) Expr {
		if ta {
			return Ld(A, k, V(i))
		}
		return Ld(A, V(i), k)
	}
	bAt := func(k, j Expr) Expr {
		if tb {
			return Ld(B, j, k)
		}
		return Ld(B, k, j)
	}
	finish := func(v Expr, j Expr) Expr {
		if alpha != 1 {
			v = &Binary{Op: Mul, A: F(alpha), B: v}
		}
		if len(in) == 3 && beta != 0 {
			c := Ld(in[2], bcastIndex(in[2].Shape, out.Shape, []Expr{V(i), j})...)
			if beta != 1 {
				c = &Binary{Op: Mul, A: F(beta), B: c}
			}
			v = &Binary{Op: Add, A: v, B: c}
		}
		return l.final(v, []Expr{V(i), j})
	}
	if alpha == 1 && (len(in) < 3 || beta == 0) && len(l.epi) == 0 {
		finish = nil
	}
	l.f.Body = []Stmt{Loop(i, M, l.gemmRows(out, []Expr{V(i)}, K, N, aAt, bAt, finish)...)}
	return nil
}

func lowerMatMul(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	A, B := in[0], in[1]
	pa, pb := A.Shape, B.Shape
	if len(pa) == 1 {
		pa = []int{1, pa[0]}
	}
	if len(pb) == 1 {
		pb = []int{pb[0], 1}
	}
	A.Shape, B.Shape = pa, pb
	M, K, N := pa[len(pa)-2], pa[len(pa)-1], pb[len(pb)-1]
	batch, err := ir.BroadcastShapes(pa[:len(pa)-2], pb[:len(pb)-2])
	if err != nil {
		return err
	}
	out.Shape = append(append([]int(nil), batch...), M, N)
	bv := l.vars("b", len(batch))
	bidx := Vars(bv)
	ai := bcastIndex(pa[:len(pa)-2], batch, bidx)
	bi := bcastIndex(pb[:len(pb)-2], batch, bidx)
	i := l.fresh("i")
	pre := append(append([]Expr(nil), bidx...), V(i))
	var finish func(v Expr, j Expr) Expr
	if len(l.epi) > 0 {
		return fmt.Errorf("matmul takes no fused epilogue")
	}
	rows := l.gemmRows(out, pre, K, N,
		func(k Expr) Expr { return Ld(A, append(append([]Expr(nil), ai...), V(i), k)...) },
		func(k, j Expr) Expr { return Ld(B, append(append([]Expr(nil), bi...), k, j)...) },
		finish)
	l.f.Body = Nest(append(bv, i), append(append([]int(nil), batch...), M), rows...)
	return nil
}

func lowerPool(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x := in[0]
	sp := len(x.Shape) - 2
	win := ir.PoolWindow(n, sp)
	isMax := n.Op == "max_pool"
	includePad := !isMax && n.Int("count_include_pad") != 0
	isInt := isMax && IsIntKind(x.Kind())
	nv, cv := l.fresh("n"), l.fresh("c")
	// input index of output ov and kernel offset k along dimension d
	inIdx := func(d int, o, k Expr) Expr {
		return AddE(SubE(MulE(o, I(int64(win.Strides[d]))), I(int64(win.PadBegin[d]))), MulE(k, I(int64(win.Dilations[d]))))
	}
	combine := func(a, b Expr) Expr {
		if !isMax {
			return &Binary{Op: Add, A: a, B: b}
		}
		return &Binary{Op: Max, A: a, B: b}
	}
	accRef := func(acc string) Expr {
		if isInt {
			return Scalar{Name: acc, IsInt: true}
		}
		return S(acc)
	}
	oidx := func(ov []string) []Expr { return append([]Expr{V(nv), V(cv)}, Vars(ov)...) }
	// general: every tap tested against the bounds (and, for averages,
	// counted), for the output positions near the edges
	general := func(ov []string) []Stmt {
		kv := l.vars("k", sp)
		acc, cnt := l.fresh("acc"), l.fresh("cnt")
		xi := []Expr{V(nv), V(cv)}
		var in1, inPad Expr
		for d := 0; d < sp; d++ {
			i := inIdx(d, V(ov[d]), V(kv[d]))
			xi = append(xi, i)
			in1 = AndE(in1, AndE(Cmp(GE, i, I(0)), Cmp(LT, i, I(int64(x.Shape[2+d])))))
			inPad = AndE(inPad, AndE(Cmp(GE, i, I(int64(-win.PadBegin[d]))), Cmp(LT, i, I(int64(x.Shape[2+d]+win.PadEnd[d])))))
		}
		var body, upd []Stmt
		switch {
		case isInt:
			lo, _ := KindRange(x.Kind())
			body = append(body, &Decl{Name: acc, Init: I(lo)})
		case isMax:
			body = append(body, &Decl{Name: acc, Init: F(float32(math.Inf(-1)))})
		default:
			body = append(body, &Decl{Name: acc, Init: F(0)}, &Decl{Name: cnt, Init: F(0)})
		}
		th := []Stmt{&Assign{Name: acc, Value: combine(accRef(acc), Ld(x, xi...))}}
		inc := &Assign{Name: cnt, Value: &Binary{Op: Add, A: S(cnt), B: F(1)}}
		switch {
		case isMax:
			upd = []Stmt{&If{Cond: in1, Then: th}}
		case includePad:
			upd = []Stmt{&If{Cond: in1, Then: th}, &If{Cond: inPad, Then: []Stmt{inc}}}
		default:
			upd = []Stmt{&If{Cond: in1, Then: append(th, inc)}}
		}
		body = append(body, Nest(kv, win.Kernel, upd...)...)
		v := accRef(acc)
		if !isMax {
			v = &Binary{Op: Div, A: S(acc), B: S(cnt)}
		}
		return append(body, St(out, l.final(v, oidx(ov)), oidx(ov)...))
	}
	ov := l.vars("o", sp)
	taps := 1
	for _, k := range win.Kernel {
		taps *= k
	}
	// interior[d]: the outputs whose taps along d all fall inside the input
	var lo, hi []int
	for d := 0; d < sp; d++ {
		s, p, k, dl := win.Strides[d], win.PadBegin[d], win.Kernel[d], win.Dilations[d]
		a := (p + s - 1) / s
		b := min(out.Shape[2+d], (x.Shape[2+d]-1+p-(k-1)*dl)/s+1)
		if x.Shape[2+d]-1+p-(k-1)*dl < 0 {
			b = 0
		}
		lo, hi = append(lo, min(a, b)), append(hi, max(min(a, b), b))
	}
	if l.flat || sp != 2 || taps > 25 || hi[0] <= lo[0] || hi[1] <= lo[1] {
		l.f.Body = Nest(append([]string{nv, cv}, ov...), out.Shape, general(ov)...)
		return nil
	}
	// 2-D windows: the interior (most of the image) has no bounds tests and
	// its taps as one expression, so that the loop along a row is innermost
	// and vectorizes; the edge rows and columns take the general body
	interior := func(ov []string) []Stmt {
		var v Expr
		for k0 := 0; k0 < win.Kernel[0]; k0++ {
			for k1 := 0; k1 < win.Kernel[1]; k1++ {
				t := Ld(x, V(nv), V(cv), inIdx(0, V(ov[0]), I(int64(k0))), inIdx(1, V(ov[1]), I(int64(k1))))
				if v == nil {
					v = t
				} else {
					v = combine(v, t)
				}
			}
		}
		if !isMax {
			v = &Binary{Op: Div, A: v, B: F(float32(taps))}
		}
		return []Stmt{St(out, l.final(v, oidx(ov)), oidx(ov)...)}
	}
	span := func(v string, a, b int, body ...Stmt) []Stmt {
		if a >= b {
			return nil
		}
		return []Stmt{&For{Var: v, Lo: I(int64(a)), Hi: I(int64(b)), Step: 1, Body: body}}
	}
	edgeRows := func(a, b int) []Stmt {
		r := l.vars("o", 2)
		return span(r[0], a, b, Loop(r[1], out.Shape[3], general(r)...))
	}
	var rows []Stmt
	{
		left, right := l.fresh("o"), l.fresh("o")
		var row []Stmt
		row = append(row, span(left, 0, lo[1], general([]string{ov[0], left})...)...)
		row = append(row, span(ov[1], lo[1], hi[1], interior(ov)...)...)
		row = append(row, span(right, hi[1], out.Shape[3], general([]string{ov[0], right})...)...)
		rows = span(ov[0], lo[0], hi[0], row...)
	}
	body := append(append(edgeRows(0, lo[0]), rows...), edgeRows(hi[0], out.Shape[2])...)
	l.f.Body = Nest([]string{nv, cv}, out.Shape[:2], body...)
	return nil
}

// flat3 views a buffer [N, C, spatial...] as [N, C, P].
func flat3(b *Buffer) {
	p := 1
	for _, d := range b.Shape[2:] {
		p *= d
	}
	b.Shape = []int{b.Shape[0], b.Shape[1], p}
}

func lowerGlobalAvgPool(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x := in[0]
	flat3(x)
	flat3(out)
	nv, cv, pv := l.fresh("n"), l.fresh("c"), l.fresh("p")
	acc := l.fresh("acc")
	oidx := []Expr{V(nv), V(cv), I(0)}
	l.f.Body = Nest([]string{nv, cv}, x.Shape[:2],
		&Decl{Name: acc, Init: F(0)},
		Loop(pv, x.Shape[2], &Assign{Name: acc, Value: &Binary{Op: Add, A: S(acc), B: Ld(x, V(nv), V(cv), V(pv))}}),
		St(out, l.final(&Binary{Op: Div, A: S(acc), B: F(float32(x.Shape[2]))}, oidx), oidx...))
	return nil
}

func lowerBatchNorm(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x := in[0]
	if len(x.Shape) == 2 {
		x.Shape = append(x.Shape, 1)
		out.Shape = append(out.Shape, 1)
	}
	scale, bias, mean, vr := in[1], in[2], in[3], in[4]
	nv, cv := l.fresh("n"), l.fresh("c")
	a := l.fresh("a")
	eps := float32(n.Float("epsilon"))
	// With a fused epilogue the spatial dimensions keep their rank (the
	// chain's operands are indexed like the result); without, they are
	// flattened into one contiguous loop.
	if len(l.epi) == 0 || len(out.Shape) <= 3 {
		flat3(x)
		flat3(out)
	}
	sv := l.vars("p", len(out.Shape)-2)
	idx := append([]Expr{V(nv), V(cv)}, Vars(sv)...)
	v := &Binary{Op: Add, A: &Binary{Op: Mul, A: &Binary{Op: Sub, A: Ld(x, idx...), B: Ld(mean, V(cv))}, B: S(a)}, B: Ld(bias, V(cv))}
	l.f.Body = Nest([]string{nv, cv}, x.Shape[:2],
		append([]Stmt{&Decl{Name: a, Init: &Binary{Op: Div, A: Ld(scale, V(cv)), B: CallF("sqrtf", &Binary{Op: Add, A: Ld(vr, V(cv)), B: F(eps)})}}},
			Nest(sv, out.Shape[2:], St(out, l.final(v, idx), idx...))...)...)
	return nil
}

func lowerSoftmax(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x := in[0]
	ax, err := ir.NormAxis(n.Int("axis"), len(x.Shape))
	if err != nil {
		return err
	}
	outer, inner := 1, 1
	for _, d := range x.Shape[:ax] {
		outer *= d
	}
	for _, d := range x.Shape[ax+1:] {
		inner *= d
	}
	dim := x.Shape[ax]
	x.Shape = []int{outer, dim, inner}
	out.Shape = []int{outer, dim, inner}
	if len(l.epi) > 0 {
		return fmt.Errorf("softmax takes no fused epilogue")
	}
	ov, iv, jv := l.fresh("o"), l.fresh("i"), l.fresh("j")
	mx, sum, e := l.fresh("mx"), l.fresh("sum"), l.fresh("e")
	idx := []Expr{V(ov), V(jv), V(iv)}
	l.f.Body = Nest([]string{ov, iv}, []int{outer, inner},
		&Decl{Name: mx, Init: F(float32(math.Inf(-1)))},
		Loop(jv, dim, &Assign{Name: mx, Value: &Binary{Op: Max, A: S(mx), B: Ld(x, idx...)}}),
		&Decl{Name: sum, Init: F(0)},
		Loop(jv, dim,
			&Decl{Name: e, Init: CallF("expf", &Binary{Op: Sub, A: Ld(x, idx...), B: S(mx)})},
			St(out, S(e), idx...),
			&Assign{Name: sum, Value: &Binary{Op: Add, A: S(sum), B: S(e)}}),
		Loop(jv, dim, St(out, &Binary{Op: Div, A: Ld(out, idx...), B: S(sum)}, idx...)))
	return nil
}

func lowerLRN(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x := in[0]
	flat3(x)
	flat3(out)
	if len(l.epi) > 0 {
		return fmt.Errorf("lrn takes no fused epilogue")
	}
	size := n.Int("size")
	alpha, beta, bias := n.Float("alpha"), n.Float("beta"), n.Float("bias")
	before, after := (size-1)/2, size/2
	C := x.Shape[1]
	nv, cv, pv, qv := l.fresh("n"), l.fresh("c"), l.fresh("p"), l.fresh("q")
	s := l.fresh("s")
	idx := []Expr{V(nv), V(cv), V(pv)}
	sq := Ld(x, V(nv), V(qv), V(pv))
	l.f.Body = Nest([]string{nv, cv, pv}, x.Shape,
		&Decl{Name: s, Init: F(0)},
		&For{Var: qv, Lo: MaxE(I(0), SubE(V(cv), I(int64(before)))), Hi: MinE(I(int64(C)), AddE(V(cv), I(int64(after+1)))), Step: 1,
			Body: []Stmt{&Assign{Name: s, Value: &Binary{Op: Add, A: S(s), B: &Binary{Op: Mul, A: sq, B: sq}}}}},
		St(out, &Binary{Op: Div, A: Ld(x, idx...), B: CallF("powf",
			&Binary{Op: Add, A: F(float32(bias)), B: &Binary{Op: Mul, A: F(float32(alpha / float64(size))), B: S(s)}}, F(float32(beta)))}, idx...))
	return nil
}
