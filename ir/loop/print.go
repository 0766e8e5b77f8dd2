package loop

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// String prints the function in the loop IR's textual form, e.g.
//
//	func relu(x: f32[2,3], y: f32[2,3]) {
//	  for i0 in [0, 2) {
//	    for i1 in [0, 3) {
//	      y[i0, i1] = max(x[i0, i1], 0.0)
//	    }
//	  }
//	}
func (f *Func) String() string {
	var b strings.Builder
	b.WriteString("func " + f.Name + "(")
	for i, p := range f.Params {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(bufDecl(p))
	}
	b.WriteString(")")
	if len(f.Temps) > 0 {
		b.WriteString(" temps(")
		for i, t := range f.Temps {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(bufDecl(t))
		}
		b.WriteString(")")
	}
	if f.Alias {
		b.WriteString(" alias")
	}
	b.WriteString(" {\n")
	writeStmts(&b, f.Body, 1)
	b.WriteString("}\n")
	return b.String()
}

func bufDecl(p *Buffer) string {
	dims := make([]string, len(p.Shape))
	for i, d := range p.Shape {
		dims[i] = strconv.Itoa(d)
	}
	return p.Name + ": " + p.Kind().String() + "[" + strings.Join(dims, ",") + "]"
}

// StmtsString prints statements, for tests and dumps.
func StmtsString(ss []Stmt) string {
	var b strings.Builder
	writeStmts(&b, ss, 0)
	return b.String()
}

func writeStmts(b *strings.Builder, ss []Stmt, depth int) {
	ind := strings.Repeat("  ", depth)
	for _, s := range ss {
		switch s := s.(type) {
		case *For:
			step := ""
			if s.Step != 1 {
				step = fmt.Sprintf(" step %d", s.Step)
			}
			fmt.Fprintf(b, "%s%s %s in [%s, %s)%s {\n", ind, s.Kind, s.Var, exprString(s.Lo), exprString(s.Hi), step)
			writeStmts(b, s.Body, depth+1)
			b.WriteString(ind + "}\n")
		case *Store:
			fmt.Fprintf(b, "%s%s = %s\n", ind, access(s.Buf, s.Index), exprString(s.Value))
		case *Decl:
			fmt.Fprintf(b, "%svar %s = %s\n", ind, s.Name, exprString(s.Init))
		case *Assign:
			fmt.Fprintf(b, "%s%s = %s\n", ind, s.Name, exprString(s.Value))
		case *If:
			fmt.Fprintf(b, "%sif %s {\n", ind, exprString(s.Cond))
			writeStmts(b, s.Then, depth+1)
			if len(s.Else) > 0 {
				b.WriteString(ind + "} else {\n")
				writeStmts(b, s.Else, depth+1)
			}
			b.WriteString(ind + "}\n")
		default:
			fmt.Fprintf(b, "%s<unknown statement %T>\n", ind, s)
		}
	}
}

func access(buf *Buffer, idx []Expr) string {
	parts := make([]string, len(idx))
	for i, e := range idx {
		parts[i] = exprString(e)
	}
	return buf.Name + "[" + strings.Join(parts, ", ") + "]"
}

// FormatFloat prints a float32 so that it reads back to the same bits.
func FormatFloat(v float32) string {
	switch {
	case math.IsInf(float64(v), 1):
		return "inf"
	case math.IsInf(float64(v), -1):
		return "-inf"
	case v != v:
		return "nan"
	}
	s := strconv.FormatFloat(float64(v), 'g', -1, 32)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// ExprString prints an expression.
func ExprString(e Expr) string { return exprString(e) }

func exprString(e Expr) string {
	switch e := e.(type) {
	case IntImm:
		return strconv.FormatInt(e.V, 10)
	case FloatImm:
		return FormatFloat(e.V)
	case Var:
		return e.Name
	case Scalar:
		return e.Name
	case *Binary:
		if e.Op == Min || e.Op == Max {
			return fmt.Sprintf("%s(%s, %s)", e.Op, exprString(e.A), exprString(e.B))
		}
		return "(" + exprString(e.A) + " " + e.Op.String() + " " + exprString(e.B) + ")"
	case *Compare:
		return "(" + exprString(e.A) + " " + e.Op.String() + " " + exprString(e.B) + ")"
	case *Select:
		return "select(" + exprString(e.Cond) + ", " + exprString(e.A) + ", " + exprString(e.B) + ")"
	case *Load:
		return access(e.Buf, e.Index)
	case *Call:
		parts := make([]string, len(e.Args))
		for i, a := range e.Args {
			parts[i] = exprString(a)
		}
		return e.Fn + "(" + strings.Join(parts, ", ") + ")"
	case *ToFloat:
		return "float(" + exprString(e.X) + ")"
	case *Cast:
		return e.To.String() + "(" + exprString(e.X) + ")"
	}
	return fmt.Sprintf("<unknown expression %T>", e)
}
