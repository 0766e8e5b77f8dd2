package verilog

import (
	"fmt"
	"math/big"
	"strings"

	"wdc/ir"
)

// conv generates a streamed 2-d convolution: the image (NCHW, batch 1)
// is latched and shifted out one pixel (all channels) per cycle in
// raster order over the padded plane; a line buffer (a shift register of
// (K1−1)·Wp + K2 pixels) presents the K1×K2 window, and a MAC array of
// M·C·K1·K2 constant multipliers computes one output pixel (all M
// channels) per cycle where a window is complete; results shift into the
// output image. Latency Hp·Wp + 3 (+ adder stages), one image every
// Hp·Wp + 1 cycles.
func (b *builder) conv(mod string, n *ir.Node, ops []operand) (gen, error) {
	x := ops[0]
	if len(x.shape) != 4 || x.shape[0] != 1 {
		return gen{}, fmt.Errorf("verilog: %s: the Verilog target streams 2-d images of batch 1, got %v", n.Where(), x.shape)
	}
	if x.c != nil || ops[1].c == nil || (len(ops) == 3 && ops[2].c == nil) {
		return gen{}, fmt.Errorf("verilog: %s: the Verilog target needs a dynamic image and constant weights and bias", n.Where())
	}
	if n.Int("group") != 1 {
		return gen{}, fmt.Errorf("verilog: %s: grouped convolution (group %d) is not supported by the Verilog target", n.Where(), n.Int("group"))
	}
	ws := ops[1].shape
	C, H, W := x.shape[1], x.shape[2], x.shape[3]
	M, K1, K2 := ws[0], ws[2], ws[3]
	win := ir.ConvWindow(n, 2, []int{K1, K2})
	if win.Dilations[0] != 1 || win.Dilations[1] != 1 {
		return gen{}, fmt.Errorf("verilog: %s: dilated convolution is not supported by the Verilog target", n.Where())
	}
	s1, s2 := win.Strides[0], win.Strides[1]
	pt, pl, pb, pr := win.PadBegin[0], win.PadBegin[1], win.PadEnd[0], win.PadEnd[1]
	Hp, Wp := H+pt+pb, W+pl+pr
	Ho, Wo := n.Out.Type.Shape[2], n.Out.Type.Shape[3]
	xe, we := x.e, ops[1].e
	dst := n.Out.Type.Elem
	xw, dw := xe.W, dst.W
	// weights as w[m][k], k = (c·K1 + i)·K2 + j
	K := C * K1 * K2
	wt := ops[1].c.I
	w := make([][]int64, M)
	for m := range w {
		w[m] = wt[m*K : (m+1)*K]
	}
	var bias []int64
	var be ir.Elem
	if len(ops) == 3 {
		be = ops[2].e
		bias = make([]int64, M)
		for m := range bias {
			bias[m] = ops[2].c.I[bcastIndex(ir.Shape{M}, ops[2].shape, m)]
		}
	}
	pw := xe.W + we.W
	pf := xe.Frac() + we.Frac()
	af := pf
	if bias != nil {
		af = max(af, be.Frac())
	}
	ps, bs := af-pf, af-be.Frac()
	aw := accWidths(w, bias, xe, ps, bs, pw)

	R, err := convReuseOf(n, b.opts)
	if err != nil {
		return gen{}, err
	}
	var o vw
	o.f("%s", unusedNote)
	g := gen{seq: true, valid: true, comment: []string{
		fmt.Sprintf("x %v[1,%d,%d,%d] * w %v[%d,%d,%d,%d]%s, strides %d,%d, pads %d,%d,%d,%d; padded plane %d×%d",
			xe, C, H, W, we, M, C, K1, K2, biasNote(bias, be), s1, s2, pt, pl, pb, pr, Hp, Wp),
		fmt.Sprintf("streamed: one padded pixel per cycle, line buffer of %d pixels, MAC array of %d products, one image every %d cycles", (K1-1)*Wp+K2, M*K, Hp*Wp+1),
	}}
	step := "run" // the stream advances one pixel
	if R > 1 {
		g.comment[1] = fmt.Sprintf("streamed: one padded pixel every %d cycles (reuse factor %d), line buffer of %d pixels, %d multipliers over %d products (weights in %s_w.mem), one image every %d cycles",
			R, R, (K1-1)*Wp+K2, M*K/R, M*K, mod, Hp*Wp*R+1)
		step = "step"
	}
	px := C * xw // bits of one pixel (all channels)
	N := H * W * px
	// One shift register per input channel (its plane is contiguous in the
	// CHW input), so no wide re-ordering of the image is needed: a pixel's
	// channels are the low words of the C registers.
	plane := H * W * xw
	rw := max(bitsFor(big.NewInt(int64(Hp-1))), 1)
	cw := max(bitsFor(big.NewInt(int64(Wp-1))), 1)
	bitsOf := func(n int, f func(i int) bool) string {
		var sb strings.Builder
		for i := n - 1; i >= 0; i-- {
			if f(i) {
				sb.WriteByte('1')
			} else {
				sb.WriteByte('0')
			}
		}
		return fmt.Sprintf("%d'b%s", n, sb.String())
	}
	ok := func(p, k, s, pad, out int) bool {
		d := p - (k - 1)
		return d >= 0 && d%s == 0 && d/s < out
	}
	o.f("  // per padded row / column: padding, and whether a window ends there\n")
	o.f("  wire [%d:0] rowpad = %s;\n", Hp-1, bitsOf(Hp, func(i int) bool { return i < pt || i >= pt+H }))
	o.f("  wire [%d:0] colpad = %s;\n", Wp-1, bitsOf(Wp, func(i int) bool { return i < pl || i >= pl+W }))
	o.f("  wire [%d:0] rowok = %s;\n", Hp-1, bitsOf(Hp, func(i int) bool { return ok(i, K1, s1, pt, Ho) }))
	o.f("  wire [%d:0] colok = %s;\n", Wp-1, bitsOf(Wp, func(i int) bool { return ok(i, K2, s2, pl, Wo) }))
	for c := 0; c < C; c++ {
		o.f("  reg  [%d:0] xr%d;      // channel %d of the latched image, shifted out pixel by pixel\n", plane-1, c, c)
	}
	o.f("  reg  run;\n  reg  [%d:0] pr;\n  reg  [%d:0] pc;\n  reg  winv;\n", rw-1, cw-1)
	o.f("  wire pad = %s | %s;\n", bitAt("rowpad", "pr", Hp), bitAt("colpad", "pc", Wp))
	lows := make([]string, C)
	for c := 0; c < C; c++ {
		lows[c] = fmt.Sprintf("xr%d[%d:0]", c, xw-1)
	}
	o.f("  wire [%d:0] pix = pad ? %d'd0 : {%s};\n", px-1, px, joinRev(lows))
	lb := (K1-1)*Wp + K2
	o.f("  reg  [%d:0] lb;      // line buffer: lb pixel 0 is the newest\n", lb*px-1)
	if R > 1 {
		phw := max(bitsFor(big.NewInt(int64(R-1))), 1)
		o.f("  reg  [%d:0] ph;      // cycle within a pixel's %d\n", phw-1, R)
		o.f("  wire step = run & (ph == %d'd%d);\n", phw, R-1)
		o.f("  always @(posedge clk)\n    if (rst) ph <= %d'd0;\n    else if (en) begin\n", phw)
		o.f("      if (in_valid || step) ph <= %d'd0;\n      else if (run) ph <= ph + %d'd1;\n    end\n", phw, phw)
		g.layer.Registers += phw
	}
	o.f("  always @(posedge clk) begin\n")
	o.f("    if (rst) begin\n      run <= 1'b0; winv <= 1'b0; pr <= %d'd0; pc <= %d'd0;\n", rw, cw)
	o.f("    end else if (en) begin\n")
	o.f("      if (in_valid) begin\n        run <= 1'b1; pr <= %d'd0; pc <= %d'd0;\n", rw, cw)
	o.f("      end else if (%s) begin\n", step)
	o.f("        if (pc == %d'd%d) begin\n          pc <= %d'd0;\n", cw, Wp-1, cw)
	o.f("          if (pr == %d'd%d) run <= 1'b0; else pr <= pr + %d'd1;\n", rw, Hp-1, rw)
	o.f("        end else pc <= pc + %d'd1;\n      end\n", cw)
	o.f("      winv <= %s & %s & %s;\n", step, bitAt("rowok", "pr", Hp), bitAt("colok", "pc", Wp))
	o.f("    end\n  end\n")
	o.f("  always @(posedge clk) if (en) begin\n")
	for c := 0; c < C; c++ {
		if H*W > 1 {
			o.f("    if (in_valid) xr%d <= in0[%d:%d];\n    else if (%s & ~pad) xr%d <= {%d'd0, xr%d[%d:%d]};\n", c, (c+1)*plane-1, c*plane, step, c, xw, c, plane-1, xw)
		} else {
			o.f("    if (in_valid) xr%d <= in0[%d:%d];\n", c, (c+1)*plane-1, c*plane)
		}
	}
	if lb > 1 {
		o.f("    if (%s) lb <= {lb[%d:0], pix};\n", step, (lb-1)*px-1)
	} else {
		o.f("    if (%s) lb <= pix;\n", step)
	}
	o.f("  end\n")
	// the window taps
	src := make([]string, K)
	for c := 0; c < C; c++ {
		for i := 0; i < K1; i++ {
			for j := 0; j < K2; j++ {
				d := (K1-1-i)*Wp + (K2 - 1 - j)
				src[(c*K1+i)*K2+j] = slice("lb", d*C+c, xw)
			}
		}
	}
	var outs []string
	tstages := 0
	valid := "" // the output pixel's valid
	if R > 1 {
		// the window, latched when it is complete, feeds a time-multiplexed MAC
		o.f("  wire [%d:0] win = {%s};\n", K*xw-1, joinRev(src))
		e := reuseEngine{mod: mod, n: n, in: "win", inValid: "winv", k: K, nn: M, r: R, w: w, bias: bias, xe: xe, we: we, dst: dst, pw: pw, pf: pf, af: af, aw: aw}
		outs = e.write(&o, &g)
		o.f("  reg  yv;          // the output pixel's words are in y0..y%d\n", M-1)
		o.f("  always @(posedge clk) if (rst) yv <= 1'b0; else if (en) yv <= dC;\n")
		valid = "en && yv"
		g.layer.Reuse = R
	} else {
		outs, tstages = b.macArray(&o, "", src, mac{xe: xe, we: we, dst: dst, w: w, bias: bias, aw: aw, af: af, ps: ps, bs: bs, pw: pw}, &g.layer)
		valid = fmt.Sprintf("en && tv[%d]", tstages)
	}
	// casts and ReLUs that only read this layer's result, applied per output pixel
	chain := b.epilogue(n)
	var pool *ir.Node
	if len(chain) > 0 && chain[len(chain)-1].Op == "max_pool" {
		pool = chain[len(chain)-1]
	}
	if len(chain) > 0 {
		fe := dst
		for m := range outs {
			name := fmt.Sprintf("z%d", m)
			o.f("  wire [%d:0] %s = %s;\n", dst.W-1, name, outs[m])
			outs[m], fe = applyEpilogue(&o, name, name, dst, chain, &g.layer)
		}
		dw = fe.W
		var note string
		g.out, note = b.fuse(n, chain)
		g.comment = append(g.comment, note)
	}
	if R == 1 {
		// valid of the products, then of each adder stage
		o.f("  reg  [%d:0] tv;      // tv[0]: products valid; tv[%d]: sums valid\n", tstages, tstages)
		if tstages == 0 {
			o.f("  always @(posedge clk) if (rst) tv <= 1'b0; else if (en) tv[0] <= winv;\n")
		} else {
			o.f("  always @(posedge clk) if (rst) tv <= %d'd0; else if (en) tv <= {tv[%d:0], winv};\n", tstages+1, tstages-1)
		}
	}
	opx := M * dw
	no := Ho * Wo
	// one shift register per output channel: the CHW output is their concatenation
	om := no * dw
	for m := 0; m < M; m++ {
		o.f("  wire [%d:0] yp%d = %s;\n", dw-1, m, outs[m])
		if pool != nil {
			continue
		}
		o.f("  reg  [%d:0] yo%d;      // output channel %d, the first pixel at the bottom\n", om-1, m, m)
		if no > 1 {
			o.f("  always @(posedge clk) if (%s) yo%d <= {yp%d, yo%d[%d:%d]};\n", valid, m, m, m, om-1, dw)
		} else {
			o.f("  always @(posedge clk) if (%s) yo%d <= yp%d;\n", valid, m, m)
		}
		o.f("  assign out[%d:%d] = yo%d;\n", (m+1)*om-1, m*om, m)
	}
	if pool != nil {
		yp := make([]string, M)
		for m := range yp {
			yp[m] = fmt.Sprintf("yp%d", m)
		}
		g.layer.Registers += poolStream(&o, pool, valid, yp, dw, Ho, Wo)
		g.layer.Adders += M
		g.layer.AdderBits += M * dw
	} else {
		g.layer.Registers += no * opx
	}
	g.layer.Registers += N + lb*px + rw + cw + 2 + tstages + 1
	g.layer.LogicBits += px + opx
	g.latency = Hp*Wp + 3 + tstages
	g.ii = Hp*Wp + 1
	if R > 1 {
		// the last window is complete Hp·Wp·R + 1 cycles after the image,
		// the MAC takes R + 3 more, the output register one
		g.latency = Hp*Wp*R + R + 5
		g.ii = Hp*Wp*R + 1
	}
	g.body = o.String()
	return g, nil
}

// bitAt indexes a constant bit vector of n bits by a counter.
func bitAt(vec, idx string, n int) string {
	if n == 1 {
		return vec + "[0]"
	}
	return fmt.Sprintf("%s[%s]", vec, idx)
}

// joinRev concatenates words with the first at the low end.
func joinRev(xs []string) string {
	r := make([]string, len(xs))
	for i, x := range xs {
		r[len(xs)-1-i] = x
	}
	return strings.Join(r, ", ")
}

// accWidths is the exact accumulator width per output: |Σ| <=
// Σ|w|·2^(Wx−1)·2^ps + |b|·2^bs.
func accWidths(w [][]int64, bias []int64, xe ir.Elem, ps, bs, pw int) []int {
	xmax := new(big.Int).Lsh(big.NewInt(1), uint(xe.W-1))
	aw := make([]int, len(w))
	for j := range w {
		s := new(big.Int)
		for _, v := range w[j] {
			s.Add(s, new(big.Int).Abs(big.NewInt(v)))
		}
		s.Mul(s, xmax)
		s.Lsh(s, uint(ps))
		if bias != nil {
			s.Add(s, new(big.Int).Lsh(new(big.Int).Abs(big.NewInt(bias[j])), uint(bs)))
		}
		aw[j] = max(signedWidth(s), pw+ps, 2)
	}
	return aw
}

// maxPool: a comparator tree per output over its window (padding never
// wins), combinational: it joins the next stage.
func maxPool(n *ir.Node, ops []operand) (gen, error) {
	x := ops[0]
	if len(x.shape) != 4 || x.shape[0] != 1 {
		return gen{}, fmt.Errorf("verilog: %s: the Verilog target pools 2-d images of batch 1, got %v", n.Where(), x.shape)
	}
	win := ir.PoolWindow(n, 2)
	C, H, W := x.shape[1], x.shape[2], x.shape[3]
	Ho, Wo := n.Out.Type.Shape[2], n.Out.Type.Shape[3]
	xw := x.e.W
	var o vw
	o.f("%s", unusedNote)
	g := gen{}
	for c := 0; c < C; c++ {
		for oh := 0; oh < Ho; oh++ {
			for ow := 0; ow < Wo; ow++ {
				var cur []string
				for i := 0; i < win.Kernel[0]; i++ {
					for j := 0; j < win.Kernel[1]; j++ {
						r := oh*win.Strides[0] - win.PadBegin[0] + i*win.Dilations[0]
						q := ow*win.Strides[1] - win.PadBegin[1] + j*win.Dilations[1]
						if r < 0 || r >= H || q < 0 || q >= W {
							continue
						}
						name := fmt.Sprintf("m%d_%d_%d_0_%d", c, oh, ow, len(cur))
						o.f("  wire signed [%d:0] %s = %s;\n", xw-1, name, slice("in0", (c*H+r)*W+q, xw))
						cur = append(cur, name)
					}
				}
				for l := 1; len(cur) > 1; l++ {
					var next []string
					for k := 0; k < len(cur); k += 2 {
						if k+1 == len(cur) {
							next = append(next, cur[k])
							continue
						}
						name := fmt.Sprintf("m%d_%d_%d_%d_%d", c, oh, ow, l, k/2)
						o.f("  wire signed [%d:0] %s = (%s > %s) ? %s : %s;\n", xw-1, name, cur[k], cur[k+1], cur[k], cur[k+1])
						g.layer.Adders++
						g.layer.AdderBits += xw
						next = append(next, name)
					}
					cur = next
				}
				o.f("  assign %s = %s;\n", slice("out", (c*Ho+oh)*Wo+ow, xw), cur[0])
			}
		}
	}
	g.body = o.String()
	return g, nil
}
