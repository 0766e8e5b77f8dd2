package quantize

import (
	"fmt"
	"math"

	"wdc/ir"
	"wdc/runtime"
)

// Ranges runs the float graph g on every sample and returns the largest
// magnitude seen in each node result and graph input, by name.
func Ranges(g *ir.Graph, samples []map[string]*ir.Tensor) (map[string]float64, error) {
	r := map[string]float64{}
	note := func(name string, t *ir.Tensor) {
		m := r[name]
		for i := 0; i < t.Len(); i++ {
			if a := math.Abs(t.Float(i)); a > m {
				m = a
			}
		}
		r[name] = m
	}
	for k, s := range samples {
		for name, t := range s {
			note(name, t)
		}
		if _, err := runtime.RunObserved(g, s, func(n *ir.Node, out *ir.Tensor) { note(n.Name(), out) }); err != nil {
			return nil, fmt.Errorf("calibration sample %d: %v", k, err)
		}
	}
	return r, nil
}

// Calibrate returns base with per-layer precisions chosen from data: each
// layer's result (and each graph input) keeps its word width W but gets
// the fewest integer bits that hold the largest magnitude seen on the
// samples plus base.CalibMargin; weights and biases get the fewest
// integer bits that hold their largest value after rounding.
func Calibrate(g *ir.Graph, samples []map[string]*ir.Tensor, base Config) (Config, error) {
	if err := base.check(); err != nil {
		return base, err
	}
	if len(samples) == 0 {
		return base, fmt.Errorf("calibration needs at least one sample")
	}
	q := &quantizer{cfg: &base, src: g, users: g.Users(), outputs: map[string]bool{}}
	for _, o := range g.Outputs {
		q.outputs[o.Name] = true
	}
	layers, err := q.plan()
	if err != nil {
		return base, err
	}
	ranges, err := Ranges(g, samples)
	if err != nil {
		return base, err
	}
	c := base
	c.Layers = map[string]Layer{}
	for k, v := range base.Layers {
		c.Layers[k] = v
	}
	fit := func(e ir.Elem, maxAbs float64, margin int) ir.Elem {
		i := min(IntBits(maxAbs)+margin, e.W)
		return ir.Elem{Kind: ir.Fixed, W: e.W, I: i, Round: e.Round, Ovf: e.Ovf}
	}
	fitConst := func(e ir.Elem, t *ir.Tensor) ir.Elem {
		m := 0.0
		for i := 0; i < t.Len(); i++ {
			m = max(m, math.Abs(t.Float(i)))
		}
		f := fit(e, m, 0)
		for f.I < f.W && !Fits(m, f, base.WeightRound) && !Fits(-m, f, base.WeightRound) {
			f.I++
		}
		return f
	}
	for _, v := range g.Inputs {
		l := c.Layers[v.Name]
		l.Result = fit(base.inputType(v.Name), ranges[v.Name], base.CalibMargin)
		c.Layers[v.Name] = l
	}
	for _, ly := range layers {
		names := ly.names()
		key := ly.last().Name()
		l := c.Layers[key]
		switch ly.kind {
		case "dense", "conv", "batch_norm", "add", "sub", "mul", "softmax", "sigmoid", "tanh":
			l.Result = fit(base.resultType(names...), ranges[key], base.CalibMargin)
		default:
			continue
		}
		switch ly.kind {
		case "dense", "conv":
			l.Weight = fitConst(base.weightType(names...), ly.w)
			l.Bias = fitConst(base.biasType(names...), ly.b)
		case "batch_norm":
			a, b := bnAffine(ly.nodes[0])
			l.Weight = fitConst(base.weightType(names...), ir.FromFloats(ir.Shape{len(a)}, f32s(a)))
			l.Bias = fitConst(base.biasType(names...), ir.FromFloats(ir.Shape{len(b)}, f32s(b)))
		}
		c.Layers[key] = l
	}
	return c, nil
}
