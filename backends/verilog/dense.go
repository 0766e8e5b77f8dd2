package verilog

import (
	"fmt"
	"math/big"
	"strings"

	"wdc/ir"
)

// denseDims returns the inner dimension K and the output count N of a
// dense node with one row of input (batch 1).
func denseDims(n *ir.Node) (k, nn int, err error) {
	a, w := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape
	m := a[0]
	k = a[1]
	if n.Int("trans_a") != 0 {
		m, k = k, m
	}
	nn = w[1]
	if n.Int("trans_b") != 0 {
		nn = w[0]
	}
	if m != 1 {
		return 0, 0, fmt.Errorf("verilog: %s: batch %d; the design processes one vector at a time (batch 1)", n.Where(), m)
	}
	return k, nn, nil
}

// denseParts reads a dense node's constant weights w[n][k] and bias b[n].
func denseParts(n *ir.Node, ops []operand) (k, nn int, w [][]int64, bias []int64, err error) {
	k, nn, err = denseDims(n)
	if err != nil {
		return
	}
	if ops[0].c != nil || ops[1].c == nil || (len(ops) == 3 && ops[2].c == nil) {
		err = fmt.Errorf("verilog: %s: the Verilog target needs dynamic inputs and constant weights and bias", n.Where())
		return
	}
	if n.Float("alpha") != 1 || (len(ops) == 3 && n.Float("beta") != 1) {
		err = fmt.Errorf("verilog: %s: alpha and beta must be 1 (fold them into the weights)", n.Where())
		return
	}
	wt := ops[1].c
	tb := n.Int("trans_b") != 0
	w = make([][]int64, nn)
	for j := 0; j < nn; j++ {
		w[j] = make([]int64, k)
		for i := 0; i < k; i++ {
			if tb {
				w[j][i] = wt.I[j*k+i]
			} else {
				w[j][i] = wt.I[i*nn+j]
			}
		}
	}
	if len(ops) == 3 {
		c := ops[2]
		bias = make([]int64, nn)
		for j := 0; j < nn; j++ {
			bias[j] = c.c.I[bcastIndex(ir.Shape{1, nn}, c.shape, j)]
		}
	}
	return
}

// treeResult is an adder tree written by addTree.
type treeResult struct {
	root   string
	stages int // intermediate register stages
	regs   int // flip-flop bits
	adds   int
	bits   int // adder bits (LUTs)
	w      int // root width
}

// addTree writes a balanced adder tree over terms (expressions of width
// aw, empty for none) plus the constant c, with a register after every g
// levels (g = 0: none) over levels levels in all, so that trees of
// different sizes have the same latency. It returns the root net.
func addTree(o *vw, p string, terms []string, c *big.Int, aw, levels, g int) treeResult {
	full := new(big.Int).Lsh(big.NewInt(1), uint(aw-1))
	ts := make([]term, len(terms))
	for i, t := range terms {
		ts[i] = term{t, aw, full}
	}
	return addTreeT(o, p, ts, c, aw, levels, g)
}

// term is an adder-tree operand: an expression of width w whose value
// lies within [-bound, bound].
type term struct {
	expr  string
	w     int
	bound *big.Int
}

// addTreeT is addTree over terms of their own widths: every node is as
// wide as the sum of its operands' bounds needs, at most capW bits (the
// bound of the whole sum). The root's width is r.w.
func addTreeT(o *vw, p string, terms []term, c *big.Int, capW, levels, g int) treeResult {
	var r treeResult
	cur := append([]term(nil), terms...)
	if c.Sign() != 0 || len(cur) == 0 {
		ab := new(big.Int).Abs(c)
		w := min(signedWidth(ab), capW)
		cur = append(cur, term{litBig(c, w), w, ab})
	}
	// name level-0 terms so that they can be registered and bit-selected
	for j, t := range cur {
		name := fmt.Sprintf("%s_0_%d", p, j)
		o.f("  wire [%d:0] %s = %s;\n", t.w-1, name, t.expr)
		cur[j].expr = name
	}
	for l := 1; l <= levels; l++ {
		reg := g > 0 && l%g == 0 && l < levels
		var next []term
		for j := 0; j < len(cur); j += 2 {
			name := fmt.Sprintf("%s_%d_%d", p, l, j/2)
			t := cur[j]
			expr := t.expr
			if j+1 < len(cur) {
				u := cur[j+1]
				b := new(big.Int).Add(t.bound, u.bound)
				w := min(signedWidth(b), capW)
				expr = sext(t.expr, t.w, w) + " + " + sext(u.expr, u.w, w)
				t = term{expr, w, b}
				r.adds++
				r.bits += w
			}
			if reg {
				o.f("  reg  [%d:0] %s;\n  always @(posedge clk) if (en) %s <= %s;\n", t.w-1, name, name, expr)
				r.regs += t.w
				t.expr = name
			} else if j+1 < len(cur) {
				o.f("  wire [%d:0] %s = %s;\n", t.w-1, name, expr)
				t.expr = name
			}
			next = append(next, t)
		}
		if reg {
			r.stages++
		}
		cur = next
	}
	r.root, r.w = cur[0].expr, cur[0].w
	return r
}

// treeLevels is the number of adder levels for k terms.
func treeLevels(k int) int { return int(ir.Log2Ceil(int64(k))) }

// dense generates a dense layer: fully parallel for R = 1 (constant
// multipliers, a register after them, then an adder tree), or
// time-multiplexed over R cycles with weights in a ROM.
func (b *builder) dense(mod string, n *ir.Node, ops []operand) (gen, error) {
	r, err := reuseOf(n, b.opts)
	if err != nil {
		return gen{}, err
	}
	k, nn, w, bias, err := denseParts(n, ops)
	if err != nil {
		return gen{}, err
	}
	xe, we := ops[0].e, ops[1].e
	var be ir.Elem
	if len(ops) == 3 {
		be = ops[2].e
	}
	dst := n.Out.Type.Elem
	pw := xe.W + we.W
	pf := xe.Frac() + we.Frac()
	af := pf // accumulator fraction bits: the bias may have more
	if bias != nil {
		af = max(af, be.Frac())
	}
	ps := af - pf // product shift
	bs := af - be.Frac()
	// accumulator width per output from the weights: |sum| <= Σ|w|·2^(Wx-1)·2^ps + |b|·2^bs
	xmax := new(big.Int).Lsh(big.NewInt(1), uint(xe.W-1))
	aw := make([]int, nn)
	awMax := 0
	for j := 0; j < nn; j++ {
		s := new(big.Int)
		for i := 0; i < k; i++ {
			s.Add(s, new(big.Int).Abs(big.NewInt(w[j][i])))
		}
		s.Mul(s, xmax)
		s.Lsh(s, uint(ps))
		if bias != nil {
			s.Add(s, new(big.Int).Lsh(new(big.Int).Abs(big.NewInt(bias[j])), uint(bs)))
		}
		aw[j] = max(signedWidth(s), pw+ps, 2)
		awMax = max(awMax, aw[j])
	}
	comment := []string{
		fmt.Sprintf("x %v[%d] · w %v[%d×%d]%s; products %d bits with %d fraction bits, accumulators up to %d bits with %d",
			xe, k, we, k, nn, biasNote(bias, be), pw, pf, awMax, af),
		fmt.Sprintf("reuse factor %d: %d multiplier(s)", r, k*nn/r),
	}
	if r > 1 {
		return b.denseReuse(mod, n, k, nn, r, w, bias, xe, we, dst, pw, pf, af, aw, comment)
	}
	var o vw
	o.f("%s", unusedNote)
	g := gen{seq: true, comment: comment}
	src := make([]string, k)
	for i := range src {
		src[i] = slice("in0", i, xe.W)
	}
	outs, stages := b.macArray(&o, "", src, mac{xe: xe, we: we, dst: dst, w: w, bias: bias, aw: aw, af: af, ps: ps, bs: bs, pw: pw}, &g.layer)
	for j, e := range outs {
		o.f("  reg  [%d:0] y%d;\n  always @(posedge clk) if (en) y%d <= %s;\n", dst.W-1, j, j, e)
		o.f("  assign %s = y%d;\n", slice("out", j, dst.W), j)
	}
	g.layer.Registers += nn * dst.W
	g.layer.Reuse = 1
	g.latency = 2 + stages
	g.body = o.String()
	g.ii = 1
	return g, nil
}

// mac describes a constant-weight multiply-accumulate array: outputs
// y[n] = Σ_k x[k]·w[n][k] + bias[n], accumulated exactly (aw[n] bits, af
// fraction bits; products shifted left by ps, the bias by bs) and
// converted to dst.
type mac struct {
	xe, we, dst ir.Elem
	w           [][]int64
	bias        []int64
	aw          []int
	af, ps, bs  int
	pw          int
}

// macArray writes the products of the input words src (expressions of
// xe.W bits) by the constant weights into registers (stage 1), then an
// adder tree per output (the bias a constant term), and returns each
// output's converted expression (dst.W bits) for the caller to register,
// and the number of intermediate tree stages. Names are prefixed by p.
func (b *builder) macArray(o *vw, p string, src []string, m mac, layer *Layer) ([]string, int) {
	k, nn := len(src), len(m.w)
	w, bias, xe, pw, ps := m.w, m.bias, m.xe, m.pw, m.ps
	xmax := new(big.Int).Lsh(big.NewInt(1), uint(xe.W-1))
	used := make([]bool, k)
	for j := 0; j < nn; j++ {
		for i := 0; i < k; i++ {
			if w[j][i] != 0 {
				used[i] = true
			}
		}
	}
	for i := 0; i < k; i++ {
		if used[i] {
			o.f("  wire [%d:0] %sx%d_w = %s;\n", xe.W-1, p, i, src[i])
			o.f("  wire signed [%d:0] %sx%d = %s;\n", pw-1, p, i, sext(fmt.Sprintf("%sx%d_w", p, i), xe.W, pw))
		}
	}
	mults := 0
	o.f("  // products x[k]·w[k][n], registered (weights are constants; zero weights have no multiplier)\n")
	// each product is kept in the bits its weight needs: |x·w| <= 2^(Wx-1)·|w|
	pbound := make([][]*big.Int, nn)
	pwid := make([][]int, nn)
	for j := 0; j < nn; j++ {
		pbound[j] = make([]*big.Int, k)
		pwid[j] = make([]int, k)
		for i := 0; i < k; i++ {
			if w[j][i] != 0 {
				pbound[j][i] = new(big.Int).Mul(xmax, new(big.Int).Abs(big.NewInt(w[j][i])))
				pwid[j][i] = min(signedWidth(pbound[j][i]), pw)
				o.f("  reg  [%d:0] %sp%d_%d;\n", pwid[j][i]-1, p, j, i)
				mults++
			}
		}
	}
	var ff vw // the product registers' always block
	ff.f("  always @(posedge clk) if (en) begin\n")
	maxDigits := b.opts.ShiftAddDigits
	if maxDigits == 0 {
		maxDigits = DefaultShiftAddDigits
	}
	shiftAdds := 0
	for j := 0; j < nn; j++ {
		for i := 0; i < k; i++ {
			if w[j][i] == 0 {
				continue
			}
			x := fmt.Sprintf("%sx%d", p, i)
			mname := fmt.Sprintf("%sm%d_%d", p, j, i)
			if ds := csd(w[j][i]); len(ds) <= maxDigits {
				// constant coefficient: shifts and adds in LUTs, no DSP
				var terms []string
				for q, d := range ds {
					sh := x
					if d.shift > 0 {
						sh = fmt.Sprintf("{%s[%d:0], %d'b0}", x, pw-1-d.shift, d.shift)
					}
					switch {
					case q == 0 && d.neg:
						terms = append(terms, "- "+sh)
					case q == 0:
						terms = append(terms, sh)
					case d.neg:
						terms = append(terms, "- "+sh)
					default:
						terms = append(terms, "+ "+sh)
					}
				}
				expr := strings.Join(terms, " ")
				if strings.HasPrefix(expr, "- ") {
					expr = fmt.Sprintf("%d'd0 %s", pw, expr)
				}
				ff.f("    %sp%d_%d <= %s; // x · %d\n", p, j, i, narrow(o, mname, expr, pw, pwid[j][i]), w[j][i])
				shiftAdds++
				layer.AdderBits += (len(ds) - 1) * pw
				if len(ds) == 1 && ds[0].neg {
					layer.AdderBits += pw
				}
				continue
			}
			ff.f("    %sp%d_%d <= %s;\n", p, j, i, narrow(o, mname, fmt.Sprintf("%s * %s", x, lit(w[j][i], pw)), pw, pwid[j][i]))
		}
	}
	ff.f("  end\n")
	o.f("%s", ff.String())
	layer.ShiftAdd += shiftAdds
	layer.Multipliers += mults - shiftAdds
	layer.MultBits = [2]int{xe.W, m.we.W}
	for j := 0; j < nn; j++ {
		for i := 0; i < k; i++ {
			layer.Registers += pwid[j][i]
		}
	}
	// the adder trees, the same depth for every output
	maxTerms := 1
	for j := 0; j < nn; j++ {
		t := 0
		for i := 0; i < k; i++ {
			if w[j][i] != 0 {
				t++
			}
		}
		if bias != nil && bias[j] != 0 {
			t++
		}
		maxTerms = max(maxTerms, t)
	}
	levels := treeLevels(maxTerms)
	stages := 0
	o.f("  // adder trees (%d level(s)), the bias a constant term\n", levels)
	var outs []string
	for j := 0; j < nn; j++ {
		var terms []term
		for i := 0; i < k; i++ {
			if w[j][i] != 0 {
				terms = append(terms, term{shl(fmt.Sprintf("%sp%d_%d", p, j, i), ps), pwid[j][i] + ps, new(big.Int).Lsh(pbound[j][i], uint(ps))})
			}
		}
		c := new(big.Int)
		if bias != nil {
			c.Lsh(big.NewInt(bias[j]), uint(m.bs))
		}
		t := addTreeT(o, fmt.Sprintf("%st%d", p, j), terms, c, m.aw[j], levels, b.opts.AddLevelsPerStage)
		stages = t.stages
		layer.Registers += t.regs
		layer.Adders += t.adds
		layer.AdderBits += t.bits
		outs = append(outs, convert(o, fmt.Sprintf("%sy%d", p, j), t.root, t.w, m.af, m.dst))
	}
	return outs, stages
}

func biasNote(bias []int64, be ir.Elem) string {
	if bias == nil {
		return ""
	}
	return fmt.Sprintf(" + b %v[%d]", be, len(bias))
}

// extendShift sign-extends the net x (w bits) to aw bits with sh zero bits appended.
func extendShift(x string, w, aw, sh int) string {
	if sh == 0 {
		return sext(x, w, aw)
	}
	return fmt.Sprintf("{%s, %d'b0}", sext(x, w, aw-sh), sh)
}

// denseReuse generates a dense layer with reuse factor r > 1: M = K·N/r
// multipliers; multiplier m computes products m·r .. m·r+r−1 (in the
// order output-major, input-minor) over r cycles, reading its weights
// from a ROM (one .mem line per cycle) and accumulating per output.
func (b *builder) denseReuse(mod string, n *ir.Node, k, nn, r int, w [][]int64, bias []int64, xe, we, dst ir.Elem, pw, pf, af int, aw []int, comment []string) (gen, error) {
	var o vw
	o.f("%s", unusedNote)
	g := gen{seq: true, valid: true, comment: comment, ii: r}
	e := reuseEngine{mod: mod, n: n, in: "in0", inValid: "in_valid", k: k, nn: nn, r: r, w: w, bias: bias, xe: xe, we: we, dst: dst, pw: pw, pf: pf, af: af, aw: aw}
	ys := e.write(&o, &g)
	for out, y := range ys {
		o.f("  assign %s = %s;\n", slice("out", out, dst.W), y)
	}
	g.layer.Reuse = r
	g.latency = r + 3
	g.body = o.String()
	return g, nil
}

// reuseEngine is the time-multiplexed multiply-accumulate of a layer with
// reuse factor r: y[n] = Σ_k x[k]·w[n][k] + bias[n] for the K words of
// the bus in, latched when inValid is high (at most once every r cycles);
// the results are registered r + 3 cycles later, one cycle after dC.
type reuseEngine struct {
	mod         string // module name: the weight ROM is mod_w.mem
	n           *ir.Node
	in, inValid string
	k, nn, r    int
	w           [][]int64
	bias        []int64
	xe, we, dst ir.Elem
	pw, pf, af  int
	aw          []int
}

// write generates the engine into o (statistics and the ROM into g) and
// returns the output registers' names (dst words).
func (e reuseEngine) write(o *vw, g *gen) []string {
	n, k, nn, r, w, bias := e.n, e.k, e.nn, e.r, e.w, e.bias
	xe, we, dst, pw, pf, af, aw, mod := e.xe, e.we, e.dst, e.pw, e.pf, e.af, e.aw, e.mod
	m := k * nn / r
	ps := af - pf
	// weight ROM: line c holds the weights of cycle c for every multiplier
	var mem strings.Builder
	mask := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(we.W)), big.NewInt(1))
	digits := (m*we.W + 3) / 4
	for c := 0; c < r; c++ {
		line := new(big.Int)
		for j := m - 1; j >= 0; j-- {
			p := j*r + c
			v := new(big.Int).And(big.NewInt(w[p/k][p%k]), mask)
			line.Lsh(line, uint(we.W))
			line.Or(line, v)
		}
		fmt.Fprintf(&mem, "%0*x\n", digits, line)
	}
	g.mems = []file{{name: mod + "_w.mem", text: mem.String()}}
	g.layer.ROMBits = r * m * we.W
	cw := max(bitsFor(big.NewInt(int64(r-1))), 1)
	o.f("  // weights: %d cycles × %d multipliers in %s_w.mem\n", r, m, mod)
	o.f("  reg  [%d:0] wrom [0:%d];\n  initial $readmemh(\"%s_w.mem\", wrom);\n", m*we.W-1, r-1, mod)
	o.f("  reg  [%d:0] xr;   // the input vector, latched, then rotated down one word a cycle\n", k*xe.W-1)
	o.f("  reg  busy;\n  reg  [%d:0] cnt;\n", cw-1)
	o.f("  reg  vA, vB, dC;\n  reg  [%d:0] rA, rB;\n  reg  [%d:0] wq;\n", cw-1, m*we.W-1)
	o.f("  wire [%d:0] addr = %s ? %d'd0 : cnt;\n", cw-1, e.inValid, cw)
	o.f("  always @(posedge clk) begin\n")
	o.f("    if (rst) begin\n      busy <= 1'b0; vA <= 1'b0; vB <= 1'b0; dC <= 1'b0; cnt <= %d'd0;\n", cw)
	o.f("    end else if (en) begin\n")
	o.f("      if (%s) begin\n        busy <= 1'b1; cnt <= %d'd1;\n", e.inValid, cw)
	o.f("      end else if (busy) begin\n        cnt <= cnt + %d'd1;\n        if (cnt == %d'd%d) busy <= 1'b0;\n      end\n", cw, cw, r-1)
	o.f("      vA <= %s | busy;\n      vB <= vA;\n      dC <= vB & (rB == %d'd%d);\n", e.inValid, cw, r-1)
	o.f("    end\n  end\n")
	o.f("  // stage A: latch the input, read this cycle's weights\n")
	// Multiplier j's product at cycle c reads x[(j·r + c) mod K]: rotating
	// the latched vector down one word per cycle brings that word to the
	// fixed position (j·r) mod K, so no multiplier needs an input multiplexer.
	o.f("  always @(posedge clk) if (en) begin\n    if (%s) xr <= %s;\n", e.inValid, e.in)
	if k > 1 {
		o.f("    else if (busy) xr <= {xr[%d:0], xr[%d:%d]};\n", xe.W-1, k*xe.W-1, xe.W)
	}
	o.f("    rA <= addr;\n    wq <= wrom[addr];\n    rB <= rA;\n  end\n")
	o.f("  // stage B: the %d multipliers\n", m)
	for j := 0; j < m; j++ {
		k0 := (j * r) % k
		o.f("  wire [%d:0] xs%d_w = %s;\n", xe.W-1, j, slice("xr", k0, xe.W))
		o.f("  wire signed [%d:0] xs%d = %s;\n", pw-1, j, sext(fmt.Sprintf("xs%d_w", j), xe.W, pw))
		o.f("  wire [%d:0] ws%d_w = wq[%d:%d];\n", we.W-1, j, (j+1)*we.W-1, j*we.W)
		o.f("  wire signed [%d:0] ws%d = %s;\n", pw-1, j, sext(fmt.Sprintf("ws%d_w", j), we.W, pw))
		o.f("  reg  [%d:0] pr%d;\n  always @(posedge clk) if (en) pr%d <= xs%d * ws%d;\n", pw-1, j, j, j, j)
	}
	// stage C: accumulators, one per (multiplier, output) segment
	o.f("  // stage C: accumulate each multiplier's products per output\n")
	type seg struct{ m, lo, hi int }
	segs := make([][]seg, nn)
	accs := 0
	for j := 0; j < m; j++ {
		for c := 0; c < r; {
			p := j*r + c
			out := p / k
			hi := min(r-1, (out+1)*k-1-j*r)
			segs[out] = append(segs[out], seg{j, c, hi})
			name := fmt.Sprintf("a%d_%d", j, out)
			awd := aw[out]
			o.f("  reg  [%d:0] %s;\n", awd-1, name)
			pe := sext(fmt.Sprintf("pr%d", j), pw, awd)
			if c == hi {
				o.f("  always @(posedge clk) if (en && vB && rB == %d'd%d) %s <= %s;\n", cw, c, name, pe)
			} else {
				o.f("  always @(posedge clk) if (en && vB) begin\n")
				o.f("    if (rB == %d'd%d) %s <= %s;\n", cw, c, name, pe)
				cond := fmt.Sprintf("rB > %d'd%d && rB <= %d'd%d", cw, c, cw, hi)
				if hi == 1<<uint(cw)-1 { // the counter's largest value: no upper bound
					cond = fmt.Sprintf("rB > %d'd%d", cw, c)
				}
				o.f("    else if (%s) %s <= %s + %s;\n", cond, name, name, pe)
				o.f("  end\n")
			}
			g.layer.Registers += awd
			g.layer.Adders++
			g.layer.AdderBits += awd
			accs++
			c = hi + 1
		}
	}
	g.layer.Multipliers = m
	g.layer.MultBits = [2]int{xe.W, we.W}
	g.layer.LogicBits = k * xe.W // load or rotate the input vector
	g.layer.Registers += m*pw + k*xe.W + m*we.W + 3*cw + 4
	// stage D: sum the segments of each output, add the bias, convert
	var ys []string
	o.f("  // stage D: sum the partial sums of each output with the bias\n")
	for out := 0; out < nn; out++ {
		var terms []string
		for _, s := range segs[out] {
			terms = append(terms, extendShift(fmt.Sprintf("a%d_%d", s.m, out), aw[out]-ps, aw[out], ps))
		}
		c := new(big.Int)
		if bias != nil {
			c.Lsh(big.NewInt(bias[out]), uint(af-biasFrac(n)))
		}
		t := addTree(o, fmt.Sprintf("t%d", out), terms, c, aw[out], treeLevels(len(terms)+1), 0)
		g.layer.Adders += t.adds
		g.layer.AdderBits += t.bits
		y := convert(o, fmt.Sprintf("y%d", out), t.root, aw[out], af, dst)
		o.f("  reg  [%d:0] y%d;\n  always @(posedge clk) if (en && dC) y%d <= %s;\n", dst.W-1, out, out, y)
		ys = append(ys, fmt.Sprintf("y%d", out))
	}
	g.layer.Registers += nn * dst.W
	return ys
}

func biasFrac(n *ir.Node) int {
	if len(n.Inputs) == 3 {
		return n.Inputs[2].Type.Elem.Frac()
	}
	return 0
}

// reduce generates reduce_sum (an adder tree followed by a register) and
// reduce_max (a comparator tree, combinational unless adder levels per
// stage are limited, when it is registered too).
func (b *builder) reduce(n *ir.Node, ops []operand) (gen, error) {
	x := ops[0]
	set, err := ir.ReduceAxes(n, len(x.shape))
	if err != nil {
		return gen{}, fmt.Errorf("verilog: %s: %v", n.Where(), err)
	}
	// group the input words by output word
	cnt := n.Out.Type.Shape.Elements()
	groups := make([][]int, cnt)
	st := x.shape.Strides()
	for i := 0; i < x.shape.Elements(); i++ {
		o := 0
		for d := range x.shape {
			if !set[d] {
				o = o*x.shape[d] + (i/st[d])%x.shape[d]
			}
		}
		groups[o] = append(groups[o], i)
	}
	dst := n.Out.Type.Elem
	xw := x.e.W
	var o vw
	o.f("%s", unusedNote)
	g := gen{seq: true, latency: 1}
	// Comparator trees join the next stage unless adder levels are limited.
	comb := n.Op == "reduce_max" && b.opts.AddLevelsPerStage == 0
	if comb {
		g = gen{}
	}
	for j, grp := range groups {
		if n.Op == "reduce_max" {
			cur := make([]string, len(grp))
			for q, i := range grp {
				cur[q] = fmt.Sprintf("m%d_0_%d", j, q)
				o.f("  wire signed [%d:0] %s = %s;\n", xw-1, cur[q], slice("in0", i, xw))
			}
			for l := 1; len(cur) > 1; l++ {
				var next []string
				for q := 0; q < len(cur); q += 2 {
					if q+1 == len(cur) {
						next = append(next, cur[q])
						continue
					}
					name := fmt.Sprintf("m%d_%d_%d", j, l, q/2)
					o.f("  wire signed [%d:0] %s = (%s > %s) ? %s : %s;\n", xw-1, name, cur[q], cur[q+1], cur[q], cur[q+1])
					g.layer.Adders++
					g.layer.AdderBits += xw
					next = append(next, name)
				}
				cur = next
			}
			if comb {
				o.f("  assign %s = %s;\n", slice("out", j, xw), cur[0])
				continue
			}
			o.f("  reg  [%d:0] y%d;\n  always @(posedge clk) if (en) y%d <= %s;\n", xw-1, j, j, cur[0])
			o.f("  assign %s = y%d;\n", slice("out", j, xw), j)
			g.layer.Registers += xw
			continue
		}
		aw := xw + treeLevels(len(grp))
		aw = max(aw, dst.W)
		var terms []string
		for q, i := range grp {
			name := fmt.Sprintf("s%d_w%d", j, q)
			o.f("  wire [%d:0] %s = %s;\n", xw-1, name, slice("in0", i, xw))
			terms = append(terms, sext(name, xw, aw))
		}
		levels := treeLevels(len(grp))
		t := addTree(&o, fmt.Sprintf("t%d", j), terms, new(big.Int), aw, levels, b.opts.AddLevelsPerStage)
		g.latency = 1 + t.stages
		g.layer.Adders += t.adds
		g.layer.AdderBits += t.bits
		g.layer.Registers += t.regs + dst.W
		e := convert(&o, fmt.Sprintf("y%d", j), t.root, aw, x.e.Frac(), dst)
		o.f("  reg  [%d:0] y%d;\n  always @(posedge clk) if (en) y%d <= %s;\n", dst.W-1, j, j, e)
		o.f("  assign %s = y%d;\n", slice("out", j, dst.W), j)
	}
	g.body = o.String()
	return g, nil
}

// DefaultShiftAddDigits is the default of Options.ShiftAddDigits.
const DefaultShiftAddDigits = 3

type digit struct {
	shift int
	neg   bool
}

// csd is the canonical signed-digit form of v: the fewest ±2^k terms
// (non-adjacent form), least significant first.
func csd(v int64) []digit {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	var ds []digit
	for k := 0; u != 0; k++ {
		if u&1 == 1 {
			if u&3 == 3 { // ...11: -1 here, carry up
				ds = append(ds, digit{k, !neg})
				u++
			} else {
				ds = append(ds, digit{k, neg})
				u--
			}
		}
		u >>= 1
	}
	return ds
}

// narrow keeps the low w bits of a width-pw expression (the value is
// known to fit them), through a wire named name when w < pw.
func narrow(o *vw, name, expr string, pw, w int) string {
	if w == pw {
		return expr
	}
	o.f("  wire [%d:0] %s = %s;\n", pw-1, name, expr)
	return fmt.Sprintf("%s[%d:0]", name, w-1)
}
