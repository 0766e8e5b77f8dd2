package runtime

// Data-movement kernels and cast. They work on every element type: float
// kinds move .F, all others (fixed point included) move .I.

import (
	"fmt"

	"wdc/ir"
)

func init() {
	register("flatten", flattenKernel)
	register("reshape", reshapeKernel)
	register("transpose", transposeKernel)
	register("concat", concatKernel)
	register("pad", padKernel)
	register("cast", castKernel)
}

// reshaped returns a copy of x's data under a new shape.
func reshaped(x *ir.Tensor, shape ir.Shape) *ir.Tensor {
	out := x.Clone()
	out.Shape = shape.Clone()
	return out
}

func flattenKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x := in[0]
	r := x.Rank()
	ax := n.Int("axis")
	if ax < 0 {
		ax += r
	}
	if ax < 0 || ax > r {
		return nil, fmt.Errorf("axis %d is out of range for rank %d", n.Int("axis"), r)
	}
	return reshaped(x, ir.Shape{prodInts(x.Shape[:ax]), prodInts(x.Shape[ax:])}), nil
}

func reshapeKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	s, err := ir.ResolveReshape(in[0].Shape, n.Ints("shape"), false)
	if err != nil {
		return nil, err
	}
	return reshaped(in[0], s), nil
}

func transposeKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x := in[0]
	r := x.Rank()
	perm := ir.TransposePerm(n, r)
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v must list each of the %d dimensions once", perm, r)
	}
	seen := make([]bool, r)
	shape := make(ir.Shape, r)
	xs := x.Shape.Strides()
	st := make([]int, r) // input stride of each output dimension
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			return nil, fmt.Errorf("perm %v must list each of the %d dimensions once", perm, r)
		}
		seen[p] = true
		shape[i] = x.Shape[p]
		st[i] = xs[p]
	}
	out := ir.NewTensor(x.Elem, shape)
	if r == 0 {
		return reshaped(x, shape), nil
	}
	inner, is := shape[r-1], st[r-1]
	forEachRow(shape, [][]int{st}, func(row int, offs []int) {
		if x.Elem.IsFloat() {
			dst := out.F[row*inner : (row+1)*inner]
			for j := range dst {
				dst[j] = x.F[offs[0]+j*is]
			}
			return
		}
		dst := out.I[row*inner : (row+1)*inner]
		for j := range dst {
			dst[j] = x.I[offs[0]+j*is]
		}
	})
	return out, nil
}

func concatKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	first := in[0]
	ax, err := ir.NormAxis(n.Int("axis"), first.Rank())
	if err != nil {
		return nil, err
	}
	shape := first.Shape.Clone()
	for _, t := range in[1:] {
		if t.Elem != first.Elem || t.Rank() != len(shape) {
			return nil, fmt.Errorf("operands %v and %v differ in element type or rank", first.Type, t.Type)
		}
		for d := range shape {
			if d != ax && t.Shape[d] != shape[d] {
				return nil, fmt.Errorf("operands %v and %v differ outside axis %d", first.Shape, t.Shape, ax)
			}
		}
		shape[ax] += t.Shape[ax]
	}
	out := ir.NewTensor(first.Elem, shape)
	outer := prodInts(shape[:ax])
	inner := prodInts(shape[ax+1:])
	pos := 0
	for o := 0; o < outer; o++ {
		for _, t := range in {
			chunk := t.Shape[ax] * inner
			if t.Elem.IsFloat() {
				copy(out.F[pos:pos+chunk], t.F[o*chunk:(o+1)*chunk])
			} else {
				copy(out.I[pos:pos+chunk], t.I[o*chunk:(o+1)*chunk])
			}
			pos += chunk
		}
	}
	return out, nil
}

// padKernel pads (or, with negative pads, crops) every dimension. Output
// index o along a dimension reads input index i = o − pad_begin; when i is
// outside the input, constant mode writes the value and the other modes
// fold i back into the input: reflect mirrors without repeating the edge,
// edge clamps, wrap takes i modulo the size.
func padKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x := in[0]
	r := x.Rank()
	pads := n.Ints("pads")
	if len(pads) != 2*r {
		return nil, fmt.Errorf("pads %v needs %d values (begin and end for each of %d dimensions)", pads, 2*r, r)
	}
	mode := n.Str("mode")
	shape := make(ir.Shape, r)
	for d := 0; d < r; d++ {
		shape[d] = x.Shape[d] + pads[d] + pads[r+d]
		if shape[d] < 0 {
			return nil, fmt.Errorf("pads %v crop dimension %d (size %d) below zero", pads, d, x.Shape[d])
		}
	}
	// For each dimension, the input index of every output index, or -1.
	maps := make([][]int, r)
	for d := 0; d < r; d++ {
		size := x.Shape[d]
		maps[d] = make([]int, shape[d])
		for o := range maps[d] {
			i := o - pads[d]
			if i < 0 || i >= size {
				switch {
				case mode == "constant":
					i = -1
				case size == 0:
					return nil, fmt.Errorf("%s padding of an empty dimension %d", mode, d)
				case mode == "edge":
					i = min(max(i, 0), size-1)
				case mode == "wrap":
					i = ((i % size) + size) % size
				case mode == "reflect":
					if size == 1 {
						i = 0
						break
					}
					p := 2 * (size - 1)
					i = ((i % p) + p) % p
					if i >= size {
						i = p - i
					}
				default:
					return nil, fmt.Errorf("mode %q is not one of constant, reflect, edge, wrap", mode)
				}
			}
			maps[d][o] = i
		}
	}
	out := ir.NewTensor(x.Elem, shape)
	value := n.Float("value")
	var fill float32
	var ifill int64
	switch {
	case x.Elem.IsFloat():
		fill = float32(value)
	case x.Elem.Kind == ir.Fixed:
		ifill = floatToFixed(value, x.Elem)
	default:
		ifill = floatToInt(value, x.Elem)
	}
	xs := x.Shape.Strides()
	idx := make([]int, r)
	for o := 0; o < out.Len(); o++ {
		off := 0
		for d := 0; d < r && off >= 0; d++ {
			if i := maps[d][idx[d]]; i < 0 {
				off = -1
			} else {
				off += i * xs[d]
			}
		}
		switch {
		case x.Elem.IsFloat() && off < 0:
			out.F[o] = fill
		case x.Elem.IsFloat():
			out.F[o] = x.F[off]
		case off < 0:
			out.I[o] = ifill
		default:
			out.I[o] = x.I[off]
		}
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

// castKernel converts element types. Float to integer truncates toward
// zero and saturates (NaN gives 0); integer to float rounds to the nearest
// float32; integer to integer wraps to the target width as C and numpy do
// (bool: non-zero is 1). Fixed point: to fixed from anything quantizes the
// value with the target's rounding and overflow modes; from fixed to an
// integer truncates the value toward zero and saturates.
func castKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	to, err := ir.ParseElem(n.Str("to"))
	if err != nil {
		return nil, err
	}
	return Cast(in[0], to), nil
}

// Cast converts x to element type to, as the cast op does: to a float
// exactly where it can, floats to integers truncate toward zero and
// saturate (NaN gives 0), integers wrap to a narrower width, anything
// non-zero (NaN too) is true, and fixed point rounds and overflows as its
// type says.
func Cast(x *ir.Tensor, to ir.Elem) *ir.Tensor {
	out := ir.NewTensor(to, x.Shape)
	from := x.Elem
	for i := 0; i < x.Len(); i++ {
		switch {
		case to.IsFloat():
			out.F[i] = float32(x.Float(i))
		case to.Kind == ir.Fixed && from.Kind == ir.Fixed && from.Frac() <= to.Frac():
			// Exact rescaling up; only overflow can apply.
			v := x.I[i]
			sh := to.Frac() - from.Frac()
			if sh >= 63 || (v != 0 && (v<<sh)>>sh != v) {
				out.I[i] = floatToFixed(x.Float(i), to) // out of any range: saturate or wrap
			} else {
				out.I[i] = fixedOverflow(v<<sh, to)
			}
		case to.Kind == ir.Fixed && from.Kind == ir.Fixed:
			out.I[i] = fixedOverflow(shiftRound(x.I[i], from.Frac()-to.Frac(), to.Round), to)
		case to.Kind == ir.Fixed:
			out.I[i] = floatToFixed(x.Float(i), to)
		case to.Kind == ir.Bool:
			if x.Float(i) != 0 { // NaN is true, as in numpy
				out.I[i] = 1
			}
		case from.IsFloat() || from.Kind == ir.Fixed:
			out.I[i] = floatToInt(x.Float(i), to)
		default:
			out.I[i] = WrapInt(x.I[i], to)
		}
	}
	return out
}

// fixedOverflow applies e's overflow mode to a raw word.
func fixedOverflow(v int64, e ir.Elem) int64 {
	if e.Ovf == ir.Saturate {
		return satInt(v, e)
	}
	return WrapInt(v, e)
}

// shiftRound drops sh fraction bits from v with the given rounding.
func shiftRound(v int64, sh int, r ir.Rounding) int64 {
	if sh <= 0 {
		return v
	}
	if sh >= 63 {
		if v < 0 && r == ir.Truncate {
			return -1
		}
		return 0
	}
	q := v >> sh // floor
	if r == ir.RoundHalfEven {
		rem := v - q<<sh
		half := int64(1) << (sh - 1)
		if rem > half || (rem == half && q&1 == 1) {
			q++
		}
	}
	return q
}
