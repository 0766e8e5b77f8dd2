package onnx

// Constant folding of the small tensor computations exported models do
// on shapes and constants (Cast, Gather, Slice, Concat, arithmetic).

import (
	"fmt"

	"wdc/ir"
	"wdc/runtime"
)

func budget(shape ir.Shape, e ir.Elem, maxBytes int64) error {
	n := shape.Elements()
	if n < 0 || int64(n)*int64(max(e.Bytes(), 4)) > maxBytes {
		return fmt.Errorf("a folded constant of shape %v exceeds the memory budget of %d bytes", shape, maxBytes)
	}
	return nil
}

func gatherTensor(data, idx *ir.Tensor, axis int, maxBytes int64) (*ir.Tensor, error) {
	r := data.Rank()
	ax, err := ir.NormAxis(axis, r)
	if err != nil {
		return nil, err
	}
	if idx.Elem.IsFloat() {
		return nil, fmt.Errorf("indices must be integers, got %v", idx.Elem)
	}
	shape := append(append(append(ir.Shape{}, data.Shape[:ax]...), idx.Shape...), data.Shape[ax+1:]...)
	if err := budget(shape, data.Elem, maxBytes); err != nil {
		return nil, err
	}
	out := ir.NewTensor(data.Elem, shape)
	if out.Len() == 0 {
		return out, nil
	}
	outer := int(prodInts(data.Shape[:ax]))
	inner := int(prodInts(data.Shape[ax+1:]))
	dim := data.Shape[ax]
	k := 0
	for o := 0; o < outer; o++ {
		for _, j := range idx.I {
			if j < 0 {
				j += int64(dim)
			}
			if j < 0 || j >= int64(dim) {
				return nil, fmt.Errorf("index %d is out of range for dimension %d of size %d", j, ax, dim)
			}
			src := (o*dim + int(j)) * inner
			if data.F != nil {
				copy(out.F[k:k+inner], data.F[src:src+inner])
			} else {
				copy(out.I[k:k+inner], data.I[src:src+inner])
			}
			k += inner
		}
	}
	return out, nil
}

func prodInts(s []int) int64 {
	p := int64(1)
	for _, d := range s {
		p *= int64(d)
	}
	return p
}

func sliceTensor(data *ir.Tensor, starts, ends, axes, steps []int64) (*ir.Tensor, error) {
	r := data.Rank()
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("starts %v and ends %v differ in length", starts, ends)
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		for range starts {
			steps = append(steps, 1)
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("starts, ends, axes and steps must have the same length")
	}
	st := make([]int, r)
	step := make([]int, r)
	cnt := make([]int, r)
	for d := 0; d < r; d++ {
		st[d], step[d], cnt[d] = 0, 1, data.Shape[d]
	}
	seen := make([]bool, r)
	for i, a := range axes {
		ax, err := ir.NormAxis(int(a), r)
		if err != nil {
			return nil, err
		}
		if seen[ax] {
			return nil, fmt.Errorf("axes %v repeat axis %d", axes, ax)
		}
		seen[ax] = true
		dim := int64(data.Shape[ax])
		s, e, k := starts[i], ends[i], steps[i]
		if k == 0 {
			return nil, fmt.Errorf("step is zero")
		}
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		var n int64
		if k > 0 {
			s = min(max(s, 0), dim)
			e = min(max(e, 0), dim)
			if e > s {
				n = (e - s + k - 1) / k
			}
		} else {
			s = min(max(s, -1), dim-1)
			e = min(max(e, -1), dim-1)
			if s > e {
				n = (s - e - k - 1) / -k
			}
		}
		st[ax], step[ax], cnt[ax] = int(s), int(k), int(n)
	}
	out := ir.NewTensor(data.Elem, ir.Shape(cnt))
	strides := data.Shape.Strides()
	idx := make([]int, r)
	total := out.Shape.Elements()
	for o := 0; o < total; o++ {
		src := 0
		for d := 0; d < r; d++ {
			src += (st[d] + idx[d]*step[d]) * strides[d]
		}
		if data.F != nil {
			out.F[o] = data.F[src]
		} else {
			out.I[o] = data.I[src]
		}
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < cnt[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

// binaryTensor folds add/sub/mul/div with numpy broadcasting.
func binaryTensor(op string, a, b *ir.Tensor, maxBytes int64) (*ir.Tensor, error) {
	if a.Elem != b.Elem {
		return nil, fmt.Errorf("operands have different element types: %v and %v", a.Elem, b.Elem)
	}
	shape, err := ir.BroadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	if err := budget(shape, a.Elem, maxBytes); err != nil {
		return nil, err
	}
	out := ir.NewTensor(a.Elem, shape)
	ai, bi := bcastIndex(a.Shape, shape), bcastIndex(b.Shape, shape)
	total := shape.Elements()
	for i := 0; i < total; i++ {
		ja, jb := ai(i), bi(i)
		if a.Elem.IsFloat() {
			x, y := a.F[ja], b.F[jb]
			var z float32
			switch op {
			case "add":
				z = x + y
			case "sub":
				z = x - y
			case "mul":
				z = x * y
			case "div":
				z = x / y
			}
			out.F[i] = z
			continue
		}
		x, y := a.I[ja], b.I[jb]
		var z int64
		switch op {
		case "add":
			z = x + y
		case "sub":
			z = x - y
		case "mul":
			z = x * y
		case "div":
			if y == 0 {
				return nil, fmt.Errorf("integer division by zero")
			}
			z = x / y
		}
		out.I[i] = runtime.WrapInt(z, a.Elem)
	}
	return out, nil
}

// bcastIndex maps a flat index of out to the flat index in a tensor of
// shape in that broadcasts to out.
func bcastIndex(in, out ir.Shape) func(int) int {
	if in.Equal(out) {
		return func(i int) int { return i }
	}
	r := len(out)
	ist := in.Strides()
	str := make([]int, r)
	for d := 0; d < r; d++ {
		j := d - (r - len(in))
		if j >= 0 && in[j] != 1 {
			str[d] = ist[j]
		}
	}
	return func(i int) int {
		k := 0
		for d := r - 1; d >= 0; d-- {
			k += (i % out[d]) * str[d]
			i /= out[d]
		}
		return k
	}
}

func concatTensors(ts []*ir.Tensor, axis int, maxBytes int64) (*ir.Tensor, error) {
	r := ts[0].Rank()
	ax, err := ir.NormAxis(axis, r)
	if err != nil {
		return nil, err
	}
	shape := ts[0].Shape.Clone()
	for _, t := range ts[1:] {
		if t.Elem != ts[0].Elem || t.Rank() != r {
			return nil, fmt.Errorf("operands %v and %v differ in type or rank", ts[0].Type, t.Type)
		}
		for d := 0; d < r; d++ {
			if d != ax && t.Shape[d] != shape[d] {
				return nil, fmt.Errorf("operands %v and %v differ outside axis %d", ts[0].Shape, t.Shape, ax)
			}
		}
		shape[ax] += t.Shape[ax]
	}
	if err := budget(shape, ts[0].Elem, maxBytes); err != nil {
		return nil, err
	}
	out := ir.NewTensor(ts[0].Elem, shape)
	if out.Len() == 0 {
		return out, nil
	}
	outer := int(prodInts(shape[:ax]))
	k := 0
	for o := 0; o < outer; o++ {
		for _, t := range ts {
			chunk := int(prodInts(t.Shape[ax:]))
			if t.F != nil {
				copy(out.F[k:], t.F[o*chunk:(o+1)*chunk])
			} else {
				copy(out.I[k:], t.I[o*chunk:(o+1)*chunk])
			}
			k += chunk
		}
	}
	return out, nil
}
