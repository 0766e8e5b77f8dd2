package cuda

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"wdc/ir/loop"
)

// renderer turns loop IR into CUDA C (which is also plain C++: the same
// text is compiled by nvcc for the GPU, by clang-19 to PTX in the tests,
// and by g++ for the CPU emulation).
type renderer struct {
	idx string // C type of index arithmetic: "int" or "long long"
	// buf renames buffers (a kernel parameter or a local pointer).
	buf func(b *loop.Buffer) string
}

func (r *renderer) bufName(b *loop.Buffer) string {
	if r.buf != nil {
		return r.buf(b)
	}
	return b.Name
}

// floatLit prints a float32 constant that reads back to the same bits.
func floatLit(v float32) string {
	switch {
	case math.IsInf(float64(v), 1):
		return "WDC_INF"
	case math.IsInf(float64(v), -1):
		return "(-WDC_INF)"
	case v != v:
		return "WDC_NAN"
	}
	s := strconv.FormatFloat(float64(v), 'g', -1, 32)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	if strings.HasPrefix(s, "-") {
		return "(" + s + "f)"
	}
	return s + "f"
}

var cmpC = [...]string{"<", "<=", ">", ">=", "==", "!="}

func (r *renderer) expr(e loop.Expr) string {
	switch e := e.(type) {
	case loop.IntImm:
		if e.V < 0 {
			return "(" + strconv.FormatInt(e.V, 10) + ")"
		}
		return strconv.FormatInt(e.V, 10)
	case loop.FloatImm:
		return floatLit(e.V)
	case loop.Var:
		return e.Name
	case loop.Scalar:
		return e.Name
	case *loop.Binary:
		a, b := r.expr(e.A), r.expr(e.B)
		switch e.Op {
		case loop.Min:
			if e.A.Type() == loop.Int {
				return "wdc_imin(" + a + ", " + b + ")"
			}
			return "wdc_fmin(" + a + ", " + b + ")"
		case loop.Max:
			if e.A.Type() == loop.Int {
				return "wdc_imax(" + a + ", " + b + ")"
			}
			return "wdc_fmax(" + a + ", " + b + ")"
		}
		return "(" + a + " " + e.Op.String() + " " + b + ")"
	case *loop.Compare:
		return "(" + r.expr(e.A) + " " + cmpC[e.Op] + " " + r.expr(e.B) + ")"
	case *loop.Select:
		return "(" + r.expr(e.Cond) + " ? " + r.expr(e.A) + " : " + r.expr(e.B) + ")"
	case *loop.Load:
		return r.bufName(e.Buf) + "[" + r.offset(e.Buf, e.Index) + "]"
	case *loop.Call:
		parts := make([]string, len(e.Args))
		for i, a := range e.Args {
			parts[i] = r.expr(a)
		}
		return e.Fn + "(" + strings.Join(parts, ", ") + ")"
	case *loop.ToFloat:
		return "(float)(" + r.expr(e.X) + ")"
	}
	panic(fmt.Sprintf("cuda: unknown expression %T", e))
}

// offset linearizes a row-major index.
func (r *renderer) offset(b *loop.Buffer, idx []loop.Expr) string {
	st := b.Strides()
	var off loop.Expr = loop.I(0)
	for d, e := range idx {
		off = loop.AddE(off, loop.MulE(e, loop.I(st[d])))
	}
	s := r.expr(off)
	return strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
}

func (r *renderer) stmts(b *strings.Builder, ss []loop.Stmt, ind string) {
	for _, s := range ss {
		r.stmt(b, s, ind)
	}
}

func (r *renderer) stmt(b *strings.Builder, s loop.Stmt, ind string) {
	switch s := s.(type) {
	case *loop.For:
		if s.Kind == loop.Unrolled {
			b.WriteString(ind + "#pragma unroll\n")
		} else if trip, ok := s.Trip(); ok && trip >= 16 && !hasLoop(s.Body) {
			// A reduction loop: unrolling lets the GPU issue several
			// independent loads before the first one returns.
			b.WriteString(ind + "#pragma unroll 4\n")
		}
		step := "++" + s.Var
		if s.Step != 1 {
			step = fmt.Sprintf("%s += %d", s.Var, s.Step)
		}
		fmt.Fprintf(b, "%sfor (%s %s = %s; %s < %s; %s) {\n", ind, r.idx, s.Var, r.expr(s.Lo), s.Var, r.expr(s.Hi), step)
		r.stmts(b, s.Body, ind+"  ")
		b.WriteString(ind + "}\n")
	case *loop.Store:
		fmt.Fprintf(b, "%s%s[%s] = %s;\n", ind, r.bufName(s.Buf), r.offset(s.Buf, s.Index), r.expr(s.Value))
	case *loop.Decl:
		fmt.Fprintf(b, "%sfloat %s = %s;\n", ind, s.Name, r.expr(s.Init))
	case *loop.Assign:
		fmt.Fprintf(b, "%s%s = %s;\n", ind, s.Name, r.expr(s.Value))
	case *loop.If:
		fmt.Fprintf(b, "%sif (%s) {\n", ind, r.expr(s.Cond))
		r.stmts(b, s.Then, ind+"  ")
		if len(s.Else) > 0 {
			b.WriteString(ind + "} else {\n")
			r.stmts(b, s.Else, ind+"  ")
		}
		b.WriteString(ind + "}\n")
	default:
		panic(fmt.Sprintf("cuda: unknown statement %T", s))
	}
}

// stage is one top-level statement of a Func mapped to threads: the
// outer loops Vars (a perfect nest whose iterations are independent) are
// collapsed into one flat index spread over the threads; Body runs per
// iteration.
type stage struct {
	Vars  []string
	Lo    []int64
	Dims  []int64
	Body  []loop.Stmt
	Total int64
}

// stages splits f's body into its top-level statements and finds each
// one's parallel loops. The loop IR's invariant: the iterations of every
// top-level loop write disjoint data; nested loops are collapsed while
// they form a perfect nest with constant bounds and every store below
// indexes with the loop's variable.
func stages(f *loop.Func) []stage {
	var out []stage
	for _, s := range f.Body {
		st := stage{Total: 1}
		cur := s
		for {
			l, ok := cur.(*loop.For)
			if !ok || l.Step != 1 {
				break
			}
			lo, ok1 := l.Lo.(loop.IntImm)
			hi, ok2 := l.Hi.(loop.IntImm)
			if !ok1 || !ok2 {
				break
			}
			if len(st.Vars) > 0 && !storesUse(l.Body, l.Var) {
				break
			}
			n := hi.V - lo.V
			if n < 0 {
				n = 0
			}
			st.Vars = append(st.Vars, l.Var)
			st.Lo = append(st.Lo, lo.V)
			st.Dims = append(st.Dims, n)
			st.Total *= n
			if len(l.Body) == 1 {
				if _, isFor := l.Body[0].(*loop.For); isFor {
					cur = l.Body[0]
					continue
				}
			}
			cur = nil
			st.Body = l.Body
			break
		}
		if cur != nil { // not a loop (or not collapsible): one thread
			st.Body = []loop.Stmt{cur}
		}
		out = append(out, st)
	}
	return out
}

// storesUse reports whether every store in ss indexes with variable v
// (and there is at least one store).
func storesUse(ss []loop.Stmt, v string) bool {
	all, any := true, false
	var walk func(ss []loop.Stmt)
	walk = func(ss []loop.Stmt) {
		for _, s := range ss {
			switch s := s.(type) {
			case *loop.For:
				walk(s.Body)
			case *loop.If:
				walk(s.Then)
				walk(s.Else)
			case *loop.Store:
				any = true
				u := false
				for _, e := range s.Index {
					u = u || exprUses(e, v)
				}
				all = all && u
			}
		}
	}
	walk(ss)
	return all && any
}

func exprUses(e loop.Expr, v string) bool {
	switch e := e.(type) {
	case loop.Var:
		return e.Name == v
	case *loop.Binary:
		return exprUses(e.A, v) || exprUses(e.B, v)
	case *loop.Compare:
		return exprUses(e.A, v) || exprUses(e.B, v)
	case *loop.Select:
		return exprUses(e.Cond, v) || exprUses(e.A, v) || exprUses(e.B, v)
	case *loop.Load:
		for _, x := range e.Index {
			if exprUses(x, v) {
				return true
			}
		}
	case *loop.Call:
		for _, x := range e.Args {
			if exprUses(x, v) {
				return true
			}
		}
	case *loop.ToFloat:
		return exprUses(e.X, v)
	}
	return false
}

// stageBody renders the body of a stage for one flat iteration index
// held in variable t: the collapsed loop variables are recovered with /
// and %, then the rest of the nest runs serially.
func (r *renderer) stageBody(b *strings.Builder, st stage, t, ind string) {
	decl := make([]string, len(st.Vars))
	inner := int64(1)
	for d := len(st.Vars) - 1; d >= 0; d-- {
		var e string
		switch {
		case d == 0 && inner == 1:
			e = t
		case d == 0:
			e = fmt.Sprintf("%s / %d", t, inner)
		case inner == 1:
			e = fmt.Sprintf("%s %% %d", t, st.Dims[d])
		default:
			e = fmt.Sprintf("%s / %d %% %d", t, inner, st.Dims[d])
		}
		if st.Lo[d] != 0 {
			e = fmt.Sprintf("%d + %s", st.Lo[d], e)
		}
		decl[d] = fmt.Sprintf("%sconst %s %s = %s;\n", ind, r.idx, st.Vars[d], e)
		inner *= st.Dims[d]
	}
	for _, d := range decl {
		b.WriteString(d)
	}
	r.stmts(b, st.Body, ind)
}

func hasLoop(ss []loop.Stmt) bool {
	for _, s := range ss {
		switch s := s.(type) {
		case *loop.For:
			return true
		case *loop.If:
			if hasLoop(s.Then) || hasLoop(s.Else) {
				return true
			}
		}
	}
	return false
}
