// Package ir is wdc's tensor IR: a graph of typed values and operations,
// with a verifier and a textual form that prints and parses back.
package ir

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the element kind of a tensor.
type Kind uint8

const (
	Invalid Kind = iota
	F32
	F16
	F64
	I8
	U8
	I16
	U16
	I32
	I64
	Bool
	Fixed // signed fixed point fixed<W,I>
)

var kindNames = [...]string{
	Invalid: "invalid", F32: "f32", F16: "f16", F64: "f64", I8: "i8", U8: "u8",
	I16: "i16", U16: "u16", I32: "i32", I64: "i64", Bool: "bool", Fixed: "fixed",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Rounding says how a fixed-point value drops fraction bits.
type Rounding uint8

const (
	Truncate      Rounding = iota // toward minus infinity (hls4ml's AP_TRN)
	RoundHalfEven                 // to nearest, ties to even
)

// Overflow says what happens when a fixed-point value leaves its range.
type Overflow uint8

const (
	Wrap     Overflow = iota // two's complement wrap (AP_WRAP)
	Saturate                 // clamp to the range (AP_SAT)
)

// Elem is an element type. W, I, Round and Ovf matter only for Fixed:
// W total bits, I integer bits (sign included), the rest fraction bits.
type Elem struct {
	Kind  Kind
	W, I  int
	Round Rounding
	Ovf   Overflow
}

// Element types used everywhere.
var (
	Float32 = Elem{Kind: F32}
	Int8    = Elem{Kind: I8}
	Uint8   = Elem{Kind: U8}
	Int32   = Elem{Kind: I32}
	Int64   = Elem{Kind: I64}
)

// FixedType returns fixed<w,i> with truncation and wrap-around, hls4ml's defaults.
func FixedType(w, i int) Elem { return Elem{Kind: Fixed, W: w, I: i} }

// IsFloat reports whether values of e are stored as floats.
func (e Elem) IsFloat() bool { return e.Kind == F32 || e.Kind == F16 || e.Kind == F64 }

// Frac is the number of fraction bits of a fixed-point type.
func (e Elem) Frac() int { return e.W - e.I }

// Bits is the storage width in bits.
func (e Elem) Bits() int {
	switch e.Kind {
	case F16, I16, U16:
		return 16
	case F32, I32:
		return 32
	case F64, I64:
		return 64
	case I8, U8, Bool:
		return 8
	case Fixed:
		return e.W
	}
	return 0
}

// Bytes is the storage size of one element, rounded up to whole bytes.
func (e Elem) Bytes() int { return (e.Bits() + 7) / 8 }

// IntRange is the representable range of an integer kind.
func (e Elem) IntRange() (lo, hi int64) {
	switch e.Kind {
	case I8:
		return -128, 127
	case U8:
		return 0, 255
	case I16:
		return -32768, 32767
	case U16:
		return 0, 65535
	case I32:
		return -1 << 31, 1<<31 - 1
	case Bool:
		return 0, 1
	case Fixed:
		return -(int64(1) << (e.W - 1)), int64(1)<<(e.W-1) - 1
	}
	return -1 << 63, 1<<63 - 1
}

func (e Elem) String() string {
	if e.Kind != Fixed {
		return e.Kind.String()
	}
	s := fmt.Sprintf("fixed<%d,%d", e.W, e.I)
	if e.Round != Truncate || e.Ovf != Wrap {
		r := "trn"
		if e.Round == RoundHalfEven {
			r = "rne"
		}
		o := "wrap"
		if e.Ovf == Saturate {
			o = "sat"
		}
		s += "," + r + "," + o
	}
	return s + ">"
}

// ParseElem reads an element type as printed by Elem.String.
func ParseElem(s string) (Elem, error) {
	s = strings.TrimSpace(s)
	for k, name := range kindNames {
		if s == name && Kind(k) != Invalid && Kind(k) != Fixed {
			return Elem{Kind: Kind(k)}, nil
		}
	}
	if !strings.HasPrefix(s, "fixed<") || !strings.HasSuffix(s, ">") {
		return Elem{}, fmt.Errorf("unknown element type %q (want f32, f16, f64, i8, u8, i16, u16, i32, i64, bool or fixed<W,I>)", s)
	}
	parts := strings.Split(s[len("fixed<"):len(s)-1], ",")
	if len(parts) != 2 && len(parts) != 4 {
		return Elem{}, fmt.Errorf("fixed type %q: want fixed<W,I> or fixed<W,I,trn|rne,wrap|sat>", s)
	}
	w, err1 := strconv.Atoi(strings.TrimSpace(parts[0]))
	i, err2 := strconv.Atoi(strings.TrimSpace(parts[1]))
	if err1 != nil || err2 != nil {
		return Elem{}, fmt.Errorf("fixed type %q: W and I must be integers", s)
	}
	if w < 2 || w > 62 || i < 1 || i > w {
		return Elem{}, fmt.Errorf("fixed type %q: need 2 <= W <= 62 and 1 <= I <= W", s)
	}
	e := FixedType(w, i)
	if len(parts) == 4 {
		switch strings.TrimSpace(parts[2]) {
		case "trn":
		case "rne":
			e.Round = RoundHalfEven
		default:
			return Elem{}, fmt.Errorf("fixed type %q: rounding must be trn or rne", s)
		}
		switch strings.TrimSpace(parts[3]) {
		case "wrap":
		case "sat":
			e.Ovf = Saturate
		default:
			return Elem{}, fmt.Errorf("fixed type %q: overflow must be wrap or sat", s)
		}
	}
	return e, nil
}

// Shape is a list of dimensions, outermost first (NCHW for images).
type Shape []int

// MaxElements bounds any one tensor so that a corrupt model cannot ask
// for an absurd allocation; frontends may check a smaller budget.
const MaxElements = 1 << 34

// Elements is the number of elements, or -1 when a dimension is negative
// or the product overflows MaxElements.
func (s Shape) Elements() int {
	n := 1
	for _, d := range s {
		if d < 0 {
			return -1
		}
		if d != 0 && n > MaxElements/d {
			return -1
		}
		n *= d
	}
	return n
}

func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteByte(']')
	return b.String()
}

// Strides returns row-major strides in elements.
func (s Shape) Strides() []int {
	st := make([]int, len(s))
	n := 1
	for i := len(s) - 1; i >= 0; i-- {
		st[i] = n
		n *= s[i]
	}
	return st
}

// Type is a tensor type: element type and static shape.
type Type struct {
	Elem  Elem
	Shape Shape
}

func (t Type) String() string    { return t.Elem.String() + t.Shape.String() }
func (t Type) Equal(u Type) bool { return t.Elem == u.Elem && t.Shape.Equal(u.Shape) }
func (t Type) Rank() int         { return len(t.Shape) }

// Bytes is the storage size of a tensor of this type.
func (t Type) Bytes() int64 { return int64(t.Shape.Elements()) * int64(t.Elem.Bytes()) }

// ParseType reads "f32[1,3,224,224]" or "fixed<16,6>[16]"; "f32[]" is a scalar.
func ParseType(s string) (Type, error) {
	s = strings.TrimSpace(s)
	open := strings.LastIndexByte(s, '[')
	if open < 0 || !strings.HasSuffix(s, "]") {
		return Type{}, fmt.Errorf("type %q: want ELEM[d0,d1,...]", s)
	}
	e, err := ParseElem(s[:open])
	if err != nil {
		return Type{}, err
	}
	shape := Shape{}
	body := strings.TrimSpace(s[open+1 : len(s)-1])
	if body != "" {
		for _, p := range strings.Split(body, ",") {
			d, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || d < 0 {
				return Type{}, fmt.Errorf("type %q: dimension %q is not a non-negative integer", s, p)
			}
			shape = append(shape, d)
		}
	}
	if shape.Elements() < 0 {
		return Type{}, fmt.Errorf("type %q: too many elements", s)
	}
	return Type{Elem: e, Shape: shape}, nil
}
