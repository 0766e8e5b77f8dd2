package ir

import (
	"fmt"
	"math/bits"
	"sort"
)

// Cost is the Work-Depth figure of one op (see docs/cost-models.md §4):
// Work counts operations (a multiply-add is one), Depth the longest chain
// of dependent operations, and Bytes the least memory traffic (the
// operands read once and the result written once).
type Cost struct {
	Work  int64
	Depth int64
	Bytes int64
}

// OpDef defines an op once: its inputs, attributes, shape rule and
// Work-Depth formula. Interpreter kernels and lowerings live elsewhere,
// keyed by Name.
type OpDef struct {
	Name      string
	Doc       string
	MinInputs int
	MaxInputs int // -1: any number
	Inputs    []string
	Attrs     []AttrSpec
	// Infer checks operand types and attributes and returns the result type.
	Infer func(n *Node, in []Type) (Type, error)
	// Cost returns work and depth; Bytes is filled in by NodeCost.
	Cost func(n *Node, in []Type, out Type) Cost
}

// Ops is the registry of every op the IR knows.
var Ops = map[string]*OpDef{}

// Register adds an op definition; it panics on a duplicate, which is a
// programming error caught by any test.
func Register(d *OpDef) {
	if _, dup := Ops[d.Name]; dup {
		panic("ir: op " + d.Name + " registered twice")
	}
	if d.Infer == nil || d.Cost == nil {
		panic("ir: op " + d.Name + " lacks a shape rule or cost")
	}
	Ops[d.Name] = d
}

// OpNames returns the registered op names in sorted order.
func OpNames() []string {
	names := make([]string, 0, len(Ops))
	for k := range Ops {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// NodeCost evaluates the op's Work-Depth formula for a node.
func NodeCost(n *Node) Cost {
	d := Ops[n.Op]
	in := make([]Type, len(n.Inputs))
	var bytes int64
	for i, v := range n.Inputs {
		in[i] = v.Type
		bytes += v.Type.Bytes()
	}
	c := d.Cost(n, in, n.Out.Type)
	c.Bytes = bytes + n.Out.Type.Bytes()
	return c
}

// Log2Ceil is ⌈log2 n⌉, 0 for n <= 1: the depth of a reduction tree over n values.
func Log2Ceil(n int64) int64 {
	if n <= 1 {
		return 0
	}
	return int64(bits.Len64(uint64(n - 1)))
}

func attr(k AttrKind, v Attr) AttrSpec { return AttrSpec{Kind: k, Default: &v} }

func intA(name string, def int64, doc string) AttrSpec {
	s := attr(AttrInt, IntAttr(def))
	s.Name, s.Doc = name, doc
	return s
}

func floatA(name string, def float64, doc string) AttrSpec {
	s := attr(AttrFloat, FloatAttr(def))
	s.Name, s.Doc = name, doc
	return s
}

func intsOpt(name, doc string) AttrSpec {
	return AttrSpec{Name: name, Kind: AttrInts, Optional: true, Doc: doc}
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }
