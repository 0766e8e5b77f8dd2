package loop

import (
	"fmt"
	"strconv"
)

// Schedule transformations. Each rewrites a Func in place without
// changing what it computes (tests check this with Eval), and applies to
// every loop whose variable has the given name (lowerings reuse a name
// for sibling loops over the same dimension, e.g. the init, update and
// epilogue loops over a row, which are meant to be scheduled alike).
//
// Invariant of every lowering: the iterations of each top-level loop
// write disjoint parts of the output (or of a temp), so any top-level
// loop may run in parallel.

// Clone deep-copies the statements of f (buffers and expressions, which
// transformations never mutate, are shared; Temps is copied).
func (f *Func) Clone() *Func {
	c := *f
	c.Params = append([]*Buffer(nil), f.Params...)
	c.Temps = append([]*Buffer(nil), f.Temps...)
	c.Body = cloneStmts(f.Body)
	return &c
}

func cloneStmts(ss []Stmt) []Stmt {
	out := make([]Stmt, len(ss))
	for i, s := range ss {
		switch s := s.(type) {
		case *For:
			c := *s
			c.Body = cloneStmts(s.Body)
			out[i] = &c
		case *If:
			c := *s
			c.Then, c.Else = cloneStmts(s.Then), cloneStmts(s.Else)
			out[i] = &c
		case *Store:
			c := *s
			out[i] = &c
		case *Decl:
			c := *s
			out[i] = &c
		case *Assign:
			c := *s
			out[i] = &c
		}
	}
	return out
}

// walkLoops calls fn on every For (outermost first); fn may replace the
// loop by returning other statements (nil keeps it).
func walkLoops(ss []Stmt, fn func(l *For) ([]Stmt, error)) ([]Stmt, error) {
	var out []Stmt
	for _, s := range ss {
		switch s := s.(type) {
		case *For:
			rep, err := fn(s)
			if err != nil {
				return nil, err
			}
			if rep != nil {
				// Walk inside the replacement's innermost copies too.
				out = append(out, rep...)
				continue
			}
			body, err := walkLoops(s.Body, fn)
			if err != nil {
				return nil, err
			}
			s.Body = body
			out = append(out, s)
		case *If:
			th, err := walkLoops(s.Then, fn)
			if err != nil {
				return nil, err
			}
			el, err := walkLoops(s.Else, fn)
			if err != nil {
				return nil, err
			}
			s.Then, s.Else = th, el
			out = append(out, s)
		default:
			out = append(out, s)
		}
	}
	return out, nil
}

// forEachLoop applies fn to every loop named v and reports an error when
// there is none.
func forEachLoop(f *Func, v string, fn func(l *For) ([]Stmt, error)) error {
	found := false
	body, err := walkLoops(f.Body, func(l *For) ([]Stmt, error) {
		if l.Var != v {
			return nil, nil
		}
		found = true
		return fn(l)
	})
	if err != nil {
		return fmt.Errorf("%s: %v", f.Name, err)
	}
	if !found {
		return fmt.Errorf("%s: no loop over %q", f.Name, v)
	}
	f.Body = body
	return nil
}

func constBound(e Expr) (int64, bool) {
	c, ok := e.(IntImm)
	return c.V, ok
}

// Trip returns a loop's constant trip count.
func (l *For) Trip() (int64, bool) {
	lo, ok1 := constBound(l.Lo)
	hi, ok2 := constBound(l.Hi)
	if !ok1 || !ok2 || l.Step < 1 {
		return 0, false
	}
	if hi <= lo {
		return 0, true
	}
	return (hi - lo + l.Step - 1) / l.Step, true
}

// Split splits each loop over v into an outer loop v_o and an inner loop
// v_i of factor iterations, v = lo + v_o·factor + v_i; when factor does
// not divide the trip count the inner loop's bound is clamped.
func Split(f *Func, v string, factor int64) error {
	if factor < 1 {
		return fmt.Errorf("%s: split factor %d must be positive", f.Name, factor)
	}
	vo, vi := v+"_o", v+"_i"
	return forEachLoop(f, v, func(l *For) ([]Stmt, error) {
		if l.Step != 1 {
			return nil, fmt.Errorf("split of %s: step %d is not 1", v, l.Step)
		}
		span := SubE(l.Hi, l.Lo)
		outerN := DivE(AddE(span, I(factor-1)), I(factor))
		innerHi := I(factor)
		if n, ok := constBound(span); !ok || n%factor != 0 {
			innerHi = MinE(I(factor), SubE(span, MulE(V(vo), I(factor))))
		}
		body := SubstStmts(l.Body, v, AddE(l.Lo, AddE(MulE(V(vo), I(factor)), V(vi))))
		inner := &For{Var: vi, Lo: I(0), Hi: innerHi, Step: 1, Kind: l.Kind, Body: body}
		return []Stmt{&For{Var: vo, Lo: I(0), Hi: outerN, Step: 1, Body: []Stmt{inner}}}, nil
	})
}

// Tile splits two loops and moves both inner loops inside: for v0, v1
// becomes for v0_o, v1_o, v0_i, v1_i.
func Tile(f *Func, v0, v1 string, f0, f1 int64) error {
	if err := Split(f, v0, f0); err != nil {
		return err
	}
	if err := Split(f, v1, f1); err != nil {
		return err
	}
	return Reorder(f, v0+"_i", v1+"_o")
}

// Reorder interchanges each loop over outer with the loop over inner
// that is its only statement (a perfect nest); inner's bounds must not
// depend on outer.
func Reorder(f *Func, outer, inner string) error {
	return forEachLoop(f, outer, func(l *For) ([]Stmt, error) {
		if len(l.Body) != 1 {
			return nil, fmt.Errorf("reorder %s, %s: loop %s is not a perfect nest", outer, inner, outer)
		}
		in, ok := l.Body[0].(*For)
		if !ok || in.Var != inner {
			return nil, fmt.Errorf("reorder %s, %s: the loop inside %s is not over %s", outer, inner, outer, inner)
		}
		if uses(in.Lo, outer) || uses(in.Hi, outer) {
			return nil, fmt.Errorf("reorder %s, %s: the bounds of %s depend on %s", outer, inner, inner, outer)
		}
		l.Var, in.Var = in.Var, l.Var
		l.Lo, in.Lo = in.Lo, l.Lo
		l.Hi, in.Hi = in.Hi, l.Hi
		l.Step, in.Step = in.Step, l.Step
		l.Kind, in.Kind = in.Kind, l.Kind
		return []Stmt{l}, nil // do not visit the moved loop again
	})
}

// Fuse merges each loop over outer with the loop over inner that is its
// only statement into one loop over outer+inner of A·B iterations; both
// must run from 0 with step 1 and constant bounds.
func Fuse(f *Func, outer, inner string) error {
	name := outer + inner
	return forEachLoop(f, outer, func(l *For) ([]Stmt, error) {
		if len(l.Body) != 1 {
			return nil, fmt.Errorf("fuse %s, %s: loop %s is not a perfect nest", outer, inner, outer)
		}
		in, ok := l.Body[0].(*For)
		if !ok || in.Var != inner {
			return nil, fmt.Errorf("fuse %s, %s: the loop inside %s is not over %s", outer, inner, outer, inner)
		}
		a, ok1 := l.Trip()
		b, ok2 := in.Trip()
		if !ok1 || !ok2 || !isInt(l.Lo, 0) || !isInt(in.Lo, 0) || l.Step != 1 || in.Step != 1 {
			return nil, fmt.Errorf("fuse %s, %s: both loops need constant bounds from 0 with step 1", outer, inner)
		}
		body := SubstStmts(in.Body, outer, DivE(V(name), I(b)))
		body = SubstStmts(body, inner, ModE(V(name), I(b)))
		return []Stmt{&For{Var: name, Lo: I(0), Hi: I(a * b), Step: 1, Kind: l.Kind, Body: body}}, nil
	})
}

func setKind(f *Func, v string, k Kind, check func(l *For) error) error {
	return forEachLoop(f, v, func(l *For) ([]Stmt, error) {
		if check != nil {
			if err := check(l); err != nil {
				return nil, err
			}
		}
		l.Kind = k
		return nil, nil
	})
}

// Vectorize marks the loops over v for SIMD execution (8 × f32 lanes with
// AVX2). Backends turn the mark into vector code or a vectorizer hint;
// reductions in a vectorized loop may be reassociated.
func Vectorize(f *Func, v string) error { return setKind(f, v, Vectorized, nil) }

// Unroll marks the loops over v, which need a constant trip count of at
// most 64, to be unrolled completely (see ExpandUnrolled).
func Unroll(f *Func, v string) error {
	return setKind(f, v, Unrolled, func(l *For) error {
		if n, ok := l.Trip(); !ok || n > 64 {
			return fmt.Errorf("unroll %s: needs a constant trip count of at most 64", v)
		}
		return nil
	})
}

// Parallelize marks the top-level loop over v to run on the runtime's
// threads. Only top-level loops may be parallel (see the invariant above).
func Parallelize(f *Func, v string) error {
	found := false
	for _, s := range f.Body {
		if l, ok := s.(*For); ok && l.Var == v {
			l.Kind = Parallel
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%s: no top-level loop over %q to parallelize", f.Name, v)
	}
	return nil
}

// ExpandUnrolled replaces every Unrolled loop by copies of its body, one
// per iteration, with the loop variable replaced by its value.
func ExpandUnrolled(f *Func) error {
	var expand func(ss []Stmt) []Stmt
	expand = func(ss []Stmt) []Stmt {
		var out []Stmt
		for _, s := range ss {
			switch s := s.(type) {
			case *For:
				s.Body = expand(s.Body)
				if s.Kind == Unrolled {
					lo, _ := constBound(s.Lo)
					n, _ := s.Trip()
					for i := int64(0); i < n; i++ {
						out = append(out, SubstStmts(s.Body, s.Var, I(lo+i*s.Step))...)
					}
					continue
				}
				out = append(out, s)
			case *If:
				s.Then, s.Else = expand(s.Then), expand(s.Else)
				out = append(out, s)
			default:
				out = append(out, s)
			}
		}
		return out
	}
	f.Body = expand(f.Body)
	return nil
}

// Pack copies buffer b into a new temp whose dimensions are b's permuted
// by perm (packed[i0..] = b[...] with packed dimension j = b's dimension
// perm[j]), at the start of f, and makes every load of b read the packed
// copy: the layout change that makes e.g. a transposed GEMM operand
// contiguous along the innermost loop.
func Pack(f *Func, b *Buffer, perm []int) (*Buffer, error) {
	if len(perm) != len(b.Shape) {
		return nil, fmt.Errorf("%s: pack %s: perm %v for %d dimensions", f.Name, b.Name, perm, len(b.Shape))
	}
	seen := make([]bool, len(perm))
	shape := make([]int, len(perm))
	for j, p := range perm {
		if p < 0 || p >= len(perm) || seen[p] {
			return nil, fmt.Errorf("%s: pack %s: %v is not a permutation", f.Name, b.Name, perm)
		}
		seen[p] = true
		shape[j] = b.Shape[p]
	}
	name := b.Name + "_packed"
	packed := &Buffer{Name: name, Shape: shape, Role: Temp, Elem: b.Elem}
	f.Temps = append(f.Temps, packed)
	vs := make([]string, len(shape))
	for j := range vs {
		vs[j] = name + "_" + strconv.Itoa(j)
	}
	idx := Vars(vs)
	src := make([]Expr, len(perm))
	for j, p := range perm {
		src[p] = idx[j]
	}
	body := rewriteLoads(f.Body, func(ld *Load) Expr {
		if ld.Buf != b {
			return nil
		}
		ni := make([]Expr, len(perm))
		for j, p := range perm {
			ni[j] = ld.Index[p]
		}
		return &Load{Buf: packed, Index: ni}
	})
	f.Body = append(Nest(vs, shape, St(packed, Ld(b, src...), idx...)), body...)
	return packed, nil
}

// DefaultSchedule is the schedule used when the cost model has not chosen
// one: each top-level nest's two outer loops are fused when the outer one
// alone is too short to feed the threads, a top-level loop doing enough
// work runs in parallel, and innermost loops of at least 8 iterations are
// vectorized.
func DefaultSchedule(f *Func) error {
	for i, s := range f.Body {
		l, ok := s.(*For)
		if !ok {
			continue
		}
		if n, ok := l.Trip(); ok && n < 16 && len(l.Body) == 1 {
			if in, ok := l.Body[0].(*For); ok {
				if _, ok := in.Trip(); ok && isInt(in.Lo, 0) && isInt(l.Lo, 0) && in.Step == 1 && l.Step == 1 {
					tmp := &Func{Name: f.Name, Body: []Stmt{l}}
					if err := Fuse(tmp, l.Var, in.Var); err == nil {
						f.Body[i] = tmp.Body[0]
						l = tmp.Body[0].(*For)
					}
				}
			}
		}
		if n, ok := l.Trip(); ok && n >= 2 && work(l.Body)*n >= 1<<15 {
			l.Kind = Parallel
		}
	}
	body, _ := walkLoops(f.Body, func(l *For) ([]Stmt, error) {
		if n, ok := l.Trip(); ok && n >= 8 && innermost(l) && l.Kind == Serial {
			l.Kind = Vectorized
		}
		return nil, nil
	})
	f.Body = body
	return nil
}

func innermost(l *For) bool {
	var has func(ss []Stmt) bool
	has = func(ss []Stmt) bool {
		for _, s := range ss {
			switch s := s.(type) {
			case *For:
				return true
			case *If:
				if has(s.Then) || has(s.Else) {
					return true
				}
			}
		}
		return false
	}
	return !has(l.Body)
}

// work estimates the statements executed by ss (unknown trip counts
// count as 16).
func work(ss []Stmt) int64 {
	var w int64
	for _, s := range ss {
		switch s := s.(type) {
		case *For:
			n, ok := s.Trip()
			if !ok {
				n = 16
			}
			w += n * work(s.Body)
		case *If:
			w += 1 + max(work(s.Then), work(s.Else))
		default:
			w++
		}
	}
	return w
}

// Work estimates the number of statements f executes.
func (f *Func) Work() int64 { return work(f.Body) }
