package ir

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is where something was written: a source file position for the
// network language, or empty for imported models (whose nodes have names).
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) IsValid() bool { return p.Line > 0 }

func (p Pos) String() string {
	if !p.IsValid() {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Value is a tensor in the graph: a graph input, a constant (Const != nil)
// or the single result of a node (Producer != nil).
type Value struct {
	Name     string
	Type     Type
	Producer *Node
	Const    *Tensor
	Pos      Pos
}

func (v *Value) IsConst() bool { return v.Const != nil }

// Node is one operation. Every op has exactly one result, Out.
type Node struct {
	Op     string
	Inputs []*Value
	Attrs  Attrs
	Out    *Value
	Pos    Pos
}

// Name is the node's name, which is also its result's name.
func (n *Node) Name() string { return n.Out.Name }

// Where names the node for an error message: "file:line:col: node NAME (op)".
func (n *Node) Where() string {
	s := fmt.Sprintf("node %q (%s)", n.Name(), n.Op)
	if n.Pos.IsValid() {
		s = n.Pos.String() + ": " + s
	}
	return s
}

// Graph is a network: inputs, constants, nodes in topological order, outputs.
type Graph struct {
	Name    string
	Inputs  []*Value
	Consts  []*Value
	Nodes   []*Node
	Outputs []*Value
	names   map[string]*Value
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{Name: name, names: map[string]*Value{}}
}

// Lookup finds a value by name.
func (g *Graph) Lookup(name string) *Value {
	g.index()
	return g.names[name]
}

func (g *Graph) index() {
	if g.names != nil {
		return
	}
	g.names = map[string]*Value{}
	for _, v := range g.Values() {
		g.names[v.Name] = v
	}
}

// Values lists inputs, constants and node results in definition order.
func (g *Graph) Values() []*Value {
	vs := append(append([]*Value{}, g.Inputs...), g.Consts...)
	for _, n := range g.Nodes {
		vs = append(vs, n.Out)
	}
	return vs
}

func (g *Graph) claim(name string, pos Pos) error {
	g.index()
	if name == "" {
		return fmt.Errorf("%svalue has no name", posPrefix(pos))
	}
	if old, ok := g.names[name]; ok {
		at := ""
		if old.Pos.IsValid() {
			at = " (first defined at " + old.Pos.String() + ")"
		}
		return fmt.Errorf("%s%q is defined twice%s", posPrefix(pos), name, at)
	}
	return nil
}

func posPrefix(p Pos) string {
	if p.IsValid() || p.File != "" {
		return p.String() + ": "
	}
	return ""
}

// AddInput declares a graph input.
func (g *Graph) AddInput(name string, t Type, pos Pos) (*Value, error) {
	if err := g.claim(name, pos); err != nil {
		return nil, err
	}
	v := &Value{Name: name, Type: t, Pos: pos}
	g.Inputs = append(g.Inputs, v)
	g.names[name] = v
	return v, nil
}

// AddConst declares a constant (a weight) holding t.
func (g *Graph) AddConst(name string, t *Tensor, pos Pos) (*Value, error) {
	if err := g.claim(name, pos); err != nil {
		return nil, err
	}
	v := &Value{Name: name, Type: t.Type, Const: t, Pos: pos}
	g.Consts = append(g.Consts, v)
	g.names[name] = v
	return v, nil
}

// AddNode appends an operation, checks its attributes against the op's
// definition, infers its result type and returns the result.
func (g *Graph) AddNode(op, name string, inputs []*Value, attrs Attrs, pos Pos) (*Value, error) {
	if err := g.claim(name, pos); err != nil {
		return nil, err
	}
	if attrs == nil {
		attrs = Attrs{}
	}
	n := &Node{Op: op, Inputs: inputs, Attrs: attrs, Pos: pos}
	n.Out = &Value{Name: name, Producer: n, Pos: pos}
	t, err := InferNode(n)
	if err != nil {
		return nil, err
	}
	n.Out.Type = t
	g.Nodes = append(g.Nodes, n)
	g.names[name] = n.Out
	return n.Out, nil
}

// InferNode checks a node's inputs and attributes against its op's
// definition and returns the type of its result.
func InferNode(n *Node) (Type, error) {
	def, ok := Ops[n.Op]
	if !ok {
		return Type{}, fmt.Errorf("%s: unknown op %q%s", n.Where(), n.Op, suggest(n.Op))
	}
	if len(n.Inputs) < def.MinInputs || (def.MaxInputs >= 0 && len(n.Inputs) > def.MaxInputs) {
		want := fmt.Sprintf("%d", def.MinInputs)
		switch {
		case def.MaxInputs < 0:
			want = fmt.Sprintf("at least %d", def.MinInputs)
		case def.MaxInputs != def.MinInputs:
			want = fmt.Sprintf("%d to %d", def.MinInputs, def.MaxInputs)
		}
		return Type{}, fmt.Errorf("%s: takes %s inputs, got %d", n.Where(), want, len(n.Inputs))
	}
	for i, in := range n.Inputs {
		if in == nil {
			return Type{}, fmt.Errorf("%s: input %d is undefined", n.Where(), i)
		}
	}
	if err := def.checkAttrs(n); err != nil {
		return Type{}, err
	}
	in := make([]Type, len(n.Inputs))
	for i, v := range n.Inputs {
		in[i] = v.Type
	}
	t, err := def.Infer(n, in)
	if err != nil {
		return Type{}, fmt.Errorf("%s: %v", n.Where(), err)
	}
	if t.Shape.Elements() < 0 {
		return Type{}, fmt.Errorf("%s: result shape %v is too large", n.Where(), t.Shape)
	}
	return t, nil
}

func suggest(op string) string {
	var near []string
	for name := range Ops {
		if strings.Contains(name, op) || strings.Contains(op, name) {
			near = append(near, name)
		}
	}
	sort.Strings(near)
	if len(near) == 0 {
		return " (wdc ops lists the known ops)"
	}
	return " (did you mean " + strings.Join(near, ", ") + "?)"
}

// Rename changes a value's name, keeping names unique.
func (g *Graph) Rename(v *Value, name string) error {
	if v.Name == name {
		return nil
	}
	if err := g.claim(name, v.Pos); err != nil {
		return err
	}
	delete(g.names, v.Name)
	v.Name = name
	g.names[name] = v
	return nil
}

// Reindex rebuilds the name index after passes edit the graph directly.
func (g *Graph) Reindex() {
	g.names = nil
	g.index()
}

// Users returns, for each value, the nodes that read it.
func (g *Graph) Users() map[*Value][]*Node {
	u := map[*Value][]*Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			u[in] = append(u[in], n)
		}
	}
	return u
}

// Verify checks that the graph is well formed: names are unique (single
// assignment), every operand is defined before use (so the graph is
// acyclic and in topological order), every node's stored type agrees with
// its op's shape rule, and the outputs are defined values.
func (g *Graph) Verify() error {
	defined := map[*Value]bool{}
	seen := map[string]bool{}
	def := func(v *Value) error {
		if seen[v.Name] {
			return fmt.Errorf("%s%q is defined twice", posPrefix(v.Pos), v.Name)
		}
		seen[v.Name] = true
		defined[v] = true
		return nil
	}
	for _, v := range g.Inputs {
		if v.Producer != nil || v.Const != nil {
			return fmt.Errorf("input %q is also a node result or constant", v.Name)
		}
		if err := def(v); err != nil {
			return err
		}
	}
	for _, v := range g.Consts {
		if v.Const == nil {
			return fmt.Errorf("constant %q has no data", v.Name)
		}
		if !v.Const.Type.Equal(v.Type) {
			return fmt.Errorf("constant %q is declared %v but holds %v", v.Name, v.Type, v.Const.Type)
		}
		if v.Const.Len() != v.Type.Shape.Elements() {
			return fmt.Errorf("constant %q: shape %v needs %d values, has %d", v.Name, v.Type.Shape, v.Type.Shape.Elements(), v.Const.Len())
		}
		if err := def(v); err != nil {
			return err
		}
	}
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == nil {
				return fmt.Errorf("%s: input %d is undefined", n.Where(), i)
			}
			if !defined[in] {
				return fmt.Errorf("%s: input %q is used before it is defined (undefined name or a cycle)", n.Where(), in.Name)
			}
		}
		if n.Out == nil || n.Out.Producer != n {
			return fmt.Errorf("%s: result is not linked to its node", n.Where())
		}
		t, err := InferNode(n)
		if err != nil {
			return err
		}
		if !t.Equal(n.Out.Type) {
			return fmt.Errorf("%s: result is recorded as %v but the op gives %v", n.Where(), n.Out.Type, t)
		}
		if err := def(n.Out); err != nil {
			return err
		}
	}
	if len(g.Outputs) == 0 {
		return fmt.Errorf("graph %q has no outputs", g.Name)
	}
	for _, v := range g.Outputs {
		if !defined[v] {
			return fmt.Errorf("output %q is not defined in the graph", v.Name)
		}
	}
	return nil
}

// SortTopologically orders the nodes so every node follows the producers
// of its inputs, and reports a cycle by naming the nodes on it.
func (g *Graph) SortTopologically() error {
	state := map[*Node]int{} // 0 new, 1 on stack, 2 done
	var order []*Node
	var stack []*Node
	var visit func(n *Node) error
	visit = func(n *Node) error {
		switch state[n] {
		case 1:
			var names []string
			start := 0
			for i, s := range stack {
				if s == n {
					start = i
				}
			}
			for _, s := range stack[start:] {
				names = append(names, s.Name())
			}
			return fmt.Errorf("%s: the graph has a cycle: %s -> %s", n.Where(), strings.Join(names, " -> "), n.Name())
		case 2:
			return nil
		}
		state[n] = 1
		stack = append(stack, n)
		for _, in := range n.Inputs {
			if in != nil && in.Producer != nil {
				if err := visit(in.Producer); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = 2
		order = append(order, n)
		return nil
	}
	for _, n := range g.Nodes {
		if err := visit(n); err != nil {
			return err
		}
	}
	g.Nodes = order
	return nil
}
