package llvm

import (
	"math"

	"github.com/llir/llvm/ir"
	"github.com/llir/llvm/ir/constant"
	"github.com/llir/llvm/ir/enum"
	"github.com/llir/llvm/ir/types"
	"github.com/llir/llvm/ir/value"
)

// Inline expf and tanhf: straight-line float arithmetic (no libm call),
// so the loop vectorizer turns a loop applying them into 8- or 16-lane
// code. Both are within a few float32 ulps of libm.

func fc(v float64) constant.Constant { return constant.NewFloat(f32, v) }

// horner evaluates c[0]·x^(n-1) + ... + c[n-1].
func (e *fn) horner(x value.Value, c ...float64) value.Value {
	b := e.cur
	var p value.Value = fc(c[0])
	for _, k := range c[1:] {
		p = b.NewFAdd(b.NewFMul(p, x), fc(k))
	}
	return p
}

// clampF is min(max(x, lo), hi) that keeps a NaN x.
func (e *fn) clampF(x value.Value, lo, hi float64) value.Value {
	b := e.cur
	x = b.NewSelect(b.NewFCmp(enum.FPredOLT, x, fc(lo)), fc(lo), x)
	return b.NewSelect(b.NewFCmp(enum.FPredOGT, x, fc(hi)), fc(hi), x)
}

func (mod *module) intrinsic(name string) *ir.Func {
	if f, ok := mod.libm[name]; ok {
		return f
	}
	f := mod.m.NewFunc(name, f32, ir.NewParam("", f32))
	mod.libm[name] = f
	return f
}

// fastExp is Cephes' expf: n = round(x·log2 e), r = x − n·ln 2 (in two
// parts), e^r by a degree-6 polynomial, times 2^n built in the exponent
// bits (as 2^(n−1)·2 so that n = 128 does not overflow the bits).
func (e *fn) fastExp(x value.Value) value.Value {
	b := e.cur
	isNaN := b.NewFCmp(enum.FPredUNO, x, x)
	xs := b.NewSelect(isNaN, fc(0), x)
	xc := e.clampF(xs, -87.33654, 88.72283)
	fx := b.NewCall(e.mod.intrinsic("llvm.floor.f32"), b.NewFAdd(b.NewFMul(xc, fc(math.Log2E)), fc(0.5)))
	r := b.NewFSub(b.NewFSub(xc, b.NewFMul(fx, fc(0.693359375))), b.NewFMul(fx, fc(-2.12194440e-4)))
	p := e.horner(r, 1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1)
	y := b.NewFAdd(b.NewFAdd(b.NewFMul(p, b.NewFMul(r, r)), r), fc(1))
	n := b.NewFPToSI(fx, types.I32)
	bits := b.NewShl(b.NewAdd(n, constant.NewInt(types.I32, 126)), constant.NewInt(types.I32, 23))
	scale := b.NewBitCast(bits, f32)
	res := b.NewFMul(b.NewFMul(y, scale), fc(2))
	res2 := b.NewSelect(b.NewFCmp(enum.FPredOGT, x, fc(88.72283)), constant.NewFloat(f32, math.Inf(1)), res)
	res3 := b.NewSelect(b.NewFCmp(enum.FPredOLT, x, fc(-103.97208)), fc(0), res2)
	return b.NewSelect(isNaN, x, res3)
}

// fastTanh is Eigen's rational approximation (odd degree-13 numerator,
// even degree-6 denominator) on x clamped to ±7.9053, and x itself for
// |x| < 0.0004.
func (e *fn) fastTanh(x value.Value) value.Value {
	b := e.cur
	xc := e.clampF(x, -7.90531110763549805, 7.90531110763549805)
	x2 := b.NewFMul(xc, xc)
	p := b.NewFMul(e.horner(x2, -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11,
		5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03), xc)
	q := e.horner(x2, 1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)
	abs := b.NewSelect(b.NewFCmp(enum.FPredOLT, x, fc(0)), b.NewFSub(fc(0), x), x)
	return b.NewSelect(b.NewFCmp(enum.FPredOLT, abs, fc(0.0004)), x, b.NewFDiv(p, q))
}
