package ir

import "math"

// Data-movement ops: no arithmetic, so zero work and depth; their memory
// traffic still shows in Cost.Bytes.

func negInf() float64 { return math.Inf(-1) }
func posInf() float64 { return math.Inf(1) }

func moves(n *Node, in []Type, out Type) Cost { return Cost{} }

func init() {
	Register(&OpDef{
		Name: "flatten", Doc: "reshape to 2-d: dimensions before axis form the rows",
		MinInputs: 1, MaxInputs: 1, Inputs: []string{"x"},
		Attrs: []AttrSpec{intA("axis", 1, "first dimension of the columns (0..rank, negative counts from the end)")},
		Infer: func(n *Node, in []Type) (Type, error) {
			r := in[0].Rank()
			ax := n.Int("axis")
			if ax < 0 {
				ax += r
			}
			if ax < 0 || ax > r {
				return Type{}, errf("axis %d is out of range for rank %d", n.Int("axis"), r)
			}
			return Type{Elem: in[0].Elem, Shape: Shape{int(prod(in[0].Shape[:ax])), int(prod(in[0].Shape[ax:]))}}, nil
		},
		Cost: moves,
	})

	Register(&OpDef{
		Name: "reshape", Doc: "same data, new static shape",
		MinInputs: 1, MaxInputs: 1, Inputs: []string{"x"},
		Attrs: []AttrSpec{{Name: "shape", Kind: AttrInts, Doc: "the new shape; one -1 is inferred, 0 copies the input dimension"}},
		Infer: func(n *Node, in []Type) (Type, error) {
			s, err := ResolveReshape(in[0].Shape, n.Ints("shape"), false)
			if err != nil {
				return Type{}, err
			}
			return Type{Elem: in[0].Elem, Shape: s}, nil
		},
		Cost: moves,
	})

	Register(&OpDef{
		Name: "transpose", Doc: "permute dimensions: out.shape[i] = x.shape[perm[i]]",
		MinInputs: 1, MaxInputs: 1, Inputs: []string{"x"},
		Attrs: []AttrSpec{intsOpt("perm", "the permutation (default: reverse)")},
		Infer: func(n *Node, in []Type) (Type, error) {
			perm := TransposePerm(n, in[0].Rank())
			if len(perm) != in[0].Rank() {
				return Type{}, errf("perm %v must list each of the %d dimensions once", perm, in[0].Rank())
			}
			seen := make([]bool, len(perm))
			out := make(Shape, len(perm))
			for i, p := range perm {
				if p < 0 || p >= len(perm) || seen[p] {
					return Type{}, errf("perm %v must list each of the %d dimensions once", perm, len(perm))
				}
				seen[p] = true
				out[i] = in[0].Shape[p]
			}
			return Type{Elem: in[0].Elem, Shape: out}, nil
		},
		Cost: moves,
	})

	Register(&OpDef{
		Name: "concat", Doc: "join tensors along an axis",
		MinInputs: 1, MaxInputs: -1, Inputs: []string{"x..."},
		Attrs: []AttrSpec{{Name: "axis", Kind: AttrInt, Doc: "the axis joined (negative counts from the end)"}},
		Infer: func(n *Node, in []Type) (Type, error) {
			if err := sameElem(in); err != nil {
				return Type{}, err
			}
			ax, err := NormAxis(n.Int("axis"), in[0].Rank())
			if err != nil {
				return Type{}, err
			}
			out := in[0].Shape.Clone()
			for _, t := range in[1:] {
				if t.Rank() != len(out) {
					return Type{}, errf("operands %v and %v differ in rank", in[0].Shape, t.Shape)
				}
				for d := range out {
					if d != ax && t.Shape[d] != out[d] {
						return Type{}, errf("operands %v and %v differ outside axis %d", in[0].Shape, t.Shape, ax)
					}
				}
				out[ax] += t.Shape[ax]
			}
			return Type{Elem: in[0].Elem, Shape: out}, nil
		},
		Cost: moves,
	})

	Register(&OpDef{
		Name: "pad", Doc: "pad (or crop, with negative pads) each dimension",
		MinInputs: 1, MaxInputs: 1, Inputs: []string{"x"},
		Attrs: []AttrSpec{
			{Name: "pads", Kind: AttrInts, Doc: "begin pads for every dimension, then end pads"},
			{Name: "mode", Kind: AttrString, Default: &Attr{Kind: AttrString, Str: "constant"}, Doc: "constant, reflect, edge or wrap"},
			floatA("value", 0, "fill value for constant mode"),
		},
		Infer: func(n *Node, in []Type) (Type, error) {
			r := in[0].Rank()
			pads := n.Ints("pads")
			if len(pads) != 2*r {
				return Type{}, errf("pads %v needs %d values (begin and end for each of %d dimensions)", pads, 2*r, r)
			}
			mode := n.Str("mode")
			switch mode {
			case "constant", "reflect", "edge", "wrap":
			default:
				return Type{}, errf("mode %q is not one of constant, reflect, edge, wrap", mode)
			}
			out := make(Shape, r)
			for d := 0; d < r; d++ {
				out[d] = in[0].Shape[d] + pads[d] + pads[r+d]
				if out[d] < 0 {
					return Type{}, errf("pads %v crop dimension %d (size %d) below zero", pads, d, in[0].Shape[d])
				}
				if mode == "reflect" && (pads[d] >= in[0].Shape[d] || pads[r+d] >= in[0].Shape[d]) && (pads[d] > 0 || pads[r+d] > 0) {
					return Type{}, errf("reflect pads %v must be smaller than dimension %d (size %d)", pads, d, in[0].Shape[d])
				}
				if mode != "constant" && in[0].Shape[d] == 0 && (pads[d] > 0 || pads[r+d] > 0) {
					return Type{}, errf("%s padding of an empty dimension %d", mode, d)
				}
			}
			return Type{Elem: in[0].Elem, Shape: out}, nil
		},
		Cost: moves,
	})

	Register(&OpDef{
		Name: "cast", Doc: "convert elements to another type (floats to integers truncate toward zero and saturate)",
		MinInputs: 1, MaxInputs: 1, Inputs: []string{"x"},
		Attrs: []AttrSpec{{Name: "to", Kind: AttrString, Doc: "the element type, e.g. f32 or i64"}},
		Infer: func(n *Node, in []Type) (Type, error) {
			e, err := ParseElem(n.Str("to"))
			if err != nil {
				return Type{}, err
			}
			return Type{Elem: e, Shape: in[0].Shape}, nil
		},
		Cost: elementwise,
	})
}

// TransposePerm returns the node's permutation, defaulting to reversal.
func TransposePerm(n *Node, rank int) []int {
	if p := n.Ints("perm"); p != nil {
		return p
	}
	p := make([]int, rank)
	for i := range p {
		p[i] = rank - 1 - i
	}
	return p
}

// ResolveReshape turns a reshape target with 0 (copy, unless allowZero)
// and one -1 (inferred) into a concrete shape of the same size as in.
func ResolveReshape(in Shape, target []int, allowZero bool) (Shape, error) {
	out := make(Shape, len(target))
	infer := -1
	known := 1
	for i, d := range target {
		switch {
		case d == -1:
			if infer >= 0 {
				return nil, errf("shape %v has more than one -1", target)
			}
			infer = i
			continue
		case d == 0 && !allowZero:
			if i >= len(in) {
				return nil, errf("shape %v copies dimension %d, but the input %v has rank %d", target, i, in, len(in))
			}
			d = in[i]
		case d < 0:
			return nil, errf("shape %v has a negative dimension", target)
		}
		out[i] = d
		if d != 0 && known > MaxElements/d {
			return nil, errf("shape %v is too large", target)
		}
		known *= d
	}
	total := in.Elements()
	if infer >= 0 {
		if known == 0 || total%known != 0 {
			return nil, errf("cannot reshape %v (%d elements) to %v", in, total, target)
		}
		out[infer] = total / known
	} else if known != total {
		return nil, errf("cannot reshape %v (%d elements) to %v (%d elements)", in, total, target, known)
	}
	return out, nil
}
