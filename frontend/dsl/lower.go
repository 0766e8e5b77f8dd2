package dsl

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"

	"wdc/ir"
)

// Limits that keep a hostile or mistaken file from exhausting memory.
var (
	// maxParamElements bounds the total number of weight elements.
	maxParamElements int64 = 1 << 28
	// maxNodes bounds the number of graph nodes after block expansion.
	maxNodes = 1 << 20
	// maxBlockDepth bounds nested block calls.
	maxBlockDepth = 64
	// maxSource bounds the size of a source file.
	maxSource = 8 << 20
)

// ParseFile reads and lowers a .wdc file. Relative weight-file paths
// resolve against the file's directory.
func ParseFile(path string) (*ir.Graph, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// Parse lowers .wdc source text; filename names it in errors and gives the
// directory that relative weight-file paths resolve against.
func Parse(filename string, src []byte) (g *ir.Graph, err error) {
	if len(src) > maxSource {
		return nil, fmt.Errorf("%s: file is larger than %d bytes", filename, maxSource)
	}
	defer func() {
		// A panic here is a bug in wdc, but the user still gets an error
		// naming the file rather than a crash.
		if r := recover(); r != nil {
			g, err = nil, fmt.Errorf("%s: internal error in the wdc network language: %v", filename, r)
		}
	}()
	if err := checkNesting(filename, src); err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(filename, src)
	if err != nil {
		return nil, syntaxError(filename, err)
	}
	e := &elab{
		file:    filename,
		dir:     filepath.Dir(filename),
		blocks:  map[string]*astBlock{},
		auto:    map[string]int{},
		npz:     map[string]map[string]*ir.Tensor{},
		outputs: map[string]ir.Pos{},
	}
	return e.run(f)
}

// maxNesting bounds brackets nested in brackets, so that the recursive
// parser's stack stays small whatever the input.
const maxNesting = 200

func checkNesting(filename string, src []byte) error {
	depth, line, col := 0, 1, 0
	inString, inComment := false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		col++
		switch {
		case c == '\n':
			line, col = line+1, 0
			inString, inComment = false, false
		case inComment:
		case inString:
			if c == '\\' {
				i++
				col++
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '#' || (c == '/' && i+1 < len(src) && src[i+1] == '/'):
			inComment = true
		case c == '(' || c == '[' || c == '{':
			if depth++; depth > maxNesting {
				return fmt.Errorf("%s:%d:%d: syntax error: brackets nested more than %d deep", filename, line, col, maxNesting)
			}
		case c == ')' || c == ']' || c == '}':
			depth = max(depth-1, 0)
		}
	}
	return nil
}

// friendly names for the grammar's node types in participle's messages.
var grammarNames = strings.NewReplacer(
	"AstStmt", "a statement",
	"AstInput", "an input declaration (input NAME: TYPE)",
	"AstType", "a type such as f32[1,3,224,224]",
	"AstParam", "a parameter declaration (param NAME: TYPE [= INIT])",
	"AstOutput", "an output (output NAME [= EXPR])",
	"AstBlockParam", "a block parameter",
	"AstBlock", "a block definition (block NAME(PARAMS) { ... })",
	"AstIf", "a condition",
	"AstCond", "a condition",
	"AstCmp", "a comparison",
	"AstLet", "an assignment (NAME = EXPR)",
	"AstExpr", "an expression",
	"AstStage", "a layer",
	"AstSumOp", "an operator",
	"AstSum", "an expression",
	"AstProdOp", "an operator",
	"AstProduct", "an expression",
	"AstUnary", "a value",
	"AstTerm", "a value (a name, number, string, list or layer call)",
	"AstList", "a list",
	"AstCall", "a name or call",
	"AstArg", "an argument",
	"<ident>", "a name",
	"<int>", "an integer",
	"<float>", "a number",
	"<string>", "a string",
	"<eof>", "end of file",
	"EOF", "end of file",
)

func syntaxError(filename string, err error) error {
	var pe participle.Error
	if errors.As(err, &pe) {
		p := pe.Position()
		msg := grammarNames.Replace(pe.Message())
		msg = strings.TrimPrefix(msg, "lexer: ")
		if rest, ok := strings.CutPrefix(msg, "invalid input text "); ok {
			if text, err := strconv.Unquote(rest); err == nil && text != "" {
				if text[0] == '"' {
					msg = "unterminated string (a string ends with \" on the same line)"
				} else {
					msg = fmt.Sprintf("unexpected character %q", []rune(text)[0])
				}
			}
		}
		return fmt.Errorf("%s:%d:%d: syntax error: %s", filename, p.Line, p.Column, msg)
	}
	return fmt.Errorf("%s: syntax error: %v", filename, err)
}

// valKind is the kind of a value in the language: a tensor of the graph,
// or a constant used for layer arguments and block parameters.
type valKind uint8

const (
	vNone valKind = iota
	vTensor
	vInt
	vFloat
	vBool
	vString
	vList
)

type val struct {
	kind valKind
	t    *ir.Value
	i    int64
	f    float64
	b    bool
	s    string
	list []val
	pos  ir.Pos
}

func (v val) num() (float64, bool) {
	switch v.kind {
	case vInt:
		return float64(v.i), true
	case vFloat:
		return v.f, true
	}
	return 0, false
}

func (v val) String() string {
	switch v.kind {
	case vTensor:
		return fmt.Sprintf("tensor %s: %v", v.t.Name, v.t.Type)
	case vInt:
		return strconv.FormatInt(v.i, 10)
	case vFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	case vBool:
		return strconv.FormatBool(v.b)
	case vString:
		return strconv.Quote(v.s)
	case vList:
		s := make([]string, len(v.list))
		for i, x := range v.list {
			s[i] = x.String()
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	return "nothing"
}

// what describes the kind of a value for an error message.
func (v val) what() string {
	switch v.kind {
	case vTensor:
		return "the tensor " + v.t.Name + " (" + v.t.Type.String() + ")"
	case vInt:
		return "the integer " + v.String()
	case vFloat:
		return "the number " + v.String()
	case vBool:
		return "the boolean " + v.String()
	case vString:
		return "the string " + v.String()
	case vList:
		return "the list " + v.String()
	}
	return "nothing"
}

type binding struct {
	v   val
	pos ir.Pos
}

// scope holds the names visible in the top level or in one expansion of a
// block; block bodies see only their parameters and their own names.
type scope struct {
	names  map[string]*binding
	prefix string // prefix of graph names made in this scope ("" or "inst.")
	block  *astBlock
	inst   string // instance name of the block
	ret    *val
}

func (s *scope) lookup(name string) (*binding, bool) {
	b, ok := s.names[name]
	return b, ok
}

type elab struct {
	file, dir string
	g         *ir.Graph
	seed      uint64
	seedPos   ir.Pos
	archive   string // path of the network-wide weights archive, if any
	archPos   ir.Pos
	npz       map[string]map[string]*ir.Tensor
	blocks    map[string]*astBlock
	stack     []string // blocks being expanded, outermost first
	auto      map[string]int
	params    int64
	outputs   map[string]ir.Pos
	netPos    ir.Pos
	calls     int
}

func (e *elab) pos(p lexer.Position) ir.Pos {
	return ir.Pos{File: e.file, Line: p.Line, Col: p.Column}
}

func errAt(p ir.Pos, format string, args ...any) error {
	return fmt.Errorf("%s: %s", p, fmt.Sprintf(format, args...))
}

var keywords = map[string]bool{
	"network": true, "seed": true, "weights": true, "input": true, "param": true, "output": true,
	"block": true, "if": true, "else": true, "return": true, "true": true, "false": true,
}

func (e *elab) run(f *astFile) (*ir.Graph, error) {
	name := strings.TrimSuffix(filepath.Base(e.file), filepath.Ext(e.file))
	// Pass 1: declarations that apply to the whole file.
	for _, st := range f.Stmts {
		p := e.pos(st.Pos)
		switch {
		case st.Network != nil:
			if e.netPos.IsValid() {
				return nil, errAt(p, "network is named twice (first at %s)", e.netPos)
			}
			name, e.netPos = *st.Network, p
		case st.Seed != nil:
			if e.seedPos.IsValid() {
				return nil, errAt(p, "seed is declared twice (first at %s)", e.seedPos)
			}
			s, err := strconv.ParseUint(*st.Seed, 10, 64)
			if err != nil {
				return nil, errAt(p, "seed must be an integer from 0 to %d, got %s", uint64(math.MaxUint64), *st.Seed)
			}
			e.seed, e.seedPos = s, p
		case st.Weights != nil:
			if e.archPos.IsValid() {
				return nil, errAt(p, "weights is declared twice (first at %s)", e.archPos)
			}
			e.archive, e.archPos = *st.Weights, p
			if _, err := e.loadArchive(e.archive, p); err != nil {
				return nil, err
			}
		case st.Block != nil:
			b := st.Block
			bp := e.pos(b.Pos)
			if old, ok := e.blocks[b.Name]; ok {
				return nil, errAt(bp, "block %s is defined twice (first at %s)", b.Name, e.pos(old.Pos))
			}
			if keywords[b.Name] {
				return nil, errAt(bp, "%s is a keyword and cannot name a block", b.Name)
			}
			if _, ok := layers[b.Name]; ok {
				return nil, errAt(bp, "block %s has the name of a built-in layer; choose another name", b.Name)
			}
			seen := map[string]bool{}
			for _, prm := range b.Params {
				if seen[prm.Name] {
					return nil, errAt(e.pos(prm.Pos), "block %s has two parameters named %s", b.Name, prm.Name)
				}
				if keywords[prm.Name] {
					return nil, errAt(e.pos(prm.Pos), "%s is a keyword and cannot name a parameter", prm.Name)
				}
				seen[prm.Name] = true
			}
			if err := e.checkBody(b.Body, b); err != nil {
				return nil, err
			}
			e.blocks[b.Name] = b
		}
	}
	e.g = ir.NewGraph(name)
	top := &scope{names: map[string]*binding{}}
	if _, err := e.exec(f.Stmts, top); err != nil {
		return nil, err
	}
	if len(e.g.Outputs) == 0 {
		return nil, fmt.Errorf("%s: the network has no outputs (declare one with: output NAME = EXPR)", e.file)
	}
	if err := e.g.Verify(); err != nil {
		return nil, fmt.Errorf("%s: %v", e.file, err)
	}
	return e.g, nil
}

// checkBody rejects statements that only make sense at the top level,
// whether or not the block is ever used.
func (e *elab) checkBody(stmts []*astStmt, b *astBlock) error {
	for _, st := range stmts {
		what := ""
		switch {
		case st.Network != nil:
			what = "network"
		case st.Seed != nil:
			what = "seed"
		case st.Weights != nil:
			what = "weights"
		case st.Block != nil:
			what = "block"
		case st.Input != nil:
			return errAt(e.pos(st.Pos), "input is only allowed at the top level; a block gets its tensors as parameters")
		case st.Output != nil:
			return errAt(e.pos(st.Pos), "output is only allowed at the top level; a block gives its result with return")
		case st.If != nil:
			for n := st.If; n != nil; n = n.ElseIf {
				if err := e.checkBody(n.Then, b); err != nil {
					return err
				}
				if err := e.checkBody(n.Else, b); err != nil {
					return err
				}
			}
		}
		if what != "" {
			return errAt(e.pos(st.Pos), "%s is only allowed at the top level of the file, not inside block %s", what, b.Name)
		}
	}
	return nil
}

// exec runs statements in a scope; it reports whether a return ran.
func (e *elab) exec(stmts []*astStmt, s *scope) (bool, error) {
	top := s.block == nil
	for _, st := range stmts {
		p := e.pos(st.Pos)
		switch {
		case st.Network != nil, st.Seed != nil, st.Weights != nil, st.Block != nil:
			if !top {
				what := map[bool]string{st.Network != nil: "network", st.Seed != nil: "seed", st.Weights != nil: "weights", st.Block != nil: "block"}[true]
				return false, errAt(p, "%s is only allowed at the top level of the file, not inside block %s", what, s.block.Name)
			}
		case st.Input != nil:
			if !top {
				return false, errAt(p, "input is only allowed at the top level; a block gets its tensors as parameters")
			}
			in := st.Input
			typ, err := e.typeOf(in.Type)
			if err != nil {
				return false, err
			}
			if err := e.define(s, in.Name, p); err != nil {
				return false, err
			}
			v, err := e.g.AddInput(in.Name, typ, p)
			if err != nil {
				return false, err
			}
			s.names[in.Name] = &binding{v: val{kind: vTensor, t: v, pos: p}, pos: p}
		case st.Param != nil:
			if err := e.param(st.Param, s); err != nil {
				return false, err
			}
		case st.Output != nil:
			if !top {
				return false, errAt(p, "output is only allowed at the top level; a block gives its result with return")
			}
			if err := e.output(st.Output, s); err != nil {
				return false, err
			}
		case st.If != nil:
			done, err := e.ifStmt(st.If, s)
			if err != nil || done {
				return done, err
			}
		case st.Return != nil:
			if top {
				return false, errAt(p, "return is only allowed inside a block; the network's results are declared with output")
			}
			v, err := e.expr(st.Return, s, s.inst)
			if err != nil {
				return false, err
			}
			s.ret = &v
			return true, nil
		case st.Let != nil:
			l := st.Let
			if err := e.define(s, l.Name, p); err != nil {
				return false, err
			}
			v, err := e.expr(l.Value, s, s.prefix+l.Name)
			if err != nil {
				return false, err
			}
			s.names[l.Name] = &binding{v: v, pos: p}
		}
	}
	return false, nil
}

// define checks that name may be bound in s.
func (e *elab) define(s *scope, name string, p ir.Pos) error {
	if keywords[name] {
		return errAt(p, "%s is a keyword and cannot name a value", name)
	}
	if old, ok := s.names[name]; ok {
		return errAt(p, "%s is already defined (at %s); every name is assigned once", name, old.pos)
	}
	return nil
}

func (e *elab) ifStmt(n *astIf, s *scope) (bool, error) {
	c, err := e.cond(n.Cond, s)
	if err != nil {
		return false, err
	}
	switch {
	case c:
		return e.exec(n.Then, s)
	case n.ElseIf != nil:
		return e.ifStmt(n.ElseIf, s)
	default:
		return e.exec(n.Else, s)
	}
}

func (e *elab) cond(c *astCond, s *scope) (bool, error) {
	p := e.pos(c.Pos)
	l, err := e.expr(c.Left, s, "")
	if err != nil {
		return false, err
	}
	if c.Cmp == nil {
		if l.kind != vBool {
			return false, errAt(p, "a condition must be true or false, got %s", l.what())
		}
		return l.b, nil
	}
	r, err := e.expr(c.Cmp.Right, s, "")
	if err != nil {
		return false, err
	}
	op := c.Cmp.Op
	if ln, ok := l.num(); ok {
		rn, ok := r.num()
		if !ok {
			return false, errAt(p, "cannot compare %s with %s", l.what(), r.what())
		}
		switch op {
		case "==":
			return ln == rn, nil
		case "!=":
			return ln != rn, nil
		case "<":
			return ln < rn, nil
		case "<=":
			return ln <= rn, nil
		case ">":
			return ln > rn, nil
		case ">=":
			return ln >= rn, nil
		}
	}
	if (op == "==" || op == "!=") && l.kind == r.kind && l.kind != vTensor && l.kind != vNone {
		eq := l.String() == r.String()
		return eq == (op == "=="), nil
	}
	return false, errAt(p, "cannot compare %s %s %s (== and != work on numbers, booleans, strings and lists; < and > on numbers)", l.what(), op, r.what())
}

func (e *elab) output(o *astOutput, s *scope) error {
	p := e.pos(o.Pos)
	if old, ok := e.outputs[o.Name]; ok {
		return errAt(p, "output %s is declared twice (first at %s)", o.Name, old)
	}
	var v val
	if o.Value != nil {
		if err := e.define(s, o.Name, p); err != nil {
			return err
		}
		var err error
		if v, err = e.expr(o.Value, s, o.Name); err != nil {
			return err
		}
		s.names[o.Name] = &binding{v: v, pos: p}
	} else {
		b, ok := s.lookup(o.Name)
		if !ok {
			return e.undefined(o.Name, p, s)
		}
		v = b.v
	}
	if v.kind != vTensor {
		return errAt(p, "output %s must be a tensor, got %s", o.Name, v.what())
	}
	for _, old := range e.g.Outputs {
		if old == v.t {
			return errAt(p, "output %s is the same tensor as output %s", o.Name, old.Name)
		}
	}
	// Give the output its declared name when the tensor has another one
	// (e.g. output y = x where x was computed earlier).
	if v.t.Name != o.Name && e.g.Lookup(o.Name) == nil && v.t.Producer != nil {
		if err := e.g.Rename(v.t, o.Name); err != nil {
			return errAt(p, "%v", err)
		}
	}
	e.outputs[o.Name] = p
	e.g.Outputs = append(e.g.Outputs, v.t)
	return nil
}

func (e *elab) typeOf(t *astType) (ir.Type, error) {
	p := e.pos(t.Pos)
	es := t.Elem
	if len(t.Fixed) > 0 {
		es += "<" + strings.Join(t.Fixed, ",") + ">"
	}
	el, err := ir.ParseElem(es)
	if err != nil {
		return ir.Type{}, errAt(p, "%v", err)
	}
	shape := ir.Shape{}
	for _, d := range t.Dims {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 || n > ir.MaxElements {
			return ir.Type{}, errAt(p, "dimension %s is out of range", d)
		}
		shape = append(shape, n)
	}
	if shape.Elements() < 0 {
		return ir.Type{}, errAt(p, "shape %v has too many elements", shape)
	}
	return ir.Type{Elem: el, Shape: shape}, nil
}

// expr evaluates an expression; want, when not empty, is the graph name
// for the node that makes the expression's result.
func (e *elab) expr(x *astExpr, s *scope, want string) (val, error) {
	headWant := want
	if len(x.Stages) > 0 {
		headWant = ""
	}
	cur, err := e.sum(x.Head, s, headWant)
	if err != nil {
		return val{}, err
	}
	for i, st := range x.Stages {
		name := ""
		if st.Name != nil {
			if keywords[*st.Name] {
				return val{}, errAt(e.pos(st.Pos), "%s is a keyword and cannot name a layer", *st.Name)
			}
			name = s.prefix + *st.Name
		} else if i == len(x.Stages)-1 {
			name = want
		}
		in := cur
		cur, err = e.call(st.Layer, e.pos(st.Pos), name, &in, st.Paren, st.Args, s)
		if err != nil {
			return val{}, err
		}
	}
	return cur, nil
}

func (e *elab) sum(x *astSum, s *scope, want string) (val, error) {
	w := want
	if len(x.Ops) > 0 {
		w = ""
	}
	l, err := e.product(x.Head, s, w)
	if err != nil {
		return val{}, err
	}
	for i, op := range x.Ops {
		r, err := e.product(op.Right, s, "")
		if err != nil {
			return val{}, err
		}
		name := ""
		if i == len(x.Ops)-1 {
			name = want
		}
		if l, err = e.arith(op.Op, l, r, e.pos(op.Pos), name, s); err != nil {
			return val{}, err
		}
	}
	return l, nil
}

func (e *elab) product(x *astProduct, s *scope, want string) (val, error) {
	w := want
	if len(x.Ops) > 0 {
		w = ""
	}
	l, err := e.unary(x.Head, s, w)
	if err != nil {
		return val{}, err
	}
	for i, op := range x.Ops {
		r, err := e.unary(op.Right, s, "")
		if err != nil {
			return val{}, err
		}
		name := ""
		if i == len(x.Ops)-1 {
			name = want
		}
		if l, err = e.arith(op.Op, l, r, e.pos(op.Pos), name, s); err != nil {
			return val{}, err
		}
	}
	return l, nil
}

func (e *elab) unary(x *astUnary, s *scope, want string) (val, error) {
	v, err := e.term(x.Term, s, want)
	if err != nil || !x.Neg {
		return v, err
	}
	p := e.pos(x.Pos)
	switch v.kind {
	case vInt:
		if v.i == math.MinInt64 {
			return val{}, errAt(p, "integer overflow")
		}
		v.i = -v.i
	case vFloat:
		v.f = -v.f
	default:
		return val{}, errAt(p, "unary minus needs a number, got %s", v.what())
	}
	return v, nil
}

// arith applies + - * / % to numbers, or to tensors as add, sub, mul, div.
func (e *elab) arith(op string, l, r val, p ir.Pos, name string, s *scope) (val, error) {
	if l.kind == vTensor || r.kind == vTensor {
		layer := map[string]string{"+": "add", "-": "sub", "*": "mul", "/": "div"}[op]
		if layer == "" {
			return val{}, errAt(p, "%% works on numbers only, got %s and %s", l.what(), r.what())
		}
		return e.apply(layer, p, name, []val{l, r}, nil, nil, s)
	}
	if l.kind == vInt && r.kind == vInt {
		a, b := l.i, r.i
		var v int64
		switch op {
		case "+":
			v = a + b
			if (v > a) != (b > 0) {
				return val{}, errAt(p, "integer overflow in %d + %d", a, b)
			}
		case "-":
			v = a - b
			if (v < a) != (b > 0) {
				return val{}, errAt(p, "integer overflow in %d - %d", a, b)
			}
		case "*":
			v = a * b
			if a != 0 && (v/a != b || (a == -1 && b == math.MinInt64)) {
				return val{}, errAt(p, "integer overflow in %d * %d", a, b)
			}
		case "/", "%":
			if b == 0 {
				return val{}, errAt(p, "division by zero")
			}
			if a == math.MinInt64 && b == -1 {
				return val{}, errAt(p, "integer overflow in %d %s %d", a, op, b)
			}
			if op == "/" {
				v = a / b
			} else {
				v = a % b
			}
		}
		return val{kind: vInt, i: v, pos: p}, nil
	}
	a, ok1 := l.num()
	b, ok2 := r.num()
	if !ok1 || !ok2 {
		return val{}, errAt(p, "%s needs numbers or tensors, got %s and %s", op, l.what(), r.what())
	}
	var v float64
	switch op {
	case "+":
		v = a + b
	case "-":
		v = a - b
	case "*":
		v = a * b
	case "/":
		v = a / b
	case "%":
		v = math.Mod(a, b)
	}
	return val{kind: vFloat, f: v, pos: p}, nil
}

func (e *elab) term(t *astTerm, s *scope, want string) (val, error) {
	p := e.pos(t.Pos)
	switch {
	case t.Number != nil:
		if strings.ContainsAny(*t.Number, ".eE") {
			f, err := strconv.ParseFloat(*t.Number, 64)
			if err != nil {
				return val{}, errAt(p, "number %s is out of range", *t.Number)
			}
			return val{kind: vFloat, f: f, pos: p}, nil
		}
		i, err := strconv.ParseInt(*t.Number, 10, 64)
		if err != nil {
			return val{}, errAt(p, "integer %s is out of range", *t.Number)
		}
		return val{kind: vInt, i: i, pos: p}, nil
	case t.Str != nil:
		return val{kind: vString, s: *t.Str, pos: p}, nil
	case t.List != nil:
		l := val{kind: vList, pos: p}
		for _, it := range t.List.Items {
			v, err := e.expr(it, s, "")
			if err != nil {
				return val{}, err
			}
			if v.kind == vTensor {
				return val{}, errAt(e.pos(it.Pos), "lists hold constants, not tensors (got %s); pass tensors as separate arguments", v.what())
			}
			l.list = append(l.list, v)
		}
		return l, nil
	case t.Paren != nil:
		return e.expr(t.Paren, s, want)
	case t.Call != nil:
		c := t.Call
		if c.Paren {
			return e.call(c.Name, e.pos(c.Pos), want, nil, true, c.Args, s)
		}
		switch c.Name {
		case "true", "false":
			return val{kind: vBool, b: c.Name == "true", pos: p}, nil
		}
		b, ok := s.lookup(c.Name)
		if !ok {
			return val{}, e.undefined(c.Name, p, s)
		}
		v := b.v
		return v, nil
	}
	return val{}, errAt(p, "empty expression")
}

func (e *elab) undefined(name string, p ir.Pos, s *scope) error {
	if _, ok := layers[name]; ok {
		return errAt(p, "%s is a layer, not a value; apply it with x -> %s or %s(x)", name, name, name)
	}
	if _, ok := e.blocks[name]; ok {
		return errAt(p, "%s is a block, not a value; apply it with x -> %s(...) or %s(x, ...)", name, name, name)
	}
	var names []string
	for n := range s.names {
		names = append(names, n)
	}
	where := ""
	if s.block != nil {
		where = fmt.Sprintf(" in block %s (a block sees only its parameters and its own names)", s.block.Name)
	}
	return errAt(p, "undefined name %s%s%s", name, where, suggestion(name, names))
}

// call evaluates the arguments of a layer or block call and applies it;
// pipe, when not nil, is the value piped in, which becomes the first
// positional argument.
func (e *elab) call(name string, p ir.Pos, node string, pipe *val, paren bool, args []*astArg, s *scope) (val, error) {
	var pos []val
	if pipe != nil {
		pos = append(pos, *pipe)
	}
	kw := map[string]val{}
	var order []string
	for _, a := range args {
		v, err := e.expr(a.Value, s, "")
		if err != nil {
			return val{}, err
		}
		if a.Key == nil {
			if len(order) > 0 {
				return val{}, errAt(e.pos(a.Pos), "positional argument after keyword argument %s in %s(...)", order[len(order)-1], name)
			}
			pos = append(pos, v)
			continue
		}
		k := *a.Key
		if _, dup := kw[k]; dup {
			return val{}, errAt(e.pos(a.Pos), "argument %s is given twice in %s(...)", k, name)
		}
		v.pos = e.pos(a.Pos)
		kw[k] = v
		order = append(order, k)
	}
	return e.apply(name, p, node, pos, kw, order, s)
}

func (e *elab) apply(name string, p ir.Pos, node string, pos []val, kw map[string]val, order []string, s *scope) (val, error) {
	// Count calls as well as nodes: blocks that make no nodes can still
	// expand exponentially.
	if e.calls++; len(e.g.Nodes) >= maxNodes || e.calls > 4*maxNodes {
		return val{}, errAt(p, "the network has more than %d nodes or %d layer and block calls", maxNodes, 4*maxNodes)
	}
	if b, ok := e.blocks[name]; ok {
		return e.expand(b, p, node, pos, kw, order, s)
	}
	if d, ok := layers[name]; ok {
		c := &call{e: e, def: d, pos: p, name: node, in: pos, kw: kw, order: order, s: s}
		v, err := c.lower()
		if err != nil {
			return val{}, err
		}
		return val{kind: vTensor, t: v, pos: p}, nil
	}
	if def, ok := ir.Ops[name]; ok {
		v, err := e.rawOp(def, p, node, pos, kw, order, s)
		if err != nil {
			return val{}, err
		}
		return val{kind: vTensor, t: v, pos: p}, nil
	}
	var known []string
	for n := range layers {
		known = append(known, n)
	}
	for n := range e.blocks {
		known = append(known, n)
	}
	for n := range ir.Ops {
		known = append(known, n)
	}
	if b, ok := s.lookup(name); ok {
		return val{}, errAt(p, "%s is %s, not a layer or block%s", name, b.v.what(), suggestion(name, known))
	}
	hint := suggestion(name, known)
	if hint == "" {
		hint = " (docs/dsl.md lists the layers)"
	}
	return val{}, errAt(p, "unknown layer %s%s", name, hint)
}

// nodeName returns want, or a fresh automatic name such as relu_3 (within
// a block instance, inst.relu_3).
func (e *elab) nodeName(want, base string, s *scope) string {
	if want != "" {
		return want
	}
	full := s.prefix + base
	for {
		e.auto[full]++
		n := fmt.Sprintf("%s_%d", full, e.auto[full])
		if e.g.Lookup(n) == nil {
			return n
		}
	}
}

// expand instantiates a block: binds its parameters in a fresh scope and
// runs its body; graph names inside get the prefix "INSTANCE.".
func (e *elab) expand(b *astBlock, p ir.Pos, node string, pos []val, kw map[string]val, order []string, s *scope) (val, error) {
	for i, n := range e.stack {
		if n == b.Name {
			chain := append(append([]string{}, e.stack[i:]...), b.Name)
			return val{}, errAt(p, "block %s is used recursively (%s); blocks cannot call themselves", b.Name, strings.Join(chain, " -> "))
		}
	}
	if len(e.stack) >= maxBlockDepth {
		return val{}, errAt(p, "blocks are nested more than %d deep", maxBlockDepth)
	}
	inst := e.nodeName(node, b.Name, s)
	bs := &scope{names: map[string]*binding{}, prefix: inst + ".", block: b, inst: inst}
	var pnames []string
	for _, prm := range b.Params {
		pnames = append(pnames, prm.Name)
	}
	sig := fmt.Sprintf("%s(%s)", b.Name, strings.Join(pnames, ", "))
	if len(pos) > len(b.Params) {
		return val{}, errAt(p, "block %s takes %d arguments, got %d", sig, len(b.Params), len(pos))
	}
	for i, v := range pos {
		bs.names[b.Params[i].Name] = &binding{v: v, pos: p}
	}
	for _, k := range order {
		if !contains(pnames, k) {
			return val{}, errAt(kw[k].pos, "block %s has no parameter %s%s", sig, k, suggestion(k, pnames))
		}
		if _, dup := bs.names[k]; dup {
			return val{}, errAt(kw[k].pos, "parameter %s of block %s is given both by position and by name", k, b.Name)
		}
		bs.names[k] = &binding{v: kw[k], pos: kw[k].pos}
	}
	e.stack = append(e.stack, b.Name)
	defer func() { e.stack = e.stack[:len(e.stack)-1] }()
	within := func(err error) error {
		return fmt.Errorf("%v\n\tin block %s called at %s", err, b.Name, p)
	}
	for _, prm := range b.Params {
		if _, ok := bs.names[prm.Name]; ok {
			continue
		}
		if prm.Default == nil {
			return val{}, errAt(p, "block %s needs argument %s", sig, prm.Name)
		}
		v, err := e.expr(prm.Default, bs, "")
		if err != nil {
			return val{}, within(err)
		}
		bs.names[prm.Name] = &binding{v: v, pos: e.pos(prm.Pos)}
	}
	done, err := e.exec(b.Body, bs)
	if err != nil {
		return val{}, within(err)
	}
	if !done || bs.ret == nil {
		return val{}, errAt(p, "block %s (defined at %s) ended without a return statement", b.Name, e.pos(b.Pos))
	}
	return *bs.ret, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggestion returns " (did you mean a, b?)" for the names close to name.
func suggestion(name string, names []string) string {
	type cand struct {
		s string
		d int
	}
	var cs []cand
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] || n == name {
			continue
		}
		seen[n] = true
		d := editDistance(strings.ToLower(name), strings.ToLower(n))
		limit := 2
		if len(name) <= 3 {
			limit = 1
		}
		if d <= limit || (len(name) >= 3 && (strings.Contains(n, name) || strings.Contains(name, n) && len(n) >= 3)) {
			cs = append(cs, cand{n, d})
		}
	}
	if len(cs) == 0 {
		return ""
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].s < cs[j].s
	})
	if len(cs) > 4 {
		cs = cs[:4]
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.s
	}
	return " (did you mean " + strings.Join(out, ", ") + "?)"
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
