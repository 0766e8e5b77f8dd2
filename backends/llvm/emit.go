package llvm

import (
	"fmt"
	"sort"

	"github.com/llir/llvm/ir"
	"github.com/llir/llvm/ir/constant"
	"github.com/llir/llvm/ir/enum"
	"github.com/llir/llvm/ir/metadata"
	"github.com/llir/llvm/ir/types"
	"github.com/llir/llvm/ir/value"

	wir "wdc/ir"
	"wdc/ir/loop"
)

// Rendering of the loop IR as LLVM IR with llir/llvm. Loop variables and
// scalar locals live in allocas of the entry block (clang's -O3 promotes
// them to registers); every buffer is a float* parameter marked noalias;
// a top-level parallel loop is outlined into a function of (ctx, lo, hi)
// that the C runtime's wdc_parallel_for runs over the thread pool; a
// vectorized loop's back edge carries llvm.loop.vectorize metadata.

var (
	f32    = types.Float
	i64    = types.I64
	f32p   = types.NewPointer(types.Float)
	f32pp  = types.NewPointer(types.NewPointer(types.Float))
	i8p    = types.NewPointer(types.I8)
	bodyFn = types.NewPointer(types.NewFunc(types.Void, i8p, types.I64, types.I64))
)

type module struct {
	m           *ir.Module
	parallelFor *ir.Func
	gemm        *ir.Func
	libm        map[string]*ir.Func
	mdID        int64
}

func newModule() *module {
	mod := &module{m: ir.NewModule(), libm: map[string]*ir.Func{}}
	mod.parallelFor = mod.m.NewFunc("wdc_parallel_for", types.Void,
		ir.NewParam("fn", bodyFn), ir.NewParam("ctx", i8p), ir.NewParam("n", i64))
	mod.parallelFor.Visibility = enum.VisibilityHidden
	return mod
}

func (mod *module) libmFunc(name string, n int) *ir.Func {
	if f, ok := mod.libm[name]; ok {
		return f
	}
	params := make([]*ir.Param, n)
	for i := range params {
		params[i] = ir.NewParam("", f32)
	}
	f := mod.m.NewFunc(name, f32, params...)
	f.FuncAttrs = append(f.FuncAttrs, enum.FuncAttrNoUnwind)
	mod.libm[name] = f
	return f
}

// loopMD returns fresh llvm.loop metadata asking for vectorization by 8.
func (mod *module) loopMD() *metadata.Tuple {
	id := func() metadata.MetadataID { mod.mdID++; return metadata.MetadataID(mod.mdID - 1) }
	enable := &metadata.Tuple{MetadataID: id(), Fields: []metadata.Field{&metadata.String{Value: "llvm.loop.vectorize.enable"}, constant.True}}
	width := &metadata.Tuple{MetadataID: id(), Fields: []metadata.Field{&metadata.String{Value: "llvm.loop.vectorize.width"}, constant.NewInt(types.I32, 8)}}
	self := &metadata.Tuple{MetadataID: id(), Distinct: true}
	self.Fields = []metadata.Field{self, enable, width}
	mod.m.MetadataDefs = append(mod.m.MetadataDefs, enable, width, self)
	return self
}

// fn is the state of one LLVM function being emitted.
type fn struct {
	mod     *module
	f       *ir.Func
	entry   *ir.Block
	cur     *ir.Block
	bufs    map[*loop.Buffer]value.Value
	vars    map[string]value.Value
	scalars map[string]value.Value
	nblocks int
	name    string
	nouts   int
}

func (mod *module) newFn(f *ir.Func, name string) *fn {
	e := &fn{mod: mod, f: f, bufs: map[*loop.Buffer]value.Value{}, vars: map[string]value.Value{}, scalars: map[string]value.Value{}, name: name}
	e.entry = f.NewBlock("entry")
	e.cur = f.NewBlock("start")
	return e
}

func (e *fn) finish() {
	e.entry.NewBr(e.f.Blocks[1])
	e.cur.NewRet(nil)
}

func (e *fn) block(kind string) *ir.Block {
	e.nblocks++
	return e.f.NewBlock(fmt.Sprintf("%s%d", kind, e.nblocks))
}

func (e *fn) alloca(t types.Type, name string) value.Value {
	a := e.entry.NewAlloca(t)
	a.SetName(name)
	return a
}

// emitKernel renders a lowered Func as an internal function of its
// buffers (Params then Temps), outlining its top-level parallel loops.
func (mod *module) emitKernel(k *loop.Func, name string, gemm *loop.Gemm, pk gemmPacking) (*ir.Func, error) {
	all := append(append([]*loop.Buffer(nil), k.Params...), k.Temps...)
	params := make([]*ir.Param, len(all))
	for i, b := range all {
		params[i] = ir.NewParam(b.Name, f32p)
		params[i].Attrs = append(params[i].Attrs, enum.ParamAttrNoAlias)
	}
	f := mod.m.NewFunc(name, types.Void, params...)
	f.Linkage = enum.LinkageInternal
	f.FuncAttrs = append(f.FuncAttrs, enum.FuncAttrNoUnwind)
	e := mod.newFn(f, name)
	for i, b := range all {
		e.bufs[b] = e.typed(b, params[i])
	}
	if gemm != nil {
		e.callGemm(gemm, k.Params, name, pk)
	}
	npar := 0
	for _, s := range k.Body {
		if l, ok := s.(*loop.For); ok && l.Kind == loop.Parallel {
			if err := e.parallel(l, all, fmt.Sprintf("%s_par%d", name, npar)); err != nil {
				return nil, err
			}
			npar++
			continue
		}
		if err := e.stmt(s); err != nil {
			return nil, err
		}
	}
	e.finish()
	return f, nil
}

// parallel outlines loop l into name(ctx, lo, hi) and calls it through
// wdc_parallel_for with ctx pointing at the buffer pointers.
func (e *fn) parallel(l *loop.For, all []*loop.Buffer, name string) error {
	trip, ok := l.Trip()
	if !ok {
		return fmt.Errorf("parallel loop %s needs constant bounds", l.Var)
	}
	lo, _ := l.Lo.(loop.IntImm)
	mod := e.mod
	pctx, plo, phi := ir.NewParam("ctx", i8p), ir.NewParam("lo", i64), ir.NewParam("hi", i64)
	of := mod.m.NewFunc(name, types.Void, pctx, plo, phi)
	of.Linkage = enum.LinkageInternal
	of.FuncAttrs = append(of.FuncAttrs, enum.FuncAttrNoUnwind)
	oe := mod.newFn(of, name)
	arr := oe.cur.NewBitCast(pctx, f32pp)
	for i, b := range all {
		p := oe.cur.NewGetElementPtr(f32p, arr, constant.NewInt(i64, int64(i)))
		v := oe.cur.NewLoad(f32p, p)
		v.SetName(b.Name)
		oe.bufs[b] = oe.typed(b, v)
	}
	// for it in [lo, hi): var = Lo + it·Step
	it := oe.alloca(i64, "it")
	oe.vars[l.Var] = oe.alloca(i64, l.Var)
	oe.cur.NewStore(plo, it)
	head, bodyB, exit := oe.block("par.head"), oe.block("par.body"), oe.block("par.exit")
	oe.cur.NewBr(head)
	iv := head.NewLoad(i64, it)
	head.NewCondBr(head.NewICmp(enum.IPredSLT, iv, phi), bodyB, exit)
	oe.cur = bodyB
	v := bodyB.NewAdd(constant.NewInt(i64, lo.V), bodyB.NewMul(iv, constant.NewInt(i64, l.Step)))
	bodyB.NewStore(v, oe.vars[l.Var])
	if err := oe.stmts(l.Body); err != nil {
		return err
	}
	oe.cur.NewStore(oe.cur.NewAdd(oe.cur.NewLoad(i64, it), constant.NewInt(i64, 1)), it)
	oe.cur.NewBr(head)
	oe.cur = exit
	oe.finish()

	// In the caller: ctx = [buffers], wdc_parallel_for(fn, ctx, trip).
	ctx := e.alloca(types.NewArray(uint64(len(all)), f32p), "ctx_"+name)
	for i, b := range all {
		p := e.cur.NewGetElementPtr(types.NewArray(uint64(len(all)), f32p), ctx, constant.NewInt(i64, 0), constant.NewInt(i64, int64(i)))
		e.cur.NewStore(e.untyped(b), p)
	}
	e.cur.NewCall(mod.parallelFor, of, e.cur.NewBitCast(ctx, i8p), constant.NewInt(i64, trip))
	return nil
}

func (e *fn) stmts(ss []loop.Stmt) error {
	for _, s := range ss {
		if err := e.stmt(s); err != nil {
			return err
		}
	}
	return nil
}

func (e *fn) stmt(s loop.Stmt) error {
	switch s := s.(type) {
	case *loop.For:
		return e.forLoop(s)
	case *loop.Store:
		p, err := e.addr(s.Buf, s.Index)
		if err != nil {
			return err
		}
		if want := (&loop.Load{Buf: s.Buf}).Type(); s.Value.Type() != want {
			return fmt.Errorf("store of a %v value into %s, a %v buffer", s.Value.Type(), s.Buf.Name, s.Buf.Kind())
		}
		v, err := e.expr(s.Value)
		if err != nil {
			return err
		}
		if t := elemType(s.Buf.Kind()); t != f32 && t != i64 {
			v = e.cur.NewTrunc(v, t)
		}
		e.cur.NewStore(v, p)
	case *loop.Decl:
		a, ok := e.scalars[s.Name]
		if !ok {
			t := types.Type(f32)
			if s.Init.Type() == loop.Int {
				t = i64
			}
			a = e.alloca(t, s.Name)
			e.scalars[s.Name] = a
		}
		v, err := e.expr(s.Init)
		if err != nil {
			return err
		}
		e.cur.NewStore(v, a)
	case *loop.Assign:
		a, ok := e.scalars[s.Name]
		if !ok {
			return fmt.Errorf("assignment to undeclared local %s", s.Name)
		}
		v, err := e.expr(s.Value)
		if err != nil {
			return err
		}
		e.cur.NewStore(v, a)
	case *loop.If:
		c, err := e.expr(s.Cond)
		if err != nil {
			return err
		}
		th, el, done := e.block("then"), e.block("else"), e.block("endif")
		e.cur.NewCondBr(c, th, el)
		e.cur = th
		if err := e.stmts(s.Then); err != nil {
			return err
		}
		e.cur.NewBr(done)
		e.cur = el
		if err := e.stmts(s.Else); err != nil {
			return err
		}
		e.cur.NewBr(done)
		e.cur = done
	default:
		return fmt.Errorf("unknown statement %T", s)
	}
	return nil
}

func (e *fn) forLoop(l *loop.For) error {
	// A Parallel loop that is not at top level runs serially.
	a, ok := e.vars[l.Var]
	if !ok {
		a = e.alloca(i64, l.Var)
		e.vars[l.Var] = a
	}
	lo, err := e.expr(l.Lo)
	if err != nil {
		return err
	}
	e.cur.NewStore(lo, a)
	head, body, exit := e.block(l.Var+".head"), e.block(l.Var+".body"), e.block(l.Var+".exit")
	e.cur.NewBr(head)
	e.cur = head
	hi, err := e.expr(l.Hi)
	if err != nil {
		return err
	}
	iv := e.cur.NewLoad(i64, a)
	e.cur.NewCondBr(e.cur.NewICmp(enum.IPredSLT, iv, hi), body, exit)
	e.cur = body
	if err := e.stmts(l.Body); err != nil {
		return err
	}
	e.cur.NewStore(e.cur.NewAdd(e.cur.NewLoad(i64, a), constant.NewInt(i64, l.Step)), a)
	br := e.cur.NewBr(head)
	if l.Kind == loop.Vectorized {
		br.Metadata = append(br.Metadata, &metadata.Attachment{Name: "llvm.loop", Node: e.mod.loopMD()})
	}
	e.cur = exit
	return nil
}

// addr is the address of buf[idx], the index flattened row-major.
func (e *fn) addr(buf *loop.Buffer, idx []loop.Expr) (value.Value, error) {
	base, ok := e.bufs[buf]
	if !ok {
		return nil, fmt.Errorf("buffer %s is not bound", buf.Name)
	}
	if len(idx) != len(buf.Shape) {
		return nil, fmt.Errorf("%s has %d dimensions, indexed with %d", buf.Name, len(buf.Shape), len(idx))
	}
	st := buf.Strides()
	flat := loop.I(0)
	for i, x := range idx {
		flat = loop.AddE(flat, loop.MulE(x, loop.I(st[i])))
	}
	off, err := e.expr(flat)
	if err != nil {
		return nil, err
	}
	return e.cur.NewGetElementPtr(elemType(buf.Kind()), base, off), nil
}

// elemType is the LLVM type of an element of kind k.
func elemType(k wir.Kind) types.Type {
	switch k {
	case wir.I8, wir.U8:
		return types.I8
	case wir.I16, wir.U16:
		return types.I16
	case wir.I32:
		return types.I32
	case wir.I64:
		return i64
	}
	return f32
}

// typed views a buffer's float* as a pointer to its element type.
func (e *fn) typed(b *loop.Buffer, p value.Value) value.Value {
	t := elemType(b.Kind())
	if t == f32 {
		return p
	}
	return e.cur.NewBitCast(p, types.NewPointer(t))
}

// untyped is buffer b's pointer as a float*.
func (e *fn) untyped(b *loop.Buffer) value.Value {
	p := e.bufs[b]
	if elemType(b.Kind()) == f32 {
		return p
	}
	return e.cur.NewBitCast(p, f32p)
}

// extend widens an integer element loaded from a buffer of kind k to i64.
func (e *fn) extend(v value.Value, k wir.Kind) value.Value {
	switch k {
	case wir.I64:
		return v
	case wir.U8, wir.U16:
		return e.cur.NewZExt(v, i64)
	}
	return e.cur.NewSExt(v, i64)
}

// cast renders loop.Cast: v (of loop type from) converted to kind to.
func (e *fn) cast(v value.Value, from loop.Type, to wir.Kind) (value.Value, error) {
	c := e.cur
	switch {
	case from == loop.Int && to == wir.F32:
		// Through double, as the interpreter rounds int64 → float64 → float32.
		return c.NewFPTrunc(c.NewSIToFP(v, types.Double), f32), nil
	case from == loop.Int && loop.IsIntKind(to):
		t := elemType(to)
		if t == i64 {
			return v, nil
		}
		return e.extend(c.NewTrunc(v, t), to), nil
	case from == loop.F32 && loop.IsIntKind(to):
		// llvm.fpto[su]i.sat: truncate toward zero, saturate, NaN → 0.
		t := elemType(to).(*types.IntType)
		name := "llvm.fptosi.sat"
		if !loop.KindSigned(to) {
			name = "llvm.fptoui.sat"
		}
		name += fmt.Sprintf(".i%d.f32", t.BitSize)
		fnc, ok := e.mod.libm[name]
		if !ok {
			fnc = e.mod.m.NewFunc(name, t, ir.NewParam("", f32))
			e.mod.libm[name] = fnc
		}
		return e.extend(c.NewCall(fnc, v), to), nil
	case from == loop.F32 && to == wir.F32:
		return v, nil
	}
	return nil, fmt.Errorf("cannot cast a %v value to %v", from, to)
}

var ipred = map[loop.CmpOp]enum.IPred{loop.LT: enum.IPredSLT, loop.LE: enum.IPredSLE, loop.GT: enum.IPredSGT, loop.GE: enum.IPredSGE, loop.EQ: enum.IPredEQ, loop.NE: enum.IPredNE}
var fpred = map[loop.CmpOp]enum.FPred{loop.LT: enum.FPredOLT, loop.LE: enum.FPredOLE, loop.GT: enum.FPredOGT, loop.GE: enum.FPredOGE, loop.EQ: enum.FPredOEQ, loop.NE: enum.FPredONE}

func (e *fn) expr(x loop.Expr) (value.Value, error) {
	b := e.cur
	switch x := x.(type) {
	case loop.IntImm:
		return constant.NewInt(i64, x.V), nil
	case loop.FloatImm:
		return constant.NewFloat(f32, float64(x.V)), nil
	case loop.Var:
		a, ok := e.vars[x.Name]
		if !ok {
			return nil, fmt.Errorf("loop variable %s used outside its loop", x.Name)
		}
		return b.NewLoad(i64, a), nil
	case loop.Scalar:
		a, ok := e.scalars[x.Name]
		if !ok {
			return nil, fmt.Errorf("local %s read before it is declared", x.Name)
		}
		if x.IsInt {
			return b.NewLoad(i64, a), nil
		}
		return b.NewLoad(f32, a), nil
	case *loop.Load:
		p, err := e.addr(x.Buf, x.Index)
		if err != nil {
			return nil, err
		}
		k := x.Buf.Kind()
		if t := elemType(k); t != f32 {
			return e.extend(e.cur.NewLoad(t, p), k), nil
		}
		return e.cur.NewLoad(f32, p), nil
	case *loop.Cast:
		v, err := e.expr(x.X)
		if err != nil {
			return nil, err
		}
		return e.cast(v, x.X.Type(), x.To)
	case *loop.ToFloat:
		v, err := e.expr(x.X)
		if err != nil {
			return nil, err
		}
		return e.cur.NewSIToFP(v, f32), nil
	case *loop.Call:
		n, ok := loop.Libm(x.Fn)
		if !ok || n != len(x.Args) {
			return nil, fmt.Errorf("unknown function %s/%d", x.Fn, len(x.Args))
		}
		args := make([]value.Value, len(x.Args))
		for i, a := range x.Args {
			v, err := e.expr(a)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		switch x.Fn {
		case "tanhf":
			return e.fastTanh(args[0]), nil
		case "expf":
			return e.fastExp(args[0]), nil
		}
		return e.cur.NewCall(e.mod.libmFunc(x.Fn, n), args...), nil
	case *loop.Select:
		c, err := e.expr(x.Cond)
		if err != nil {
			return nil, err
		}
		a, err := e.expr(x.A)
		if err != nil {
			return nil, err
		}
		bb, err := e.expr(x.B)
		if err != nil {
			return nil, err
		}
		return e.cur.NewSelect(c, a, bb), nil
	case *loop.Compare:
		a, err := e.expr(x.A)
		if err != nil {
			return nil, err
		}
		bb, err := e.expr(x.B)
		if err != nil {
			return nil, err
		}
		if x.A.Type() == loop.Int {
			return e.cur.NewICmp(ipred[x.Op], a, bb), nil
		}
		return e.cur.NewFCmp(fpred[x.Op], a, bb), nil
	case *loop.Binary:
		a, err := e.expr(x.A)
		if err != nil {
			return nil, err
		}
		bb, err := e.expr(x.B)
		if err != nil {
			return nil, err
		}
		c := e.cur
		switch x.Type() {
		case loop.Bool:
			if x.Op == loop.And {
				return c.NewAnd(a, bb), nil
			}
			return c.NewOr(a, bb), nil
		case loop.Int:
			switch x.Op {
			case loop.Add:
				return c.NewAdd(a, bb), nil
			case loop.Sub:
				return c.NewSub(a, bb), nil
			case loop.Mul:
				return c.NewMul(a, bb), nil
			case loop.Div:
				return c.NewSDiv(a, bb), nil
			case loop.Mod:
				return c.NewSRem(a, bb), nil
			case loop.Min:
				return c.NewSelect(c.NewICmp(enum.IPredSLT, bb, a), bb, a), nil
			case loop.Max:
				return c.NewSelect(c.NewICmp(enum.IPredSLT, a, bb), bb, a), nil
			}
		case loop.F32:
			switch x.Op {
			case loop.Add:
				return c.NewFAdd(a, bb), nil
			case loop.Sub:
				return c.NewFSub(a, bb), nil
			case loop.Mul:
				return c.NewFMul(a, bb), nil
			case loop.Div:
				return c.NewFDiv(a, bb), nil
			case loop.Min:
				return c.NewSelect(c.NewFCmp(enum.FPredOLT, bb, a), bb, a), nil
			case loop.Max:
				return c.NewSelect(c.NewFCmp(enum.FPredOLT, a, bb), bb, a), nil
			}
		}
		return nil, fmt.Errorf("bad operator %v on %v", x.Op, x.Type())
	}
	return nil, fmt.Errorf("unknown expression %T", x)
}

// sortedKeys is used to keep any map iteration deterministic.
func sortedKeys(m map[string]int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
