package verilog

import (
	"fmt"
	"math/big"
	"strconv"
)

// topModule writes the top level: the streaming ports, the global
// enable (the whole pipeline stalls while the output is held), the valid
// shift register, an input throttle when a layer needs more than one
// cycle per vector, and the layer instances with their delay lines.
func (b *builder) topModule(out *sig) {
	if out.stage == 0 {
		// a purely combinational design still gets one register
		net := b.delayed(out, 1)
		out = &sig{v: out.v, bus: net, e: out.e, n: out.n, stage: 1}
		b.design.LatencyCycles = 1
	}
	L := out.stage
	in := b.design.Input
	var o vw
	o.f("%s", header(b.top, "top level, a valid/ready stream of vectors",
		fmt.Sprintf("input : %d words of %s (%q after the input cast), word i at in_data[16*i +: 16] for 16-bit words", in.Count, in.Elem, in.Value),
		fmt.Sprintf("output: %d words of %s (%q)", b.design.Output.Count, b.design.Output.Elem, b.design.Output.Value),
		fmt.Sprintf("latency %d cycles from an accepted input to its output; a new input every %d cycle(s)", L, b.ii),
		"Handshake: a word moves when valid and ready are both high at a rising edge. The",
		"pipeline has fixed latency and one global enable: it advances unless the output",
		"holds a result the consumer has not taken (out_valid & ~out_ready)."))
	// make the comment's example exact
	o.Reset()
	o.f("%s", header(b.top, "top level, a valid/ready stream of vectors",
		fmt.Sprintf("input : %d words of %s (%q after the input cast), word i at in_data[%d*i +: %d]", in.Count, in.Elem, in.Value, in.W, in.W),
		fmt.Sprintf("output: %d words of %s (%q), word i at out_data[%d*i +: %d]", b.design.Output.Count, b.design.Output.Elem, b.design.Output.Value, b.design.Output.W, b.design.Output.W),
		fmt.Sprintf("latency %d cycles from an accepted input to its output; a new input every %d cycle(s)", L, b.ii),
		"Handshake: a vector moves when valid and ready are both high at a rising edge. The",
		"pipeline has a fixed latency and one global enable: it advances unless the output",
		"holds a result the consumer has not taken (out_valid & ~out_ready)."))
	o.f("module %s #(\n", b.top)
	o.f("  /* verilator lint_off UNUSEDPARAM */\n")
	o.f("  parameter real CLOCK_MHZ = %s // target clock: reports turn cycles into ns; no logic depends on it\n", strconv.FormatFloat(b.opts.ClockMHz, 'f', -1, 64)+realSuffix(b.opts.ClockMHz))
	o.f("  /* verilator lint_on UNUSEDPARAM */\n")
	o.f(") (\n")
	o.f("  input  wire clk,\n  input  wire rst, // synchronous, active high\n")
	o.f("  input  wire in_valid,\n  output wire in_ready,\n  input  wire [%d:0] in_data,\n", in.Count*in.W-1)
	o.f("  output wire out_valid,\n  input  wire out_ready,\n  output wire [%d:0] out_data\n);\n", b.design.Output.Count*b.design.Output.W-1)
	o.f("  wire en = ~out_valid | out_ready; // global pipeline enable\n")
	o.f("  wire in_fire = in_valid & in_ready;\n")
	if b.ii > 1 {
		cw := max(bitsFor(big.NewInt(int64(b.ii-1))), 1)
		o.f("  // a layer with reuse factor %d takes a new vector every %d cycles\n", b.ii, b.ii)
		o.f("  reg  [%d:0] gap;\n", cw-1)
		o.f("  always @(posedge clk)\n    if (rst) gap <= %d'd0;\n    else if (en) begin\n", cw)
		o.f("      if (in_fire) gap <= %d'd%d;\n      else if (gap != %d'd0) gap <= gap - %d'd1;\n    end\n", cw, b.ii-1, cw, cw)
		o.f("  assign in_ready = en & (gap == %d'd0);\n", cw)
	} else {
		o.f("  assign in_ready = en;\n")
	}
	o.f("  // valid[k]: stage k holds a vector\n")
	if L == 1 {
		o.f("  reg  [1:1] valid;\n  always @(posedge clk)\n    if (rst) valid <= 1'b0;\n    else if (en) valid[1] <= in_fire;\n")
	} else {
		o.f("  reg  [%d:1] valid;\n  always @(posedge clk)\n    if (rst) valid <= %d'd0;\n    else if (en) valid <= {valid[%d:1], in_fire};\n", L, L, L-1)
	}
	o.f("  wire [%d:0] in_bus = in_data;\n", in.Count*in.W-1)
	o.f("%s", b.decls.String())
	o.f("\n%s", b.insts.String())
	o.f("  assign out_data = %s;\n", out.bus)
	o.f("  assign out_valid = valid[%d];\n", L)
	o.f("%s", footer)
	b.files = append(b.files, file{name: b.top + ".v", text: o.String()})
	b.design.Files = append(b.design.Files, b.top+".v")
	b.design.LatencyCycles = L
}

func realSuffix(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	for _, c := range s {
		if c == '.' {
			return ""
		}
	}
	return ".0"
}
