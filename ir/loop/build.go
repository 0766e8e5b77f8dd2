package loop

// Constructors that fold constants, so lowered index arithmetic stays
// small and readable (i·1 + 0 prints as i).

// I is an integer constant.
func I(v int64) Expr { return IntImm{V: v} }

// F is a float32 constant.
func F(v float32) Expr { return FloatImm{V: v} }

// V reads loop variable name.
func V(name string) Expr { return Var{Name: name} }

// S reads scalar local name.
func S(name string) Expr { return Scalar{Name: name} }

func isInt(e Expr, v int64) bool {
	c, ok := e.(IntImm)
	return ok && c.V == v
}

func isFloat(e Expr, v float32) bool {
	c, ok := e.(FloatImm)
	return ok && c.V == v
}

// Bin builds a binary expression, folding integer constants and the
// identities x+0, x−0, x·1, x·0 (integers only), x/1.
func Bin(op Op, a, b Expr) Expr {
	ca, aok := a.(IntImm)
	cb, bok := b.(IntImm)
	if aok && bok {
		x, y := ca.V, cb.V
		switch op {
		case Add:
			return I(x + y)
		case Sub:
			return I(x - y)
		case Mul:
			return I(x * y)
		case Div:
			if y != 0 {
				return I(x / y)
			}
		case Mod:
			if y != 0 {
				return I(x % y)
			}
		case Min:
			return I(min(x, y))
		case Max:
			return I(max(x, y))
		}
	}
	if a.Type() == Int {
		switch op {
		case Add:
			if isInt(a, 0) {
				return b
			}
			if isInt(b, 0) {
				return a
			}
		case Sub:
			if isInt(b, 0) {
				return a
			}
		case Mul:
			if isInt(a, 1) {
				return b
			}
			if isInt(b, 1) {
				return a
			}
			if isInt(a, 0) || isInt(b, 0) {
				return I(0)
			}
		case Div:
			if isInt(b, 1) {
				return a
			}
		case Mod:
			if isInt(b, 1) {
				return I(0)
			}
		}
	}
	return &Binary{Op: op, A: a, B: b}
}

func AddE(a, b Expr) Expr { return Bin(Add, a, b) }
func SubE(a, b Expr) Expr { return Bin(Sub, a, b) }
func MulE(a, b Expr) Expr { return Bin(Mul, a, b) }
func DivE(a, b Expr) Expr { return Bin(Div, a, b) }
func ModE(a, b Expr) Expr { return Bin(Mod, a, b) }
func MinE(a, b Expr) Expr { return Bin(Min, a, b) }
func MaxE(a, b Expr) Expr { return Bin(Max, a, b) }

// AndE is a && b, dropping constant-true operands (nil means true).
func AndE(a, b Expr) Expr {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	return &Binary{Op: And, A: a, B: b}
}

// Cmp builds a comparison.
func Cmp(op CmpOp, a, b Expr) Expr { return &Compare{Op: op, A: a, B: b} }

// Sel builds a select.
func Sel(c, a, b Expr) Expr { return &Select{Cond: c, A: a, B: b} }

// Ld loads buf at idx.
func Ld(buf *Buffer, idx ...Expr) Expr { return &Load{Buf: buf, Index: idx} }

// St stores v into buf at idx.
func St(buf *Buffer, v Expr, idx ...Expr) Stmt { return &Store{Buf: buf, Index: idx, Value: v} }

// CallF calls a libm function.
func CallF(fn string, args ...Expr) Expr { return &Call{Fn: fn, Args: args} }

// Loop is a serial loop over [0, n).
func Loop(v string, n int, body ...Stmt) *For {
	return &For{Var: v, Lo: I(0), Hi: I(int64(n)), Step: 1, Body: body}
}

// Nest wraps body in serial loops over [0, dims[i]) named vars[i],
// outermost first.
func Nest(vars []string, dims []int, body ...Stmt) []Stmt {
	for i := len(vars) - 1; i >= 0; i-- {
		body = []Stmt{Loop(vars[i], dims[i], body...)}
	}
	return body
}

// Vars returns the loop variables of a nest as expressions.
func Vars(names []string) []Expr {
	out := make([]Expr, len(names))
	for i, n := range names {
		out[i] = V(n)
	}
	return out
}
