package ir

// Quantization ops (ONNX QuantizeLinear, DequantizeLinear, QLinearConv,
// QLinearMatMul, ConvInteger, MatMulInteger). Integer data lives in
// Tensor.I; scales are f32. Rounding is to nearest, ties to even, and
// results saturate to the range of the output type.

func isIntKind(e Elem) bool {
	switch e.Kind {
	case I8, U8, I16, U16, I32, I64:
		return true
	}
	return false
}

// QuantParamMode describes how a scale or zero point of shape p applies
// to x: "tensor" (one value), "axis" (one per index along axis) or
// "block" (one per block of block_size along axis).
func QuantParamMode(x, p Shape, axis, block int) (string, error) {
	if p.Elements() == 1 && (len(p) == 0 || (len(p) == 1 && block == 0)) {
		return "tensor", nil
	}
	ax, err := NormAxis(axis, len(x))
	if err != nil {
		return "", err
	}
	if block <= 0 {
		if len(p) != 1 || p[0] != x[ax] {
			return "", errf("scale/zero point %v must be a scalar or [%d] (one per index along axis %d of %v)", p, x[ax], axis, x)
		}
		return "axis", nil
	}
	if len(p) != len(x) {
		return "", errf("blocked scale/zero point %v must have the rank of x %v", p, x)
	}
	for d := range x {
		want := x[d]
		if d == ax {
			want = (x[d] + block - 1) / block
		}
		if p[d] != want {
			return "", errf("blocked scale/zero point %v must be %v with dimension %d = ceil(%d/%d)", p, x, ax, x[d], block)
		}
	}
	return "block", nil
}

func checkQuantParams(n *Node, x, scale Type, zp *Type) error {
	if !scale.Elem.IsFloat() {
		return errf("scale must be a float tensor, got %v", scale)
	}
	if _, err := QuantParamMode(x.Shape, scale.Shape, n.Int("axis"), n.Int("block_size")); err != nil {
		return err
	}
	if zp != nil {
		if !isIntKind(zp.Elem) {
			return errf("zero point must be an integer tensor, got %v", *zp)
		}
		if !zp.Shape.Equal(scale.Shape) && zp.Shape.Elements() != scale.Shape.Elements() {
			return errf("zero point %v and scale %v must have the same shape", zp.Shape, scale.Shape)
		}
	}
	return nil
}

// quantConvShape is conv's shape rule on x and w alone.
func quantConvShape(n *Node, x, w Shape) (Shape, error) {
	if len(x) < 3 || len(w) != len(x) {
		return nil, errf("x %v and w %v must both be rank >= 3 and of equal rank", x, w)
	}
	spatial := len(x) - 2
	g := n.Int("group")
	if g < 1 || x[1]%g != 0 || w[0]%g != 0 || w[1]*g != x[1] {
		return nil, errf("group %d: w %v does not match x %v", g, w, x)
	}
	win := ConvWindow(n, spatial, w[2:])
	if err := checkWindow(win, spatial); err != nil {
		return nil, err
	}
	out := Shape{x[0], w[0]}
	for i := 0; i < spatial; i++ {
		o := win.OutSize(i, x[2+i], false)
		if o < 1 {
			return nil, errf("kernel %v does not fit input %v", win.Kernel, x)
		}
		out = append(out, o)
	}
	return out, nil
}

func convLikeCost(x, w Shape, out Type) Cost {
	cin := int64(w[1])
	c := Cost{Work: int64(out.Shape.Elements()) * cin * prod(w[2:]), Depth: Log2Ceil(cin)}
	for _, k := range w[2:] {
		c.Depth += Log2Ceil(int64(k))
	}
	return c
}

// perChannel checks that a scale or zero point is per-tensor or has n values.
func perChannel(what string, t Type, n int) error {
	if single(t) || (t.Rank() == 1 && t.Shape[0] == n) {
		return nil
	}
	return errf("%s %v must be a scalar or have %d values", what, t, n)
}

// single reports a tensor of exactly one element of rank 0 or 1.
func single(t Type) bool { return t.Rank() <= 1 && t.Shape.Elements() == 1 }

func init() {
	Register(&OpDef{
		Name: "quantize_linear", Doc: "y = saturate(round_half_even(x / scale) + zero_point), per tensor, per axis or blocked",
		MinInputs: 2, MaxInputs: 3, Inputs: []string{"x", "scale", "zero_point"},
		Attrs: []AttrSpec{
			intA("axis", 1, "axis of per-axis or blocked scales"),
			intA("block_size", 0, "block size along axis (0: not blocked)"),
			{Name: "to", Kind: AttrString, Optional: true, Doc: "result element type when there is no zero point (default u8)"},
		},
		Infer: func(n *Node, in []Type) (Type, error) {
			var zp *Type
			if len(in) == 3 {
				zp = &in[2]
			}
			if !in[0].Elem.IsFloat() {
				return Type{}, errf("x must be a float tensor, got %v", in[0])
			}
			if err := checkQuantParams(n, in[0], in[1], zp); err != nil {
				return Type{}, err
			}
			e := Uint8
			if zp != nil {
				e = zp.Elem
			}
			if n.Has("to") {
				te, err := ParseElem(n.Str("to"))
				if err != nil {
					return Type{}, err
				}
				if !isIntKind(te) {
					return Type{}, errf("to %v must be an integer type", te)
				}
				if zp != nil && te != zp.Elem {
					return Type{}, errf("to %v differs from the zero point's type %v", te, zp.Elem)
				}
				e = te
			}
			return Type{Elem: e, Shape: in[0].Shape}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			return Cost{Work: 3 * int64(out.Shape.Elements()), Depth: 3}
		},
	})

	Register(&OpDef{
		Name: "dequantize_linear", Doc: "y = (x − zero_point) · scale, per tensor, per axis or blocked",
		MinInputs: 2, MaxInputs: 3, Inputs: []string{"x", "scale", "zero_point"},
		Attrs: []AttrSpec{
			intA("axis", 1, "axis of per-axis or blocked scales"),
			intA("block_size", 0, "block size along axis (0: not blocked)"),
		},
		Infer: func(n *Node, in []Type) (Type, error) {
			var zp *Type
			if len(in) == 3 {
				zp = &in[2]
				if zp.Elem != in[0].Elem {
					return Type{}, errf("x is %v but the zero point is %v", in[0].Elem, zp.Elem)
				}
			}
			if !isIntKind(in[0].Elem) {
				return Type{}, errf("x must be an integer tensor, got %v", in[0])
			}
			if err := checkQuantParams(n, in[0], in[1], zp); err != nil {
				return Type{}, err
			}
			return Type{Elem: in[1].Elem, Shape: in[0].Shape}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			return Cost{Work: 2 * int64(out.Shape.Elements()), Depth: 2}
		},
	})

	Register(&OpDef{
		Name: "qlinear_conv", Doc: "quantized convolution: y = saturate(round((Σ (x−x_zp)(w−w_zp) + b) · x_scale·w_scale/y_scale) + y_zp)",
		MinInputs: 8, MaxInputs: 9,
		Inputs: []string{"x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale", "y_zero_point", "b[M] (i32)"},
		Attrs:  append(windowSpecs(false), intA("group", 1, "number of channel groups")),
		Infer: func(n *Node, in []Type) (Type, error) {
			x, w := in[0], in[3]
			if !isIntKind(x.Elem) || !isIntKind(w.Elem) || in[2].Elem != x.Elem || in[5].Elem != w.Elem || !isIntKind(in[7].Elem) {
				return Type{}, errf("x %v, w %v and their zero points %v, %v, and y_zero_point %v must be integer tensors of matching types", x, w, in[2], in[5], in[7])
			}
			out, err := quantConvShape(n, x.Shape, w.Shape)
			if err != nil {
				return Type{}, err
			}
			for _, p := range []struct {
				what string
				i, n int
			}{{"x_scale", 1, 1}, {"x_zero_point", 2, 1}, {"w_scale", 4, w.Shape[0]}, {"w_zero_point", 5, w.Shape[0]}, {"y_scale", 6, 1}, {"y_zero_point", 7, 1}} {
				if err := perChannel(p.what, in[p.i], p.n); err != nil {
					return Type{}, err
				}
			}
			if len(in) == 9 && (in[8].Rank() != 1 || in[8].Shape[0] != w.Shape[0] || in[8].Elem != Int32) {
				return Type{}, errf("bias %v must be i32[%d]", in[8], w.Shape[0])
			}
			return Type{Elem: in[7].Elem, Shape: out}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			c := convLikeCost(in[0].Shape, in[3].Shape, out)
			c.Work += 3 * int64(out.Shape.Elements())
			c.Depth += 3
			return c
		},
	})

	Register(&OpDef{
		Name: "conv_integer", Doc: "integer convolution: y = Σ (x−x_zp)(w−w_zp), accumulated in i32",
		MinInputs: 2, MaxInputs: 4, Inputs: []string{"x", "w", "x_zero_point", "w_zero_point"},
		Attrs: append(windowSpecs(false), intA("group", 1, "number of channel groups")),
		Infer: func(n *Node, in []Type) (Type, error) {
			x, w := in[0], in[1]
			if !isIntKind(x.Elem) || !isIntKind(w.Elem) {
				return Type{}, errf("x %v and w %v must be integer tensors", x, w)
			}
			out, err := quantConvShape(n, x.Shape, w.Shape)
			if err != nil {
				return Type{}, err
			}
			if len(in) > 2 && (in[2].Elem != x.Elem || !single(in[2])) {
				return Type{}, errf("x_zero_point %v must be one %v value", in[2], x.Elem)
			}
			if len(in) > 3 {
				if in[3].Elem != w.Elem {
					return Type{}, errf("w_zero_point %v must be %v", in[3], w.Elem)
				}
				if err := perChannel("w_zero_point", in[3], w.Shape[0]); err != nil {
					return Type{}, err
				}
			}
			return Type{Elem: Int32, Shape: out}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost { return convLikeCost(in[0].Shape, in[1].Shape, out) },
	})

	Register(&OpDef{
		Name: "qlinear_matmul", Doc: "quantized matmul: y = saturate(round(Σ (a−a_zp)(b−b_zp) · a_scale·b_scale/y_scale) + y_zp)",
		MinInputs: 8, MaxInputs: 8,
		Inputs: []string{"a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale", "y_zero_point"},
		Infer: func(n *Node, in []Type) (Type, error) {
			a, b := in[0], in[3]
			if !isIntKind(a.Elem) || !isIntKind(b.Elem) || in[2].Elem != a.Elem || in[5].Elem != b.Elem || !isIntKind(in[7].Elem) {
				return Type{}, errf("a %v, b %v, their zero points %v, %v and y_zero_point %v must be integer tensors of matching types", a, b, in[2], in[5], in[7])
			}
			s, err := MatMulShape(a.Shape, b.Shape)
			if err != nil {
				return Type{}, err
			}
			if a.Rank() < 2 || b.Rank() < 2 {
				return Type{}, errf("a %v and b %v must be rank >= 2", a, b)
			}
			m, nn := a.Shape[a.Rank()-2], b.Shape[b.Rank()-1]
			for _, p := range []struct {
				what string
				i, n int
			}{{"a_scale", 1, m}, {"a_zero_point", 2, m}, {"b_scale", 4, nn}, {"b_zero_point", 5, nn}, {"y_scale", 6, 1}, {"y_zero_point", 7, 1}} {
				if err := perChannel(p.what, in[p.i], p.n); err != nil {
					return Type{}, err
				}
			}
			return Type{Elem: in[7].Elem, Shape: s}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			k := int64(in[0].Shape[len(in[0].Shape)-1])
			return Cost{Work: int64(out.Shape.Elements()) * (k + 3), Depth: Log2Ceil(k) + 3}
		},
	})

	Register(&OpDef{
		Name: "matmul_integer", Doc: "integer matmul: y = (a−a_zp)·(b−b_zp), accumulated in i32",
		MinInputs: 2, MaxInputs: 4, Inputs: []string{"a", "b", "a_zero_point", "b_zero_point"},
		Infer: func(n *Node, in []Type) (Type, error) {
			a, b := in[0], in[1]
			if !isIntKind(a.Elem) || !isIntKind(b.Elem) {
				return Type{}, errf("a %v and b %v must be integer tensors", a, b)
			}
			s, err := MatMulShape(a.Shape, b.Shape)
			if err != nil {
				return Type{}, err
			}
			if len(in) > 2 {
				m := 1
				if a.Rank() >= 2 {
					m = a.Shape[a.Rank()-2]
				}
				if in[2].Elem != a.Elem {
					return Type{}, errf("a_zero_point %v must be %v", in[2], a.Elem)
				}
				if err := perChannel("a_zero_point", in[2], m); err != nil {
					return Type{}, err
				}
			}
			if len(in) > 3 {
				if in[3].Elem != b.Elem {
					return Type{}, errf("b_zero_point %v must be %v", in[3], b.Elem)
				}
				if err := perChannel("b_zero_point", in[3], b.Shape[b.Rank()-1]); err != nil {
					return Type{}, err
				}
			}
			return Type{Elem: Int32, Shape: s}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			k := int64(in[0].Shape[len(in[0].Shape)-1])
			return Cost{Work: int64(out.Shape.Elements()) * k, Depth: Log2Ceil(k)}
		},
	})
}
