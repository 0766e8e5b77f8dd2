package ir

// Fixed-point arithmetic: exact quantization of floats, requantization
// between fixed types, and the exact result types of ops on fixed operands.
// docs/fixed-point.md is the contract every backend reproduces bit for bit.

import (
	"math"
)

// MaxFixedBits is the widest fixed-point word the IR allows, so that a
// word and any shift of it fits an int64.
const MaxFixedBits = 62

// FixedRange is the smallest and largest raw word of fixed type e.
func FixedRange(e Elem) (lo, hi int64) {
	return -(int64(1) << (e.W - 1)), int64(1)<<(e.W-1) - 1
}

// FixedValue is the real number a raw word q of type e stands for, q·2^-F.
// It is exact for |q| < 2^53.
func FixedValue(q int64, e Elem) float64 { return math.Ldexp(float64(q), -e.Frac()) }

// FixedOverflow applies e's overflow mode to an integer v held in full
// precision: Saturate clamps it to e's range, Wrap keeps the low W bits
// and sign-extends them.
func FixedOverflow(v int64, e Elem) int64 {
	lo, hi := FixedRange(e)
	if e.Ovf == Saturate {
		return min(max(v, lo), hi)
	}
	sh := 64 - uint(e.W)
	return v << sh >> sh
}

// ShiftRound divides v by 2^sh (sh >= 0) with rounding mode r: Truncate
// is floor (an arithmetic right shift), RoundHalfEven rounds to nearest
// with ties to the even result.
func ShiftRound(v int64, sh int, r Rounding) int64 {
	if sh <= 0 {
		return v
	}
	if sh >= 64 {
		// |v| <= 2^63 <= 2^sh/2: the quotient is in [-1/2, 1/2), a tie
		// only for v = -2^63 and sh = 64, which rounds to the even 0.
		if r == Truncate && v < 0 {
			return -1
		}
		return 0
	}
	q := v >> uint(sh) // floor
	if r == RoundHalfEven {
		rem := v - q<<uint(sh) // in [0, 2^sh)
		half := int64(1) << uint(sh-1)
		if rem > half || (rem == half && q&1 != 0) {
			q++
		}
	}
	return q
}

// ShiftLeftOverflow computes v·2^sh (sh >= 0) and applies e's overflow
// mode: Wrap keeps the low W bits of the exact product (two's complement
// arithmetic modulo 2^64 agrees with it on those bits), Saturate clamps
// it, detecting a product that leaves the int64 range.
func ShiftLeftOverflow(v int64, sh int, e Elem) int64 {
	if sh <= 0 {
		return FixedOverflow(v, e)
	}
	if e.Ovf == Wrap {
		if sh >= 64 {
			return 0
		}
		return FixedOverflow(v<<uint(sh), e)
	}
	if v == 0 {
		return 0
	}
	lo, hi := FixedRange(e)
	if sh >= 63 || (v<<uint(sh))>>uint(sh) != v {
		if v < 0 {
			return lo
		}
		return hi
	}
	return FixedOverflow(v<<uint(sh), e)
}

// QuantizeFloat is the raw word of fixed type e for the real x: x·2^F
// (exact in float64), rounded per e.Round (Truncate: floor; RoundHalfEven:
// nearest, ties to even), then overflowed per e.Ovf (Wrap: low W bits of
// the rounded integer; Saturate: clamped to the range). NaN gives 0;
// ±Inf give the range's ends in either mode.
func QuantizeFloat(x float64, e Elem) int64 {
	if math.IsNaN(x) {
		return 0
	}
	s := math.Ldexp(x, e.Frac())
	if e.Round == RoundHalfEven {
		s = math.RoundToEven(s)
	} else {
		s = math.Floor(s)
	}
	lo, hi := FixedRange(e)
	if math.IsInf(s, 0) {
		if s > 0 {
			return hi
		}
		return lo
	}
	if s >= 1<<62 || s < -(1<<62) {
		if e.Ovf == Saturate {
			if s > 0 {
				return hi
			}
			return lo
		}
		// Wrap: s is an integer (its magnitude is >= 2^62 > 2^53), so the
		// remainder modulo 2^W is exact.
		s = math.Mod(s, math.Ldexp(1, e.W))
	}
	return FixedOverflow(int64(s), e)
}

// Requantize converts the raw word q of fixed type from into a raw word of
// fixed type to: the value is shifted by the difference of fraction bits,
// with to's rounding when bits are dropped, then to's overflow mode is
// applied. This is the semantics of the cast op between fixed types.
func Requantize(q int64, from, to Elem) int64 {
	d := to.Frac() - from.Frac()
	if d >= 0 {
		return ShiftLeftOverflow(q, d, to)
	}
	return FixedOverflow(ShiftRound(q, -d, to.Round), to)
}

// FixedAdd is the exact type of a+b or a−b: F = max(Fa, Fb) fraction bits,
// I = max(Ia, Ib)+1 integer bits.
func FixedAdd(a, b Elem) Elem {
	f := max(a.Frac(), b.Frac())
	i := max(a.I, b.I) + 1
	return FixedType(i+f, i)
}

// FixedMul is the exact type of a·b: F = Fa+Fb, I = Ia+Ib.
func FixedMul(a, b Elem) Elem {
	return FixedType(a.W+b.W, a.I+b.I)
}

// FixedAccum is the exact type of a sum of k products x·w:
// F = Fx+Fw, I = Ix+Iw+⌈log2 k⌉.
func FixedAccum(x, w Elem, k int64) Elem {
	i := x.I + w.I + int(Log2Ceil(k))
	return FixedType(i+x.Frac()+w.Frac(), i)
}

// FixedSum is the exact type of a sum of k values of type x.
func FixedSum(x Elem, k int64) Elem {
	i := x.I + int(Log2Ceil(k))
	return FixedType(i+x.Frac(), i)
}

// fixedElem gives the exact result element type of a node whose operands
// include a fixed-point type. Operands must then all be fixed (a graph
// mixes fixed and float only through cast). ok is false when no operand
// is fixed, so the caller's float rule applies.
func fixedElem(n *Node, in []Type) (e Elem, ok bool, err error) {
	any := false
	for _, t := range in {
		if t.Elem.Kind == Fixed {
			any = true
		}
	}
	if !any {
		return Elem{}, false, nil
	}
	for i, t := range in {
		if t.Elem.Kind != Fixed {
			return Elem{}, true, errf("operand %d is %v but another is fixed point; insert a cast", i, t.Elem)
		}
	}
	switch n.Op {
	case "dense", "matmul", "conv":
		if n.Op == "dense" && (n.Float("alpha") != 1 || (len(in) == 3 && n.Float("beta") != 1)) {
			return Elem{}, true, errf("alpha and beta must be 1 on fixed-point operands (fold them into the weights)")
		}
		var k int64
		switch {
		case n.Op == "dense" && in[0].Rank() == 2:
			k = int64(in[0].Shape[1])
			if n.Int("trans_a") != 0 {
				k = int64(in[0].Shape[0])
			}
		case n.Op == "matmul" && in[0].Rank() >= 1:
			k = int64(in[0].Shape[in[0].Rank()-1])
		case n.Op == "conv" && in[1].Rank() >= 2:
			k = int64(in[1].Shape[1]) * prod(in[1].Shape[2:])
		}
		e = FixedAccum(in[0].Elem, in[1].Elem, k)
		if len(in) == 3 {
			e = FixedAdd(e, in[2].Elem)
		}
	case "add", "sub":
		e = FixedAdd(in[0].Elem, in[1].Elem)
	case "mul":
		e = FixedMul(in[0].Elem, in[1].Elem)
	case "div":
		return Elem{}, true, errf("div has no exact fixed-point result; multiply by a reciprocal table (lut) instead")
	default:
		if err := sameElem(in); err != nil {
			return Elem{}, true, err
		}
		return in[0].Elem, true, nil
	}
	if e.W > MaxFixedBits {
		return Elem{}, true, errf("the exact result %v is wider than %d bits; cast the operands to narrower fixed types first", e, MaxFixedBits)
	}
	return e, true, nil
}

// resultElem is the element type of an arithmetic op's result: the exact
// fixed-point type when operands are fixed, else the common element type
// of the operands (which must agree).
func resultElem(n *Node, in []Type) (Elem, error) {
	if e, ok, err := fixedElem(n, in); ok {
		return e, err
	}
	if err := sameElem(in); err != nil {
		return Elem{}, err
	}
	return in[0].Elem, nil
}
