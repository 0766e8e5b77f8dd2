package runtime

// Pooling and normalization kernels.

import (
	"fmt"
	"math"

	"wdc/ir"
)

func init() {
	register("max_pool", func(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) { return poolKernel(n, in, true) })
	register("avg_pool", func(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) { return poolKernel(n, in, false) })
	register("global_avg_pool", globalAvgPoolKernel)
	register("batch_norm", batchNormKernel)
	register("lrn", lrnKernel)
}

// poolKernel implements max_pool and avg_pool with ONNX's semantics:
// windows are placed at o·stride − pad_begin with taps every dilation;
// taps outside the input are ignored by max. For avg, the divisor is the
// number of taps inside the input (count_include_pad=0) or inside the
// input plus the explicit pads (count_include_pad=1); the extra overhang
// that ceil_mode adds past the end pad never counts.
func poolKernel(n *ir.Node, in []*ir.Tensor, isMax bool) (*ir.Tensor, error) {
	x := in[0]
	if !isMax && !x.Elem.IsFloat() {
		return nil, fmt.Errorf("avg_pool supports float tensors only, got %v", x.Type)
	}
	if x.Rank() < 3 {
		return nil, fmt.Errorf("x %v must be rank >= 3 (N, C, spatial...)", x.Shape)
	}
	sp := x.Rank() - 2
	win := ir.PoolWindow(n, sp)
	if len(win.Kernel) != sp || len(win.Strides) != sp || len(win.Dilations) != sp || len(win.PadBegin) != sp || len(win.PadEnd) != sp {
		return nil, fmt.Errorf("kernel_shape, strides and dilations need %d values and pads %d", sp, 2*sp)
	}
	for d := 0; d < sp; d++ {
		if win.Kernel[d] < 1 || win.Strides[d] < 1 || win.Dilations[d] < 1 || win.PadBegin[d] < 0 || win.PadEnd[d] < 0 {
			return nil, fmt.Errorf("bad window: kernel %v strides %v dilations %v pads %v/%v", win.Kernel, win.Strides, win.Dilations, win.PadBegin, win.PadEnd)
		}
	}
	ceil := n.Int("ceil_mode") != 0
	includePad := !isMax && n.Int("count_include_pad") != 0
	X := x.Shape[2:]
	xs := ir.Shape(X).Strides()
	O := make([]int, sp)
	for d := 0; d < sp; d++ {
		O[d] = win.OutSize(d, X[d], ceil)
		if O[d] < 1 {
			return nil, fmt.Errorf("window %v does not fit input %v", win.Kernel, x.Shape)
		}
	}
	// Per dimension and output index: the flat offsets of the taps inside
	// the input, and how many taps lie inside input plus explicit pads.
	taps := make([][][]int, sp)
	padCount := make([][]int, sp)
	for d := 0; d < sp; d++ {
		taps[d] = make([][]int, O[d])
		padCount[d] = make([]int, O[d])
		for o := 0; o < O[d]; o++ {
			for k := 0; k < win.Kernel[d]; k++ {
				p := o*win.Strides[d] - win.PadBegin[d] + k*win.Dilations[d]
				if p >= 0 && p < X[d] {
					taps[d][o] = append(taps[d][o], p*xs[d])
				}
				if p >= -win.PadBegin[d] && p < X[d]+win.PadEnd[d] {
					padCount[d][o]++
				}
			}
		}
	}
	N, C := x.Shape[0], x.Shape[1]
	out := ir.NewTensor(x.Elem, append(ir.Shape{N, C}, O...))
	xPlane, oPlane := prodInts(X), prodInts(O)
	isFloat := x.Elem.IsFloat()
	intLo, _ := x.Elem.IntRange()
	parallel(N*C, func(_, plane int) {
		idx := make([]int, sp)
		lists := make([][]int, sp)
		for o := 0; o < oPlane; o++ {
			cnt, pc := 1, 1
			for d := 0; d < sp; d++ {
				lists[d] = taps[d][idx[d]]
				cnt *= len(lists[d])
				pc *= padCount[d][idx[d]]
			}
			switch {
			case isFloat && isMax:
				xp := x.F[plane*xPlane:][:xPlane]
				m := math.Inf(-1)
				nan := false
				visitWindow(lists, 0, 0, func(off int) {
					v := float64(xp[off])
					if v > m {
						m = v
					} else if v != v {
						nan = true
					}
				})
				if nan {
					m = math.NaN()
				}
				out.F[plane*oPlane+o] = float32(m)
			case isMax:
				xp := x.I[plane*xPlane:][:xPlane]
				m := intLo
				visitWindow(lists, 0, 0, func(off int) { m = max(m, xp[off]) })
				out.I[plane*oPlane+o] = m
			default:
				xp := x.F[plane*xPlane:][:xPlane]
				s := 0.0
				visitWindow(lists, 0, 0, func(off int) { s += float64(xp[off]) })
				div := cnt
				if includePad {
					div = pc
				}
				out.F[plane*oPlane+o] = float32(s / float64(div))
			}
			for d := sp - 1; d >= 0; d-- {
				idx[d]++
				if idx[d] < O[d] {
					break
				}
				idx[d] = 0
			}
		}
	})
	return out, nil
}

// visitWindow calls f with every flat offset of the Cartesian product of
// per-dimension offset lists, in row-major order.
func visitWindow(lists [][]int, d, base int, f func(off int)) {
	if d == len(lists)-1 {
		for _, o := range lists[d] {
			f(base + o)
		}
		return
	}
	for _, o := range lists[d] {
		visitWindow(lists, d+1, base+o, f)
	}
}

func globalAvgPoolKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	if err := needFloat("global_avg_pool", in); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 3 {
		return nil, fmt.Errorf("x %v must be rank >= 3", x.Shape)
	}
	shape := ir.Shape{x.Shape[0], x.Shape[1]}
	for range x.Shape[2:] {
		shape = append(shape, 1)
	}
	out := ir.NewTensor(x.Elem, shape)
	plane := prodInts(x.Shape[2:])
	for i := range out.F {
		s := 0.0
		for _, v := range x.F[i*plane : (i+1)*plane] {
			s += float64(v)
		}
		out.F[i] = float32(s / float64(plane))
	}
	return out, nil
}

// batchNormKernel: y = (x − mean) / sqrt(var + epsilon) · scale + bias,
// evaluated in float64 per element.
func batchNormKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	if err := needFloat("batch_norm", in); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("x %v must be rank >= 2", x.Shape)
	}
	C := x.Shape[1]
	for i, name := range []string{"scale", "bias", "mean", "var"} {
		if p := in[i+1]; p.Rank() != 1 || p.Shape[0] != C {
			return nil, fmt.Errorf("%s %v must be [%d]", name, p.Shape, C)
		}
	}
	eps := n.Float("epsilon")
	scale, bias, mean, vr := in[1].F, in[2].F, in[3].F, in[4].F
	inner := prodInts(x.Shape[2:])
	out := ir.NewTensor(x.Elem, x.Shape)
	for b := 0; b < x.Shape[0]; b++ {
		for c := 0; c < C; c++ {
			sd := math.Sqrt(float64(vr[c]) + eps)
			mu, s, bi := float64(mean[c]), float64(scale[c]), float64(bias[c])
			base := (b*C + c) * inner
			src, dst := x.F[base:base+inner], out.F[base:base+inner]
			for i, v := range src {
				dst[i] = float32((float64(v)-mu)/sd*s + bi)
			}
		}
	}
	return out, nil
}

// lrnKernel is ONNX LRN: y = x / (bias + alpha/size · Σ x²)^beta, the sum
// over channels c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉ that exist.
func lrnKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	if err := needFloat("lrn", in); err != nil {
		return nil, err
	}
	x := in[0]
	size := n.Int("size")
	if x.Rank() < 3 || size < 1 {
		return nil, fmt.Errorf("x %v must be rank >= 3 and size (%d) positive", x.Shape, size)
	}
	alpha, beta, bias := n.Float("alpha"), n.Float("beta"), n.Float("bias")
	N, C := x.Shape[0], x.Shape[1]
	inner := prodInts(x.Shape[2:])
	before, after := (size-1)/2, size/2 // ⌊(size−1)/2⌋, ⌈(size−1)/2⌉
	out := ir.NewTensor(x.Elem, x.Shape)
	parallel(N*C, func(_, item int) {
		b, c := item/C, item%C
		lo, hi := max(0, c-before), min(C-1, c+after)
		for i := 0; i < inner; i++ {
			s := 0.0
			for cc := lo; cc <= hi; cc++ {
				v := float64(x.F[(b*C+cc)*inner+i])
				s += v * v
			}
			v := float64(x.F[item*inner+i])
			out.F[item*inner+i] = float32(v / math.Pow(bias+alpha/float64(size)*s, beta))
		}
	})
	return out, nil
}
