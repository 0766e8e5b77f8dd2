package ir

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// AttrKind is the type of an attribute value.
type AttrKind uint8

const (
	AttrInt AttrKind = iota + 1
	AttrFloat
	AttrInts
	AttrFloats
	AttrString
)

func (k AttrKind) String() string {
	return [...]string{"?", "int", "float", "ints", "floats", "string"}[k]
}

// Attr is one typed attribute value.
type Attr struct {
	Kind   AttrKind
	Int    int64
	Float  float64
	Ints   []int64
	Floats []float64
	Str    string
}

func IntAttr(v int64) Attr         { return Attr{Kind: AttrInt, Int: v} }
func FloatAttr(v float64) Attr     { return Attr{Kind: AttrFloat, Float: v} }
func IntsAttr(v ...int64) Attr     { return Attr{Kind: AttrInts, Ints: v} }
func FloatsAttr(v ...float64) Attr { return Attr{Kind: AttrFloats, Floats: v} }
func StringAttr(v string) Attr     { return Attr{Kind: AttrString, Str: v} }

func (a Attr) Equal(b Attr) bool {
	if a.Kind != b.Kind || a.Int != b.Int || a.Str != b.Str || len(a.Ints) != len(b.Ints) || len(a.Floats) != len(b.Floats) {
		return false
	}
	if math.Float64bits(a.Float) != math.Float64bits(b.Float) {
		return false
	}
	for i := range a.Ints {
		if a.Ints[i] != b.Ints[i] {
			return false
		}
	}
	for i := range a.Floats {
		if math.Float64bits(a.Floats[i]) != math.Float64bits(b.Floats[i]) {
			return false
		}
	}
	return true
}

// String prints the attribute in the IR's textual form.
func (a Attr) String() string {
	switch a.Kind {
	case AttrInt:
		return strconv.FormatInt(a.Int, 10)
	case AttrFloat:
		return formatFloat(a.Float)
	case AttrInts:
		s := make([]string, len(a.Ints))
		for i, v := range a.Ints {
			s[i] = strconv.FormatInt(v, 10)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case AttrFloats:
		s := make([]string, len(a.Floats))
		for i, v := range a.Floats {
			s[i] = formatFloat(v)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case AttrString:
		return strconv.Quote(a.Str)
	}
	return "?"
}

// formatFloat prints a float so it parses back to the same bits and is
// never mistaken for an integer.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// Attrs maps attribute names to values. Missing optional attributes take
// the default from the op's definition.
type Attrs map[string]Attr

// Names returns the attribute names in sorted order.
func (a Attrs) Names() []string {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// AttrSpec declares one attribute of an op.
type AttrSpec struct {
	Name     string
	Kind     AttrKind
	Default  *Attr // nil: required unless Optional
	Optional bool  // may be absent with no default (e.g. pads, filled from rank)
	Doc      string
}

func (d *OpDef) spec(name string) *AttrSpec {
	for i := range d.Attrs {
		if d.Attrs[i].Name == name {
			return &d.Attrs[i]
		}
	}
	return nil
}

func (d *OpDef) checkAttrs(n *Node) error {
	for _, name := range n.Attrs.Names() {
		s := d.spec(name)
		if s == nil {
			var known []string
			for _, a := range d.Attrs {
				known = append(known, a.Name)
			}
			if len(known) == 0 {
				return fmt.Errorf("%s: unknown attribute %q (%s takes no attributes)", n.Where(), name, d.Name)
			}
			return fmt.Errorf("%s: unknown attribute %q (%s takes %s)", n.Where(), name, d.Name, strings.Join(known, ", "))
		}
		a := n.Attrs[name]
		if a.Kind != s.Kind {
			// An integer literal is a fine float, and a single value a fine list.
			switch {
			case a.Kind == AttrInt && s.Kind == AttrFloat:
				n.Attrs[name] = FloatAttr(float64(a.Int))
			case a.Kind == AttrInt && s.Kind == AttrInts:
				n.Attrs[name] = IntsAttr(a.Int)
			case a.Kind == AttrInts && s.Kind == AttrFloats:
				f := make([]float64, len(a.Ints))
				for i, v := range a.Ints {
					f[i] = float64(v)
				}
				n.Attrs[name] = FloatsAttr(f...)
			default:
				return fmt.Errorf("%s: attribute %q must be %s, got %s", n.Where(), name, s.Kind, a.Kind)
			}
		}
	}
	for _, s := range d.Attrs {
		if _, ok := n.Attrs[s.Name]; !ok && s.Default == nil && !s.Optional {
			return fmt.Errorf("%s: missing required attribute %q", n.Where(), s.Name)
		}
	}
	return nil
}

func (n *Node) attr(name string) (Attr, bool) {
	if a, ok := n.Attrs[name]; ok {
		return a, true
	}
	if d, ok := Ops[n.Op]; ok {
		if s := d.spec(name); s != nil && s.Default != nil {
			return *s.Default, true
		}
	}
	return Attr{}, false
}

// Int returns an int attribute or its default.
func (n *Node) Int(name string) int {
	a, _ := n.attr(name)
	return int(a.Int)
}

// Float returns a float attribute or its default.
func (n *Node) Float(name string) float64 {
	a, _ := n.attr(name)
	return a.Float
}

// Str returns a string attribute or its default.
func (n *Node) Str(name string) string {
	a, _ := n.attr(name)
	return a.Str
}

// Ints returns an ints attribute, its default, or nil when absent.
func (n *Node) Ints(name string) []int {
	a, ok := n.attr(name)
	if !ok {
		return nil
	}
	out := make([]int, len(a.Ints))
	for i, v := range a.Ints {
		out[i] = int(v)
	}
	return out
}

// IntsOr returns an ints attribute, or fill repeated k times when absent.
func (n *Node) IntsOr(name string, k, fill int) []int {
	if v := n.Ints(name); v != nil {
		return v
	}
	out := make([]int, k)
	for i := range out {
		out[i] = fill
	}
	return out
}

// Has reports whether the attribute is set explicitly.
func (n *Node) Has(name string) bool {
	_, ok := n.Attrs[name]
	return ok
}
