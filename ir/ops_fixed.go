package ir

// Ops that fixed-point (FPGA) graphs use: table lookup for nonlinear
// activations, and reductions along axes with exact fixed-point results.

// LutIndex is the table index the lut op reads for the input word q:
// clamp((q >> shift) + offset, 0, n−1), an arithmetic shift (negative
// shift shifts left).
func LutIndex(q int64, shift, offset, n int) int {
	var v int64
	switch {
	case shift >= 64:
		v = q >> 63
	case shift >= 0:
		v = q >> uint(shift)
	case -shift >= 64:
		v = 0
		if q > 0 {
			v = 1 << 62
		} else if q < 0 {
			v = -1 << 62
		}
	default:
		v = q << uint(-shift)
		if v>>uint(-shift) != q { // left shift overflowed: out of any table
			if q > 0 {
				v = 1 << 62
			} else {
				v = -1 << 62
			}
		}
	}
	if v > 1<<40 {
		v = 1 << 40
	}
	if v < -(1 << 40) {
		v = -(1 << 40)
	}
	v += int64(offset)
	if v < 0 {
		return 0
	}
	if v > int64(n-1) {
		return n - 1
	}
	return int(v)
}

// ReduceAxes reads a reduction node's axes (all when absent), normalized
// and sorted, as a set over the input's rank.
func ReduceAxes(n *Node, rank int) ([]bool, error) {
	set := make([]bool, rank)
	axes := n.Ints("axes")
	if axes == nil {
		for i := range set {
			set[i] = true
		}
		return set, nil
	}
	for _, a := range axes {
		ax, err := NormAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if set[ax] {
			return nil, errf("axes %v name dimension %d twice", axes, ax)
		}
		set[ax] = true
	}
	return set, nil
}

func reduceShape(n *Node, x Type) (Shape, int64, error) {
	set, err := ReduceAxes(n, x.Rank())
	if err != nil {
		return nil, 0, err
	}
	keep := n.Int("keepdims") != 0
	out := Shape{}
	count := int64(1)
	for d, s := range x.Shape {
		if set[d] {
			count *= int64(s)
			if keep {
				out = append(out, 1)
			}
		} else {
			out = append(out, s)
		}
	}
	return out, count, nil
}

func init() {
	Register(&OpDef{
		Name: "lut",
		Doc: "table lookup: y = table[clamp((x >> shift) + offset, 0, N−1)] on the raw fixed-point (or integer) word of x; " +
			"the result has the table's element type",
		MinInputs: 2, MaxInputs: 2, Inputs: []string{"x", "table[N]"},
		Attrs: []AttrSpec{
			intA("shift", 0, "arithmetic right shift of the raw word (negative: left shift)"),
			intA("offset", 0, "added to the shifted word to give the index"),
		},
		Infer: func(n *Node, in []Type) (Type, error) {
			x, t := in[0], in[1]
			if x.Elem.IsFloat() || x.Elem.Kind == Invalid {
				return Type{}, errf("x must be fixed point or integer, got %v", x.Elem)
			}
			if t.Rank() != 1 || t.Shape[0] < 1 {
				return Type{}, errf("table %v must be a non-empty vector", t)
			}
			if s := n.Int("shift"); s < -62 || s > 62 {
				return Type{}, errf("shift %d must be within [-62, 62]", s)
			}
			if o := n.Int("offset"); o < -(1<<31) || o > 1<<31 {
				return Type{}, errf("offset %d must be within ±2^31", o)
			}
			return Type{Elem: t.Elem, Shape: x.Shape.Clone()}, nil
		},
		Cost: elementwise,
	})

	for _, op := range []struct{ name, doc string }{
		{"reduce_sum", "sum over axes (fixed point: exact, ⌈log2 count⌉ more integer bits)"},
		{"reduce_max", "maximum over axes (same element type)"},
	} {
		Register(&OpDef{
			Name: op.name, Doc: op.doc, MinInputs: 1, MaxInputs: 1, Inputs: []string{"x"},
			Attrs: []AttrSpec{
				intsOpt("axes", "the dimensions reduced (default all; negative counts from the end)"),
				intA("keepdims", 1, "1: keep reduced dimensions as size 1"),
			},
			Infer: func(n *Node, in []Type) (Type, error) {
				s, count, err := reduceShape(n, in[0])
				if err != nil {
					return Type{}, err
				}
				e := in[0].Elem
				if n.Op == "reduce_sum" && e.Kind == Fixed {
					e = FixedSum(e, count)
					if e.W > MaxFixedBits {
						return Type{}, errf("the exact sum %v is wider than %d bits", e, MaxFixedBits)
					}
				}
				if n.Op == "reduce_max" && count == 0 {
					return Type{}, errf("reduce_max over an empty dimension")
				}
				return Type{Elem: e, Shape: s}, nil
			},
			Cost: func(n *Node, in []Type, out Type) Cost {
				_, count, _ := reduceShape(n, in[0])
				return Cost{Work: int64(in[0].Shape.Elements()), Depth: Log2Ceil(count)}
			},
		})
	}
}
