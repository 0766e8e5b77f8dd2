package runtime

import (
	"math"
	"testing"

	"wdc/ir"
)

func TestPoolHand(t *testing.T) {
	x16 := arange(ir.Shape{1, 1, 4, 4}, 1, 1)
	x7 := arange(ir.Shape{1, 1, 7}, 1, 1)
	x6 := arange(ir.Shape{1, 1, 6}, 1, 1)
	x2 := arange(ir.Shape{1, 1, 2, 2}, 1, 1)
	cases := []struct {
		name  string
		op    string
		attrs ir.Attrs
		x     *ir.Tensor
		shape ir.Shape
		want  []float32
	}{
		// ONNX test_averagepool_2d_ceil and test_maxpool_2d_ceil.
		{"avg ceil", "avg_pool", ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "ceil_mode": ir.IntAttr(1)}, x16, ir.Shape{1, 1, 2, 2}, []float32{6, 7.5, 12, 13.5}},
		{"max ceil", "max_pool", ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(2, 2), "ceil_mode": ir.IntAttr(1)}, x16, ir.Shape{1, 1, 2, 2}, []float32{11, 12, 15, 16}},
		// ONNX test_maxpool_2d_dilations.
		{"max dilated", "max_pool", ir.Attrs{"kernel_shape": ints(2, 2), "dilations": ints(2, 2)}, x16, ir.Shape{1, 1, 2, 2}, []float32{11, 12, 15, 16}},
		{"avg dilated", "avg_pool", ir.Attrs{"kernel_shape": ints(2, 2), "dilations": ints(2, 2)}, x16, ir.Shape{1, 1, 2, 2}, []float32{6, 7, 10, 11}},
		// ONNX test_maxpool_2d_ceil_output_size_reduce_by_one: the third
		// window would start past the input, so there are only... one.
		{"max ceil reduce", "max_pool", ir.Attrs{"kernel_shape": ints(1, 1), "strides": ints(2, 2), "ceil_mode": ir.IntAttr(1)}, x2, ir.Shape{1, 1, 1, 1}, []float32{1}},
		// The last window starts in the begin padding: in=2, k=3, s=3,
		// pads 1/1 (ONNX test_averagepool_2d_ceil_last_window_starts_on_pad).
		{"avg last window on pad, include", "avg_pool", ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(3, 3), "pads": ints(1, 1, 1, 1), "ceil_mode": ir.IntAttr(1), "count_include_pad": ir.IntAttr(1)}, x2, ir.Shape{1, 1, 1, 1}, []float32{10.0 / 9}},
		{"avg last window on pad, exclude", "avg_pool", ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(3, 3), "pads": ints(1, 1, 1, 1), "ceil_mode": ir.IntAttr(1)}, x2, ir.Shape{1, 1, 1, 1}, []float32{2.5}},
		// 1-d, pads 1/1, k=3, s=2, ceil: the last window covers x[5], the
		// end pad and one position of ceil overhang; the overhang never
		// counts in the divisor.
		{"avg ceil overhang, exclude", "avg_pool", ir.Attrs{"kernel_shape": ints(3), "strides": ints(2), "pads": ints(1, 1), "ceil_mode": ir.IntAttr(1)}, x6, ir.Shape{1, 1, 4}, []float32{1.5, 3, 5, 6}},
		{"avg ceil overhang, include", "avg_pool", ir.Attrs{"kernel_shape": ints(3), "strides": ints(2), "pads": ints(1, 1), "ceil_mode": ir.IntAttr(1), "count_include_pad": ir.IntAttr(1)}, x6, ir.Shape{1, 1, 4}, []float32{1, 3, 5, 3}},
		{"max ceil overhang", "max_pool", ir.Attrs{"kernel_shape": ints(3), "strides": ints(2), "pads": ints(1, 1), "ceil_mode": ir.IntAttr(1)}, x6, ir.Shape{1, 1, 4}, []float32{2, 4, 6, 6}},
		{"avg no ceil", "avg_pool", ir.Attrs{"kernel_shape": ints(3), "strides": ints(2), "pads": ints(1, 1)}, x6, ir.Shape{1, 1, 3}, []float32{1.5, 3, 5}},
		// Dilated with ceil: windows start at -1, 2, 5 with taps 2 apart.
		{"avg dilated ceil, exclude", "avg_pool", ir.Attrs{"kernel_shape": ints(3), "strides": ints(3), "dilations": ints(2), "pads": ints(1, 1), "ceil_mode": ir.IntAttr(1)}, x7, ir.Shape{1, 1, 3}, []float32{3, 5, 6}},
		{"avg dilated ceil, include", "avg_pool", ir.Attrs{"kernel_shape": ints(3), "strides": ints(3), "dilations": ints(2), "pads": ints(1, 1), "ceil_mode": ir.IntAttr(1), "count_include_pad": ir.IntAttr(1)}, x7, ir.Shape{1, 1, 3}, []float32{2, 5, 3}},
		// Padded max pool keeps negative values (padding is not zero).
		{"max pads negative", "max_pool", ir.Attrs{"kernel_shape": ints(2), "strides": ints(2), "pads": ints(1, 1)}, f32(ir.Shape{1, 1, 3}, -5, -3, -8), ir.Shape{1, 1, 2}, []float32{-5, -3}},
		{"max nan", "max_pool", ir.Attrs{"kernel_shape": ints(2)}, f32(ir.Shape{1, 1, 3}, 1, float32(math.NaN()), 2), ir.Shape{1, 1, 2}, []float32{float32(math.NaN()), float32(math.NaN())}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := mustRun(t, c.op, c.attrs, c.x)
			wantShape(t, y, c.shape)
			wantF(t, y, 1e-6, c.want...)
		})
	}
}

func TestMaxPoolIntegers(t *testing.T) {
	// ONNX test_maxpool_2d_uint8: 5x5 window, pads 2.
	x := ir.NewTensor(ir.Uint8, ir.Shape{1, 1, 5, 5})
	for i := range x.I {
		x.I[i] = int64(i + 1)
	}
	y := mustRun(t, "max_pool", ir.Attrs{"kernel_shape": ints(5, 5), "pads": ints(2, 2, 2, 2)}, x)
	if y.Elem != ir.Uint8 {
		t.Fatalf("result is %v", y.Type)
	}
	wantI(t, y, 13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25, 23, 24, 25, 25, 25)
	// i8: all-negative windows with padding keep their negative maximum.
	xi := i64s(ir.Int8, ir.Shape{1, 2, 3}, -5, -3, -128, 127, -1, 0)
	y = mustRun(t, "max_pool", ir.Attrs{"kernel_shape": ints(2), "strides": ints(2), "pads": ints(1, 1)}, xi)
	wantI(t, y, -5, -3, 127, 0)
	if _, err := runNode("avg_pool", ir.Attrs{"kernel_shape": ints(2)}, xi); err == nil {
		t.Fatal("avg_pool of i8 should be an error")
	}
}

// naivePool pools from the definition: every tap of every window, taps
// outside the input skipped (max, and the avg divisor without pads) or
// counted when inside the explicit pads (avg with count_include_pad).
func naivePool(x *ir.Tensor, isMax, includePad bool, k, s, d, pb, pe, O []int) []float64 {
	sp := len(k)
	X := x.Shape[2:]
	planes := x.Shape[0] * x.Shape[1]
	var out []float64
	oidx := make([]int, sp)
	kidx := make([]int, sp)
	for p := 0; p < planes; p++ {
		for o := 0; o < prodInts(O); o++ {
			r := o
			for i := sp - 1; i >= 0; i-- {
				oidx[i] = r % O[i]
				r /= O[i]
			}
			m, sum, cnt, padCnt := math.Inf(-1), 0.0, 0, 0
			for t := 0; t < prodInts(k); t++ {
				r := t
				for i := sp - 1; i >= 0; i-- {
					kidx[i] = r % k[i]
					r /= k[i]
				}
				inside, inPad, off := true, true, 0
				for i := 0; i < sp; i++ {
					pos := oidx[i]*s[i] - pb[i] + kidx[i]*d[i]
					if pos < 0 || pos >= X[i] {
						inside = false
					}
					if pos < -pb[i] || pos >= X[i]+pe[i] {
						inPad = false
					}
					off = off*X[i] + pos
				}
				if inPad {
					padCnt++
				}
				if inside {
					v := float64(x.F[p*prodInts(X)+off])
					m = math.Max(m, v)
					sum += v
					cnt++
				}
			}
			switch {
			case isMax:
				out = append(out, m)
			case includePad:
				out = append(out, sum/float64(padCnt))
			default:
				out = append(out, sum/float64(cnt))
			}
		}
	}
	return out
}

func TestPoolVsNaive(t *testing.T) {
	cases := []struct {
		name            string
		x               ir.Shape
		k, s, d, pb, pe []int
		ceil            bool
	}{
		{"2d", ir.Shape{2, 3, 9, 10}, []int{3, 2}, []int{2, 2}, []int{1, 1}, []int{1, 0}, []int{1, 1}, false},
		{"2d ceil", ir.Shape{1, 2, 10, 11}, []int{3, 3}, []int{2, 3}, []int{1, 1}, []int{1, 2}, []int{0, 1}, true},
		{"2d dilated ceil", ir.Shape{1, 2, 12, 9}, []int{2, 3}, []int{3, 2}, []int{2, 2}, []int{1, 0}, []int{2, 1}, true},
		{"3d", ir.Shape{1, 2, 6, 7, 8}, []int{2, 3, 2}, []int{2, 2, 3}, []int{1, 1, 2}, []int{0, 1, 1}, []int{1, 1, 0}, true},
		{"1d", ir.Shape{3, 2, 17}, []int{4}, []int{3}, []int{2}, []int{3}, []int{2}, true},
	}
	for i, c := range cases {
		for _, op := range []string{"max_pool", "avg_pool"} {
			for cip := 0; cip < 2; cip++ {
				if op == "max_pool" && cip == 1 {
					continue
				}
				t.Run(c.name+" "+op, func(t *testing.T) {
					x := randT(uint64(200+i), c.x)
					ceil := int64(0)
					if c.ceil {
						ceil = 1
					}
					a := ir.Attrs{"kernel_shape": ints(i64list(c.k)...), "strides": ints(i64list(c.s)...),
						"dilations": ints(i64list(c.d)...), "pads": ints(i64list(append(append([]int{}, c.pb...), c.pe...))...),
						"ceil_mode": ir.IntAttr(ceil)}
					if op == "avg_pool" {
						a["count_include_pad"] = ir.IntAttr(int64(cip))
					}
					y := mustRun(t, op, a, x)
					want := naivePool(x, op == "max_pool", cip == 1, c.k, c.s, c.d, c.pb, c.pe, y.Shape[2:])
					closeF(t, op, f64s(y.F), want, 1e-6)
				})
			}
		}
	}
}

func TestGlobalAvgPool(t *testing.T) {
	y := mustRun(t, "global_avg_pool", nil, arange(ir.Shape{1, 2, 2, 3}, 1, 1))
	wantShape(t, y, ir.Shape{1, 2, 1, 1})
	wantF(t, y, 1e-7, 3.5, 9.5)
	y = mustRun(t, "global_avg_pool", nil, arange(ir.Shape{2, 1, 4}, 0, 2))
	wantShape(t, y, ir.Shape{2, 1, 1})
	wantF(t, y, 1e-7, 3, 11)
}

func TestBatchNorm(t *testing.T) {
	x := f32(ir.Shape{1, 2, 1, 3}, -1, 0, 1, 2, 3, 4)
	scale := f32(ir.Shape{2}, 1, 1.5)
	bias := f32(ir.Shape{2}, 0, 1)
	mean := f32(ir.Shape{2}, 0, 3)
	vr := f32(ir.Shape{2}, 1, 1.5)
	y := mustRun(t, "batch_norm", ir.Attrs{"epsilon": ir.FloatAttr(0)}, x, scale, bias, mean, vr)
	// channel 1: (x−3)/sqrt(1.5)·1.5 + 1
	k := float32(1.5 / math.Sqrt(1.5))
	wantF(t, y, 1e-6, -1, 0, 1, 1-k, 1, 1+k)
	// Default epsilon 1e-5 (ONNX test_batchnorm_example style).
	y = mustRun(t, "batch_norm", nil, x, scale, bias, mean, vr)
	wantF(t, y, 1e-6, float32(-1/math.Sqrt(1+1e-5)), 0, float32(1/math.Sqrt(1+1e-5)),
		float32(1-1.5/math.Sqrt(1.5+1e-5)), 1, float32(1+1.5/math.Sqrt(1.5+1e-5)))
}

func TestLRN(t *testing.T) {
	x := arange(ir.Shape{1, 4, 1, 2}, 0.5, 0.5)
	// Expected values from numpy, following the ONNX LRN definition.
	y := mustRun(t, "lrn", ir.Attrs{"size": ir.IntAttr(3), "alpha": ir.FloatAttr(0.1)}, x)
	wantF(t, y, 1e-6, 0.47086718678474426, 0.8908199071884155, 1.2380222082138062, 1.5006568431854248, 1.68540358543396, 1.8064385652542114, 2.4411962032318115, 2.5388023853302)
	y = mustRun(t, "lrn", ir.Attrs{"size": ir.IntAttr(2), "alpha": ir.FloatAttr(0.1)}, x)
	wantF(t, y, 1e-6, 0.45772606134414673, 0.8458970785140991, 1.15008544921875, 1.373779535293579, 1.5297377109527588, 1.6329931020736694, 2.445925712585449, 2.5739827156066895)
}
