package wd

import (
	"fmt"
	"math"

	"wdc/ir"
)

// FFTConstant is c, the hidden constant of the FFT row of Table 6
// (docs/cost-models.md §4.2): a 2-d FFT of HW points is counted as
// c·HW·log2(HW) operations. The default, 2.5, is the real-arithmetic
// operation count of a radix-2 FFT of real input (5·n·log2 n for complex
// input, halved by Hermitian symmetry), counting multiplications and
// additions alike as the paper's row does. The convolution-algorithm
// selection may calibrate it.
var FFTConstant = 2.5

// Convolution algorithm names.
const (
	AlgoDirect     = "direct"
	AlgoIm2col     = "im2col"
	AlgoWinograd2  = "winograd-f2x2-3x3"
	AlgoWinograd4  = "winograd-f4x4-3x3"
	AlgoFFT        = "fft"
	winogradKernel = 3
)

// AlgoCost is the Work-Depth figure of one way to compute a convolution
// (Table 6 of the paper; memory traffic from cost-models.md §8.1). The
// bias add, the same for every algorithm, is not included.
type AlgoCost struct {
	Name string `json:"name"`
	// Applicable is false when the algorithm cannot compute this
	// convolution; Reason then says why and the figures are zero.
	Applicable bool   `json:"applicable"`
	Reason     string `json:"reason,omitempty"`
	Work       int64  `json:"work"`
	Depth      int64  `json:"depth"`
	// Bytes is the minimum memory traffic Q: the direct convolution's
	// input, weights and output, plus twice the lowered matrix for
	// im2col, plus the transformed tensors for Winograd and FFT.
	Bytes int64 `json:"bytes"`
	// Workspace is the extra memory the algorithm needs beyond the
	// operands: the lowered matrix, transformed tiles or spectra.
	Workspace int64 `json:"workspace_bytes"`
	// M and R are Winograd's output tile m×m and kernel r×r; Tiles is
	// P = N·⌈H'/m⌉·⌈W'/m⌉ (per group).
	M     int   `json:"m,omitempty"`
	R     int   `json:"r,omitempty"`
	Tiles int64 `json:"tiles,omitempty"`
}

// ConvAlgorithms returns the figures of direct, im2col, Winograd
// F(2x2,3x3), Winograd F(4x4,3x3) and FFT convolution for a conv node, in
// that order. Direct and im2col apply to every convolution; Winograd only
// to 2-d 3x3 kernels with stride 1 and dilation 1; FFT to 2-d
// convolutions with stride 1 and dilation 1. A grouped convolution is
// counted as g independent convolutions of C_in/g to C_out/g channels:
// work and memory add up over the groups, the depth is one group's.
func ConvAlgorithms(n *ir.Node) (algos []AlgoCost, err error) {
	if n == nil || n.Op != "conv" {
		return nil, fmt.Errorf("convolution algorithms apply to conv nodes only")
	}
	if len(n.Inputs) < 2 || n.Inputs[0] == nil || n.Inputs[1] == nil || n.Out == nil {
		return nil, fmt.Errorf("%s: needs input and weight operands", n.Where())
	}
	defer func() {
		if r := recover(); r != nil {
			algos, err = nil, fmt.Errorf("%s: convolution algorithm costs failed: %v", n.Where(), r)
		}
	}()
	x, w, y := n.Inputs[0].Type, n.Inputs[1].Type, n.Out.Type
	if x.Rank() < 3 || w.Rank() != x.Rank() || y.Rank() != x.Rank() {
		return nil, fmt.Errorf("%s: x %v, w %v and result %v must be of equal rank >= 3", n.Where(), x, w, y)
	}
	g := int64(n.Int("group"))
	if g < 1 {
		return nil, fmt.Errorf("%s: group %d must be positive", n.Where(), g)
	}
	spatial := x.Rank() - 2
	win := ir.ConvWindow(n, spatial, w.Shape[2:])
	s := int64(x.Elem.Bytes())
	N := int64(x.Shape[0])
	cin := int64(w.Shape[1])      // input channels per group
	cout := int64(w.Shape[0]) / g // output channels per group
	k := prodInt(w.Shape[2:])
	outSpatial := prodInt(y.Shape[2:])

	directQ := x.Bytes() + w.Bytes() + y.Bytes() // s·(N·C_in·H·W + C_out·C_in·K + N·C_out·H'·W')
	directD := ir.Log2Ceil(cin)
	for _, kk := range w.Shape[2:] {
		directD += ir.Log2Ceil(int64(kk))
	}
	directW := g * N * cout * outSpatial * cin * k
	algos = append(algos, AlgoCost{Name: AlgoDirect, Applicable: true, Work: directW, Depth: directD, Bytes: directQ})

	lowered := s * g * cin * k * N * outSpatial // (C_in·K_y·K_x) × (N·H'·W') per group
	algos = append(algos, AlgoCost{Name: AlgoIm2col, Applicable: true, Work: directW, Depth: directD,
		Bytes: directQ + 2*lowered, Workspace: lowered})

	// Stride 1 and dilation 1 everywhere, and the kernel, for Winograd and FFT.
	unit, square3 := true, spatial == 2
	for i := 0; i < spatial; i++ {
		if win.Strides[i] != 1 || win.Dilations[i] != 1 {
			unit = false
		}
		if win.Kernel[i] != winogradKernel {
			square3 = false
		}
	}
	for _, m := range []int{2, 4} {
		name := AlgoWinograd2
		if m == 4 {
			name = AlgoWinograd4
		}
		a := AlgoCost{Name: name, M: m, R: winogradKernel}
		switch {
		case spatial != 2:
			a.Reason = "Winograd needs a 2-d convolution"
		case !square3:
			a.Reason = fmt.Sprintf("Winograd F(%dx%d,3x3) needs a 3x3 kernel, not %v", m, m, win.Kernel)
		case !unit:
			a.Reason = fmt.Sprintf("Winograd needs stride 1 and dilation 1, not strides %v and dilations %v", win.Strides, win.Dilations)
		default:
			a = winograd(a, m, g, N, cin, cout, int64(y.Shape[2]), int64(y.Shape[3]), s, directQ)
		}
		algos = append(algos, a)
	}

	f := AlgoCost{Name: AlgoFFT}
	switch {
	case spatial != 2:
		f.Reason = "FFT convolution is modelled for 2-d convolutions only"
	case !unit:
		f.Reason = fmt.Sprintf("FFT convolution needs stride 1 and dilation 1, not strides %v and dilations %v", win.Strides, win.Dilations)
	default:
		hp := int64(x.Shape[2] + win.PadBegin[0] + win.PadEnd[0])
		wp := int64(x.Shape[3] + win.PadBegin[1] + win.PadEnd[1])
		f = fft(f, g, N, cin, cout, hp, wp, s, directQ)
	}
	algos = append(algos, f)
	return algos, nil
}

// winograd fills in F(m×m, 3×3) with α = m + r − 1 and P tiles, using the
// expanded work count of cost-models.md §4.2:
//
//	W = C_out·C_in·(α·r² + α²·r)      filter transform
//	  + C_in·P·2α³                    input-tile transforms
//	  + α²·C_out·C_in·P               α² GEMMs (C_out×C_in)·(C_in×P)
//	  + C_out·P·(m·α² + m²·α)         output transforms
//	D = 2⌈log2 r⌉ + 4⌈log2 α⌉ + ⌈log2 C_in⌉
func winograd(a AlgoCost, m int, g, N, cin, cout, ho, wo, s, directQ int64) AlgoCost {
	r := int64(a.R)
	mm := int64(m)
	alpha := mm + r - 1
	P := N * ceilDiv(ho, mm) * ceilDiv(wo, mm)
	work := cout*cin*(alpha*r*r+alpha*alpha*r) +
		cin*P*2*alpha*alpha*alpha +
		alpha*alpha*cout*cin*P +
		cout*P*(mm*alpha*alpha+mm*mm*alpha)
	a.Applicable = true
	a.Tiles = P
	a.Work = g * work
	a.Depth = 2*ir.Log2Ceil(r) + 4*ir.Log2Ceil(alpha) + ir.Log2Ceil(cin)
	a.Workspace = g * s * alpha * alpha * (cin*P + cout*P + cin*cout)
	a.Bytes = directQ + a.Workspace
	return a
}

// fft fills in the FFT row of Table 6 over the padded input (HW = H_p·W_p):
//
//	W = c·HW·log2(HW)·(C_out·C_in + N·C_in + N·C_out) + HW·N·C_in·C_out
//	D = 2⌈log2 HW⌉ + ⌈log2 C_in⌉
//
// The first term is rounded up to a whole operation. The spectra take
// s·H_p·(W_p+1) bytes each (Hermitian half-spectrum; 4·n(n+1) bytes for an
// n×n fp32 plane, as in Mathieu et al.), for N·C_in inputs, N·C_out
// outputs and C_in·C_out kernels.
func fft(f AlgoCost, g, N, cin, cout, hp, wp, s, directQ int64) AlgoCost {
	hw := hp * wp
	transforms := FFTConstant * float64(hw) * math.Log2(float64(hw)) * float64(cout*cin+N*cin+N*cout)
	f.Applicable = true
	f.Work = int64(math.Ceil(float64(g)*transforms)) + g*hw*N*cin*cout
	f.Depth = 2*ir.Log2Ceil(hw) + ir.Log2Ceil(cin)
	f.Workspace = g * s * hp * (wp + 1) * (N*cin + N*cout + cin*cout)
	f.Bytes = directQ + f.Workspace
	return f
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
