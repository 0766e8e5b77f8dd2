package loop

import (
	"fmt"
	"math/rand"

	"wdc/ir"
)

// OpCase is one op with its operand shapes and attributes, for tests that
// compare a lowering (evaluated, or compiled by a backend) with the
// interpreter. Every op of Supported() has at least one case, and most
// have several attribute edge cases.
type OpCase struct {
	Name   string
	Op     string
	Shapes []ir.Shape
	Attrs  ir.Attrs
	// Positive makes the inputs positive (for div denominators).
	Positive []bool
}

// Graph builds a one-node graph whose operands are all graph inputs, and
// random inputs for it (seeded by seed).
func (c OpCase) Graph(seed int64) (*ir.Graph, map[string]*ir.Tensor, error) {
	g := ir.NewGraph(c.Name)
	r := rand.New(rand.NewSource(seed))
	var ins []*ir.Value
	feeds := map[string]*ir.Tensor{}
	for i, s := range c.Shapes {
		name := fmt.Sprintf("x%d", i)
		v, err := g.AddInput(name, ir.Type{Elem: ir.Float32, Shape: s}, ir.Pos{})
		if err != nil {
			return nil, nil, err
		}
		t := ir.NewTensor(ir.Float32, s)
		for j := range t.F {
			t.F[j] = float32(r.NormFloat64())
			if i < len(c.Positive) && c.Positive[i] {
				t.F[j] = 0.5 + float32(r.Float64())
			}
		}
		feeds[name] = t
		ins = append(ins, v)
	}
	attrs := ir.Attrs{}
	for k, v := range c.Attrs {
		attrs[k] = v
	}
	out, err := g.AddNode(c.Op, "y", ins, attrs, ir.Pos{})
	if err != nil {
		return nil, nil, err
	}
	g.Outputs = []*ir.Value{out}
	return g, feeds, nil
}

func ints(v ...int64) ir.Attr { return ir.IntsAttr(v...) }

// OpCases is the table of op cases shared by the loop IR's and the
// backends' tests.
func OpCases() []OpCase {
	s := func(d ...int) ir.Shape { return ir.Shape(d) }
	return []OpCase{
		{Name: "add_same", Op: "add", Shapes: []ir.Shape{s(2, 3, 4), s(2, 3, 4)}},
		{Name: "add_bcast", Op: "add", Shapes: []ir.Shape{s(2, 3, 4, 5), s(3, 1, 1)}},
		{Name: "add_bcast_both", Op: "add", Shapes: []ir.Shape{s(2, 1, 5), s(4, 1)}},
		{Name: "add_scalar", Op: "add", Shapes: []ir.Shape{s(7), s()}},
		{Name: "sub_bcast", Op: "sub", Shapes: []ir.Shape{s(1, 5), s(3, 5)}},
		{Name: "mul_bcast", Op: "mul", Shapes: []ir.Shape{s(2, 3, 4), s(4)}},
		{Name: "div", Op: "div", Shapes: []ir.Shape{s(3, 4), s(3, 4)}, Positive: []bool{false, true}},
		{Name: "relu", Op: "relu", Shapes: []ir.Shape{s(2, 33)}},
		{Name: "leaky_relu", Op: "leaky_relu", Shapes: []ir.Shape{s(40)}, Attrs: ir.Attrs{"alpha": ir.FloatAttr(0.2)}},
		{Name: "sigmoid", Op: "sigmoid", Shapes: []ir.Shape{s(3, 17)}},
		{Name: "tanh", Op: "tanh", Shapes: []ir.Shape{s(3, 17)}},
		{Name: "clip", Op: "clip", Shapes: []ir.Shape{s(50)}, Attrs: ir.Attrs{"min": ir.FloatAttr(-0.5), "max": ir.FloatAttr(0.7)}},
		{Name: "clip_min_only", Op: "clip", Shapes: []ir.Shape{s(50)}, Attrs: ir.Attrs{"min": ir.FloatAttr(0)}},
		{Name: "conv3x3", Op: "conv", Shapes: []ir.Shape{s(1, 3, 8, 8), s(4, 3, 3, 3), s(4)}},
		{Name: "conv_pad_stride", Op: "conv", Shapes: []ir.Shape{s(2, 3, 9, 7), s(5, 3, 3, 3), s(5)},
			Attrs: ir.Attrs{"pads": ints(1, 1, 1, 1), "strides": ints(2, 2)}},
		{Name: "conv_asym_pad_dil", Op: "conv", Shapes: []ir.Shape{s(1, 2, 10, 10), s(3, 2, 3, 2)},
			Attrs: ir.Attrs{"pads": ints(0, 2, 1, 0), "dilations": ints(2, 1)}},
		{Name: "conv_group", Op: "conv", Shapes: []ir.Shape{s(1, 4, 6, 6), s(6, 2, 3, 3), s(6)},
			Attrs: ir.Attrs{"group": ir.IntAttr(2), "pads": ints(1, 1, 1, 1)}},
		{Name: "conv_depthwise", Op: "conv", Shapes: []ir.Shape{s(1, 4, 6, 6), s(4, 1, 3, 3)},
			Attrs: ir.Attrs{"group": ir.IntAttr(4), "pads": ints(1, 1, 1, 1), "strides": ints(2, 2)}},
		{Name: "conv1x1", Op: "conv", Shapes: []ir.Shape{s(1, 8, 5, 5), s(4, 8, 1, 1), s(4)}},
		{Name: "conv1d", Op: "conv", Shapes: []ir.Shape{s(2, 3, 12), s(4, 3, 5), s(4)}, Attrs: ir.Attrs{"pads": ints(2, 2)}},
		{Name: "conv3d", Op: "conv", Shapes: []ir.Shape{s(1, 2, 4, 5, 5), s(3, 2, 2, 3, 3)}, Attrs: ir.Attrs{"pads": ints(0, 1, 1, 1, 1, 1)}},
		{Name: "conv_transpose", Op: "conv_transpose", Shapes: []ir.Shape{s(1, 3, 4, 4), s(3, 2, 3, 3), s(2)}},
		{Name: "conv_transpose_stride_pad", Op: "conv_transpose", Shapes: []ir.Shape{s(2, 4, 3, 5), s(4, 3, 3, 3)},
			Attrs: ir.Attrs{"strides": ints(2, 2), "pads": ints(1, 1, 1, 1), "output_padding": ints(1, 1)}},
		{Name: "conv_transpose_group_dil", Op: "conv_transpose", Shapes: []ir.Shape{s(1, 4, 4, 4), s(4, 1, 2, 2)},
			Attrs: ir.Attrs{"group": ir.IntAttr(2), "dilations": ints(2, 2), "strides": ints(2, 1)}},
		{Name: "dense", Op: "dense", Shapes: []ir.Shape{s(3, 20), s(20, 7), s(7)}},
		{Name: "dense_trans_b", Op: "dense", Shapes: []ir.Shape{s(2, 16), s(5, 16), s(2, 5)}, Attrs: ir.Attrs{"trans_b": ir.IntAttr(1)}},
		{Name: "dense_trans_a_alpha_beta", Op: "dense", Shapes: []ir.Shape{s(6, 3), s(6, 4), s(1, 4)},
			Attrs: ir.Attrs{"trans_a": ir.IntAttr(1), "alpha": ir.FloatAttr(0.5), "beta": ir.FloatAttr(2)}},
		{Name: "dense_nobias", Op: "dense", Shapes: []ir.Shape{s(1, 9), s(9, 3)}},
		{Name: "matmul", Op: "matmul", Shapes: []ir.Shape{s(4, 6), s(6, 5)}},
		{Name: "matmul_batched_bcast", Op: "matmul", Shapes: []ir.Shape{s(2, 1, 3, 4), s(3, 4, 2)}},
		{Name: "matmul_vec", Op: "matmul", Shapes: []ir.Shape{s(4), s(2, 4, 3)}},
		{Name: "matmul_vec_right", Op: "matmul", Shapes: []ir.Shape{s(3, 4), s(4)}},
		{Name: "max_pool", Op: "max_pool", Shapes: []ir.Shape{s(1, 3, 8, 8)}, Attrs: ir.Attrs{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}},
		{Name: "max_pool_pad_ceil", Op: "max_pool", Shapes: []ir.Shape{s(2, 2, 7, 6)},
			Attrs: ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1), "ceil_mode": ir.IntAttr(1)}},
		{Name: "max_pool_dil", Op: "max_pool", Shapes: []ir.Shape{s(1, 2, 9, 9)}, Attrs: ir.Attrs{"kernel_shape": ints(2, 3), "dilations": ints(2, 2)}},
		{Name: "avg_pool", Op: "avg_pool", Shapes: []ir.Shape{s(1, 3, 8, 8)}, Attrs: ir.Attrs{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}},
		{Name: "avg_pool_pad_excl", Op: "avg_pool", Shapes: []ir.Shape{s(1, 2, 7, 7)},
			Attrs: ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}},
		{Name: "avg_pool_pad_incl_ceil", Op: "avg_pool", Shapes: []ir.Shape{s(1, 2, 6, 6)},
			Attrs: ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1), "count_include_pad": ir.IntAttr(1), "ceil_mode": ir.IntAttr(1)}},
		// rows long enough that the interior loop (no bounds tests) is vectorized
		{Name: "max_pool_wide", Op: "max_pool", Shapes: []ir.Shape{s(1, 3, 23, 41)},
			Attrs: ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "pads": ints(1, 1, 1, 1)}},
		{Name: "avg_pool_wide_incl", Op: "avg_pool", Shapes: []ir.Shape{s(2, 2, 20, 37)},
			Attrs: ir.Attrs{"kernel_shape": ints(3, 2), "strides": ints(1, 2), "pads": ints(1, 0, 2, 1), "count_include_pad": ir.IntAttr(1)}},
		{Name: "avg_pool1d", Op: "avg_pool", Shapes: []ir.Shape{s(2, 3, 10)}, Attrs: ir.Attrs{"kernel_shape": ints(3)}},
		{Name: "global_avg_pool", Op: "global_avg_pool", Shapes: []ir.Shape{s(2, 5, 4, 3)}},
		{Name: "batch_norm", Op: "batch_norm", Shapes: []ir.Shape{s(2, 3, 4, 4), s(3), s(3), s(3), s(3)}, Positive: []bool{false, false, false, false, true}},
		{Name: "batch_norm_2d", Op: "batch_norm", Shapes: []ir.Shape{s(4, 6), s(6), s(6), s(6), s(6)}, Positive: []bool{false, false, false, false, true},
			Attrs: ir.Attrs{"epsilon": ir.FloatAttr(1e-3)}},
		{Name: "softmax", Op: "softmax", Shapes: []ir.Shape{s(3, 10)}},
		{Name: "softmax_axis1", Op: "softmax", Shapes: []ir.Shape{s(2, 5, 3)}, Attrs: ir.Attrs{"axis": ir.IntAttr(1)}},
		{Name: "flatten", Op: "flatten", Shapes: []ir.Shape{s(2, 3, 4)}},
		{Name: "reshape", Op: "reshape", Shapes: []ir.Shape{s(2, 3, 4)}, Attrs: ir.Attrs{"shape": ints(4, -1)}},
		{Name: "transpose", Op: "transpose", Shapes: []ir.Shape{s(2, 3, 4)}, Attrs: ir.Attrs{"perm": ints(1, 2, 0)}},
		{Name: "transpose_default", Op: "transpose", Shapes: []ir.Shape{s(3, 5)}},
		{Name: "cast_f32", Op: "cast", Shapes: []ir.Shape{s(2, 3)}, Attrs: ir.Attrs{"to": ir.StringAttr("f32")}},
		{Name: "concat", Op: "concat", Shapes: []ir.Shape{s(2, 3, 4), s(2, 1, 4), s(2, 2, 4)}, Attrs: ir.Attrs{"axis": ir.IntAttr(1)}},
		{Name: "concat_last", Op: "concat", Shapes: []ir.Shape{s(2, 3), s(2, 4)}, Attrs: ir.Attrs{"axis": ir.IntAttr(-1)}},
		{Name: "pad_constant", Op: "pad", Shapes: []ir.Shape{s(2, 3, 4)}, Attrs: ir.Attrs{"pads": ints(0, 1, 2, 1, 0, 1), "value": ir.FloatAttr(1.5)}},
		{Name: "pad_crop", Op: "pad", Shapes: []ir.Shape{s(4, 5)}, Attrs: ir.Attrs{"pads": ints(-1, 2, 1, -2)}},
		{Name: "pad_reflect", Op: "pad", Shapes: []ir.Shape{s(3, 5)}, Attrs: ir.Attrs{"pads": ints(2, 3, 1, 4), "mode": ir.StringAttr("reflect")}},
		{Name: "pad_edge", Op: "pad", Shapes: []ir.Shape{s(3, 4)}, Attrs: ir.Attrs{"pads": ints(2, 1, 3, 2), "mode": ir.StringAttr("edge")}},
		{Name: "pad_wrap", Op: "pad", Shapes: []ir.Shape{s(3, 4)}, Attrs: ir.Attrs{"pads": ints(4, 1, 2, 6), "mode": ir.StringAttr("wrap")}},
		{Name: "lrn", Op: "lrn", Shapes: []ir.Shape{s(1, 7, 3, 3)}, Attrs: ir.Attrs{"size": ir.IntAttr(3)}},
		{Name: "lrn_even", Op: "lrn", Shapes: []ir.Shape{s(2, 5, 2, 2)}, Attrs: ir.Attrs{"size": ir.IntAttr(4), "alpha": ir.FloatAttr(0.01), "beta": ir.FloatAttr(0.5), "bias": ir.FloatAttr(2)}},
	}
}
