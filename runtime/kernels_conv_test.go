package runtime

import (
	"math"
	"testing"

	"wdc/ir"
)

func TestConvHand(t *testing.T) {
	// ONNX's test_basic_conv_with(out)_padding: x = 0..24, w = ones(3x3).
	x := arange(ir.Shape{1, 1, 5, 5}, 0, 1)
	w := arange(ir.Shape{1, 1, 3, 3}, 1, 0)
	y := mustRun(t, "conv", ir.Attrs{"pads": ints(1, 1, 1, 1)}, x, w)
	wantShape(t, y, ir.Shape{1, 1, 5, 5})
	wantF(t, y, 0, 12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84)
	y = mustRun(t, "conv", nil, x, w)
	wantF(t, y, 0, 54, 63, 72, 99, 108, 117, 144, 153, 162)
	// Strides 2 with asymmetric pads (top 1, left 0, bottom 1, right 0), as
	// in ONNX's test_conv_with_strides_and_asymmetric_padding.
	x = arange(ir.Shape{1, 1, 7, 5}, 0, 1)
	y = mustRun(t, "conv", ir.Attrs{"pads": ints(1, 0, 1, 0), "strides": ints(2, 2)}, x, w)
	wantShape(t, y, ir.Shape{1, 1, 4, 2})
	wantF(t, y, 0, 21, 33, 99, 117, 189, 207, 171, 183)
	// Bias and two output channels (second weights doubled).
	w2 := f32(ir.Shape{2, 1, 1, 1}, 1, 2)
	b := f32(ir.Shape{2}, 0.5, -1)
	y = mustRun(t, "conv", nil, f32(ir.Shape{1, 1, 1, 2}, 3, 4), w2, b)
	wantF(t, y, 0, 3.5, 4.5, 5, 7)
}

// im2colConv is an independent conv2d: unfold x into columns (one per
// output pixel) and multiply by the [M, C·KH·KW] weight matrix.
func im2colConv(x, w *ir.Tensor, b []float32, stride, dil, pads [2]int, padEnd [2]int) ([]float64, ir.Shape) {
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	M, KH, KW := w.Shape[0], w.Shape[2], w.Shape[3]
	OH := (H+pads[0]+padEnd[0]-dil[0]*(KH-1)-1)/stride[0] + 1
	OW := (W+pads[1]+padEnd[1]-dil[1]*(KW-1)-1)/stride[1] + 1
	rows := C * KH * KW
	out := make([]float64, N*M*OH*OW)
	for n := 0; n < N; n++ {
		cols := make([]float64, rows*OH*OW)
		for c := 0; c < C; c++ {
			for kh := 0; kh < KH; kh++ {
				for kw := 0; kw < KW; kw++ {
					r := (c*KH+kh)*KW + kw
					for oh := 0; oh < OH; oh++ {
						for ow := 0; ow < OW; ow++ {
							ih := oh*stride[0] - pads[0] + kh*dil[0]
							iw := ow*stride[1] - pads[1] + kw*dil[1]
							if ih >= 0 && ih < H && iw >= 0 && iw < W {
								cols[r*OH*OW+oh*OW+ow] = float64(x.F[((n*C+c)*H+ih)*W+iw])
							}
						}
					}
				}
			}
		}
		for m := 0; m < M; m++ {
			for p := 0; p < OH*OW; p++ {
				s := 0.0
				for r := 0; r < rows; r++ {
					s += float64(w.F[m*rows+r]) * cols[r*OH*OW+p]
				}
				if b != nil {
					s += float64(b[m])
				}
				out[(n*M+m)*OH*OW+p] = s
			}
		}
	}
	return out, ir.Shape{N, M, OH, OW}
}

// bothConvPaths runs f with conv's direct path and with its im2col path.
func bothConvPaths(t *testing.T, f func(t *testing.T)) {
	saved := convColsWidth
	defer func() { convColsWidth = saved }()
	for _, w := range []int{0, 1 << 30} {
		convColsWidth = w
		name := "direct"
		if w > 0 {
			name = "im2col"
		}
		t.Run(name, f)
	}
}

func TestConvVsIm2col(t *testing.T) { bothConvPaths(t, testConvVsIm2col) }
func TestConvNd(t *testing.T)       { bothConvPaths(t, testConvNd) }
func TestConvGroupsVsSplit(t *testing.T) {
	bothConvPaths(t, testConvGroupsVsSplit)
}

func testConvVsIm2col(t *testing.T) {
	cases := []struct {
		name                string
		x, w                ir.Shape
		stride, dil, pb, pe [2]int
		bias                bool
	}{
		{"3x3 pad1", ir.Shape{2, 3, 9, 8}, ir.Shape{4, 3, 3, 3}, [2]int{1, 1}, [2]int{1, 1}, [2]int{1, 1}, [2]int{1, 1}, true},
		{"stride2 asym", ir.Shape{1, 2, 11, 10}, ir.Shape{3, 2, 3, 2}, [2]int{2, 3}, [2]int{1, 1}, [2]int{0, 2}, [2]int{1, 0}, false},
		{"dilated", ir.Shape{1, 3, 12, 13}, ir.Shape{5, 3, 3, 3}, [2]int{1, 2}, [2]int{2, 3}, [2]int{2, 1}, [2]int{0, 3}, true},
		{"7x7 s2", ir.Shape{1, 3, 20, 20}, ir.Shape{4, 3, 7, 7}, [2]int{2, 2}, [2]int{1, 1}, [2]int{3, 3}, [2]int{3, 3}, true},
		{"1x1", ir.Shape{2, 8, 5, 5}, ir.Shape{6, 8, 1, 1}, [2]int{1, 1}, [2]int{1, 1}, [2]int{0, 0}, [2]int{0, 0}, true},
		{"1x1 s2", ir.Shape{1, 8, 7, 7}, ir.Shape{6, 8, 1, 1}, [2]int{2, 2}, [2]int{1, 1}, [2]int{0, 0}, [2]int{0, 0}, false},
		{"big pads", ir.Shape{1, 1, 3, 4}, ir.Shape{2, 1, 2, 2}, [2]int{1, 1}, [2]int{1, 1}, [2]int{3, 2}, [2]int{2, 4}, false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := randT(uint64(10+i), c.x)
			w := randT(uint64(20+i), c.w)
			attrs := ir.Attrs{
				"strides":   ints(int64(c.stride[0]), int64(c.stride[1])),
				"dilations": ints(int64(c.dil[0]), int64(c.dil[1])),
				"pads":      ints(int64(c.pb[0]), int64(c.pb[1]), int64(c.pe[0]), int64(c.pe[1])),
			}
			ins := []*ir.Tensor{x, w}
			var bias []float32
			if c.bias {
				bt := randT(uint64(30+i), ir.Shape{c.w[0]})
				ins = append(ins, bt)
				bias = bt.F
			}
			y := mustRun(t, "conv", attrs, ins...)
			want, shape := im2colConv(x, w, bias, c.stride, c.dil, c.pb, c.pe)
			wantShape(t, y, shape)
			closeF(t, "conv", f64s(y.F), want, 1e-6)
		})
	}
}

// naiveConv is a direct N-d convolution with groups, written from the
// definition with explicit index arithmetic.
func naiveConv(x, w *ir.Tensor, group int, strides, dil, pb, pe []int) ([]float64, ir.Shape) {
	sp := x.Rank() - 2
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	Cg, Mg := C/group, M/group
	O := make([]int, sp)
	for d := range O {
		O[d] = (x.Shape[2+d]+pb[d]+pe[d]-dil[d]*(w.Shape[2+d]-1)-1)/strides[d] + 1
	}
	shape := append(ir.Shape{N, M}, O...)
	out := make([]float64, shape.Elements())
	xs, ws, os := x.Shape.Strides(), w.Shape.Strides(), shape.Strides()
	K := w.Shape[2:]
	oidx := make([]int, sp)
	kidx := make([]int, sp)
	for n := 0; n < N; n++ {
		for m := 0; m < M; m++ {
			g := m / Mg
			for op := 0; op < prodInts(O); op++ {
				r := op
				for d := sp - 1; d >= 0; d-- {
					oidx[d] = r % O[d]
					r /= O[d]
				}
				s := 0.0
				for c := 0; c < Cg; c++ {
					for kp := 0; kp < prodInts(K); kp++ {
						r := kp
						for d := sp - 1; d >= 0; d-- {
							kidx[d] = r % K[d]
							r /= K[d]
						}
						xo := n*xs[0] + (g*Cg+c)*xs[1]
						wo := m*ws[0] + c*ws[1]
						ok := true
						for d := 0; d < sp; d++ {
							i := oidx[d]*strides[d] - pb[d] + kidx[d]*dil[d]
							if i < 0 || i >= x.Shape[2+d] {
								ok = false
								break
							}
							xo += i * xs[2+d]
							wo += kidx[d] * ws[2+d]
						}
						if ok {
							s += float64(x.F[xo]) * float64(w.F[wo])
						}
					}
				}
				oo := n*os[0] + m*os[1]
				for d := 0; d < sp; d++ {
					oo += oidx[d] * os[2+d]
				}
				out[oo] = s
			}
		}
	}
	return out, shape
}

func i64list(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func testConvNd(t *testing.T) {
	cases := []struct {
		name                 string
		x, w                 ir.Shape
		group                int
		strides, dil, pb, pe []int
	}{
		{"1d", ir.Shape{2, 3, 17}, ir.Shape{4, 3, 3}, 1, []int{2}, []int{1}, []int{1}, []int{2}},
		{"1d dilated grouped", ir.Shape{1, 4, 20}, ir.Shape{6, 2, 4}, 2, []int{1}, []int{3}, []int{0}, []int{1}},
		{"3d", ir.Shape{1, 2, 6, 7, 5}, ir.Shape{3, 2, 3, 2, 3}, 1, []int{1, 2, 1}, []int{1, 1, 2}, []int{1, 0, 2}, []int{1, 1, 0}},
		{"3d depthwise", ir.Shape{2, 3, 5, 5, 5}, ir.Shape{3, 1, 3, 3, 3}, 3, []int{2, 2, 2}, []int{1, 1, 1}, []int{1, 1, 1}, []int{1, 1, 1}},
		{"2d grouped", ir.Shape{1, 6, 8, 9}, ir.Shape{4, 3, 3, 3}, 2, []int{1, 2}, []int{2, 1}, []int{2, 1}, []int{0, 1}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := randT(uint64(40+i), c.x)
			w := randT(uint64(50+i), c.w)
			attrs := ir.Attrs{
				"group":     ir.IntAttr(int64(c.group)),
				"strides":   ints(i64list(c.strides)...),
				"dilations": ints(i64list(c.dil)...),
				"pads":      ints(i64list(append(append([]int{}, c.pb...), c.pe...))...),
			}
			y := mustRun(t, "conv", attrs, x, w)
			want, shape := naiveConv(x, w, c.group, c.strides, c.dil, c.pb, c.pe)
			wantShape(t, y, shape)
			closeF(t, "conv", f64s(y.F), want, 1e-6)
		})
	}
}

// sliceChannels returns channels [c0, c1) of an [N, C, ...] tensor.
func sliceChannels(x *ir.Tensor, c0, c1 int) *ir.Tensor {
	N, C := x.Shape[0], x.Shape[1]
	inner := prodInts(x.Shape[2:])
	shape := x.Shape.Clone()
	shape[1] = c1 - c0
	out := ir.NewTensor(x.Elem, shape)
	for n := 0; n < N; n++ {
		copy(out.F[n*(c1-c0)*inner:], x.F[(n*C+c0)*inner:(n*C+c1)*inner])
	}
	return out
}

// TestConvGroupsVsSplit checks grouped and depthwise conv against running
// each group as its own ungrouped conv and concatenating the results; the
// summation order is the same, so the results must agree bit for bit.
func testConvGroupsVsSplit(t *testing.T) {
	cases := []struct {
		name  string
		x, w  ir.Shape
		group int
	}{
		{"groups2", ir.Shape{2, 4, 7, 6}, ir.Shape{6, 2, 3, 3}, 2},
		{"depthwise", ir.Shape{1, 5, 8, 8}, ir.Shape{5, 1, 3, 3}, 5},
		{"depthwise x2", ir.Shape{1, 3, 6, 9}, ir.Shape{6, 1, 3, 2}, 3},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := randT(uint64(60+i), c.x)
			w := randT(uint64(70+i), c.w)
			b := randT(uint64(80+i), ir.Shape{c.w[0]})
			attrs := ir.Attrs{"group": ir.IntAttr(int64(c.group)), "strides": ints(2, 1), "pads": ints(1, 0, 1, 1)}
			y := mustRun(t, "conv", attrs, x, w, b)
			Cg, Mg := c.x[1]/c.group, c.w[0]/c.group
			var parts []*ir.Tensor
			for g := 0; g < c.group; g++ {
				ag := ir.Attrs{"strides": ints(2, 1), "pads": ints(1, 0, 1, 1)}
				wg := ir.FromFloats(append(ir.Shape{Mg}, c.w[1:]...), w.F[g*Mg*prodInts(c.w[1:]):(g+1)*Mg*prodInts(c.w[1:])])
				bg := ir.FromFloats(ir.Shape{Mg}, b.F[g*Mg:(g+1)*Mg])
				parts = append(parts, mustRun(t, "conv", ag, sliceChannels(x, g*Cg, (g+1)*Cg), wg, bg))
			}
			want := mustRun(t, "concat", ir.Attrs{"axis": ir.IntAttr(1)}, parts...)
			if !y.Equal(want) {
				t.Fatalf("grouped conv differs from per-group convs:\n%v\n%v", y.F, want.F)
			}
		})
	}
}

func TestConvTransposeHand(t *testing.T) {
	// ONNX's test_convtranspose: x = 0..8 (3x3), w = ones [1, 2, 3, 3].
	x := arange(ir.Shape{1, 1, 3, 3}, 0, 1)
	w := arange(ir.Shape{1, 2, 3, 3}, 1, 0)
	y := mustRun(t, "conv_transpose", nil, x, w)
	wantShape(t, y, ir.Shape{1, 2, 5, 5})
	plane := []float32{0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8}
	wantF(t, y, 0, append(append([]float32{}, plane...), plane...)...)
	// 1-d, stride 3, output_padding 1, bias: x=[1,2], w=[1,10].
	y = mustRun(t, "conv_transpose", ir.Attrs{"strides": ints(3), "output_padding": ints(1)},
		f32(ir.Shape{1, 1, 2}, 1, 2), f32(ir.Shape{1, 1, 2}, 1, 10), f32(ir.Shape{1}, 0.5))
	wantShape(t, y, ir.Shape{1, 1, 6})
	wantF(t, y, 0, 1.5, 10.5, 0.5, 2.5, 20.5, 0.5)
	// Pads crop the full result: the same with pads [1, 1] keeps the middle.
	y = mustRun(t, "conv_transpose", ir.Attrs{"strides": ints(3), "pads": ints(1, 1)},
		f32(ir.Shape{1, 1, 2}, 1, 2), f32(ir.Shape{1, 1, 2}, 1, 10))
	wantF(t, y, 0, 10, 0, 2)
}

// TestConvTransposeAdjoint checks <conv(x), y> == <x, conv_transpose(y)>
// with the same weights, strides, pads, dilations and groups;
// output_padding makes conv_transpose's result as large as x.
func TestConvTransposeAdjoint(t *testing.T) {
	cases := []struct {
		name                 string
		x, w                 ir.Shape
		group                int
		strides, dil, pb, pe []int
	}{
		{"2d", ir.Shape{2, 3, 9, 8}, ir.Shape{4, 3, 3, 3}, 1, []int{1, 1}, []int{1, 1}, []int{1, 1}, []int{1, 1}},
		{"2d strided", ir.Shape{1, 2, 11, 10}, ir.Shape{3, 2, 3, 4}, 1, []int{2, 3}, []int{1, 1}, []int{1, 0}, []int{2, 1}},
		{"2d dilated grouped", ir.Shape{1, 4, 12, 10}, ir.Shape{6, 2, 3, 2}, 2, []int{2, 1}, []int{2, 3}, []int{2, 1}, []int{0, 2}},
		{"1d", ir.Shape{2, 2, 19}, ir.Shape{3, 2, 4}, 1, []int{3}, []int{2}, []int{1}, []int{2}},
		{"3d depthwise", ir.Shape{1, 3, 7, 6, 5}, ir.Shape{3, 1, 3, 2, 3}, 3, []int{2, 1, 2}, []int{1, 2, 1}, []int{1, 1, 0}, []int{1, 0, 2}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := randT(uint64(90+i), c.x)
			w := randT(uint64(100+i), c.w)
			pads := i64list(append(append([]int{}, c.pb...), c.pe...))
			attrs := ir.Attrs{"group": ir.IntAttr(int64(c.group)), "strides": ints(i64list(c.strides)...),
				"dilations": ints(i64list(c.dil)...), "pads": ints(pads...)}
			cx := mustRun(t, "conv", attrs, x, w)
			y := randT(uint64(110+i), cx.Shape)
			sp := len(c.strides)
			op := make([]int64, sp)
			for d := 0; d < sp; d++ {
				full := c.strides[d]*(cx.Shape[2+d]-1) + (c.w[2+d]-1)*c.dil[d] + 1 - c.pb[d] - c.pe[d]
				op[d] = int64(c.x[2+d] - full)
			}
			ta := ir.Attrs{"group": ir.IntAttr(int64(c.group)), "strides": ints(i64list(c.strides)...),
				"dilations": ints(i64list(c.dil)...), "pads": ints(pads...), "output_padding": ints(op...)}
			ty := mustRun(t, "conv_transpose", ta, y, w)
			wantShape(t, ty, c.x)
			lhs, rhs, mag := 0.0, 0.0, 0.0
			for j := range cx.F {
				lhs += float64(cx.F[j]) * float64(y.F[j])
				mag += math.Abs(float64(cx.F[j]) * float64(y.F[j]))
			}
			for j := range x.F {
				rhs += float64(x.F[j]) * float64(ty.F[j])
			}
			if math.Abs(lhs-rhs) > 1e-6*mag {
				t.Fatalf("<conv(x), y> = %v but <x, conv_transpose(y)> = %v", lhs, rhs)
			}
		})
	}
}

// TestConvPathsAgree checks that the direct and im2col paths give the same
// numbers (same summation order) on a padded, strided, grouped conv.
func TestConvPathsAgree(t *testing.T) {
	saved := convColsWidth
	defer func() { convColsWidth = saved }()
	x := randT(3, ir.Shape{2, 6, 15, 14})
	w := randT(4, ir.Shape{12, 3, 3, 3})
	b := randT(5, ir.Shape{12})
	a := ir.Attrs{"group": ir.IntAttr(2), "pads": ints(1, 2, 0, 1), "strides": ints(1, 2)}
	convColsWidth = 0
	direct := mustRun(t, "conv", a, x, w, b)
	convColsWidth = 1 << 30
	unfolded := mustRun(t, "conv", a, x, w, b)
	for i := range direct.F {
		if direct.F[i] != unfolded.F[i] {
			t.Fatalf("element %d: direct %v, im2col %v", i, direct.F[i], unfolded.F[i])
		}
	}
}

func TestConvDeterministic(t *testing.T) {
	x := randT(1, ir.Shape{2, 16, 13, 13})
	w := randT(2, ir.Shape{32, 8, 3, 3})
	a := ir.Attrs{"group": ir.IntAttr(2), "pads": ints(1, 1, 1, 1)}
	y1 := mustRun(t, "conv", a, x, w)
	for k := 0; k < 3; k++ {
		if y2 := mustRun(t, "conv", a, x, w); !y1.Equal(y2) {
			t.Fatal("conv results differ between runs")
		}
	}
}
