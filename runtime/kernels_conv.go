package runtime

// Convolution and transposed convolution over any number of spatial
// dimensions. Both work one (batch, output channel) plane at a time:
// for every input channel of the group and every kernel tap, whole output
// rows are updated with a contiguous inner loop over the last spatial
// dimension, accumulating in a float64 plane that is rounded to float32
// once at the end. The summation order (channel, tap, position) is fixed,
// so results do not depend on scheduling.

import (
	"fmt"

	"wdc/ir"
)

func init() {
	register("conv", convKernel)
	register("conv_transpose", convTransposeKernel)
}

// toF64 widens float32 data.
func toF64(f []float32) []float64 {
	d := make([]float64, len(f))
	for i, v := range f {
		d[i] = float64(v)
	}
	return d
}

func readWindow(n *ir.Node, spatial int, kernel []int) (ir.Window, error) {
	w := ir.ConvWindow(n, spatial, kernel)
	if len(w.Strides) != spatial || len(w.Dilations) != spatial || len(w.PadBegin) != spatial || len(w.PadEnd) != spatial || len(w.Kernel) != spatial {
		return w, fmt.Errorf("strides, dilations and kernel need %d values and pads %d", spatial, 2*spatial)
	}
	for i := 0; i < spatial; i++ {
		if w.Strides[i] < 1 || w.Dilations[i] < 1 || w.Kernel[i] < 1 || w.PadBegin[i] < 0 || w.PadEnd[i] < 0 {
			return w, fmt.Errorf("bad window: kernel %v strides %v dilations %v pads %v/%v", w.Kernel, w.Strides, w.Dilations, w.PadBegin, w.PadEnd)
		}
	}
	return w, nil
}

// axpyRange is, for one kernel tap along the last spatial dimension, the
// range [lo, hi) of positions p on the "driving" side whose partner index
// q = p·stride + off lies in [0, limit).
func axpyRange(count, stride, off, limit int) (lo, hi int) {
	// q >= 0  <=>  p >= ceil(-off/stride)
	lo = 0
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	// q <= limit-1  <=>  p <= floor((limit-1-off)/stride)
	if limit-1-off < 0 {
		return lo, lo
	}
	hi = min(count, (limit-1-off)/stride+1)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// axpy computes acc[i] += w·x[i·stride] for i < len(acc).
func axpy(acc []float64, w float64, x []float64, stride int) {
	if len(acc) == 0 {
		return
	}
	if stride == 1 {
		x = x[:len(acc)]
		i := 0
		for ; i+4 <= len(acc); i += 4 {
			a := acc[i : i+4 : i+4]
			b := x[i : i+4 : i+4]
			a[0] += w * b[0]
			a[1] += w * b[1]
			a[2] += w * b[2]
			a[3] += w * b[3]
		}
		for ; i < len(acc); i++ {
			acc[i] += w * x[i]
		}
		return
	}
	x = x[:(len(acc)-1)*stride+1]
	for i := range acc {
		acc[i] += w * x[i*stride]
	}
}

// scatter computes acc[i·stride] += w·x[i] for i < len(x).
func scatter(acc []float64, w float64, x []float64, stride int) {
	if len(x) == 0 {
		return
	}
	if stride == 1 {
		axpy(acc[:len(x)], w, x, 1)
		return
	}
	acc = acc[:(len(x)-1)*stride+1]
	for i, v := range x {
		acc[i*stride] += w * v
	}
}

// rowMap maps each outer-dimension row number of one side to the row
// number of the other side for one kernel tap, or -1 when it falls outside.
// dims: the row side's outer extents; other: the other side's outer
// extents; f(d, i) gives the partner index along dimension d.
func rowMap(dims, other []int, f func(d, i int) int) []int {
	rows := prodInts(dims)
	m := make([]int, rows)
	idx := make([]int, len(dims))
	for r := 0; r < rows; r++ {
		q := 0
		for d := range dims {
			j := f(d, idx[d])
			if j < 0 || j >= other[d] {
				q = -1
				break
			}
			q = q*other[d] + j
		}
		m[r] = q
		for d := len(dims) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < dims[d] {
				break
			}
			idx[d] = 0
		}
	}
	return m
}

// tapsOf lists every kernel tap as per-dimension offsets, row-major.
func tapsOf(kernel []int) [][]int {
	t := prodInts(kernel)
	out := make([][]int, t)
	idx := make([]int, len(kernel))
	for i := 0; i < t; i++ {
		out[i] = append([]int(nil), idx...)
		for d := len(kernel) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < kernel[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// tapPlan is the precomputed work of one kernel tap: row mapping for the
// outer spatial dimensions and the contiguous range of the last one.
type tapPlan struct {
	rows   []int // for each driving row, the partner row or -1
	lo, hi int   // driving positions along the last dimension
	off    int   // partner position of driving position lo
}

// Tiling of conv's work: output channels per block and float64
// accumulators per tile.
const (
	convMBlock    = 8
	convMatMBlock = 32
	convTile      = 2048
	convColsMax   = 1 << 22 // float64s of an im2col matrix (32 MiB)
)

// convColsWidth: im2col only for output rows narrower than this (a
// variable so that tests can force either path).
var convColsWidth = 32

func convKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	if err := needFloat("conv", in); err != nil {
		return nil, err
	}
	x, w := in[0], in[1]
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("x %v and w %v must both be rank >= 3 and of equal rank", x.Shape, w.Shape)
	}
	sp := x.Rank() - 2
	N, C := x.Shape[0], x.Shape[1]
	M, Cg := w.Shape[0], w.Shape[1]
	G := n.Int("group")
	if G < 1 || C%G != 0 || M%G != 0 || Cg*G != C {
		return nil, fmt.Errorf("group %d does not fit x %v and w %v", G, x.Shape, w.Shape)
	}
	var bias []float32
	if len(in) == 3 {
		if in[2].Rank() != 1 || in[2].Shape[0] != M {
			return nil, fmt.Errorf("bias %v must be [%d]", in[2].Shape, M)
		}
		bias = in[2].F
	}
	win, err := readWindow(n, sp, w.Shape[2:])
	if err != nil {
		return nil, err
	}
	X := x.Shape[2:]
	O := make([]int, sp)
	for d := 0; d < sp; d++ {
		O[d] = win.OutSize(d, X[d], false)
		if O[d] < 1 {
			return nil, fmt.Errorf("kernel %v does not fit input %v", win.Kernel, x.Shape)
		}
	}
	out := ir.NewTensor(x.Elem, append(ir.Shape{N, M}, O...))
	xPlane, oPlane := prodInts(X), prodInts(O)
	K := prodInts(win.Kernel)
	Xw, Ow := X[sp-1], O[sp-1]
	sw := win.Strides[sp-1]

	// Plan every tap: output rows drive, input rows are partners.
	taps := tapsOf(win.Kernel)
	plans := make([]tapPlan, K)
	for t, k := range taps {
		p := &plans[t]
		p.rows = rowMap(O[:sp-1], X[:sp-1], func(d, o int) int {
			return o*win.Strides[d] - win.PadBegin[d] + k[d]*win.Dilations[d]
		})
		off := -win.PadBegin[sp-1] + k[sp-1]*win.Dilations[sp-1]
		p.lo, p.hi = axpyRange(Ow, sw, off, Xw)
		p.off = p.lo*sw + off
	}
	pointwise := K == 1 && xPlane == oPlane
	for d := 0; d < sp; d++ {
		pointwise = pointwise && win.Strides[d] == 1 && win.PadBegin[d] == 0 && win.PadEnd[d] == 0
	}

	xd := toF64(x.F)
	wd := toF64(w.F)
	Mg := M / G
	CK := Cg * K // weights per output channel
	// Small problems unfold the input once per batch item (im2col) into a
	// [C·K, output plane] matrix, so that every update runs over whole
	// contiguous output planes; a pointwise conv is already in that form.
	// Large planes run directly on the input rows.
	var cols []float64
	if !pointwise && Ow < convColsWidth && C*K*oPlane <= convColsMax {
		cols = make([]float64, C*K*oPlane)
	}
	// Work items are tiles: a block of up to convMBlock output channels of
	// one group times a band of the output plane, small enough that the
	// float64 accumulators stay in the first-level cache while each input
	// row is reused for every channel of the block.
	MB := min(Mg, convMBlock)
	if cols != nil || pointwise {
		MB = min(Mg, convMatMBlock) // rows are loaded from further away
	}
	mBlocks := (Mg + MB - 1) / MB

	band := Ow // output elements per band step: whole rows when direct
	if cols != nil || pointwise {
		band = 1
	}
	steps := oPlane / band
	perTile := max(1, min(steps, convTile/(MB*band)))
	tiles := (steps + perTile - 1) / perTile
	items := G * mBlocks * tiles
	accs := make([][]float64, workers(items))
	for b := 0; b < N; b++ {
		xb := xd[b*C*xPlane:][:C*xPlane]
		mat := cols // rows c·K+t, each an output plane
		switch {
		case pointwise:
			mat = xb
		case cols != nil:
			parallel(C, func(_, c int) {
				xp := xb[c*xPlane:][:xPlane]
				for t := range plans {
					p := &plans[t]
					row := cols[(c*K+t)*oPlane:][:oPlane]
					clear(row)
					if p.lo >= p.hi {
						continue
					}
					for r, xr := range p.rows {
						if xr < 0 {
							continue
						}
						dst := row[r*Ow+p.lo : r*Ow+p.hi]
						src := xp[xr*Xw+p.off:]
						for i := range dst {
							dst[i] = src[i*sw]
						}
					}
				}
			})
		}
		parallel(items, func(worker, item int) {
			if accs[worker] == nil {
				accs[worker] = make([]float64, MB*perTile*band)
			}
			tile := item % tiles
			mb := (item / tiles) % mBlocks
			g := item / (tiles * mBlocks)
			m0 := g*Mg + mb*MB
			nm := min(MB, (g+1)*Mg-m0)
			s0 := tile * perTile
			s1 := min(steps, s0+perTile)
			p0, tileLen := s0*band, (s1-s0)*band
			acc := make([][]float64, nm)
			for j := range acc {
				acc[j] = accs[worker][j*perTile*band:][:tileLen]
				clear(acc[j])
			}
			if mat != nil {
				for rr := 0; rr < CK; rr++ {
					src := mat[(g*CK+rr)*oPlane+p0:][:tileLen]
					for j := range acc {
						axpy(acc[j], wd[(m0+j)*CK+rr], src, 1)
					}
				}
			} else {
				for c := 0; c < Cg; c++ {
					xp := xb[(g*Cg+c)*xPlane:][:xPlane]
					for t := range plans {
						p := &plans[t]
						if p.lo >= p.hi {
							continue
						}
						cnt := p.hi - p.lo
						for r := s0; r < s1; r++ {
							xr := p.rows[r]
							if xr < 0 {
								continue
							}
							xs := xp[xr*Xw+p.off:]
							ao := (r-s0)*Ow + p.lo
							for j := range acc {
								axpy(acc[j][ao:][:cnt], wd[(m0+j)*CK+c*K+t], xs, sw)
							}
						}
					}
				}
			}
			for j := range acc {
				m := m0 + j
				bv := 0.0
				if bias != nil {
					bv = float64(bias[m])
				}
				dst := out.F[(b*M+m)*oPlane+p0:][:tileLen]
				for i, v := range acc[j] {
					dst[i] = float32(v + bv)
				}
			}
		})
	}

	return out, nil
}

func convTransposeKernel(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error) {
	if err := needFloat("conv_transpose", in); err != nil {
		return nil, err
	}
	x, w := in[0], in[1]
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("x %v and w %v must both be rank >= 3 and of equal rank", x.Shape, w.Shape)
	}
	sp := x.Rank() - 2
	N, C := x.Shape[0], x.Shape[1]
	G := n.Int("group")
	if G < 1 || w.Shape[0] != C || C%G != 0 {
		return nil, fmt.Errorf("w %v must have %d input channels divisible by group %d", w.Shape, C, G)
	}
	Mg := w.Shape[1]
	M := Mg * G
	Cg := C / G
	var bias []float32
	if len(in) == 3 {
		if in[2].Rank() != 1 || in[2].Shape[0] != M {
			return nil, fmt.Errorf("bias %v must be [%d]", in[2].Shape, M)
		}
		bias = in[2].F
	}
	win, err := readWindow(n, sp, w.Shape[2:])
	if err != nil {
		return nil, err
	}
	opad := n.IntsOr("output_padding", sp, 0)
	if len(opad) != sp {
		return nil, fmt.Errorf("output_padding needs %d values", sp)
	}
	X := x.Shape[2:]
	O := make([]int, sp)
	for d := 0; d < sp; d++ {
		O[d] = win.Strides[d]*(X[d]-1) + opad[d] + (win.Kernel[d]-1)*win.Dilations[d] + 1 - win.PadBegin[d] - win.PadEnd[d]
		if O[d] < 1 {
			return nil, fmt.Errorf("output size along spatial dimension %d would be %d", d, O[d])
		}
	}
	out := ir.NewTensor(x.Elem, append(ir.Shape{N, M}, O...))
	xPlane, oPlane := prodInts(X), prodInts(O)
	K := prodInts(win.Kernel)
	Xw, Ow := X[sp-1], O[sp-1]
	sw := win.Strides[sp-1]

	// Plan every tap: input rows drive, output rows are partners
	// (o = i·stride − pad + k·dilation).
	taps := tapsOf(win.Kernel)
	plans := make([]tapPlan, K)
	for t, k := range taps {
		p := &plans[t]
		p.rows = rowMap(X[:sp-1], O[:sp-1], func(d, i int) int {
			return i*win.Strides[d] - win.PadBegin[d] + k[d]*win.Dilations[d]
		})
		off := -win.PadBegin[sp-1] + k[sp-1]*win.Dilations[sp-1]
		p.lo, p.hi = axpyRange(Xw, sw, off, Ow)
		p.off = p.lo*sw + off
	}

	xd := toF64(x.F)
	wd := toF64(w.F)
	accs := make([][]float64, workers(N*M))
	parallel(N*M, func(worker, item int) {
		if accs[worker] == nil {
			accs[worker] = make([]float64, oPlane)
		}
		acc := accs[worker]
		clear(acc)
		b, m := item/M, item%M
		g, mm := m/Mg, m%Mg
		for c := 0; c < Cg; c++ {
			ci := g*Cg + c
			xp := xd[(b*C+ci)*xPlane:][:xPlane]
			wk := wd[(ci*Mg+mm)*K:][:K]
			for t := range plans {
				p := &plans[t]
				if p.lo >= p.hi {
					continue
				}
				wv := wk[t]
				cnt := p.hi - p.lo
				for r, orow := range p.rows {
					if orow < 0 {
						continue
					}
					scatter(acc[orow*Ow+p.off:], wv, xp[r*Xw+p.lo:][:cnt], sw)
				}
			}
		}
		dst := out.F[item*oPlane:][:oPlane]
		bv := 0.0
		if bias != nil {
			bv = float64(bias[m])
		}
		for i, v := range acc {
			dst[i] = float32(v + bv)
		}
	})
	return out, nil
}
