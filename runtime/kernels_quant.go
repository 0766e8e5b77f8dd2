package runtime

// Interpreter kernels of the quantization ops (ir/ops_quant.go). They are
// bit-exact: products accumulate in int64, requantization multiplies in
// float64 by the float32 multiplier, rounds half to even and saturates.

import (
	"fmt"
	"math"

	"wdc/ir"
)

func init() {
	RegisterKernel("quantize_linear", quantizeLinear)
	RegisterKernel("dequantize_linear", dequantizeLinear)
	RegisterKernel("qlinear_conv", qlinearConv)
	RegisterKernel("conv_integer", convInteger)
	RegisterKernel("qlinear_matmul", qlinearMatMul)
	RegisterKernel("matmul_integer", matmulInteger)
}

// quantIndex maps each element of x to the index of its scale/zero point.
func quantIndex(n *ir.Node, x, p ir.Shape) ([]int, error) {
	mode, err := ir.QuantParamMode(x, p, n.Int("axis"), n.Int("block_size"))
	if err != nil {
		return nil, err
	}
	total := x.Elements()
	idx := make([]int, total)
	if mode == "tensor" {
		return idx, nil
	}
	ax, _ := ir.NormAxis(n.Int("axis"), len(x))
	xs := x.Strides()
	if mode == "axis" {
		for i := range idx {
			idx[i] = (i / xs[ax]) % x[ax]
		}
		return idx, nil
	}
	block := n.Int("block_size")
	ps := p.Strides()
	coord := make([]int, len(x))
	for i := range idx {
		k := 0
		for d, c := range coord {
			if d == ax {
				c /= block
			}
			k += c * ps[d]
		}
		idx[i] = k
		for d := len(coord) - 1; d >= 0; d-- {
			coord[d]++
			if coord[d] < x[d] {
				break
			}
			coord[d] = 0
		}
	}
	return idx, nil
}

// saturate clamps v into the range of integer type e.
func saturate(v float64, e ir.Elem) int64 {
	lo, hi := e.IntRange()
	switch {
	case math.IsNaN(v):
		return 0
	case v <= float64(lo):
		return lo
	case v >= float64(hi):
		return hi
	}
	return int64(v)
}

func quantizeLinear(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x, scale := in[0], in[1]
	idx, err := quantIndex(n, x.Shape, scale.Shape)
	if err != nil {
		return nil, err
	}
	out := ir.NewTensor(n.Out.Type.Elem, x.Shape)
	for i, v := range x.F {
		k := idx[i]
		q := math.RoundToEven(float64(v / scale.F[k]))
		if len(in) == 3 {
			q += float64(in[2].I[k])
		}
		out.I[i] = saturate(q, out.Elem)
	}
	return out, nil
}

func dequantizeLinear(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x, scale := in[0], in[1]
	idx, err := quantIndex(n, x.Shape, scale.Shape)
	if err != nil {
		return nil, err
	}
	out := ir.NewTensor(n.Out.Type.Elem, x.Shape)
	for i, v := range x.I {
		k := idx[i]
		if len(in) == 3 {
			v -= in[2].I[k]
		}
		out.F[i] = float32(v) * scale.F[k]
	}
	return out, nil
}

// at returns element i of a per-tensor (one value) or per-channel parameter.
func atI(t *ir.Tensor, i int) int64 {
	if t == nil {
		return 0
	}
	if len(t.I) == 1 {
		return t.I[0]
	}
	return t.I[i]
}

func atF(t *ir.Tensor, i int) float32 {
	if len(t.F) == 1 {
		return t.F[0]
	}
	return t.F[i]
}

// intConv computes Σ (x−xzp)(w−wzp) for an N-d grouped convolution
// described by n's window attributes; wzp may be per output channel.
func intConv(n *ir.Node, x, w *ir.Tensor, xzp int64, wzp *ir.Tensor, out ir.Shape) []int64 {
	spatial := len(x.Shape) - 2
	win := ir.ConvWindow(n, spatial, w.Shape[2:])
	group := n.Int("group")
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	cg, mg := C/group, M/group
	xs, ws, os := x.Shape.Strides(), w.Shape.Strides(), out.Strides()
	kernelN := w.Shape[2:].Elements()
	outSp := out[2:].Elements()
	res := make([]int64, out.Elements())
	kc := make([]int, spatial)
	oc := make([]int, spatial)
	for b := 0; b < N; b++ {
		for m := 0; m < M; m++ {
			g := m / mg
			wz := atI(wzp, m)
			for o := 0; o < outSp; o++ {
				r := o
				for d := spatial - 1; d >= 0; d-- {
					oc[d] = r % out[2+d]
					r /= out[2+d]
				}
				var acc int64
				for c := 0; c < cg; c++ {
					xc := g*cg + c
					for k := 0; k < kernelN; k++ {
						r := k
						for d := spatial - 1; d >= 0; d-- {
							kc[d] = r % w.Shape[2+d]
							r /= w.Shape[2+d]
						}
						xoff := b*xs[0] + xc*xs[1]
						inside := true
						for d := 0; d < spatial; d++ {
							p := oc[d]*win.Strides[d] + kc[d]*win.Dilations[d] - win.PadBegin[d]
							if p < 0 || p >= x.Shape[2+d] {
								inside = false
								break
							}
							xoff += p * xs[2+d]
						}
						if !inside {
							continue // padding holds the zero point: contributes zero
						}
						woff := m*ws[0] + c*ws[1]
						for d := 0; d < spatial; d++ {
							woff += kc[d] * ws[2+d]
						}
						acc += (x.I[xoff] - xzp) * (w.I[woff] - wz)
					}
				}
				res[b*os[0]+m*os[1]+o] = acc
			}
		}
	}
	return res
}

func convInteger(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	var xzp int64
	var wzp *ir.Tensor
	if len(in) > 2 {
		xzp = in[2].I[0]
	}
	if len(in) > 3 {
		wzp = in[3]
	}
	out := ir.NewTensor(ir.Int32, n.Out.Type.Shape)
	acc := intConv(n, in[0], in[1], xzp, wzp, out.Shape)
	for i, v := range acc {
		out.I[i] = int64(int32(v))
	}
	return out, nil
}

func qlinearConv(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	x, xs, xzp, w, ws, wzp, ys, yzp := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	out := ir.NewTensor(n.Out.Type.Elem, n.Out.Type.Shape)
	acc := intConv(n, x, w, xzp.I[0], wzp, out.Shape)
	M := w.Shape[0]
	sp := out.Shape[2:].Elements()
	for i, v := range acc {
		m := (i / sp) % M
		if len(in) == 9 {
			v += in[8].I[m]
		}
		mult := xs.F[0] * atF(ws, m) / ys.F[0]
		q := math.RoundToEven(float64(int32(v))*float64(mult)) + float64(yzp.I[0])
		out.I[i] = saturate(q, out.Elem)
	}
	return out, nil
}

// intMatMul computes (a−azp)·(b−bzp) with numpy matmul broadcasting; azp
// is per row of a (or one value), bzp per column of b (or one value).
func intMatMul(a, b, azp, bzp *ir.Tensor, out ir.Shape) ([]int64, error) {
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = ir.Shape{1, as[0]}
	}
	if len(bs) == 1 {
		bs = ir.Shape{bs[0], 1}
	}
	M, K, N := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
	batch, err := ir.BroadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, err
	}
	nb := batch.Elements()
	res := make([]int64, nb*M*N)
	bidx := make([]int, len(batch))
	for bi := 0; bi < nb; bi++ {
		r := bi
		for d := len(batch) - 1; d >= 0; d-- {
			bidx[d] = r % batch[d]
			r /= batch[d]
		}
		off := func(s ir.Shape) int {
			o := 0
			bd := s[:len(s)-2]
			for d := range bd {
				c := bidx[len(batch)-len(bd)+d]
				if bd[d] == 1 {
					c = 0
				}
				o = o*bd[d] + c
			}
			return o * s[len(s)-2] * s[len(s)-1]
		}
		ao, bo := off(as), off(bs)
		for i := 0; i < M; i++ {
			az := atI(azp, i)
			for j := 0; j < N; j++ {
				bz := atI(bzp, j)
				var acc int64
				for k := 0; k < K; k++ {
					acc += (a.I[ao+i*K+k] - az) * (b.I[bo+k*N+j] - bz)
				}
				res[bi*M*N+i*N+j] = acc
			}
		}
	}
	if len(res) != out.Elements() {
		return nil, fmt.Errorf("matmul of %v and %v gives %d values, the result %v holds %d", a.Shape, b.Shape, len(res), out, out.Elements())
	}
	return res, nil
}

func matmulInteger(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	var azp, bzp *ir.Tensor
	if len(in) > 2 {
		azp = in[2]
	}
	if len(in) > 3 {
		bzp = in[3]
	}
	out := ir.NewTensor(ir.Int32, n.Out.Type.Shape)
	acc, err := intMatMul(in[0], in[1], azp, bzp, out.Shape)
	if err != nil {
		return nil, err
	}
	for i, v := range acc {
		out.I[i] = int64(int32(v))
	}
	return out, nil
}

func qlinearMatMul(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	a, as, azp, b, bs, bzp, ys, yzp := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
	out := ir.NewTensor(n.Out.Type.Elem, n.Out.Type.Shape)
	acc, err := intMatMul(a, b, azp, bzp, out.Shape)
	if err != nil {
		return nil, err
	}
	M := a.Shape[len(a.Shape)-2]
	N := b.Shape[len(b.Shape)-1]
	for i, v := range acc {
		r, c := (i/N)%M, i%N
		mult := atF(as, r) * atF(bs, c) / ys.F[0]
		q := math.RoundToEven(float64(int32(v))*float64(mult)) + float64(yzp.I[0])
		out.I[i] = saturate(q, out.Elem)
	}
	return out, nil
}
