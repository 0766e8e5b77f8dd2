// Package onnx imports ONNX models (.onnx protobuf files) into wdc's
// tensor IR. Shape arithmetic (Shape, Gather, Concat, Cast, ... on
// constants) is folded at import, so the IR holds static shapes; ONNX
// value names are kept as IR value names.
package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"

	"wdc/frontend/onnx/onnxpb"
	"wdc/ir"
	"wdc/runtime"
)

// Supported opset range of the default (ai.onnx) domain.
const (
	MinOpset = 7
	MaxOpset = 25
)

// NotConstError says a node needs a value known at import time (a shape,
// a pad amount, a clip bound) that is computed at run time instead. When
// Input is true the value is a graph input, which Options.Bind can fix.
type NotConstError struct {
	Value string
	Input bool
	msg   string
}

func (e *NotConstError) Error() string {
	if e.Input {
		return e.msg + "; it is a graph input: bind it to a value (Options.Bind) to import"
	}
	return e.msg
}

// Options controls an import.
type Options struct {
	// MaxTensorBytes bounds any one tensor: initializer, folded constant
	// or node result (0: 4 GiB).
	MaxTensorBytes int64
	// MaxTotalBytes bounds all constants together (0: 16 GiB).
	MaxTotalBytes int64
	// InputShapes gives the shape of graph inputs by name, overriding
	// what the model declares (needed for symbolic dimensions other than
	// a batch of 1).
	InputShapes map[string]ir.Shape
	// InputShapeList gives shapes by position among the graph's real
	// (non-initializer) inputs; InputShapes wins where both name one.
	InputShapeList []ir.Shape
	// Bind turns graph inputs into constants with the given values, for
	// inputs that must be known at import time (e.g. Clip's bounds).
	Bind map[string]*ir.Tensor
}

func (o Options) maxTensor() int64 {
	if o.MaxTensorBytes > 0 {
		return o.MaxTensorBytes
	}
	return runtime.DefaultMaxTensorBytes
}

func (o Options) maxTotal() int64 {
	if o.MaxTotalBytes > 0 {
		return o.MaxTotalBytes
	}
	return 16 << 30
}

// UnsupportedOp is one kind of operator the importer cannot translate.
type UnsupportedOp struct {
	OpType, Domain string
	Opset          int64
	Nodes          []string
}

// UnsupportedError lists every unsupported operator of a model at once.
type UnsupportedError struct {
	Model string
	Ops   []UnsupportedOp
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	total := 0
	for _, op := range e.Ops {
		total += len(op.Nodes)
	}
	fmt.Fprintf(&b, "%s: %d node(s) use %d unsupported operator(s); nothing was imported:", e.Model, total, len(e.Ops))
	for _, op := range e.Ops {
		dom := op.Domain
		if dom == "" {
			dom = "ai.onnx"
		}
		names := op.Nodes
		more := ""
		if len(names) > 5 {
			names, more = names[:5], fmt.Sprintf(", ... (%d more)", len(op.Nodes)-5)
		}
		fmt.Fprintf(&b, "\n  %s (domain %s, opset %d): %d node(s): %s%s", op.OpType, dom, op.Opset, len(op.Nodes), strings.Join(names, ", "), more)
	}
	return b.String()
}

// MaxFileBytes bounds the size of a model file.
const MaxFileBytes = 2 << 30

// Load reads an ONNX model file and imports it.
func Load(path string, opts Options) (*ir.Graph, error) {
	m, err := ReadModel(path)
	if err != nil {
		return nil, err
	}
	return Import(m, path, opts)
}

// LoadBytes imports a serialized ModelProto; name is used in messages.
func LoadBytes(data []byte, name string, opts Options) (*ir.Graph, error) {
	m, err := Decode(data, name)
	if err != nil {
		return nil, err
	}
	return Import(m, name, opts)
}

// ReadModel reads and decodes a model file without importing it.
func ReadModel(path string) (*onnxpb.ModelProto, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not an ONNX model file", path)
	}
	if st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %d bytes is larger than a protobuf model can be (2 GiB)", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(data, path)
}

// Decode parses a serialized ModelProto.
func Decode(data []byte, name string) (*onnxpb.ModelProto, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%s: the file is empty, not an ONNX model", name)
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: not an ONNX model (protobuf decoding failed: %v)", name, err)
	}
	return &m, nil
}

// RealInputs lists the names of a model's graph inputs that are not
// initializers, in order: the inputs a caller feeds.
func RealInputs(m *onnxpb.ModelProto) []string {
	inits := map[string]bool{}
	for _, t := range m.GetGraph().GetInitializer() {
		inits[t.GetName()] = true
	}
	var out []string
	for _, in := range m.GetGraph().GetInput() {
		if !inits[in.GetName()] {
			out = append(out, in.GetName())
		}
	}
	return out
}

// Import translates a decoded ModelProto into an IR graph.
func Import(m *onnxpb.ModelProto, name string, opts Options) (g *ir.Graph, err error) {
	defer func() {
		if r := recover(); r != nil { // a bug, but never a crash for the user
			g, err = nil, fmt.Errorf("%s: internal error while importing: %v", name, r)
		}
	}()
	if m.Graph == nil {
		return nil, fmt.Errorf("%s: the model has no graph (truncated or not an ONNX model?)", name)
	}
	opset := int64(-1)
	for _, o := range m.OpsetImport {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			opset = o.GetVersion()
		}
	}
	if opset < 0 {
		if len(m.OpsetImport) == 0 {
			return nil, fmt.Errorf("%s: the model imports no opset (ir_version %d; not an ONNX model, or too old)", name, m.GetIrVersion())
		}
		opset = 0 // only other domains: their ops are reported below
	}
	if err := checkOps(m, name, opset); err != nil {
		return nil, err
	}
	if len(m.Graph.Node) > 0 && (opset < MinOpset || opset > MaxOpset) {
		return nil, fmt.Errorf("%s: opset %d of the default domain is not supported (supported: %d to %d)", name, opset, MinOpset, MaxOpset)
	}
	im := &importer{
		m: m, name: name, opts: opts, opset: opset,
		vals:     map[string]*val{},
		reserved: map[string]bool{},
	}
	gname := m.Graph.GetName()
	if gname == "" {
		gname = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	im.g = ir.NewGraph(gname)
	if err := im.run(); err != nil {
		return nil, err
	}
	if err := im.g.Verify(); err != nil {
		return nil, fmt.Errorf("%s: the imported graph is invalid: %v", name, err)
	}
	return im.g, nil
}

// checkOps lists every node whose operator the importer does not know.
func checkOps(m *onnxpb.ModelProto, name string, opset int64) error {
	type key struct{ op, dom string }
	found := map[key]*UnsupportedOp{}
	var order []key
	for i, n := range m.Graph.Node {
		dom := n.GetDomain()
		k := key{n.GetOpType(), dom}
		if (dom == "" || dom == "ai.onnx") && supported[n.GetOpType()] {
			continue
		}
		u := found[k]
		if u == nil {
			v := opset
			if dom != "" && dom != "ai.onnx" {
				v = 0
				for _, o := range m.OpsetImport {
					if o.GetDomain() == dom {
						v = o.GetVersion()
					}
				}
			}
			u = &UnsupportedOp{OpType: n.GetOpType(), Domain: dom, Opset: v}
			found[k] = u
			order = append(order, k)
		}
		u.Nodes = append(u.Nodes, nodeLabel(n, i))
	}
	if len(order) == 0 {
		return nil
	}
	e := &UnsupportedError{Model: name}
	for _, k := range order {
		e.Ops = append(e.Ops, *found[k])
	}
	return e
}

func nodeLabel(n *onnxpb.NodeProto, i int) string {
	if n.GetName() != "" {
		return fmt.Sprintf("%q", n.GetName())
	}
	for _, o := range n.Output {
		if o != "" {
			return fmt.Sprintf("#%d (output %q)", i, o)
		}
	}
	return fmt.Sprintf("#%d", i)
}

// IsUnsupported reports whether err lists unsupported operators.
func IsUnsupported(err error) bool {
	var u *UnsupportedError
	return errors.As(err, &u)
}

// val is an ONNX value during import: an IR value, a constant known at
// import time, or both (a constant materialized into the graph).
type val struct {
	name string
	v    *ir.Value
	c    *ir.Tensor
	tp   *onnxpb.TensorProto // an initializer not decoded yet
}

type importer struct {
	m        *onnxpb.ModelProto
	name     string
	opts     Options
	opset    int64
	g        *ir.Graph
	vals     map[string]*val
	reserved map[string]bool // every ONNX value name, so made-up names avoid them
	used     map[string]bool // values some node or the graph output reads
	total    int64
}

func (im *importer) run() error {
	gp := im.m.Graph
	// Names: every value is defined once.
	definedBy := map[string]string{}
	define := func(name, what string) error {
		if name == "" {
			return nil
		}
		if old, ok := definedBy[name]; ok {
			return fmt.Errorf("%s: value %q is defined twice (by %s and by %s)", im.name, name, old, what)
		}
		definedBy[name] = what
		im.reserved[name] = true
		return nil
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range gp.Initializer {
		if err := define(t.GetName(), "an initializer"); err != nil {
			return err
		}
		if t.GetName() == "" {
			return fmt.Errorf("%s: an initializer has no name", im.name)
		}
		if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.ExternalData) > 0 {
			return fmt.Errorf("%s: initializer %q keeps its data in an external file; external data is not supported (save the model with its tensors inside)", im.name, t.GetName())
		}
		inits[t.GetName()] = t
	}
	if len(gp.SparseInitializer) > 0 {
		return fmt.Errorf("%s: sparse initializers are not supported", im.name)
	}
	for _, in := range gp.Input {
		if _, ok := inits[in.GetName()]; ok {
			continue // an input with a default value: a constant
		}
		if _, ok := im.opts.Bind[in.GetName()]; ok {
			if err := define(in.GetName(), "a bound graph input"); err != nil {
				return err
			}
			continue
		}
		if err := define(in.GetName(), "a graph input"); err != nil {
			return err
		}
		if in.GetName() == "" {
			return fmt.Errorf("%s: a graph input has no name", im.name)
		}
	}
	for i, n := range gp.Node {
		for _, o := range n.Output {
			if err := define(o, "node "+nodeLabel(n, i)); err != nil {
				return err
			}
		}
	}
	im.used = map[string]bool{}
	for i, n := range gp.Node {
		for _, in := range n.Input {
			if in == "" {
				continue
			}
			if _, ok := definedBy[in]; !ok {
				return fmt.Errorf("%s: node %s (%s): input %q is not defined by any node, initializer or graph input", im.name, nodeLabel(n, i), n.GetOpType(), in)
			}
			im.used[in] = true
		}
	}
	if len(gp.Output) == 0 {
		return fmt.Errorf("%s: the graph has no outputs", im.name)
	}
	for _, o := range gp.Output {
		if _, ok := definedBy[o.GetName()]; !ok {
			return fmt.Errorf("%s: graph output %q is not defined by any node, initializer or graph input", im.name, o.GetName())
		}
		im.used[o.GetName()] = true
	}
	order, err := im.sortNodes()
	if err != nil {
		return err
	}

	// Graph inputs and initializers.
	for name, t := range inits {
		im.vals[name] = &val{name: name, tp: t}
	}
	k := 0
	for _, in := range gp.Input {
		if _, ok := inits[in.GetName()]; ok {
			continue
		}
		if t, ok := im.opts.Bind[in.GetName()]; ok {
			k++
			if err := im.account(t); err != nil {
				return err
			}
			im.vals[in.GetName()] = &val{name: in.GetName(), c: t}
			continue
		}
		t, err := im.inputType(in, k)
		k++
		if err != nil {
			return err
		}
		v, err := im.g.AddInput(in.GetName(), t, ir.Pos{})
		if err != nil {
			return fmt.Errorf("%s: %v", im.name, err)
		}
		im.vals[in.GetName()] = &val{name: in.GetName(), v: v}
	}

	for _, i := range order {
		n := gp.Node[i]
		if err := im.convert(n, i); err != nil {
			return fmt.Errorf("%s: node %s (%s, opset %d): %w", im.name, nodeLabel(n, i), n.GetOpType(), im.opset, err)
		}
	}

	for _, o := range gp.Output {
		x := im.vals[o.GetName()]
		if x == nil {
			return fmt.Errorf("%s: graph output %q has no value (it is an optional output that was not computed)", im.name, o.GetName())
		}
		v, err := im.irValue(x)
		if err != nil {
			return err
		}
		if v.Name != o.GetName() && v.Producer != nil && im.g.Lookup(o.GetName()) == nil && !im.isOutputName(v.Name) {
			// An Identity in front of an output: give the result the output's name.
			if err := im.g.Rename(v, o.GetName()); err != nil {
				return fmt.Errorf("%s: %v", im.name, err)
			}
		}
		im.g.Outputs = append(im.g.Outputs, v)
	}
	return nil
}

func (im *importer) isOutputName(s string) bool {
	for _, o := range im.m.Graph.Output {
		if o.GetName() == s {
			return true
		}
	}
	return false
}

// sortNodes returns node indices in a topological order, keeping the
// file's order where it already is one, and names a cycle if there is one.
func (im *importer) sortNodes() ([]int, error) {
	nodes := im.m.Graph.Node
	producer := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.Output {
			if o != "" {
				producer[o] = i
			}
		}
	}
	deps := make([][]int, len(nodes))
	users := make([][]int, len(nodes))
	indeg := make([]int, len(nodes))
	for i, n := range nodes {
		seen := map[int]bool{}
		for _, in := range n.Input {
			if p, ok := producer[in]; ok && !seen[p] {
				seen[p] = true
				deps[i] = append(deps[i], p)
				users[p] = append(users[p], i)
				indeg[i]++
			}
		}
	}
	// Kahn's algorithm, always taking the lowest ready index.
	var order []int
	ready := &intHeap{}
	for i := range nodes {
		if indeg[i] == 0 {
			ready.push(i)
		}
	}
	for ready.len() > 0 {
		i := ready.pop()
		order = append(order, i)
		for _, u := range users[i] {
			indeg[u]--
			if indeg[u] == 0 {
				ready.push(u)
			}
		}
	}
	if len(order) == len(nodes) {
		return order, nil
	}
	// Find a cycle among the remaining nodes to name it.
	left := map[int]bool{}
	for i := range nodes {
		if indeg[i] > 0 {
			left[i] = true
		}
	}
	start := -1
	for i := range nodes {
		if left[i] {
			start = i
			break
		}
	}
	pos := map[int]int{}
	var path []int
	cur := start
	for {
		if p, ok := pos[cur]; ok {
			path = path[p:]
			break
		}
		pos[cur] = len(path)
		path = append(path, cur)
		next := -1
		for _, d := range deps[cur] {
			if left[d] {
				next = d
				break
			}
		}
		if next < 0 {
			break
		}
		cur = next
	}
	var names []string
	for j := len(path) - 1; j >= 0; j-- {
		names = append(names, nodeLabel(nodes[path[j]], path[j]))
	}
	if len(path) > 0 {
		names = append(names, nodeLabel(nodes[path[len(path)-1]], path[len(path)-1]))
	}
	return nil, fmt.Errorf("%s: the graph has a cycle: %s", im.name, strings.Join(names, " -> "))
}

type intHeap struct{ a []int }

func (h *intHeap) len() int { return len(h.a) }
func (h *intHeap) push(x int) {
	h.a = append(h.a, x)
	i := len(h.a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.a[p] <= h.a[i] {
			break
		}
		h.a[p], h.a[i] = h.a[i], h.a[p]
		i = p
	}
}
func (h *intHeap) pop() int {
	top := h.a[0]
	last := len(h.a) - 1
	h.a[0] = h.a[last]
	h.a = h.a[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.a) && h.a[l] < h.a[m] {
			m = l
		}
		if r < len(h.a) && h.a[r] < h.a[m] {
			m = r
		}
		if m == i {
			return top
		}
		h.a[m], h.a[i] = h.a[i], h.a[m]
		i = m
	}
}

// inputType reads a graph input's declared type; symbolic or unknown
// dimensions become 1 unless Options give the shape.
func (im *importer) inputType(in *onnxpb.ValueInfoProto, k int) (ir.Type, error) {
	tt := in.GetType().GetTensorType()
	if tt == nil {
		return ir.Type{}, fmt.Errorf("%s: graph input %q is not a tensor (sequences, maps and optionals are not supported)", im.name, in.GetName())
	}
	e, err := runtime.ElemFromONNX(tt.GetElemType())
	if err != nil {
		return ir.Type{}, fmt.Errorf("%s: graph input %q: %v", im.name, in.GetName(), err)
	}
	var given ir.Shape
	if s, ok := im.opts.InputShapes[in.GetName()]; ok {
		given = s
	} else if k < len(im.opts.InputShapeList) {
		given = im.opts.InputShapeList[k]
	}
	var shape ir.Shape
	if given != nil {
		if tt.Shape != nil && len(tt.Shape.Dim) != len(given) {
			return ir.Type{}, fmt.Errorf("%s: graph input %q has rank %d, the shape given for it is %v", im.name, in.GetName(), len(tt.Shape.Dim), given)
		}
		if tt.Shape != nil {
			for i, d := range tt.Shape.Dim {
				if dv, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && dv.DimValue != int64(given[i]) {
					return ir.Type{}, fmt.Errorf("%s: graph input %q is declared with dimension %d = %d, the shape given is %v", im.name, in.GetName(), i, dv.DimValue, given)
				}
			}
		}
		shape = given.Clone()
	} else {
		if tt.Shape == nil {
			return ir.Type{}, fmt.Errorf("%s: graph input %q has no declared shape; give one in Options.InputShapes", im.name, in.GetName())
		}
		shape = ir.Shape{}
		for _, d := range tt.Shape.Dim {
			switch dv := d.Value.(type) {
			case *onnxpb.TensorShapeProto_Dimension_DimValue:
				if dv.DimValue < 0 || dv.DimValue > ir.MaxElements {
					return ir.Type{}, fmt.Errorf("%s: graph input %q has dimension %d", im.name, in.GetName(), dv.DimValue)
				}
				shape = append(shape, int(dv.DimValue))
			default:
				shape = append(shape, 1) // symbolic (e.g. batch "N"): 1
			}
		}
	}
	t := ir.Type{Elem: e, Shape: shape}
	if err := im.checkSize(t, "graph input "+in.GetName()); err != nil {
		return ir.Type{}, fmt.Errorf("%s: %v", im.name, err)
	}
	return t, nil
}

func (im *importer) checkSize(t ir.Type, what string) error {
	n := t.Shape.Elements()
	if n < 0 {
		return fmt.Errorf("%s has shape %v, too many elements", what, t.Shape)
	}
	if int64(n)*int64(max(t.Elem.Bytes(), 4)) > im.opts.maxTensor() {
		return fmt.Errorf("%s of type %v (%d elements) exceeds the memory budget of %d bytes", what, t, n, im.opts.maxTensor())
	}
	return nil
}

// constant returns x's value if it is known at import time.
func (im *importer) constant(x *val) (*ir.Tensor, error) {
	if x == nil {
		return nil, nil
	}
	if x.c == nil && x.tp != nil {
		t, err := runtime.DecodeTensorProto(x.tp, im.opts.maxTensor())
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %v", x.name, err)
		}
		if err := im.account(t); err != nil {
			return nil, err
		}
		x.c, x.tp = t, nil
	}
	return x.c, nil
}

func (im *importer) account(t *ir.Tensor) error {
	im.total += int64(t.Len()) * int64(max(t.Elem.Bytes(), 4))
	if im.total > im.opts.maxTotal() {
		return fmt.Errorf("constants take more than the memory budget of %d bytes", im.opts.maxTotal())
	}
	return nil
}

// irValue returns the IR value of x, adding a constant to the graph the
// first time a constant is used by an IR node.
func (im *importer) irValue(x *val) (*ir.Value, error) {
	if x.v != nil {
		return x.v, nil
	}
	c, err := im.constant(x)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("value %q has no definition", x.name)
	}
	name := x.name
	if im.g.Lookup(name) != nil {
		name = im.fresh(name)
	}
	v, err := im.g.AddConst(name, c, ir.Pos{})
	if err != nil {
		return nil, err
	}
	x.v = v
	return v, nil
}

// fresh makes a name based on base that no ONNX or IR value uses.
func (im *importer) fresh(base string) string {
	if base == "" {
		base = "v"
	}
	if !im.reserved[base] && im.g.Lookup(base) == nil {
		im.reserved[base] = true
		return base
	}
	for i := 2; ; i++ {
		s := fmt.Sprintf("%s_%d", base, i)
		if !im.reserved[s] && im.g.Lookup(s) == nil {
			im.reserved[s] = true
			return s
		}
	}
}

// OpTypes lists the ONNX operators (default domain) the importer handles.
func OpTypes() []string {
	var s []string
	for k := range supported {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
