package ir

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

var textLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `//[^\n]*`},
	{Name: "Whitespace", Pattern: `[ \t\r\n]+`},
	{Name: "Type", Pattern: `(?:f16|f32|f64|i8|u8|i16|u16|i32|i64|bool|fixed<[^>\n]*>)\[[0-9, ]*\]`},
	{Name: "Ref", Pattern: `%(?:"(?:\\.|[^"\\])*"|[A-Za-z0-9_.\-/:]+)`},
	{Name: "String", Pattern: `"(?:\\.|[^"\\])*"`},
	{Name: "Float", Pattern: `[-+]?(?:\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)|[-+]?(?:inf|nan)\b`},
	{Name: "Int", Pattern: `[-+]?\d+`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Punct", Pattern: `[{}()\[\],:=]`},
})

type tGraph struct {
	Name  string   `parser:"\"graph\" @(String | Ident) \"{\""`
	Items []*tItem `parser:"@@* \"}\""`
}

type tItem struct {
	Pos    lexer.Position
	Input  *tInput  `parser:"  \"input\" @@"`
	Const  *tConst  `parser:"| \"const\" @@"`
	Output []string `parser:"| \"output\" @Ref (\",\" @Ref)*"`
	Node   *tNode   `parser:"| @@"`
}

type tInput struct {
	Name string `parser:"@Ref \":\""`
	Type string `parser:"@Type"`
	Loc  *tLoc  `parser:"@@?"`
}

type tConst struct {
	Name string `parser:"@Ref \":\""`
	Type string `parser:"@Type \"=\""`
	Enc  string `parser:"@(\"base64\" | \"elided\")"`
	Data string `parser:"@String"`
	Loc  *tLoc  `parser:"@@?"`
}

type tNode struct {
	Name  string   `parser:"@Ref \"=\""`
	Op    string   `parser:"@Ident \"(\""`
	Args  []string `parser:"(@Ref (\",\" @Ref)*)? \")\""`
	Attrs []*tAttr `parser:"(\"{\" (@@ (\",\" @@)*)? \"}\")?"`
	Type  string   `parser:"\":\" @Type"`
	Loc   *tLoc    `parser:"@@?"`
}

type tAttr struct {
	Key string  `parser:"@Ident \"=\""`
	Val *tValue `parser:"@@"`
}

type tValue struct {
	Str    *string    `parser:"  @String"`
	Scalar *tScalar   `parser:"| @@"`
	List   []*tScalar `parser:"| \"[\" (@@ (\",\" @@)*)? \"]\""`
}

type tScalar struct {
	Float *float64 `parser:"  @Float"`
	Int   *int64   `parser:"| @Int"`
}

type tLoc struct {
	File string `parser:"\"loc\" \"(\" @String \":\""`
	Line int    `parser:"@Int \":\""`
	Col  int    `parser:"@Int \")\""`
}

var textParser = participle.MustBuild[tGraph](
	participle.Lexer(textLexer),
	participle.Elide("Comment", "Whitespace"),
	participle.Unquote("String"),
)

// Parse reads a graph in the textual form written by Print. filename is
// used in error messages.
func Parse(filename, text string) (*Graph, error) {
	text, blobs := extractBlobs(text)
	tg, err := textParser.ParseString(filename, text)
	if err != nil {
		return nil, err
	}
	g := NewGraph(tg.Name)
	var outputs []string
	var outPos lexer.Position
	for _, it := range tg.Items {
		at := func(err error) error { return fmt.Errorf("%s: %v", it.Pos, err) }
		switch {
		case it.Input != nil:
			t, err := ParseType(it.Input.Type)
			if err != nil {
				return nil, at(err)
			}
			name, err := refName(it.Input.Name)
			if err != nil {
				return nil, at(err)
			}
			if _, err := g.AddInput(name, t, it.Input.Loc.pos()); err != nil {
				return nil, at(err)
			}
		case it.Const != nil:
			c := it.Const
			name, err := refName(c.Name)
			if err != nil {
				return nil, at(err)
			}
			t, err := ParseType(c.Type)
			if err != nil {
				return nil, at(err)
			}
			if c.Enc == "elided" {
				return nil, at(fmt.Errorf("constant %q was printed without its data (%s); print the graph in full to parse it back", name, c.Data))
			}
			raw, err := base64.StdEncoding.DecodeString(blobs.get(c.Data))
			if err != nil {
				return nil, at(fmt.Errorf("constant %q: bad base64 data: %v", name, err))
			}
			tensor, err := decodeData(t.Elem, t.Shape, raw)
			if err != nil {
				return nil, at(fmt.Errorf("constant %q: %v", name, err))
			}
			if _, err := g.AddConst(name, tensor, c.Loc.pos()); err != nil {
				return nil, at(err)
			}
		case it.Output != nil:
			outputs = append(outputs, it.Output...)
			outPos = it.Pos
		case it.Node != nil:
			if err := parseNode(g, it.Node); err != nil {
				return nil, at(err)
			}
		}
	}
	for _, ref := range outputs {
		name, err := refName(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", outPos, err)
		}
		v := g.Lookup(name)
		if v == nil {
			return nil, fmt.Errorf("%s: output %s is not defined", outPos, ref)
		}
		g.Outputs = append(g.Outputs, v)
	}
	if err := g.Verify(); err != nil {
		return nil, fmt.Errorf("%s: %v", filename, err)
	}
	return g, nil
}

// blobs holds the constants' base64 data, taken out of the text before
// lexing: the lexer is slow on strings of megabytes.
type blobs []string

func (b blobs) get(placeholder string) string {
	if i, err := strconv.Atoi(strings.TrimPrefix(placeholder, "#")); err == nil && strings.HasPrefix(placeholder, "#") && i >= 0 && i < len(b) {
		return b[i]
	}
	return placeholder // not a placeholder: decode it as written
}

// extractBlobs replaces each `base64 "DATA"` with `base64 "#k"`. Base64
// has no quotes or backslashes, so the closing quote ends the data; a
// string that is not plain base64 is left for the parser to reject.
func extractBlobs(text string) (string, blobs) {
	const key = `base64 "`
	var b strings.Builder
	var out blobs
	for {
		i := strings.Index(text, key)
		if i < 0 {
			break
		}
		start := i + len(key)
		end := strings.IndexByte(text[start:], '"')
		if end < 0 || strings.ContainsAny(text[start:start+end], "\\\n") {
			b.WriteString(text[:start])
			text = text[start:]
			continue
		}
		b.WriteString(text[:start])
		fmt.Fprintf(&b, "#%d", len(out))
		out = append(out, text[start:start+end])
		text = text[start+end:]
	}
	b.WriteString(text)
	return b.String(), out
}

func parseNode(g *Graph, tn *tNode) error {
	name, err := refName(tn.Name)
	if err != nil {
		return err
	}
	inputs := make([]*Value, len(tn.Args))
	for i, a := range tn.Args {
		an, err := refName(a)
		if err != nil {
			return err
		}
		if inputs[i] = g.Lookup(an); inputs[i] == nil {
			return fmt.Errorf("%s = %s(...): operand %s is not defined above", tn.Name, tn.Op, a)
		}
	}
	attrs := Attrs{}
	for _, a := range tn.Attrs {
		if _, dup := attrs[a.Key]; dup {
			return fmt.Errorf("%s: attribute %q given twice", tn.Name, a.Key)
		}
		attrs[a.Key] = a.Val.attr()
	}
	want, err := ParseType(tn.Type)
	if err != nil {
		return err
	}
	v, err := g.AddNode(tn.Op, name, inputs, attrs, tn.Loc.pos())
	if err != nil {
		return err
	}
	if !v.Type.Equal(want) {
		return fmt.Errorf("%s is written as %v but %s gives %v", tn.Name, want, tn.Op, v.Type)
	}
	return nil
}

func (v *tValue) attr() Attr {
	switch {
	case v.Str != nil:
		return StringAttr(*v.Str)
	case v.Scalar != nil:
		if v.Scalar.Float != nil {
			return FloatAttr(*v.Scalar.Float)
		}
		return IntAttr(*v.Scalar.Int)
	}
	floats := false
	for _, s := range v.List {
		floats = floats || s.Float != nil
	}
	if floats {
		fs := make([]float64, len(v.List))
		for i, s := range v.List {
			if s.Float != nil {
				fs[i] = *s.Float
			} else {
				fs[i] = float64(*s.Int)
			}
		}
		return FloatsAttr(fs...)
	}
	is := make([]int64, len(v.List))
	for i, s := range v.List {
		is[i] = *s.Int
	}
	return IntsAttr(is...)
}

func (l *tLoc) pos() Pos {
	if l == nil {
		return Pos{}
	}
	return Pos{File: l.File, Line: l.Line, Col: l.Col}
}

func refName(ref string) (string, error) {
	name := strings.TrimPrefix(ref, "%")
	if strings.HasPrefix(name, `"`) {
		s, err := strconv.Unquote(name)
		if err != nil {
			return "", fmt.Errorf("bad quoted name %s", ref)
		}
		return s, nil
	}
	return name, nil
}

// Equal reports the first difference between two graphs (names, types,
// ops, attributes, operands, constant data, outputs), or nil. Source
// positions are not compared.
func Equal(a, b *Graph) error {
	if a.Name != b.Name {
		return fmt.Errorf("graph names differ: %q vs %q", a.Name, b.Name)
	}
	va, vb := a.Values(), b.Values()
	if len(a.Inputs) != len(b.Inputs) || len(a.Consts) != len(b.Consts) || len(a.Nodes) != len(b.Nodes) {
		return fmt.Errorf("sizes differ: %d/%d/%d vs %d/%d/%d inputs/consts/nodes",
			len(a.Inputs), len(a.Consts), len(a.Nodes), len(b.Inputs), len(b.Consts), len(b.Nodes))
	}
	for i := range va {
		x, y := va[i], vb[i]
		if x.Name != y.Name || !x.Type.Equal(y.Type) {
			return fmt.Errorf("value %d: %s %v vs %s %v", i, x.Name, x.Type, y.Name, y.Type)
		}
		if (x.Const == nil) != (y.Const == nil) || (x.Const != nil && !x.Const.Equal(y.Const)) {
			return fmt.Errorf("constant %s differs", x.Name)
		}
	}
	for i := range a.Nodes {
		x, y := a.Nodes[i], b.Nodes[i]
		if x.Op != y.Op || len(x.Inputs) != len(y.Inputs) || len(x.Attrs) != len(y.Attrs) {
			return fmt.Errorf("node %s differs: %s/%d inputs/%d attrs vs %s/%d/%d", x.Name(), x.Op, len(x.Inputs), len(x.Attrs), y.Op, len(y.Inputs), len(y.Attrs))
		}
		for j := range x.Inputs {
			if x.Inputs[j].Name != y.Inputs[j].Name {
				return fmt.Errorf("node %s operand %d: %s vs %s", x.Name(), j, x.Inputs[j].Name, y.Inputs[j].Name)
			}
		}
		for k, av := range x.Attrs {
			if bv, ok := y.Attrs[k]; !ok || !av.Equal(bv) {
				return fmt.Errorf("node %s attribute %s: %v vs %v", x.Name(), k, av, y.Attrs[k])
			}
		}
	}
	if len(a.Outputs) != len(b.Outputs) {
		return fmt.Errorf("output counts differ: %d vs %d", len(a.Outputs), len(b.Outputs))
	}
	for i := range a.Outputs {
		if a.Outputs[i].Name != b.Outputs[i].Name {
			return fmt.Errorf("output %d: %s vs %s", i, a.Outputs[i].Name, b.Outputs[i].Name)
		}
	}
	return nil
}
