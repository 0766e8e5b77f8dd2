package loop

import (
	"fmt"
	"math/rand"

	"wdc/ir"
)

// ConvCases are conv layers covering what the convolution algorithms
// must handle: output sizes that are and are not multiples of the
// Winograd tile, padding (symmetric, asymmetric), 1×1 and 5×5 kernels,
// batches, bias, and (for direct and im2col only) strides, dilations,
// groups and 1-d convolutions.
func ConvCases() []OpCase {
	s := func(d ...int) ir.Shape { return ir.Shape(d) }
	pads := func(v ...int64) ir.Attrs { return ir.Attrs{"pads": ir.IntsAttr(v...)} }
	return []OpCase{
		{Name: "conv3x3_pad1_8x8", Op: "conv", Shapes: []ir.Shape{s(1, 3, 8, 8), s(4, 3, 3, 3), s(4)}, Attrs: pads(1, 1, 1, 1)},
		{Name: "conv3x3_pad1_7x9", Op: "conv", Shapes: []ir.Shape{s(2, 5, 7, 9), s(6, 5, 3, 3), s(6)}, Attrs: pads(1, 1, 1, 1)},
		{Name: "conv3x3_valid_11x6", Op: "conv", Shapes: []ir.Shape{s(1, 4, 11, 6), s(3, 4, 3, 3)}},
		{Name: "conv3x3_asym_pads", Op: "conv", Shapes: []ir.Shape{s(1, 2, 6, 5), s(3, 2, 3, 3), s(3)}, Attrs: pads(0, 2, 1, 0)},
		{Name: "conv3x3_16ch_14x14", Op: "conv", Shapes: []ir.Shape{s(1, 16, 14, 14), s(16, 16, 3, 3), s(16)}, Attrs: pads(1, 1, 1, 1)},
		{Name: "conv5x5_pad2", Op: "conv", Shapes: []ir.Shape{s(1, 3, 12, 12), s(4, 3, 5, 5), s(4)}, Attrs: pads(2, 2, 2, 2)},
		{Name: "conv5x5_valid_odd", Op: "conv", Shapes: []ir.Shape{s(2, 2, 13, 10), s(3, 2, 5, 5)}},
		{Name: "conv7x4_rect", Op: "conv", Shapes: []ir.Shape{s(1, 2, 15, 9), s(2, 2, 7, 4), s(2)}, Attrs: pads(3, 1, 3, 2)},
		{Name: "conv1x1", Op: "conv", Shapes: []ir.Shape{s(1, 8, 5, 5), s(4, 8, 1, 1), s(4)}},
		{Name: "conv3x3_stride2", Op: "conv", Shapes: []ir.Shape{s(1, 3, 9, 9), s(4, 3, 3, 3), s(4)}, Attrs: ir.Attrs{"strides": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(1, 1, 1, 1)}},
		{Name: "conv3x3_dil2", Op: "conv", Shapes: []ir.Shape{s(1, 2, 9, 9), s(3, 2, 3, 3)}, Attrs: ir.Attrs{"dilations": ir.IntsAttr(2, 2)}},
		{Name: "conv3x3_group2", Op: "conv", Shapes: []ir.Shape{s(1, 4, 6, 6), s(6, 2, 3, 3), s(6)}, Attrs: ir.Attrs{"group": ir.IntAttr(2), "pads": ir.IntsAttr(1, 1, 1, 1)}},
		{Name: "conv1d_k3_s2", Op: "conv", Shapes: []ir.Shape{s(2, 3, 11), s(4, 3, 3), s(4)}, Attrs: ir.Attrs{"strides": ir.IntsAttr(2), "pads": ir.IntsAttr(1, 0)}},
	}
}

// ConvLayerGraph copies conv node n of some graph into a one-node graph
// with the same attributes: x becomes a graph input "x" fed with seeded
// normal values, and the weight and bias are constants holding n's
// constant operands (or seeded normal values where those are not
// constant). It is how whole networks' conv layers are tested one by one.
func ConvLayerGraph(n *ir.Node, seed int64) (*ir.Graph, map[string]*ir.Tensor, error) {
	if n == nil || n.Op != "conv" || len(n.Inputs) < 2 {
		return nil, nil, fmt.Errorf("ConvLayerGraph: not a conv node")
	}
	r := rand.New(rand.NewSource(seed))
	random := func(t ir.Type) *ir.Tensor {
		x := ir.NewTensor(t.Elem, t.Shape)
		for i := range x.F {
			x.F[i] = float32(r.NormFloat64())
		}
		return x
	}
	g := ir.NewGraph(n.Name())
	x, err := g.AddInput("x", n.Inputs[0].Type, ir.Pos{})
	if err != nil {
		return nil, nil, err
	}
	ins := []*ir.Value{x}
	for i, v := range n.Inputs[1:] {
		t := v.Const
		if t == nil {
			t = random(v.Type)
		}
		c, err := g.AddConst([]string{"w", "b"}[i], t, ir.Pos{})
		if err != nil {
			return nil, nil, err
		}
		ins = append(ins, c)
	}
	attrs := ir.Attrs{}
	for k, v := range n.Attrs {
		attrs[k] = v
	}
	out, err := g.AddNode("conv", "y", ins, attrs, ir.Pos{})
	if err != nil {
		return nil, nil, err
	}
	g.Outputs = []*ir.Value{out}
	return g, map[string]*ir.Tensor{"x": random(n.Inputs[0].Type)}, nil
}
