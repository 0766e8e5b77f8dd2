package ir

// Dense algebra and element-wise ops.

// BroadcastShapes applies numpy broadcasting to two shapes.
func BroadcastShapes(a, b Shape) (Shape, error) {
	n := max(len(a), len(b))
	out := make(Shape, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, errf("shapes %v and %v do not broadcast (dimension %d: %d vs %d)", a, b, i, da, db)
		}
	}
	return out, nil
}

// MatMulShape gives numpy matmul's result shape; 1-d operands are
// promoted and the promoted dimension dropped again.
func MatMulShape(a, b Shape) (Shape, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, errf("matmul operands must not be scalars, got %v and %v", a, b)
	}
	pa, pb := a, b
	if len(a) == 1 {
		pa = Shape{1, a[0]}
	}
	if len(b) == 1 {
		pb = Shape{b[0], 1}
	}
	k1, k2 := pa[len(pa)-1], pb[len(pb)-2]
	if k1 != k2 {
		return nil, errf("inner dimensions differ: %v has %d columns, %v has %d rows", a, k1, b, k2)
	}
	batch, err := BroadcastShapes(pa[:len(pa)-2], pb[:len(pb)-2])
	if err != nil {
		return nil, errf("batch dimensions: %v", err)
	}
	out := append(batch.Clone(), pa[len(pa)-2], pb[len(pb)-1])
	if len(a) == 1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if len(b) == 1 {
		out = out[:len(out)-1]
	}
	return out, nil
}

func sameElem(in []Type) error {
	for _, t := range in[1:] {
		if t.Elem != in[0].Elem {
			return errf("operands have different element types: %v and %v", in[0], t)
		}
	}
	return nil
}

func elementwise(n *Node, in []Type, out Type) Cost {
	return Cost{Work: int64(out.Shape.Elements()), Depth: 1}
}

func unary(name, doc string, attrs ...AttrSpec) {
	Register(&OpDef{
		Name: name, Doc: doc, MinInputs: 1, MaxInputs: 1, Inputs: []string{"x"}, Attrs: attrs,
		Infer: func(n *Node, in []Type) (Type, error) { return in[0], nil },
		Cost:  elementwise,
	})
}

func init() {
	Register(&OpDef{
		Name: "dense", Doc: "y = alpha·A'·B' + beta·C with A' = A or Aᵀ, B' = B or Bᵀ (ONNX Gemm); C broadcasts to [M,N]",
		MinInputs: 2, MaxInputs: 3, Inputs: []string{"a[M,K]", "b[K,N]", "c"},
		Attrs: []AttrSpec{
			floatA("alpha", 1, "scale of the product"), floatA("beta", 1, "scale of c"),
			intA("trans_a", 0, "1: use aᵀ"), intA("trans_b", 0, "1: use bᵀ"),
		},
		Infer: func(n *Node, in []Type) (Type, error) {
			a, b := in[0], in[1]
			if a.Rank() != 2 || b.Rank() != 2 {
				return Type{}, errf("a %v and b %v must be matrices", a, b)
			}
			elem, err := resultElem(n, in)
			if err != nil {
				return Type{}, err
			}
			m, k := a.Shape[0], a.Shape[1]
			if n.Int("trans_a") != 0 {
				m, k = k, m
			}
			k2, nn := b.Shape[0], b.Shape[1]
			if n.Int("trans_b") != 0 {
				k2, nn = nn, k2
			}
			if k != k2 {
				return Type{}, errf("a %v and b %v (trans_a=%d, trans_b=%d) disagree on the inner dimension: %d vs %d", a.Shape, b.Shape, n.Int("trans_a"), n.Int("trans_b"), k, k2)
			}
			out := Shape{m, nn}
			if len(in) == 3 {
				bc, err := BroadcastShapes(out, in[2].Shape)
				if err != nil || !bc.Equal(out) {
					return Type{}, errf("c %v does not broadcast to the result %v", in[2].Shape, out)
				}
			}
			return Type{Elem: elem, Shape: out}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			// Table 4, fully connected: C_out·C_in·N, depth ⌈log2 C_in⌉.
			k := in[0].Shape[1]
			if n.Int("trans_a") != 0 {
				k = in[0].Shape[0]
			}
			c := Cost{Work: int64(out.Shape.Elements()) * int64(k), Depth: Log2Ceil(int64(k))}
			if len(in) == 3 {
				c.Work += int64(out.Shape.Elements())
				c.Depth++
			}
			return c
		},
	})

	Register(&OpDef{
		Name: "matmul", Doc: "numpy matmul: batched, broadcasting, 1-d operands promoted",
		MinInputs: 2, MaxInputs: 2, Inputs: []string{"a", "b"},
		Infer: func(n *Node, in []Type) (Type, error) {
			elem, err := resultElem(n, in)
			if err != nil {
				return Type{}, err
			}
			s, err := MatMulShape(in[0].Shape, in[1].Shape)
			if err != nil {
				return Type{}, err
			}
			return Type{Elem: elem, Shape: s}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			k := int64(in[0].Shape[len(in[0].Shape)-1])
			return Cost{Work: int64(out.Shape.Elements()) * k, Depth: Log2Ceil(k)}
		},
	})

	for _, op := range []struct{ name, doc string }{
		{"add", "a + b with numpy broadcasting"},
		{"sub", "a − b with numpy broadcasting"},
		{"mul", "a · b with numpy broadcasting"},
		{"div", "a / b with numpy broadcasting (integers truncate toward zero)"},
	} {
		Register(&OpDef{
			Name: op.name, Doc: op.doc, MinInputs: 2, MaxInputs: 2, Inputs: []string{"a", "b"},
			Infer: func(n *Node, in []Type) (Type, error) {
				elem, err := resultElem(n, in)
				if err != nil {
					return Type{}, err
				}
				s, err := BroadcastShapes(in[0].Shape, in[1].Shape)
				if err != nil {
					return Type{}, err
				}
				return Type{Elem: elem, Shape: s}, nil
			},
			Cost: elementwise,
		})
	}

	unary("relu", "max(x, 0)")
	unary("leaky_relu", "x if x >= 0 else alpha·x", floatA("alpha", 0.01, "slope for negative x"))
	unary("sigmoid", "1 / (1 + exp(−x))")
	unary("tanh", "hyperbolic tangent")
	unary("clip", "min(max(x, min), max)",
		floatA("min", negInf(), "lower bound"), floatA("max", posInf(), "upper bound"))

	Register(&OpDef{
		Name: "softmax", Doc: "exp(x − max) / Σ exp(x − max) along one axis",
		MinInputs: 1, MaxInputs: 1, Inputs: []string{"x"},
		Attrs: []AttrSpec{intA("axis", -1, "the axis normalized (negative counts from the end)")},
		Infer: func(n *Node, in []Type) (Type, error) {
			if _, err := NormAxis(n.Int("axis"), in[0].Rank()); err != nil {
				return Type{}, err
			}
			return in[0], nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			// §4.4: a max-reduction and a sum-reduction, ≈ 4 operations per element.
			ax, _ := NormAxis(n.Int("axis"), in[0].Rank())
			c := int64(in[0].Shape[ax])
			return Cost{Work: 4 * int64(out.Shape.Elements()), Depth: 2*Log2Ceil(c) + 3}
		},
	})
}

// NormAxis maps a possibly negative axis into [0, rank).
func NormAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank || rank == 0 {
		return 0, errf("axis %d is out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}
