package verilog

import (
	"fmt"

	"wdc/ir"
)

// convReuseOf returns a convolution's reuse factor (Options.Reuse by node
// name; Options.ReuseFactor is for dense layers only), checking that it
// divides the layer's M·C·K1·K2 products. With R > 1 the layer has
// M·C·K1·K2/R multipliers whose weights come from a ROM, the pixel stream
// advances one pixel every R cycles, and each complete window goes
// through the same time-multiplexed multiply-accumulate as a dense layer
// with reuse factor R (reuseEngine).
func convReuseOf(n *ir.Node, opts Options) (int, error) {
	r, ok := opts.Reuse[n.Name()]
	if !ok || r == 1 {
		return 1, nil
	}
	if r < 1 {
		return 0, fmt.Errorf("verilog: %s: reuse factor %d must be positive", n.Where(), r)
	}
	ws := n.Inputs[1].Type.Shape
	if len(ws) != 4 {
		return 0, fmt.Errorf("verilog: %s: a reuse factor needs 2-d convolution weights [M,C,K1,K2], got %v", n.Where(), ws)
	}
	p := ws.Elements()
	if p%r != 0 {
		return 0, fmt.Errorf("verilog: %s: reuse factor %d does not divide the layer's %d×%d×%d×%d = %d multiplications (divisors near it: %s)",
			n.Where(), r, ws[0], ws[1], ws[2], ws[3], p, nearDivisors(p, r))
	}
	return r, nil
}
