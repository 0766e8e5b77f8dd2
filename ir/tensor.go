package ir

import (
	"fmt"
	"math"
)

// Tensor holds data in row-major order. Float kinds keep their values in F
// (f16 and f64 are held as float32); every other kind, fixed point
// included (as the raw integer W-bit word), keeps them in I.
type Tensor struct {
	Type
	F []float32
	I []int64
}

// NewTensor allocates a zero tensor.
func NewTensor(e Elem, shape Shape) *Tensor {
	t := &Tensor{Type: Type{Elem: e, Shape: shape.Clone()}}
	n := shape.Elements()
	if n < 0 {
		panic(fmt.Sprintf("ir.NewTensor: bad shape %v", shape))
	}
	if e.IsFloat() {
		t.F = make([]float32, n)
	} else {
		t.I = make([]int64, n)
	}
	return t
}

// FromFloats wraps data (not copied) as an f32 tensor.
func FromFloats(shape Shape, data []float32) *Tensor {
	if shape.Elements() != len(data) {
		panic(fmt.Sprintf("ir.FromFloats: shape %v holds %d values, got %d", shape, shape.Elements(), len(data)))
	}
	return &Tensor{Type: Type{Elem: Float32, Shape: shape.Clone()}, F: data}
}

// FromInts wraps data (not copied) as a tensor of integer element type e.
func FromInts(e Elem, shape Shape, data []int64) *Tensor {
	if shape.Elements() != len(data) {
		panic(fmt.Sprintf("ir.FromInts: shape %v holds %d values, got %d", shape, shape.Elements(), len(data)))
	}
	return &Tensor{Type: Type{Elem: e, Shape: shape.Clone()}, I: data}
}

// Len is the number of elements.
func (t *Tensor) Len() int {
	if t.Elem.IsFloat() {
		return len(t.F)
	}
	return len(t.I)
}

// Float returns element i as a float64 (fixed point scaled by 2^-frac).
func (t *Tensor) Float(i int) float64 {
	switch {
	case t.Elem.IsFloat():
		return float64(t.F[i])
	case t.Elem.Kind == Fixed:
		return math.Ldexp(float64(t.I[i]), -t.Elem.Frac())
	default:
		return float64(t.I[i])
	}
}

// Clone deep-copies t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{Type: Type{Elem: t.Elem, Shape: t.Shape.Clone()}}
	if t.F != nil {
		c.F = append([]float32(nil), t.F...)
	}
	if t.I != nil {
		c.I = append([]int64(nil), t.I...)
	}
	return c
}

// Equal reports bitwise equality of type and data (NaNs with equal bits compare equal).
func (t *Tensor) Equal(u *Tensor) bool {
	if !t.Type.Equal(u.Type) || len(t.F) != len(u.F) || len(t.I) != len(u.I) {
		return false
	}
	for i := range t.F {
		if math.Float32bits(t.F[i]) != math.Float32bits(u.F[i]) {
			return false
		}
	}
	for i := range t.I {
		if t.I[i] != u.I[i] {
			return false
		}
	}
	return true
}

// Reshaped returns a tensor sharing t's data with a new shape of the same size.
func (t *Tensor) Reshaped(shape Shape) *Tensor {
	if shape.Elements() != t.Shape.Elements() {
		panic(fmt.Sprintf("ir.Reshaped: %v to %v", t.Shape, shape))
	}
	return &Tensor{Type: Type{Elem: t.Elem, Shape: shape.Clone()}, F: t.F, I: t.I}
}
