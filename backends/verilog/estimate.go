package verilog

// estimate is wdc's analytic resource estimate from the generated layers:
//   - a multiplier of a×b bits (a >= b) takes ⌈a/25⌉·⌈b/18⌉ DSP48 slices;
//   - an adder or comparator takes one LUT per bit (the carry chain);
//     casts, ReLU, multiplexers and lookup-table read ports count their
//     LogicBits (one LUT per output bit, ⌈entries/64⌉ per bit for a ROM);
//   - weight ROMs of reuse layers of at least 1 Kib go to 18 Kib block
//     RAMs, counted in RAMB36 units (two 18 Kib halves);
//   - every register bit is one flip-flop (pipeline, delay lines, valid bits).
func estimate(d *Design) Resources {
	var r Resources
	bram18 := 0
	for _, l := range d.Layers {
		e, b18 := layerEstimate(l)
		r.LUT += e.LUT
		r.FF += e.FF
		r.DSP += e.DSP
		bram18 += b18
	}
	r.FF += d.DelayBits + d.LatencyCycles
	r.BRAM = ceilDiv(bram18, 2)
	return r
}

// LayerEstimate is the analytic estimate of one layer's module alone (the
// top level's delay lines and valid bits are not in it). Its BRAM count is
// rounded up to whole RAMB36 per layer, so the layers' BRAMs may add up to
// more than Design.Estimate's, which pairs the 18 Kib halves across layers.
func LayerEstimate(l Layer) Resources {
	r, b18 := layerEstimate(l)
	r.BRAM = ceilDiv(b18, 2)
	return r
}

// layerEstimate returns a layer's LUT, FF and DSP estimate and the number
// of 18 Kib block RAMs its weight ROM takes.
func layerEstimate(l Layer) (Resources, int) {
	var r Resources
	a, b := l.MultBits[0], l.MultBits[1]
	if a < b {
		a, b = b, a
	}
	if l.Multipliers > 0 && a > 0 {
		r.DSP = l.Multipliers * ceilDiv(a, 25) * ceilDiv(b, 18)
	}
	r.LUT = l.AdderBits + l.LogicBits
	r.FF = l.Registers
	bram18 := 0
	if l.Reuse > 1 && l.ROMBits >= 1024 {
		bram18 = ceilDiv(l.ROMBits, 18*1024)
	}
	return r, bram18
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
