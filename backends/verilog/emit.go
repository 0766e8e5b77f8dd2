// Package verilog turns a quantized (fixed-point) wdc graph into
// synthesizable Verilog-2005: a dataflow design with one module per layer
// (one file each), a top level with valid/ready streaming ports, and the
// .mem files that initialise its ROMs. docs/fpga.md describes the design;
// docs/fixed-point.md is the arithmetic contract every word follows.
//
// The hardware region of a graph starts at the first fixed-point value
// (the result of the input cast, or a fixed-point graph input): the
// float->fixed input cast happens outside the design (the testbench feeds
// the fixed words the golden model computes). It ends at the fixed-point
// value the output cast to f32 reads (or a fixed-point graph output).
package verilog

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"wdc/ir"
)

// Options steer the generated design.
type Options struct {
	// ReuseFactor is the default reuse factor R of dense layers: each
	// multiplier serves R products, so a layer with K inputs and N outputs
	// has K·N/R multipliers and accepts a new vector every R cycles. 0 or
	// 1 is fully parallel. R must divide K·N.
	ReuseFactor int
	// Reuse overrides the reuse factor per node name. It also gives conv
	// nodes a reuse factor (ReuseFactor does not apply to them): R must
	// divide M·C·K1·K2; the layer then has M·C·K1·K2/R multipliers with
	// weights in a ROM and takes R cycles per padded pixel.
	Reuse map[string]int
	// ClockMHz is the target clock, a parameter of the top level; it only
	// turns cycles into nanoseconds in reports (default 200).
	ClockMHz float64
	// AddLevelsPerStage is the number of adder-tree levels between two
	// pipeline registers (0: a whole tree in one stage after the
	// registered multipliers, which is what meets hls4ml's latency).
	AddLevelsPerStage int
	// ShiftAddDigits: a constant weight whose canonical signed-digit form
	// has at most this many nonzero digits is multiplied with shifts and
	// adds in LUTs instead of a DSP multiplier (fully parallel layers
	// only). 0 means DefaultShiftAddDigits (3); -1 puts every product on
	// a multiplier.
	ShiftAddDigits int
	// Top names the top-level module (default "top").
	Top string
}

// Port describes the top level's streaming input or output: Count words
// of one fixed-point type, packed little end first (element i at bits
// [i·W, (i+1)·W)), row-major over Shape.
type Port struct {
	Value string `json:"value"` // the IR value the words are
	Elem  string `json:"elem"`  // its fixed-point type, e.g. fixed<16,6>
	W     int    `json:"w"`
	Frac  int    `json:"frac"`
	Shape []int  `json:"shape"`
	Count int    `json:"count"`
}

// Layer is one generated module.
type Layer struct {
	Module      string `json:"module"`
	File        string `json:"file"`
	Node        string `json:"node"` // the IR node it implements
	Op          string `json:"op"`
	Precision   string `json:"precision"` // result type
	Latency     int    `json:"latency"`   // cycles from its inputs to its result
	Stage       int    `json:"stage"`     // cycle its result is valid, counted from input acceptance
	Reuse       int    `json:"reuse,omitempty"`
	Multipliers int    `json:"multipliers,omitempty"` // DSP multipliers
	ShiftAdd    int    `json:"shift_add,omitempty"`   // constant products built from shifts and adds
	Adders      int    `json:"adders,omitempty"`
	AdderBits   int    `json:"adder_bits,omitempty"` // total width of the adders and comparators
	LogicBits   int    `json:"logic_bits,omitempty"` // bits of other logic (casts, relu, muxes)
	MultBits    [2]int `json:"mult_bits,omitempty"`  // operand widths of the multipliers
	Registers   int    `json:"registers,omitempty"`  // flip-flop bits
	ROMBits     int    `json:"rom_bits,omitempty"`
}

// Resources counts FPGA primitives (Xilinx 7-series/UltraScale names).
type Resources struct {
	LUT  int `json:"lut"`
	FF   int `json:"ff"`
	DSP  int `json:"dsp"`
	BRAM int `json:"bram"`
}

// Design is what Emit wrote; it is also saved as design.json in the
// directory so that the testbench and the resource report can work from
// the directory alone.
type Design struct {
	Top           string    `json:"top"`
	ClockMHz      float64   `json:"clock_mhz"`
	Files         []string  `json:"files"` // Verilog sources, top last
	MemFiles      []string  `json:"mem_files"`
	Input         Port      `json:"input"`
	Output        Port      `json:"output"`
	Layers        []Layer   `json:"layers"`
	LatencyCycles int       `json:"latency_cycles"` // predicted: input accepted to output valid
	IICycles      int       `json:"ii_cycles"`      // predicted initiation interval
	Estimate      Resources `json:"estimate"`       // analytic estimate (see estimate.go)
	DelayBits     int       `json:"delay_bits"`     // flip-flops of the top level's delay lines
	Taps          []Tap     `json:"taps"`           // every layer's result net in the top level
}

// Tap is a layer's result in the top level, readable in simulation (the
// net is marked verilator public): Count words of W bits, valid Stage
// cycles after the vector was accepted when the pipeline does not stall.
type Tap struct {
	Value string `json:"value"`
	Net   string `json:"net"`
	W     int    `json:"w"`
	Count int    `json:"count"`
	Stage int    `json:"stage"`
}

// DesignFile is the name of the design description in an output directory.
const DesignFile = "design.json"

// GraphFile holds the quantized graph a design was generated from, in the
// IR's textual form.
const GraphFile = "graph.wdcir"

// LoadGraph reads the quantized graph Emit saved in dir.
func LoadGraph(dir string) (*ir.Graph, error) {
	path := filepath.Join(dir, GraphFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %v (the design directory keeps the quantized graph there)", dir, err)
	}
	return ir.Parse(path, string(b))
}

// LoadDesign reads the design.json Emit wrote into dir.
func LoadDesign(dir string) (*Design, error) {
	b, err := os.ReadFile(filepath.Join(dir, DesignFile))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%s: no %s here; is this a directory written by `wdc compile --target verilog`?", dir, DesignFile)
		}
		return nil, err
	}
	var d Design
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, DesignFile), err)
	}
	if d.Top == "" || len(d.Files) == 0 || d.Input.Count == 0 || d.Output.Count == 0 {
		return nil, fmt.Errorf("%s: incomplete design description", filepath.Join(dir, DesignFile))
	}
	return &d, nil
}

// file is one generated text file.
type file struct {
	name string
	text string
}

// Emit writes the design for the quantized graph g into dir (created if
// needed). Every check runs before any file is written.
func Emit(g *ir.Graph, dir string, opts Options) (*Design, error) {
	b, err := build(g, opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, f := range b.files {
		if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.text), 0o644); err != nil {
			return nil, err
		}
	}
	// the quantized graph itself, so that the testbench can run the golden
	// model from the directory alone
	var gt strings.Builder
	if err := ir.Print(&gt, g); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, GraphFile), []byte(gt.String()), 0o644); err != nil {
		return nil, err
	}
	js, err := json.MarshalIndent(b.design, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, DesignFile), append(js, '\n'), 0o644); err != nil {
		return nil, err
	}
	return b.design, nil
}

// sig is a value's hardware form: a packed bus of n words of type e,
// valid at a stage.
type sig struct {
	v     *ir.Value
	bus   string // net name in the top level
	e     ir.Elem
	n     int
	stage int
}

type builder struct {
	g      *ir.Graph
	opts   Options
	top    string
	files  []file
	design *Design
	sigs   map[*ir.Value]*sig
	used   map[string]bool // module names
	// top-level text
	decls  vw
	insts  vw
	delays map[string]string // "bus@k" -> delayed net
	ii     int
	// fusion of element-wise epilogues into streamed layers (conv_epilogue.go)
	users map[*ir.Value][]*ir.Node
	out   *ir.Value         // the region's output value
	fused map[*ir.Node]bool // nodes generated inside an earlier layer
}

func build(g *ir.Graph, opts Options) (*builder, error) {
	if opts.ClockMHz == 0 {
		opts.ClockMHz = 200
	}
	if opts.ClockMHz < 0 || math.IsNaN(opts.ClockMHz) || math.IsInf(opts.ClockMHz, 0) {
		return nil, fmt.Errorf("verilog: clock %v MHz must be positive", opts.ClockMHz)
	}
	if opts.ReuseFactor < 0 || opts.AddLevelsPerStage < 0 {
		return nil, fmt.Errorf("verilog: reuse factor %d and adder levels per stage %d must not be negative", opts.ReuseFactor, opts.AddLevelsPerStage)
	}
	if opts.Top == "" {
		opts.Top = "top"
	}
	if !isIdent(opts.Top) || verilogKeywords[opts.Top] {
		return nil, fmt.Errorf("verilog: top module name %q is not a Verilog identifier", opts.Top)
	}
	if err := g.Verify(); err != nil {
		return nil, err
	}
	in, out, nodes, err := region(g)
	if err != nil {
		return nil, err
	}
	if err := checkSupported(nodes); err != nil {
		return nil, err
	}
	for name := range opts.Reuse {
		if v := g.Lookup(name); v == nil || v.Producer == nil || (v.Producer.Op != "dense" && v.Producer.Op != "conv") {
			return nil, fmt.Errorf("verilog: reuse factor given for %q, which is not a dense node or a conv node of graph %q", name, g.Name)
		}
	}
	// Reuse factors must divide their layers before anything is generated.
	for _, n := range nodes {
		if n.Op == "dense" {
			if _, err := reuseOf(n, opts); err != nil {
				return nil, err
			}
		}
		if n.Op == "conv" {
			if _, err := convReuseOf(n, opts); err != nil {
				return nil, err
			}
		}
	}
	b := &builder{g: g, opts: opts, top: opts.Top, sigs: map[*ir.Value]*sig{}, used: map[string]bool{opts.Top: true}, delays: map[string]string{}, ii: 1,
		users: g.Users(), out: out, fused: map[*ir.Node]bool{}}
	b.design = &Design{Top: opts.Top, ClockMHz: opts.ClockMHz}
	b.design.Input = port(in)
	b.design.Output = port(out)
	b.sigs[in] = &sig{v: in, bus: "in_bus", e: in.Type.Elem, n: in.Type.Shape.Elements(), stage: 0}
	for i, n := range nodes {
		if b.fused[n] {
			continue
		}
		if err := b.node(i, n); err != nil {
			return nil, err
		}
	}
	os := b.sigs[out]
	b.design.LatencyCycles = os.stage
	b.design.IICycles = b.ii
	b.topModule(os)
	b.design.Estimate = estimate(b.design)
	return b, nil
}

func port(v *ir.Value) Port {
	return Port{Value: v.Name, Elem: v.Type.Elem.String(), W: v.Type.Elem.W, Frac: v.Type.Elem.Frac(), Shape: v.Type.Shape.Clone(), Count: v.Type.Shape.Elements()}
}

// region finds the hardware input and output values and the nodes between.
func region(g *ir.Graph) (in, out *ir.Value, nodes []*ir.Node, err error) {
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, nil, nil, fmt.Errorf("verilog: graph %q has %d inputs and %d outputs; the streaming top level takes one of each", g.Name, len(g.Inputs), len(g.Outputs))
	}
	in, out = g.Inputs[0], g.Outputs[0]
	users := g.Users()
	if in.Type.Elem.Kind != ir.Fixed {
		us := users[in]
		if len(us) != 1 || us[0].Op != "cast" || us[0].Out.Type.Elem.Kind != ir.Fixed {
			return nil, nil, nil, fmt.Errorf("verilog: input %q is %v; it must be fixed point or read only by one cast to fixed point (run the quantization pass first)", in.Name, in.Type)
		}
		in = us[0].Out
	}
	if out.Type.Elem.Kind != ir.Fixed {
		p := out.Producer
		if p == nil || p.Op != "cast" || p.Inputs[0].Type.Elem.Kind != ir.Fixed {
			return nil, nil, nil, fmt.Errorf("verilog: output %q is %v; it must be fixed point or a cast of a fixed-point value (run the quantization pass first)", out.Name, out.Type)
		}
		out = p.Inputs[0]
	}
	for _, v := range []*ir.Value{in, out} {
		if v.Type.Shape.Elements() < 1 {
			return nil, nil, nil, fmt.Errorf("verilog: %q has no elements", v.Name)
		}
		for i, d := range v.Type.Shape {
			if i == 0 && len(v.Type.Shape) > 1 && d != 1 {
				return nil, nil, nil, fmt.Errorf("verilog: %q has batch size %d; the design streams one sample at a time (batch 1)", v.Name, d)
			}
		}
	}
	// The nodes the output depends on, stopping at the input.
	need := map[*ir.Value]bool{out: true}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if need[n.Out] && n.Out != in {
			for _, v := range n.Inputs {
				need[v] = true
			}
		}
	}
	avail := map[*ir.Value]bool{in: true}
	for _, n := range g.Nodes {
		if !need[n.Out] || n.Out == in {
			continue
		}
		for _, v := range n.Inputs {
			if !avail[v] && !v.IsConst() {
				what := "the graph input"
				if v.Producer != nil {
					what = v.Producer.Where()
				}
				return nil, nil, nil, fmt.Errorf("verilog: %s reads %q (%s), which is computed outside the fixed-point region that starts at %q", n.Where(), v.Name, what, in.Name)
			}
		}
		avail[n.Out] = true
		nodes = append(nodes, n)
	}
	return in, out, nodes, nil
}

var supported = map[string]bool{
	"dense": true, "relu": true, "cast": true, "lut": true, "add": true, "sub": true, "mul": true,
	"reduce_sum": true, "reduce_max": true, "flatten": true, "reshape": true, "transpose": true, "concat": true,
	"conv": true, "max_pool": true,
}

// checkSupported lists every unsupported node at once.
func checkSupported(nodes []*ir.Node) error {
	var bad []string
	for _, n := range nodes {
		if !supported[n.Op] {
			bad = append(bad, n.Where())
			continue
		}
		for _, v := range append([]*ir.Value{n.Out}, n.Inputs...) {
			if v.Type.Elem.Kind != ir.Fixed {
				bad = append(bad, fmt.Sprintf("%s: %q is %v, not fixed point", n.Where(), v.Name, v.Type.Elem))
				break
			}
		}
	}
	if len(bad) > 0 {
		ops := make([]string, 0, len(supported))
		for k := range supported {
			ops = append(ops, k)
		}
		sort.Strings(ops)
		return fmt.Errorf("verilog: unsupported for the Verilog target (it supports %s on fixed-point values):\n  %s", strings.Join(ops, ", "), strings.Join(bad, "\n  "))
	}
	return nil
}

// reuseOf returns a dense node's reuse factor, checking that it divides
// the layer's multiplications.
func reuseOf(n *ir.Node, opts Options) (int, error) {
	r := opts.ReuseFactor
	if v, ok := opts.Reuse[n.Name()]; ok {
		r = v
	}
	if r <= 1 {
		if r < 0 {
			return 0, fmt.Errorf("verilog: %s: reuse factor %d must be positive", n.Where(), r)
		}
		return 1, nil
	}
	k, nn, err := denseDims(n)
	if err != nil {
		return 0, err
	}
	if (k*nn)%r != 0 {
		return 0, fmt.Errorf("verilog: %s: reuse factor %d does not divide the layer's %d×%d = %d multiplications (divisors near it: %s)", n.Where(), r, k, nn, k*nn, nearDivisors(k*nn, r))
	}
	return r, nil
}

func nearDivisors(n, r int) string {
	lo, hi := 0, 0
	for d := r; d >= 1; d-- {
		if n%d == 0 {
			lo = d
			break
		}
	}
	for d := r; d <= n; d++ {
		if n%d == 0 {
			hi = d
			break
		}
	}
	return fmt.Sprintf("%d, %d", lo, hi)
}

// moduleName makes a unique Verilog identifier for node i.
func (b *builder) moduleName(i int, n *ir.Node) string {
	base := fmt.Sprintf("l%02d_%s", i, sanitize(n.Name()))
	name := base
	for k := 2; b.used[name]; k++ {
		name = fmt.Sprintf("%s_%d", base, k)
	}
	b.used[name] = true
	return name
}

func sanitize(s string) string {
	var r strings.Builder
	for _, c := range s {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' {
			r.WriteRune(c)
		} else {
			r.WriteByte('_')
		}
	}
	out := r.String()
	if len(out) > 40 {
		out = out[:40]
	}
	return out
}

func isIdent(s string) bool {
	if s == "" || !(s[0] == '_' || s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	return sanitize(s) == s
}

var verilogKeywords = map[string]bool{"module": true, "input": true, "output": true, "wire": true, "reg": true, "begin": true, "end": true, "always": true, "assign": true, "initial": true}
