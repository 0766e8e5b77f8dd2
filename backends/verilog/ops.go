package verilog

import (
	"fmt"
	"math/big"
	"strings"

	"wdc/ir"
)

// operand is one input of a node: a bus from the top level or a constant.
type operand struct {
	v     *ir.Value
	e     ir.Elem
	shape ir.Shape
	c     *ir.Tensor // non-nil for constants
	port  string     // module port name for a bus
}

// gen is what an op generator returns.
type gen struct {
	body    string // module body (ports declared by the caller)
	latency int    // 0: combinational
	seq     bool   // needs clk/en (latency > 0)
	valid   bool   // needs in_valid/rst (a multi-cycle layer)
	layer   Layer  // statistics (module, file and stage filled in by the caller)
	mems    []file
	ii      int // initiation interval the layer needs (reuse factor)
	comment []string
	out     *ir.Value // the layer's result when later nodes were fused into it (nil: the node's own)
}

const unusedNote = "/* verilator lint_off UNUSEDSIGNAL */ // casts and lookups keep only the bits they need\n"

// node generates the module for one node and instantiates it in the top level.
func (b *builder) node(i int, n *ir.Node) error {
	mod := b.moduleName(i, n)
	var ops []operand
	var dyn []*sig
	for _, v := range n.Inputs {
		op := operand{v: v, e: v.Type.Elem, shape: v.Type.Shape, c: v.Const}
		if v.Const == nil {
			s := b.sigs[v]
			if s == nil {
				return fmt.Errorf("verilog: %s: operand %q has no hardware signal", n.Where(), v.Name)
			}
			op.port = fmt.Sprintf("in%d", len(dyn))
			dyn = append(dyn, s)
		}
		ops = append(ops, op)
	}
	if len(dyn) == 0 {
		return fmt.Errorf("verilog: %s: every operand is constant; fold constants before generating hardware", n.Where())
	}
	var g gen
	var err error
	switch n.Op {
	case "dense":
		g, err = b.dense(mod, n, ops)
	case "relu":
		g = relu(n, ops)
	case "cast":
		g = castOp(n, ops)
	case "lut":
		g, err = lut(mod, n, ops)
	case "add", "sub", "mul":
		g = binary(n, ops)
	case "reduce_sum", "reduce_max":
		g, err = b.reduce(n, ops)
	case "flatten", "reshape":
		g = wiring(n, ops, nil)
	case "concat":
		g, err = concat(n, ops)
	case "conv":
		g, err = b.conv(mod, n, ops)
	case "max_pool":
		g, err = maxPool(n, ops)
	case "transpose":
		perm := ir.TransposePerm(n, len(ops[0].shape))
		g = wiring(n, ops, perm)
	default:
		err = fmt.Errorf("verilog: %s: unsupported op", n.Where())
	}
	if err != nil {
		return err
	}
	if g.ii > b.ii {
		b.ii = g.ii
	}
	// Align the operands: all arrive at the latest stage.
	start := 0
	for _, s := range dyn {
		start = max(start, s.stage)
	}
	res := n.Out
	if g.out != nil {
		res = g.out
	}
	out := res.Type.Elem
	cnt := res.Type.Shape.Elements()
	outBus := "n_" + netName(res.Name)
	for k := 0; b.usedNet(outBus); k++ {
		outBus = fmt.Sprintf("n%d_%s", k, netName(res.Name))
	}
	os := &sig{v: res, bus: outBus, e: out, n: cnt, stage: start + g.latency}
	b.sigs[res] = os

	// The module file.
	var m vw
	m.f("%s", header(mod, fmt.Sprintf("layer %q (%s)", n.Name(), n.Op), append([]string{
		fmt.Sprintf("result: %v", res.Type),
		fmt.Sprintf("latency: %d cycle(s)", g.latency),
	}, g.comment...)...))
	if strings.HasPrefix(g.body, unusedNote) {
		// before the ports, whose bits may be partly unused too
		g.body = strings.TrimPrefix(g.body, unusedNote)
		m.f("%s", unusedNote)
	}
	var ports []string
	if g.seq {
		ports = append(ports, "  input  wire clk", "  input  wire en")
	}
	if g.valid {
		ports = append(ports, "  input  wire rst", "  input  wire in_valid")
	}
	for _, op := range ops {
		if op.c == nil {
			ports = append(ports, fmt.Sprintf("  input  wire [%d:0] %s // %q: %v", op.shape.Elements()*op.e.W-1, op.port, op.v.Name, op.v.Type))
		}
	}
	ports = append(ports, fmt.Sprintf("  output wire [%d:0] out // %v", cnt*out.W-1, res.Type))
	m.f("module %s (\n", mod)
	for j, p := range ports {
		sep := ","
		if j == len(ports)-1 {
			sep = ""
		}
		// keep the comment after the comma
		if k := strings.Index(p, " //"); k >= 0 {
			m.f("%s%s%s\n", p[:k], sep, p[k:])
		} else {
			m.f("%s%s\n", p, sep)
		}
	}
	m.f(");\n")
	m.f("%s", g.body)
	m.f("%s", footer)
	b.files = append(b.files, file{name: mod + ".v", text: m.String()})
	b.files = append(b.files, g.mems...)
	for _, f := range g.mems {
		b.design.MemFiles = append(b.design.MemFiles, f.name)
	}
	b.design.Files = append(b.design.Files, mod+".v")

	// The instance in the top level.
	b.decls.f("  wire [%d:0] %s /*verilator public_flat_rd*/; // %q %v, valid at stage %d\n", cnt*out.W-1, outBus, res.Name, res.Type, os.stage)
	b.design.Taps = append(b.design.Taps, Tap{Value: res.Name, Net: outBus, W: out.W, Count: cnt, Stage: os.stage})
	var conns []string
	if g.seq {
		conns = append(conns, ".clk(clk)", ".en(en)")
	}
	if g.valid {
		conns = append(conns, ".rst(rst)", fmt.Sprintf(".in_valid(%s)", b.validAt(start)))
	}
	for j, s := range dyn {
		conns = append(conns, fmt.Sprintf(".in%d(%s)", j, b.delayed(s, start-s.stage)))
	}
	conns = append(conns, fmt.Sprintf(".out(%s)", outBus))
	b.insts.f("  // %s (%s) -> %v, stage %d..%d\n", n.Name(), n.Op, res.Type, start, os.stage)
	b.insts.f("  %s u_%s (\n", mod, mod)
	b.insts.f("    %s\n  );\n", strings.Join(conns, ",\n    "))

	g.layer.Module, g.layer.File, g.layer.Node, g.layer.Op = mod, mod+".v", n.Name(), n.Op
	g.layer.Precision, g.layer.Latency, g.layer.Stage = res.Type.String(), g.latency, os.stage
	b.design.Layers = append(b.design.Layers, g.layer)
	return nil
}

func (b *builder) usedNet(name string) bool {
	for _, s := range b.sigs {
		if s.bus == name {
			return true
		}
	}
	return false
}

// delayed returns s's bus delayed by k registers (declared in the top level).
func (b *builder) delayed(s *sig, k int) string {
	if k == 0 {
		return s.bus
	}
	key := fmt.Sprintf("%s@%d", s.bus, k)
	if net, ok := b.delays[key]; ok {
		return net
	}
	prev := b.delayed(s, k-1)
	net := fmt.Sprintf("%s_d%d", s.bus, k)
	w := s.n * s.e.W
	b.design.DelayBits += w
	b.decls.f("  reg  [%d:0] %s; // %q delayed %d cycle(s) to stage %d\n", w-1, net, s.v.Name, k, s.stage+k)
	b.insts.f("  always @(posedge clk) if (en) %s <= %s;\n", net, prev)
	b.delays[key] = net
	return net
}

// validAt names the valid bit of pipeline stage k.
func (b *builder) validAt(k int) string {
	if k == 0 {
		return "in_fire"
	}
	return fmt.Sprintf("valid[%d]", k)
}

// relu: y = x < 0 ? 0 : x, a comparison of the sign bit.
func relu(n *ir.Node, ops []operand) gen {
	var o vw
	w := ops[0].e.W
	for i := 0; i < ops[0].shape.Elements(); i++ {
		o.f("  assign %s = in0[%d] ? %d'd0 : %s;\n", slice("out", i, w), (i+1)*w-1, w, slice("in0", i, w))
	}
	return gen{body: o.String(), layer: Layer{LogicBits: ops[0].shape.Elements() * w}}
}

// castOp converts every word with the cast contract.
func castOp(n *ir.Node, ops []operand) gen {
	var o vw
	o.f("%s", unusedNote)
	src, dst := ops[0].e, n.Out.Type.Elem
	o.f("  // %v -> %v: %s\n", src, dst, castDoc(src, dst))
	for i := 0; i < ops[0].shape.Elements(); i++ {
		p := fmt.Sprintf("c%d", i)
		o.f("  wire [%d:0] %s = %s;\n", src.W-1, p, slice("in0", i, src.W))
		e := convert(&o, p, p, src.W, src.Frac(), dst)
		o.f("  assign %s = %s;\n", slice("out", i, dst.W), e)
	}
	return gen{body: o.String(), layer: Layer{LogicBits: ops[0].shape.Elements() * dst.W}}
}

func castDoc(src, dst ir.Elem) string {
	d := dst.Frac() - src.Frac()
	var parts []string
	switch {
	case d > 0:
		parts = append(parts, fmt.Sprintf("shift left %d", d))
	case d < 0 && dst.Round == ir.Truncate:
		parts = append(parts, fmt.Sprintf("drop %d fraction bits (truncate: arithmetic shift)", -d))
	case d < 0:
		parts = append(parts, fmt.Sprintf("drop %d fraction bits (round half to even)", -d))
	}
	if dst.Ovf == ir.Wrap {
		parts = append(parts, fmt.Sprintf("keep the low %d bits (wrap)", dst.W))
	} else {
		parts = append(parts, fmt.Sprintf("clamp to %d bits (saturate)", dst.W))
	}
	return strings.Join(parts, ", then ")
}

// binary: element-wise add, sub (combinational) and mul (registered),
// with numpy broadcasting and constant operands folded in.
func binary(n *ir.Node, ops []operand) gen {
	var o vw
	out := n.Out.Type
	dst := out.Elem
	a, c := ops[0], ops[1]
	isMul := n.Op == "mul"
	var f int // fraction bits of the exact result before conversion
	var w int // its width
	if isMul {
		f = a.e.Frac() + c.e.Frac()
		w = a.e.W + c.e.W
	} else {
		f = max(a.e.Frac(), c.e.Frac())
		w = max(a.e.I, c.e.I) + 1 + f
	}
	o.f("%s", unusedNote)
	word := func(op operand, i int, name string) string {
		j := bcastIndex(out.Shape, op.shape, i)
		if op.c != nil {
			return lit(op.c.I[j], op.e.W)
		}
		o.f("  wire [%d:0] %s = %s;\n", op.e.W-1, name, slice(op.port, j, op.e.W))
		return name
	}
	cnt := out.Shape.Elements()
	if isMul {
		o.f("  reg [%d:0] r [0:%d];\n", w-1, cnt-1)
	}
	for i := 0; i < cnt; i++ {
		p := fmt.Sprintf("e%d", i)
		x := word(a, i, p+"_a")
		y := word(c, i, p+"_b")
		if isMul {
			// both operands sign-extended to the product width: one multiplier
			xe, ye := p+"_ax", p+"_bx"
			o.f("  wire signed [%d:0] %s = %s;\n", w-1, xe, extend(x, a.e.W, w, a.c != nil))
			o.f("  wire signed [%d:0] %s = %s;\n", w-1, ye, extend(y, c.e.W, w, c.c != nil))
			o.f("  always @(posedge clk) if (en) r[%d] <= %s * %s;\n", i, xe, ye)
			o.f("  wire [%d:0] %s_r = r[%d];\n", w-1, p, i)
			e := convert(&o, p, p+"_r", w, f, dst)
			o.f("  assign %s = %s;\n", slice("out", i, dst.W), e)
			continue
		}
		xe := fmt.Sprintf("%s_x", p)
		ye := fmt.Sprintf("%s_y", p)
		o.f("  wire [%d:0] %s = %s;\n", w-1, xe, shiftExt(x, a.e, f, w, a.c != nil))
		o.f("  wire [%d:0] %s = %s;\n", w-1, ye, shiftExt(y, c.e, f, w, c.c != nil))
		sym := "+"
		if n.Op == "sub" {
			sym = "-"
		}
		o.f("  wire [%d:0] %s_s = %s %s %s;\n", w-1, p, xe, sym, ye)
		e := convert(&o, p, p+"_s", w, f, dst)
		o.f("  assign %s = %s;\n", slice("out", i, dst.W), e)
	}
	g := gen{body: o.String()}
	if isMul {
		g.latency, g.seq = 1, true
		g.layer.Multipliers = cnt
		g.layer.MultBits = [2]int{a.e.W, c.e.W}
		g.layer.Registers = cnt * w
	} else {
		g.layer.Adders = cnt
		g.layer.AdderBits = cnt * w
	}
	return g
}

// extend sign-extends a word (a net, or a literal when isLit) to w bits.
func extend(x string, from, w int, isLit bool) string {
	if isLit {
		// re-size the literal: "-16'sd5" -> "-Wsd5"
		neg := strings.HasPrefix(x, "-")
		body := strings.TrimPrefix(x, "-")
		k := strings.Index(body, "'sd")
		s := fmt.Sprintf("%d'sd%s", w, body[k+3:])
		if neg {
			s = "-" + s
		}
		return s
	}
	return sext(x, from, w)
}

// shiftExt aligns a word of type e to f fraction bits and w bits.
func shiftExt(x string, e ir.Elem, f, w int, isLit bool) string {
	sh := f - e.Frac()
	if isLit {
		neg := strings.HasPrefix(x, "-")
		body := strings.TrimPrefix(x, "-")
		k := strings.Index(body, "'sd")
		v, _ := new(big.Int).SetString(body[k+3:], 10)
		v.Lsh(v, uint(sh))
		if neg {
			v.Neg(v)
		}
		return litBig(v, w)
	}
	if sh == 0 {
		return sext(x, e.W, w)
	}
	return fmt.Sprintf("{%s, %d'b0}", sext(x, e.W, w-sh), sh)
}

// bcastIndex maps flat index i of the broadcast result to the operand's flat index.
func bcastIndex(out, in ir.Shape, i int) int {
	idx := make([]int, len(out))
	for d := len(out) - 1; d >= 0; d-- {
		idx[d] = i % out[d]
		i /= out[d]
	}
	j := 0
	off := len(out) - len(in)
	for d := 0; d < len(in); d++ {
		k := idx[d+off]
		if in[d] == 1 {
			k = 0
		}
		j = j*in[d] + k
	}
	return j
}

// wiring: flatten, reshape (same order) and transpose (permuted words).
func wiring(n *ir.Node, ops []operand, perm []int) gen {
	var o vw
	w := ops[0].e.W
	in := ops[0].shape
	out := n.Out.Type.Shape
	cnt := out.Elements()
	if perm == nil {
		o.f("  assign out = in0; // same row-major order\n")
		return gen{body: o.String()}
	}
	st := in.Strides()
	for i := 0; i < cnt; i++ {
		// index of output element i, then the input element it reads
		rem := i
		src := 0
		for d := len(out) - 1; d >= 0; d-- {
			k := rem % out[d]
			rem /= out[d]
			src += k * st[perm[d]]
		}
		o.f("  assign %s = %s;\n", slice("out", i, w), slice("in0", src, w))
	}
	return gen{body: o.String()}
}

// concat joins its operands along an axis (constants become literals).
func concat(n *ir.Node, ops []operand) (gen, error) {
	out := n.Out.Type.Shape
	ax, err := ir.NormAxis(n.Int("axis"), len(out))
	if err != nil {
		return gen{}, fmt.Errorf("verilog: %s: %v", n.Where(), err)
	}
	w := n.Out.Type.Elem.W
	var o vw
	st := out.Strides()
	for i := 0; i < out.Elements(); i++ {
		idx := make([]int, len(out))
		for d := range out {
			idx[d] = (i / st[d]) % out[d]
		}
		k := idx[ax]
		for _, op := range ops {
			if k >= op.shape[ax] {
				k -= op.shape[ax]
				continue
			}
			idx[ax] = k
			j := 0
			for d := range op.shape {
				j = j*op.shape[d] + idx[d]
			}
			if op.c != nil {
				o.f("  assign %s = %d'h%s;\n", slice("out", i, w), w, hexWord(op.c.I[j], w))
			} else {
				o.f("  assign %s = %s;\n", slice("out", i, w), slice(op.port, j, w))
			}
			break
		}
	}
	return gen{body: o.String()}, nil
}

// lut: out = table[clamp((x >> shift) + offset, 0, N-1)], an asynchronous
// ROM initialised from a .mem file.
func lut(mod string, n *ir.Node, ops []operand) (gen, error) {
	x, t := ops[0], ops[1]
	if t.c == nil {
		return gen{}, fmt.Errorf("verilog: %s: the table must be a constant", n.Where())
	}
	shift, offset := n.Int("shift"), n.Int("offset")
	N := t.shape.Elements()
	tw := t.e.W
	var o vw
	o.f("%s", unusedNote)
	o.f("  // index = clamp((x >>> %d) + %d, 0, %d); table %v[%d] in %s.mem\n", shift, offset, N-1, t.e, N, mod)
	var mem strings.Builder
	for _, v := range t.c.I {
		mem.WriteString(hexWord(v, tw))
		mem.WriteByte('\n')
	}
	g := gen{mems: []file{{name: mod + ".mem", text: mem.String()}}}
	g.layer.ROMBits = N * tw
	g.layer.LogicBits = x.shape.Elements() * tw * ceilDiv(N, 64)
	if N == 1 {
		for i := 0; i < x.shape.Elements(); i++ {
			o.f("  assign %s = %d'h%s;\n", slice("out", i, tw), tw, hexWord(t.c.I[0], tw))
		}
		g.body = o.String()
		g.mems = nil
		return g, nil
	}
	iw := bitsFor(big.NewInt(int64(N - 1)))
	o.f("  reg [%d:0] rom [0:%d];\n", tw-1, N-1)
	o.f("  initial $readmemh(\"%s.mem\", rom);\n", mod)
	xw := x.e.W
	for i := 0; i < x.shape.Elements(); i++ {
		p := fmt.Sprintf("e%d", i)
		o.f("  wire [%d:0] %s_x = %s;\n", xw-1, p, slice("in0", i, xw))
		// shifted word s, sw bits, signed
		var s string
		var sw int
		switch {
		case shift == 0:
			s, sw = p+"_x", xw
		case shift > 0 && shift >= xw:
			s, sw = fmt.Sprintf("%s_x[%d]", p, xw-1), 1
		case shift > 0:
			s, sw = fmt.Sprintf("%s_x[%d:%d]", p, xw-1, shift), xw-shift
		default:
			s, sw = fmt.Sprintf("{%s_x, %d'b0}", p, -shift), xw-shift
		}
		ow := signedWidth(big.NewInt(int64(abs(offset))))
		vwid := max(sw, ow, iw+1) + 1
		o.f("  wire [%d:0] %s_s = %s;\n", sw-1, p, s)
		o.f("  wire signed [%d:0] %s_v = %s + %s;\n", vwid-1, p, sext(p+"_s", sw, vwid), lit(int64(offset), vwid))
		o.f("  wire [%d:0] %s_i = %s_v[%d] ? %d'd0 : (%s_v > %s) ? %d'd%d : %s_v[%d:0];\n",
			iw-1, p, p, vwid-1, iw, p, lit(int64(N-1), vwid), iw, N-1, p, iw-1)
		o.f("  assign %s = rom[%s_i];\n", slice("out", i, tw), p)
	}
	g.body = o.String()
	return g, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// netName is sanitize without doubled or trailing underscores, which
// Verilator would escape in the C++ names of public signals.
func netName(s string) string {
	s = sanitize(s)
	for strings.Contains(s, "__") {
		s = strings.ReplaceAll(s, "__", "_")
	}
	s = strings.TrimRight(s, "_")
	if s == "" {
		s = "v"
	}
	return s
}
