package loop

// Substitution and rewriting of expressions; nothing is mutated, changed
// nodes are rebuilt.

// Subst replaces loop variable v by r in e.
func Subst(e Expr, v string, r Expr) Expr {
	return rewrite(e, func(x Expr) Expr {
		if x, ok := x.(Var); ok && x.Name == v {
			return r
		}
		return nil
	})
}

// rewrite rebuilds e bottom-up, replacing each node for which fn returns
// non-nil (fn sees the node with rewritten children).
func rewrite(e Expr, fn func(Expr) Expr) Expr {
	var out Expr
	switch x := e.(type) {
	case *Binary:
		a, b := rewrite(x.A, fn), rewrite(x.B, fn)
		if a != x.A || b != x.B {
			out = Bin(x.Op, a, b)
			if x.Op == And || x.Op == Or {
				out = &Binary{Op: x.Op, A: a, B: b}
			} else if a.Type() == F32 {
				out = &Binary{Op: x.Op, A: a, B: b} // no folding of float ops
			}
		} else {
			out = x
		}
	case *Compare:
		a, b := rewrite(x.A, fn), rewrite(x.B, fn)
		out = x
		if a != x.A || b != x.B {
			out = &Compare{Op: x.Op, A: a, B: b}
		}
	case *Select:
		c, a, b := rewrite(x.Cond, fn), rewrite(x.A, fn), rewrite(x.B, fn)
		out = x
		if c != x.Cond || a != x.A || b != x.B {
			out = &Select{Cond: c, A: a, B: b}
		}
	case *Load:
		idx, changed := rewriteList(x.Index, fn)
		out = x
		if changed {
			out = &Load{Buf: x.Buf, Index: idx}
		}
	case *Call:
		args, changed := rewriteList(x.Args, fn)
		out = x
		if changed {
			out = &Call{Fn: x.Fn, Args: args}
		}
	case *ToFloat:
		a := rewrite(x.X, fn)
		out = x
		if a != x.X {
			out = &ToFloat{X: a}
		}
	case *Cast:
		a := rewrite(x.X, fn)
		out = x
		if a != x.X {
			out = &Cast{X: a, To: x.To}
		}
	default:
		out = e
	}
	if r := fn(out); r != nil {
		return r
	}
	return out
}

func rewriteList(es []Expr, fn func(Expr) Expr) ([]Expr, bool) {
	out := make([]Expr, len(es))
	changed := false
	for i, e := range es {
		out[i] = rewrite(e, fn)
		changed = changed || out[i] != e
	}
	return out, changed
}

// rewriteStmts applies rewrite to every expression of ss, returning new
// statements.
func rewriteStmts(ss []Stmt, fn func(Expr) Expr) []Stmt {
	out := make([]Stmt, len(ss))
	for i, s := range ss {
		switch s := s.(type) {
		case *For:
			out[i] = &For{Var: s.Var, Lo: rewrite(s.Lo, fn), Hi: rewrite(s.Hi, fn), Step: s.Step, Kind: s.Kind, Body: rewriteStmts(s.Body, fn)}
		case *Store:
			idx, _ := rewriteList(s.Index, fn)
			out[i] = &Store{Buf: s.Buf, Index: idx, Value: rewrite(s.Value, fn)}
		case *Decl:
			out[i] = &Decl{Name: s.Name, Init: rewrite(s.Init, fn)}
		case *Assign:
			out[i] = &Assign{Name: s.Name, Value: rewrite(s.Value, fn)}
		case *If:
			out[i] = &If{Cond: rewrite(s.Cond, fn), Then: rewriteStmts(s.Then, fn), Else: rewriteStmts(s.Else, fn)}
		default:
			out[i] = s
		}
	}
	return out
}

// SubstStmts replaces loop variable v by r in every expression of ss.
func SubstStmts(ss []Stmt, v string, r Expr) []Stmt {
	return rewriteStmts(ss, func(x Expr) Expr {
		if x, ok := x.(Var); ok && x.Name == v {
			return r
		}
		return nil
	})
}

func rewriteLoads(ss []Stmt, fn func(*Load) Expr) []Stmt {
	return rewriteStmts(ss, func(x Expr) Expr {
		if ld, ok := x.(*Load); ok {
			return fn(ld)
		}
		return nil
	})
}

// uses reports whether e reads loop variable v.
func uses(e Expr, v string) bool {
	found := false
	rewrite(e, func(x Expr) Expr {
		if x, ok := x.(Var); ok && x.Name == v {
			found = true
		}
		return nil
	})
	return found
}
