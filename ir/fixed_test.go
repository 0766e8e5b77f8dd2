package ir

import (
	"math"
	"math/big"
	"math/rand"
	"testing"
)

func fx(w, i int, r Rounding, o Overflow) Elem {
	return Elem{Kind: Fixed, W: w, I: i, Round: r, Ovf: o}
}

// refQuantize is an independent model of QuantizeFloat in big arithmetic:
// the exact rational x·2^F, rounded, then reduced modulo 2^W or clamped.
func refQuantize(x float64, e Elem) int64 {
	if math.IsNaN(x) {
		return 0
	}
	lo, hi := FixedRange(e)
	if math.IsInf(x, 0) {
		if x > 0 {
			return hi
		}
		return lo
	}
	r := new(big.Rat).SetFloat64(x)
	r.Mul(r, new(big.Rat).SetFrac(new(big.Int).Lsh(big.NewInt(1), uint(e.Frac())), big.NewInt(1)))
	return refRoundOverflow(r, e)
}

func refRoundOverflow(r *big.Rat, e Elem) int64 {
	num, den := r.Num(), r.Denom()
	q, m := new(big.Int).DivMod(num, den, new(big.Int)) // floor (den > 0, m >= 0)
	if e.Round == RoundHalfEven {
		twice := new(big.Int).Lsh(m, 1)
		c := twice.Cmp(den)
		if c > 0 || (c == 0 && q.Bit(0) == 1) {
			q.Add(q, big.NewInt(1))
		}
	}
	lo, hi := FixedRange(e)
	if e.Ovf == Saturate {
		if q.Cmp(big.NewInt(lo)) < 0 {
			return lo
		}
		if q.Cmp(big.NewInt(hi)) > 0 {
			return hi
		}
		return q.Int64()
	}
	mod := new(big.Int).Lsh(big.NewInt(1), uint(e.W))
	q.Mod(q, mod)
	if q.Cmp(big.NewInt(hi)) > 0 {
		q.Sub(q, mod)
	}
	return q.Int64()
}

func TestQuantizeFloatEdges(t *testing.T) {
	trnWrap := fx(4, 4, Truncate, Wrap) // integers -8..7
	rneWrap := fx(4, 4, RoundHalfEven, Wrap)
	trnSat := fx(4, 4, Truncate, Saturate)
	rneSat := fx(4, 4, RoundHalfEven, Saturate)
	f2 := fx(8, 3, RoundHalfEven, Saturate) // 5 fraction bits, range [-4, 4)
	cases := []struct {
		x    float64
		e    Elem
		want int64
	}{
		// Truncation is floor, also for negative numbers.
		{0.9, trnWrap, 0}, {-0.1, trnWrap, -1}, {-1, trnWrap, -1}, {-1.5, trnWrap, -2}, {2.999, trnWrap, 2},
		// Ties go to even, both signs.
		{0.5, rneWrap, 0}, {1.5, rneWrap, 2}, {2.5, rneWrap, 2}, {-0.5, rneWrap, 0}, {-1.5, rneWrap, -2}, {-2.5, rneWrap, -2},
		{0.5000001, rneWrap, 1}, {-0.5000001, rneWrap, -1},
		// Wrap keeps the low W bits; saturate clamps.
		{8, trnWrap, -8}, {9, trnWrap, -7}, {-9, trnWrap, 7}, {16, trnWrap, 0}, {-8, trnWrap, -8},
		{8, trnSat, 7}, {100, trnSat, 7}, {-9, trnSat, -8}, {-8.5, trnSat, -8}, {7.99, trnSat, 7},
		{7.5, rneSat, 7}, {7.5, rneWrap, -8}, {6.5, rneSat, 6},
		// Fractions: 2^-5 steps.
		{1.0 / 64, f2, 0}, {3.0 / 64, f2, 2}, {-3.0 / 64, f2, -2}, {3.999, f2, 127}, {-4, f2, -128}, {-4.1, f2, -128},
		// Specials.
		{math.NaN(), rneSat, 0}, {math.Inf(1), trnWrap, 7}, {math.Inf(-1), trnWrap, -8},
		{1e30, trnWrap, 0}, {1e30, trnSat, 7}, {-1e30, rneSat, -8},
		{math.Ldexp(1, 70) + math.Ldexp(3, 20), fx(24, 24, Truncate, Wrap), 3 << 20},
	}
	for _, c := range cases {
		if got := QuantizeFloat(c.x, c.e); got != c.want {
			t.Errorf("QuantizeFloat(%v, %v) = %d, want %d", c.x, c.e, got, c.want)
		}
		if got := refQuantize(c.x, c.e); got != c.want {
			t.Errorf("reference model disagrees on (%v, %v): %d, want %d", c.x, c.e, got, c.want)
		}
	}
}

func TestQuantizeFloatRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for it := 0; it < 200000; it++ {
		w := 2 + rng.Intn(MaxFixedBits-1)
		e := fx(w, 1+rng.Intn(w), Rounding(rng.Intn(2)), Overflow(rng.Intn(2)))
		var x float64
		switch rng.Intn(4) {
		case 0: // exact ties and near-ties on the grid
			x = math.Ldexp(float64(rng.Int63n(1<<20)-1<<19)+0.5, -e.Frac())
		case 1:
			x = math.Ldexp(rng.NormFloat64(), rng.Intn(80)-20)
		case 2:
			x = float64(float32(rng.NormFloat64() * float64(int64(1)<<uint(e.I))))
		default:
			x = math.Ldexp(float64(rng.Int63()), -rng.Intn(70))
			if rng.Intn(2) == 0 {
				x = -x
			}
		}
		if got, want := QuantizeFloat(x, e), refQuantize(x, e); got != want {
			t.Fatalf("QuantizeFloat(%v, %v) = %d, reference %d", x, e, got, want)
		}
	}
}

// TestRequantizeExhaustive checks every word of every small fixed type
// against the big-rational model for every target type and mode.
func TestRequantizeExhaustive(t *testing.T) {
	var types []Elem
	for w := 2; w <= 7; w++ {
		for i := 1; i <= w; i++ {
			types = append(types, FixedType(w, i))
		}
	}
	n := 0
	for _, from := range types {
		lo, hi := FixedRange(from)
		for _, base := range types {
			for mode := 0; mode < 4; mode++ {
				to := base
				to.Round, to.Ovf = Rounding(mode&1), Overflow(mode>>1)
				for q := lo; q <= hi; q++ {
					r := new(big.Rat).SetFrac(big.NewInt(q), new(big.Int).Lsh(big.NewInt(1), uint(from.Frac())))
					r.Mul(r, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), uint(to.Frac()))))
					want := refRoundOverflow(r, to)
					if got := Requantize(q, from, to); got != want {
						t.Fatalf("Requantize(%d, %v, %v) = %d, want %d", q, from, to, got, want)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d conversions checked", n)
}

func TestRequantizeWide(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for it := 0; it < 100000; it++ {
		wf, wt := 2+rng.Intn(61), 2+rng.Intn(61)
		from := FixedType(wf, 1+rng.Intn(wf))
		to := fx(wt, 1+rng.Intn(wt), Rounding(rng.Intn(2)), Overflow(rng.Intn(2)))
		lo, hi := FixedRange(from)
		q := lo + rng.Int63n(hi-lo+1)
		if rng.Intn(8) == 0 {
			q = []int64{lo, hi, 0, -1, 1}[rng.Intn(5)]
		}
		r := new(big.Rat).SetFrac(big.NewInt(q), new(big.Int).Lsh(big.NewInt(1), uint(from.Frac())))
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), uint(to.Frac()))))
		if got, want := Requantize(q, from, to), refRoundOverflow(r, to); got != want {
			t.Fatalf("Requantize(%d, %v, %v) = %d, want %d", q, from, to, got, want)
		}
	}
}

func TestShiftRoundExtremes(t *testing.T) {
	cases := []struct {
		v    int64
		sh   int
		r    Rounding
		want int64
	}{
		{math.MinInt64, 63, RoundHalfEven, -1}, {math.MinInt64, 63, Truncate, -1},
		{1 << 62, 63, RoundHalfEven, 0}, {1<<62 + 1, 63, RoundHalfEven, 1}, {-(1 << 62), 63, RoundHalfEven, 0},
		{-(1<<62 + 1), 63, RoundHalfEven, -1}, {math.MinInt64, 64, RoundHalfEven, 0}, {math.MinInt64, 64, Truncate, -1},
		{5, 100, Truncate, 0}, {-5, 100, Truncate, -1}, {-5, 100, RoundHalfEven, 0},
		{6, 2, RoundHalfEven, 2}, {10, 2, RoundHalfEven, 2}, {-6, 2, RoundHalfEven, -2}, {-10, 2, RoundHalfEven, -2}, {-7, 2, Truncate, -2},
	}
	for _, c := range cases {
		if got := ShiftRound(c.v, c.sh, c.r); got != c.want {
			t.Errorf("ShiftRound(%d, %d, %d) = %d, want %d", c.v, c.sh, c.r, got, c.want)
		}
	}
}

func TestFixedResultTypes(t *testing.T) {
	g := NewGraph("t")
	x, _ := g.AddInput("x", Type{Elem: FixedType(16, 6), Shape: Shape{1, 16}}, Pos{})
	w, _ := g.AddConst("w", NewTensor(FixedType(16, 6), Shape{16, 64}), Pos{})
	b, _ := g.AddConst("b", NewTensor(FixedType(16, 6), Shape{64}), Pos{})
	d, err := g.AddNode("dense", "d", []*Value{x, w, b}, nil, Pos{})
	if err != nil {
		t.Fatal(err)
	}
	// products fixed<32,12>, 16 terms: I 16, F 20; bias: I 17.
	if want := FixedType(37, 17); d.Type.Elem != want {
		t.Errorf("dense: %v, want %v", d.Type.Elem, want)
	}
	cx, _ := g.AddInput("cx", Type{Elem: FixedType(8, 3), Shape: Shape{1, 3, 8, 8}}, Pos{})
	cw, _ := g.AddConst("cw", NewTensor(FixedType(6, 1), Shape{4, 3, 3, 3}), Pos{})
	cb, _ := g.AddConst("cb", NewTensor(FixedType(10, 2), Shape{4}), Pos{})
	c, err := g.AddNode("conv", "c", []*Value{cx, cw, cb}, nil, Pos{})
	if err != nil {
		t.Fatal(err)
	}
	// F 5+5=10, I 3+1+⌈log2 27⌉=9; bias F 8 aligned to 10, I 10.
	if want := FixedType(20, 10); c.Type.Elem != want {
		t.Errorf("conv: %v, want %v", c.Type.Elem, want)
	}
	a1, _ := g.AddInput("a1", Type{Elem: FixedType(8, 3), Shape: Shape{4}}, Pos{})
	a2, _ := g.AddInput("a2", Type{Elem: FixedType(10, 2), Shape: Shape{4}}, Pos{})
	s, _ := g.AddNode("add", "s", []*Value{a1, a2}, nil, Pos{})
	m, _ := g.AddNode("mul", "m", []*Value{a1, a2}, nil, Pos{})
	if s.Type.Elem != FixedType(12, 4) || m.Type.Elem != FixedType(18, 5) {
		t.Errorf("add %v (want fixed<12,4>), mul %v (want fixed<18,5>)", s.Type.Elem, m.Type.Elem)
	}
	rs, err := g.AddNode("reduce_sum", "rs", []*Value{a1}, Attrs{"axes": IntsAttr(0)}, Pos{})
	if err != nil || rs.Type.String() != "fixed<10,5>[1]" {
		t.Errorf("reduce_sum: %v %v", rs, err)
	}
	f, _ := g.AddInput("f", Type{Elem: Float32, Shape: Shape{4}}, Pos{})
	if _, err := g.AddNode("add", "bad", []*Value{a1, f}, nil, Pos{}); err == nil {
		t.Errorf("mixing fixed and f32 must fail")
	}
	if _, err := g.AddNode("div", "bad2", []*Value{a1, a2}, nil, Pos{}); err == nil {
		t.Errorf("div on fixed must fail")
	}
	wide, _ := g.AddInput("wide", Type{Elem: FixedType(40, 10), Shape: Shape{4}}, Pos{})
	if _, err := g.AddNode("mul", "bad3", []*Value{wide, wide}, nil, Pos{}); err == nil {
		t.Errorf("80-bit product must fail")
	}
}

func TestLutIndex(t *testing.T) {
	cases := []struct{ q, shift, off, n, want int }{
		{0, 0, 0, 8, 0}, {5, 0, 0, 8, 5}, {9, 0, 0, 8, 7}, {-1, 0, 0, 8, 0},
		{-1, 2, 4, 8, 3}, {-5, 2, 4, 8, 2}, {7, 2, 4, 8, 5}, {100, 2, 4, 8, 7},
		{3, -1, 0, 8, 6}, {4, -1, 0, 8, 7}, {-3, -1, 7, 8, 1},
	}
	for _, c := range cases {
		if got := LutIndex(int64(c.q), c.shift, c.off, c.n); got != c.want {
			t.Errorf("LutIndex(%d, %d, %d, %d) = %d, want %d", c.q, c.shift, c.off, c.n, got, c.want)
		}
	}
	if got := LutIndex(1<<61, -62, 0, 8); got != 7 {
		t.Errorf("overflowing left shift: %d", got)
	}
}
