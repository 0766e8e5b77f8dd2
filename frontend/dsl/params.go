package dsl

import (
	"fmt"

	"wdc/ir"
)

// rawOp applies any IR op by its own name: positional arguments are the
// op's input tensors and keyword arguments its attributes, unchanged. It
// makes every op of ir.Ops usable even without a friendlier layer.
func (e *elab) rawOp(def *ir.OpDef, p ir.Pos, node string, pos []val, kw map[string]val, order []string, s *scope) (*ir.Value, error) {
	var inputs []*ir.Value
	for i, v := range pos {
		if v.kind != vTensor {
			return nil, errAt(p, "IR op %s: argument %d must be a tensor (its inputs are %v), got %s; give attributes by name", def.Name, i+1, def.Inputs, v.what())
		}
		inputs = append(inputs, v.t)
	}
	attrs := ir.Attrs{}
	for _, k := range order {
		a, err := toAttr(kw[k])
		if err != nil {
			return nil, errAt(kw[k].pos, "IR op %s: attribute %s: %v", def.Name, k, err)
		}
		attrs[k] = a
	}
	return e.g.AddNode(def.Name, e.nodeName(node, def.Name, s), inputs, attrs, p)
}

func toAttr(v val) (ir.Attr, error) {
	switch v.kind {
	case vInt:
		return ir.IntAttr(v.i), nil
	case vFloat:
		return ir.FloatAttr(v.f), nil
	case vBool:
		if v.b {
			return ir.IntAttr(1), nil
		}
		return ir.IntAttr(0), nil
	case vString:
		return ir.StringAttr(v.s), nil
	case vList:
		allInt := true
		for _, x := range v.list {
			if x.kind != vInt {
				allInt = false
			}
		}
		if allInt {
			is := make([]int64, len(v.list))
			for i, x := range v.list {
				is[i] = x.i
			}
			return ir.IntsAttr(is...), nil
		}
		fs := make([]float64, len(v.list))
		for i, x := range v.list {
			f, ok := x.num()
			if !ok {
				return ir.Attr{}, fmt.Errorf("a list attribute must hold numbers, got %s", v.String())
			}
			fs[i] = f
		}
		return ir.FloatsAttr(fs...), nil
	}
	return ir.Attr{}, fmt.Errorf("must be a number, string or list, got %s", v.what())
}

// initFuncs are the initialisers a param declaration may name.
var initFuncs = []string{"zeros", "ones", "uniform", "normal", "he"}

// param declares a named constant: param NAME: TYPE [= INIT].
func (e *elab) param(d *astParam, s *scope) error {
	p := e.pos(d.Pos)
	typ, err := e.typeOf(d.Type)
	if err != nil {
		return err
	}
	if err := e.define(s, d.Name, p); err != nil {
		return err
	}
	name := s.prefix + d.Name
	label := "param " + d.Name
	n := typ.Shape.Elements()
	var v *ir.Value
	switch call, ok := e.initCall(d.Init, s); {
	case d.Init == nil:
		init := initSpec{kind: initZeros}
		if typ.Rank() >= 2 && typ.Elem.IsFloat() {
			init = initSpec{kind: initHe, fanIn: n / max(typ.Shape[typ.Rank()-1], 1)}
		}
		v, err = e.constant(name, typ, nil, init, label, p)
	case ok:
		init, ierr := e.initSpec(call, typ, s)
		if ierr != nil {
			return ierr
		}
		v, err = e.constant(name, typ, nil, init, label, p)
	default:
		x, xerr := e.expr(d.Init, s, "")
		if xerr != nil {
			return xerr
		}
		switch x.kind {
		case vInt, vFloat:
			f, _ := x.num()
			v, err = e.constant(name, typ, nil, initSpec{kind: initFill, a: f, explicit: true}, label, p)
		case vString:
			src, serr := parseSource(x.s, name, x.pos)
			if serr != nil {
				return serr
			}
			v, err = e.constant(name, typ, &src, initSpec{}, label, p)
		case vList:
			v, err = e.listConst(name, typ, x, p)
		default:
			return errAt(x.pos, "%s: the initial value must be a number, a list, a weight file or one of %v, got %s", label, initFuncs, x.what())
		}
	}
	if err != nil {
		return err
	}
	s.names[d.Name] = &binding{v: val{kind: vTensor, t: v, pos: p}, pos: p}
	return nil
}

// initCall recognises INIT written as zeros, ones, uniform(a, b),
// normal(mean, std) or he(fan_in=N) when the name is not a value in scope.
func (e *elab) initCall(x *astExpr, s *scope) (*astCall, bool) {
	if x == nil || len(x.Stages) > 0 || len(x.Head.Ops) > 0 || len(x.Head.Head.Ops) > 0 || x.Head.Head.Head.Neg {
		return nil, false
	}
	c := x.Head.Head.Head.Term.Call
	if c == nil || !contains(initFuncs, c.Name) {
		return nil, false
	}
	if _, bound := s.lookup(c.Name); bound {
		return nil, false
	}
	return c, true
}

func (e *elab) initSpec(c *astCall, typ ir.Type, s *scope) (initSpec, error) {
	p := e.pos(c.Pos)
	var args []val
	kw := map[string]val{}
	for _, a := range c.Args {
		v, err := e.expr(a.Value, s, "")
		if err != nil {
			return initSpec{}, err
		}
		if a.Key != nil {
			kw[*a.Key] = v
			continue
		}
		args = append(args, v)
	}
	nums := func(want ...string) ([]float64, error) {
		out := make([]float64, len(want))
		if len(args)+len(kw) != len(want) {
			return nil, errAt(p, "%s takes %d arguments (%v), got %d", c.Name, len(want), want, len(args)+len(kw))
		}
		for i, w := range want {
			v, ok := kw[w]
			if i < len(args) {
				v, ok = args[i], true
			}
			f, isNum := v.num()
			if !ok || !isNum {
				return nil, errAt(p, "%s needs a number for %s", c.Name, w)
			}
			out[i] = f
		}
		return out, nil
	}
	switch c.Name {
	case "zeros", "ones":
		if _, err := nums(); err != nil {
			return initSpec{}, err
		}
		if c.Name == "ones" {
			return initSpec{kind: initOnes, explicit: true}, nil
		}
		return initSpec{kind: initZeros, explicit: true}, nil
	case "uniform":
		f, err := nums("lo", "hi")
		if err != nil {
			return initSpec{}, err
		}
		if f[0] > f[1] {
			return initSpec{}, errAt(p, "uniform(%g, %g): lo is above hi", f[0], f[1])
		}
		return initSpec{kind: initUniform, a: f[0], b: f[1], explicit: true}, nil
	case "normal":
		f, err := nums("mean", "std")
		if err != nil {
			return initSpec{}, err
		}
		if f[1] < 0 {
			return initSpec{}, errAt(p, "normal(%g, %g): std must not be negative", f[0], f[1])
		}
		return initSpec{kind: initNormal, a: f[0], b: f[1], explicit: true}, nil
	}
	// he, he(fan_in=N)
	fan := typ.Shape.Elements() / max(1, lastDim(typ.Shape))
	if len(args)+len(kw) > 0 {
		f, err := nums("fan_in")
		if err != nil {
			return initSpec{}, err
		}
		if f[0] < 1 || f[0] > 1<<40 {
			return initSpec{}, errAt(p, "he(fan_in=%g): fan_in must be positive", f[0])
		}
		fan = int(f[0])
	}
	return initSpec{kind: initHe, fanIn: fan, explicit: true}, nil
}

func lastDim(s ir.Shape) int {
	if len(s) == 0 {
		return 1
	}
	return s[len(s)-1]
}

// listConst makes a constant from literal values (a flat or nested list).
func (e *elab) listConst(name string, typ ir.Type, x val, p ir.Pos) (*ir.Value, error) {
	var flat []val
	var walk func(v val)
	walk = func(v val) {
		if v.kind == vList {
			for _, it := range v.list {
				walk(it)
			}
			return
		}
		flat = append(flat, v)
	}
	walk(x)
	n := typ.Shape.Elements()
	if len(flat) != n {
		return nil, errAt(x.pos, "param %s: %v needs %d values, the list has %d", name, typ, n, len(flat))
	}
	if int64(n) > maxParamElements-e.params {
		return nil, errAt(p, "param %s: too many weight elements", name)
	}
	t := ir.NewTensor(typ.Elem, typ.Shape)
	for i, v := range flat {
		f, ok := v.num()
		if !ok {
			return nil, errAt(x.pos, "param %s: value %d is %s, not a number", name, i, v.what())
		}
		if typ.Elem.IsFloat() {
			t.F[i] = float32(f)
			continue
		}
		lo, hi := typ.Elem.IntRange()
		if v.kind != vInt || v.i < lo || v.i > hi {
			return nil, errAt(x.pos, "param %s: value %d (%s) is not a %v", name, i, v.String(), typ.Elem)
		}
		t.I[i] = v.i
	}
	e.params += int64(n)
	return e.g.AddConst(name, t, p)
}
