package runtime

// Helpers shared by the interpreter kernels: registration with operand
// checks, bounded parallel loops, element-type conversions and broadcasting.

import (
	"fmt"
	"math"
	goruntime "runtime"
	"sync"
	"sync/atomic"

	"wdc/ir"
)

// fixedKernels holds fixed-point variants of kernels registered here.
var fixedKernels = map[string]Kernel{}

// RegisterFixedKernel installs the fixed-point variant of op's kernel: it
// runs instead of the general kernel whenever an operand or the node's
// result is fixed point. The general kernels handle fixed point only where
// the raw words pass through unchanged (data movement, relu, max_pool,
// clip) and in cast; arithmetic on fixed point needs such a variant.
func RegisterFixedKernel(op string, k Kernel) {
	if _, dup := fixedKernels[op]; dup {
		panic("runtime: fixed-point kernel " + op + " registered twice")
	}
	fixedKernels[op] = k
}

// involvesFixed reports whether a node reads or produces fixed point.
func involvesFixed(n *ir.Node, in []*ir.Tensor) bool {
	if n != nil && n.Out != nil && n.Out.Type.Elem.Kind == ir.Fixed {
		return true
	}
	for _, t := range in {
		if t.Elem.Kind == ir.Fixed {
			return true
		}
	}
	return false
}

// register installs k for op, wrapped so that malformed operands give an
// error instead of an index panic, a panic inside the kernel (a bug) comes
// back as an error naming the op, fixed-point nodes go to a registered
// fixed-point variant, and f16 results are rounded to f16.
func register(op string, k Kernel) {
	RegisterKernel(op, func(n *ir.Node, in []*ir.Tensor) (out *ir.Tensor, err error) {
		defer func() {
			if r := recover(); r != nil {
				out, err = nil, fmt.Errorf("internal error in the %s kernel: %v", op, r)
			}
		}()
		for i, t := range in {
			if err := checkTensor(t); err != nil {
				return nil, fmt.Errorf("operand %d: %v", i, err)
			}
		}
		if fk := fixedKernels[op]; fk != nil && involvesFixed(n, in) {
			return fk(n, in)
		}
		out, err = k(n, in)
		if err != nil {
			return nil, err
		}
		if out.Elem.Kind == ir.F16 {
			for i, v := range out.F {
				out.F[i] = roundF16(v)
			}
		}
		return out, nil
	})
}

// checkTensor verifies that a tensor's storage matches its type.
func checkTensor(t *ir.Tensor) error {
	if t == nil {
		return fmt.Errorf("missing tensor")
	}
	n := t.Shape.Elements()
	if n < 0 {
		return fmt.Errorf("bad shape %v", t.Shape)
	}
	if t.Elem.IsFloat() {
		if len(t.F) != n {
			return fmt.Errorf("%v needs %d float values, has %d", t.Type, n, len(t.F))
		}
	} else if len(t.I) != n {
		return fmt.Errorf("%v needs %d integer values, has %d", t.Type, n, len(t.I))
	}
	return nil
}

// roundF16 rounds a float32 to the nearest IEEE half-precision value (ties
// to even), overflowing to infinity, and returns it as a float32.
func roundF16(f float32) float32 {
	a := math.Abs(float64(f))
	if math.IsNaN(a) || math.IsInf(a, 0) || a == 0 {
		return f
	}
	var r float64
	if a < 1.0/16384 { // below the smallest normal half: quantum 2^-24
		r = math.RoundToEven(a*(1<<24)) / (1 << 24)
	} else {
		_, e := math.Frexp(a)      // a = m·2^e with m in [0.5, 1)
		q := math.Ldexp(1, e-1-10) // 10 fraction bits below the leading one
		r = math.RoundToEven(a/q) * q
	}
	if r > 65504 {
		r = math.Inf(1)
	}
	if f < 0 {
		r = -r
	}
	return float32(r)
}

// workers is the number of goroutines used for n independent items.
func workers(n int) int {
	w := goruntime.NumCPU()
	if n < w {
		w = n
	}
	if w < 1 {
		w = 1
	}
	return w
}

// parallel calls body(worker, i) for every i in [0, n) on at most
// workers(n) goroutines; worker identifies the goroutine (0..workers(n)-1)
// so that callers can give each its own scratch buffers. Items are handed
// out dynamically, so body must make each item's result independent of
// which worker computes it. A panic in body is re-raised in the caller.
func parallel(n int, body func(worker, i int)) {
	w := workers(n)
	if w <= 1 {
		for i := 0; i < n; i++ {
			body(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var perr any
	for k := 0; k < w; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					once.Do(func() { perr = r })
				}
			}()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				body(k, i)
			}
		}(k)
	}
	wg.Wait()
	if perr != nil {
		panic(perr)
	}
}

// isInteger reports whether e is a plain integer kind (bool included).
func isInteger(e ir.Elem) bool { return !e.IsFloat() && e.Kind != ir.Fixed && e.Kind != ir.Invalid }

// needFloat returns an error unless every operand is stored as floats.
func needFloat(op string, in []*ir.Tensor) error {
	for i, t := range in {
		if !t.Elem.IsFloat() {
			return fmt.Errorf("%s supports float tensors only; operand %d is %v", op, i, t.Type)
		}
	}
	return nil
}

// WrapInt reduces v to e's width with two's-complement wrap-around (as
// numpy and C integer arithmetic do); bool maps non-zero to 1.
func WrapInt(v int64, e ir.Elem) int64 {
	switch e.Kind {
	case ir.I8:
		return int64(int8(v))
	case ir.U8:
		return int64(uint8(v))
	case ir.I16:
		return int64(int16(v))
	case ir.U16:
		return int64(uint16(v))
	case ir.I32:
		return int64(int32(v))
	case ir.Bool:
		if v != 0 {
			return 1
		}
		return 0
	case ir.Fixed:
		if e.Ovf == ir.Saturate {
			return satInt(v, e)
		}
		sh := 64 - uint(e.W)
		return v << sh >> sh
	}
	return v
}

// satInt clamps v to e's range.
func satInt(v int64, e ir.Elem) int64 {
	lo, hi := e.IntRange()
	return min(max(v, lo), hi)
}

// floatToInt truncates f toward zero and saturates it to e's range; NaN
// becomes 0.
func floatToInt(f float64, e ir.Elem) int64 {
	if math.IsNaN(f) {
		return 0
	}
	lo, hi := e.IntRange()
	f = math.Trunc(f)
	if f <= float64(lo) {
		return lo
	}
	if f >= float64(hi) { // float64(hi) may round up to 2^63: compare before converting
		return hi
	}
	return int64(f)
}

// floatToFixed quantizes f to the raw word of fixed type e with e's
// rounding and overflow modes.
func floatToFixed(f float64, e ir.Elem) int64 {
	if math.IsNaN(f) {
		return 0
	}
	s := math.Ldexp(f, e.Frac())
	if e.Round == ir.RoundHalfEven {
		s = math.RoundToEven(s)
	} else {
		s = math.Floor(s)
	}
	const lim = 1 << 62 // W <= 62, so this is out of range either way
	if s >= lim || s <= -lim {
		if e.Ovf == ir.Saturate || math.IsInf(s, 0) {
			if s > 0 {
				_, hi := e.IntRange()
				return hi
			}
			lo, _ := e.IntRange()
			return lo
		}
		// Wrap: reduce modulo 2^W exactly.
		m := math.Ldexp(1, e.W)
		s = math.Mod(s, m)
	}
	return WrapInt(int64(s), e)
}

// broadcastStrides gives, for each dimension of out, the stride of in
// (right-aligned), 0 where in is broadcast.
func broadcastStrides(in, out ir.Shape) []int {
	st := make([]int, len(out))
	inSt := in.Strides()
	off := len(out) - len(in)
	for i := range out {
		j := i - off
		if j >= 0 && in[j] != 1 {
			st[i] = inSt[j]
		}
	}
	return st
}

// forEachRow iterates the rows (all dimensions but the last) of shape in
// row-major order, calling f(row, offsets) where offsets[k] is the flat
// offset of the row's first element in operand k, given each operand's
// strides over shape's dimensions.
func forEachRow(shape ir.Shape, strides [][]int, f func(row int, offs []int)) {
	r := len(shape)
	rows := 1
	for _, d := range shape[:max(r-1, 0)] {
		rows *= d
	}
	if shape.Elements() == 0 {
		return
	}
	idx := make([]int, max(r-1, 0))
	offs := make([]int, len(strides))
	for row := 0; row < rows; row++ {
		f(row, offs)
		// Advance the odometer over dimensions 0..r-2.
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			for k := range offs {
				offs[k] += strides[k][d]
			}
			if idx[d] < shape[d] {
				break
			}
			for k := range offs {
				offs[k] -= strides[k][d] * shape[d]
			}
			idx[d] = 0
		}
	}
}

func prodInts(xs []int) int {
	p := 1
	for _, x := range xs {
		p *= x
	}
	return p
}
