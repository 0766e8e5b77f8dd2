package loop

import (
	"fmt"
	"math"

	"wdc/ir"
)

// Eval runs f on the given parameter data (one slice per Params entry, in
// order, each exactly Size() long); the output parameter is written in
// place. Loops of every kind run serially. Every access is bounds-checked
// per dimension: an index outside a buffer is reported as an error naming
// the buffer, not silently wrapped. Eval is the loop IR's golden model:
// float32 arithmetic, libm calls evaluated in float64 and rounded.
func Eval(f *Func, params [][]float32) (err error) {
	if len(params) != len(f.Params) {
		return fmt.Errorf("loop.Eval %s: %d buffers given for %d parameters", f.Name, len(params), len(f.Params))
	}
	for _, b := range append(append([]*Buffer(nil), f.Params...), f.Temps...) {
		if b.Kind() != ir.F32 {
			return fmt.Errorf("loop.Eval %s: buffer %s is %v; Eval runs f32 Funcs only (integer Funcs are checked compiled)", f.Name, b.Name, b.Kind())
		}
	}
	c := &evalCtx{vars: map[string]int{}, scalars: map[string]int{}, bufs: map[*Buffer][]float32{}}
	for i, p := range f.Params {
		if len(params[i]) != p.Size() {
			return fmt.Errorf("loop.Eval %s: buffer %s needs %d values, got %d", f.Name, p.Name, p.Size(), len(params[i]))
		}
		c.bufs[p] = params[i]
	}
	for _, t := range f.Temps {
		c.bufs[t] = make([]float32, t.Size())
	}
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(evalError); ok {
				err = fmt.Errorf("loop.Eval %s: %s", f.Name, string(e))
				return
			}
			panic(r)
		}
	}()
	run, cerr := c.stmts(f.Body)
	if cerr != nil {
		return fmt.Errorf("loop.Eval %s: %v", f.Name, cerr)
	}
	c.iv = make([]int64, len(c.vars))
	c.fv = make([]float32, len(c.scalars))
	run()
	return nil
}

type evalError string

type evalCtx struct {
	vars, scalars map[string]int
	bufs          map[*Buffer][]float32
	iv            []int64
	fv            []float32
}

func (c *evalCtx) slot(m map[string]int, name string) int {
	if i, ok := m[name]; ok {
		return i
	}
	m[name] = len(m)
	return m[name]
}

func (c *evalCtx) stmts(ss []Stmt) (func(), error) {
	fs := make([]func(), 0, len(ss))
	for _, s := range ss {
		f, err := c.stmt(s)
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return func() {
		for _, f := range fs {
			f()
		}
	}, nil
}

func (c *evalCtx) stmt(s Stmt) (func(), error) {
	switch s := s.(type) {
	case *For:
		lo, err := c.intExpr(s.Lo)
		if err != nil {
			return nil, err
		}
		hi, err := c.intExpr(s.Hi)
		if err != nil {
			return nil, err
		}
		if s.Step < 1 {
			return nil, fmt.Errorf("loop %s has step %d", s.Var, s.Step)
		}
		v := c.slot(c.vars, s.Var)
		body, err := c.stmts(s.Body)
		if err != nil {
			return nil, err
		}
		step := s.Step
		return func() {
			h := hi()
			for i := lo(); i < h; i += step {
				c.iv[v] = i
				body()
			}
		}, nil
	case *Store:
		idx, err := c.index(s.Buf, s.Index)
		if err != nil {
			return nil, err
		}
		val, err := c.floatExpr(s.Value)
		if err != nil {
			return nil, err
		}
		data, ok := c.bufs[s.Buf]
		if !ok {
			return nil, fmt.Errorf("store into %s, which is neither a parameter nor a temp", s.Buf.Name)
		}
		return func() { data[idx()] = val() }, nil
	case *Decl:
		v, err := c.floatExpr(s.Init)
		if err != nil {
			return nil, err
		}
		k := c.slot(c.scalars, s.Name)
		return func() { c.fv[k] = v() }, nil
	case *Assign:
		k, ok := c.scalars[s.Name]
		if !ok {
			return nil, fmt.Errorf("assignment to undeclared local %s", s.Name)
		}
		v, err := c.floatExpr(s.Value)
		if err != nil {
			return nil, err
		}
		return func() { c.fv[k] = v() }, nil
	case *If:
		cond, err := c.boolExpr(s.Cond)
		if err != nil {
			return nil, err
		}
		th, err := c.stmts(s.Then)
		if err != nil {
			return nil, err
		}
		el, err := c.stmts(s.Else)
		if err != nil {
			return nil, err
		}
		return func() {
			if cond() {
				th()
			} else {
				el()
			}
		}, nil
	}
	return nil, fmt.Errorf("unknown statement %T", s)
}

func (c *evalCtx) index(buf *Buffer, idx []Expr) (func() int, error) {
	if len(idx) != len(buf.Shape) {
		return nil, fmt.Errorf("%s has %d dimensions, indexed with %d", buf.Name, len(buf.Shape), len(idx))
	}
	fs := make([]func() int64, len(idx))
	for i, e := range idx {
		f, err := c.intExpr(e)
		if err != nil {
			return nil, err
		}
		fs[i] = f
	}
	st := buf.Strides()
	shape := buf.Shape
	return func() int {
		off := int64(0)
		for i, f := range fs {
			v := f()
			if v < 0 || v >= int64(shape[i]) {
				panic(evalError(fmt.Sprintf("index %d out of range [0, %d) in dimension %d of %s", v, shape[i], i, buf.Name)))
			}
			off += v * st[i]
		}
		return int(off)
	}, nil
}

func (c *evalCtx) intExpr(e Expr) (func() int64, error) {
	if e.Type() != Int {
		return nil, fmt.Errorf("%s is %v, want i64", exprString(e), e.Type())
	}
	switch e := e.(type) {
	case IntImm:
		v := e.V
		return func() int64 { return v }, nil
	case Var:
		k, ok := c.vars[e.Name]
		if !ok {
			return nil, fmt.Errorf("loop variable %s is used outside its loop", e.Name)
		}
		return func() int64 { return c.iv[k] }, nil
	case *Binary:
		a, err := c.intExpr(e.A)
		if err != nil {
			return nil, err
		}
		b, err := c.intExpr(e.B)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case Add:
			return func() int64 { return a() + b() }, nil
		case Sub:
			return func() int64 { return a() - b() }, nil
		case Mul:
			return func() int64 { return a() * b() }, nil
		case Div, Mod:
			op := e.Op
			return func() int64 {
				y := b()
				if y == 0 {
					panic(evalError("integer division by zero in " + exprString(e)))
				}
				if op == Div {
					return a() / y
				}
				return a() % y
			}, nil
		case Min:
			return func() int64 { return min(a(), b()) }, nil
		case Max:
			return func() int64 { return max(a(), b()) }, nil
		}
	case *Select:
		cond, err := c.boolExpr(e.Cond)
		if err != nil {
			return nil, err
		}
		a, err := c.intExpr(e.A)
		if err != nil {
			return nil, err
		}
		b, err := c.intExpr(e.B)
		if err != nil {
			return nil, err
		}
		// Both arms are evaluated, as in LLVM's select: an arm that
		// would read out of bounds is an error even when not chosen.
		return func() int64 {
			x, y := a(), b()
			if cond() {
				return x
			}
			return y
		}, nil
	}
	return nil, fmt.Errorf("bad integer expression %s", exprString(e))
}

func (c *evalCtx) boolExpr(e Expr) (func() bool, error) {
	switch e := e.(type) {
	case *Compare:
		if e.A.Type() != e.B.Type() {
			return nil, fmt.Errorf("comparison of %v with %v in %s", e.A.Type(), e.B.Type(), exprString(e))
		}
		var x, y func() float64
		if e.A.Type() == Int {
			a, err := c.intExpr(e.A)
			if err != nil {
				return nil, err
			}
			b, err := c.intExpr(e.B)
			if err != nil {
				return nil, err
			}
			switch e.Op { // exact integer comparisons
			case LT:
				return func() bool { return a() < b() }, nil
			case LE:
				return func() bool { return a() <= b() }, nil
			case GT:
				return func() bool { return a() > b() }, nil
			case GE:
				return func() bool { return a() >= b() }, nil
			case EQ:
				return func() bool { return a() == b() }, nil
			case NE:
				return func() bool { return a() != b() }, nil
			}
		}
		a, err := c.floatExpr(e.A)
		if err != nil {
			return nil, err
		}
		b, err := c.floatExpr(e.B)
		if err != nil {
			return nil, err
		}
		x = func() float64 { return float64(a()) }
		y = func() float64 { return float64(b()) }
		switch e.Op {
		case LT:
			return func() bool { return x() < y() }, nil
		case LE:
			return func() bool { return x() <= y() }, nil
		case GT:
			return func() bool { return x() > y() }, nil
		case GE:
			return func() bool { return x() >= y() }, nil
		case EQ:
			return func() bool { return x() == y() }, nil
		case NE: // ordered: false when either is NaN
			return func() bool { p, q := x(), y(); return p == p && q == q && p != q }, nil
		}
	case *Binary:
		if e.Op != And && e.Op != Or {
			break
		}
		a, err := c.boolExpr(e.A)
		if err != nil {
			return nil, err
		}
		b, err := c.boolExpr(e.B)
		if err != nil {
			return nil, err
		}
		if e.Op == And {
			return func() bool { return a() && b() }, nil
		}
		return func() bool { return a() || b() }, nil
	}
	return nil, fmt.Errorf("bad boolean expression %s", exprString(e))
}

func (c *evalCtx) floatExpr(e Expr) (func() float32, error) {
	if e.Type() != F32 {
		return nil, fmt.Errorf("%s is %v, want f32", exprString(e), e.Type())
	}
	switch e := e.(type) {
	case FloatImm:
		v := e.V
		return func() float32 { return v }, nil
	case Scalar:
		k, ok := c.scalars[e.Name]
		if !ok {
			return nil, fmt.Errorf("local %s is read before it is declared", e.Name)
		}
		return func() float32 { return c.fv[k] }, nil
	case *Load:
		idx, err := c.index(e.Buf, e.Index)
		if err != nil {
			return nil, err
		}
		data, ok := c.bufs[e.Buf]
		if !ok {
			return nil, fmt.Errorf("load from %s, which is neither a parameter nor a temp", e.Buf.Name)
		}
		return func() float32 { return data[idx()] }, nil
	case *ToFloat:
		x, err := c.intExpr(e.X)
		if err != nil {
			return nil, err
		}
		return func() float32 { return float32(x()) }, nil
	case *Select:
		cond, err := c.boolExpr(e.Cond)
		if err != nil {
			return nil, err
		}
		a, err := c.floatExpr(e.A)
		if err != nil {
			return nil, err
		}
		b, err := c.floatExpr(e.B)
		if err != nil {
			return nil, err
		}
		return func() float32 {
			x, y := a(), b()
			if cond() {
				return x
			}
			return y
		}, nil
	case *Call:
		args := make([]func() float32, len(e.Args))
		for i, a := range e.Args {
			f, err := c.floatExpr(a)
			if err != nil {
				return nil, err
			}
			args[i] = f
		}
		fn, n, ok := libm(e.Fn)
		if !ok || n != len(args) {
			return nil, fmt.Errorf("unknown function %s/%d", e.Fn, len(args))
		}
		if n == 1 {
			a := args[0]
			return func() float32 { return float32(fn(float64(a()), 0)) }, nil
		}
		a, b := args[0], args[1]
		return func() float32 { return float32(fn(float64(a()), float64(b()))) }, nil
	case *Binary:
		a, err := c.floatExpr(e.A)
		if err != nil {
			return nil, err
		}
		b, err := c.floatExpr(e.B)
		if err != nil {
			return nil, err
		}
		switch e.Op {
		case Add:
			return func() float32 { return a() + b() }, nil
		case Sub:
			return func() float32 { return a() - b() }, nil
		case Mul:
			return func() float32 { return a() * b() }, nil
		case Div:
			return func() float32 { return a() / b() }, nil
		case Min:
			return func() float32 {
				x, y := a(), b()
				if y < x {
					return y
				}
				return x
			}, nil
		case Max:
			return func() float32 {
				x, y := a(), b()
				if x < y {
					return y
				}
				return x
			}, nil
		}
	}
	return nil, fmt.Errorf("bad float expression %s", exprString(e))
}

// libm maps a function name to its float64 evaluation and arity.
func libm(name string) (func(x, y float64) float64, int, bool) {
	switch name {
	case "expf":
		return func(x, _ float64) float64 { return math.Exp(x) }, 1, true
	case "tanhf":
		return func(x, _ float64) float64 { return math.Tanh(x) }, 1, true
	case "sqrtf":
		return func(x, _ float64) float64 { return math.Sqrt(x) }, 1, true
	case "logf":
		return func(x, _ float64) float64 { return math.Log(x) }, 1, true
	case "cosf":
		return func(x, _ float64) float64 { return math.Cos(x) }, 1, true
	case "sinf":
		return func(x, _ float64) float64 { return math.Sin(x) }, 1, true
	case "powf":
		return math.Pow, 2, true
	}
	return nil, 0, false
}

// Libm reports the arity of a supported libm function, or false.
func Libm(name string) (int, bool) {
	_, n, ok := libm(name)
	return n, ok
}
