// Package convalgo chooses a convolution algorithm per conv layer from the
// cost model of docs/cost-models.md §8.1: for each candidate (direct,
// im2col + GEMM, Winograd F(2x2,3x3), Winograd F(4x4,3x3), DFT-based),
//
//	T_op   = t_launch + max(T_comp, T_mem)
//	T_comp = (W − D)/(p_eff · e_a · f_pe) + D/f_pe      (Brent; p_eff = min(p, ⌈W/D⌉))
//	T_mem  = Q / B_mem(p)
//
// with W the candidate's floating-point operations as lowered by
// wdc/ir/loop (an FMA is 2), D and Q from wdc/passes/wd (Table 6 and the
// §8.1 traffic), f_pe and B_mem from the measured roofline
// (wdc/passes/roofline), and e_a a per-algorithm efficiency: the fraction
// of peak the generated code reaches, calibrated by timing the compiled
// layers (see DefaultEfficiency). Candidates that do not apply, or whose
// workspace exceeds Options.MaxWorkspace, are discarded; the smallest
// predicted time wins (ties: the earlier algorithm in loop.ConvAlgos()
// order, so the choice is deterministic).
//
// The choice is not an IR attribute: a Plan holds it per node (Algo),
// and Plan.Lower is the hook the CPU backend calls instead of
// loop.LowerFused (backends/llvm Options.Lower). Because the backend
// lowers an optimized clone of the graph (bias and batch norm folded),
// Plan.Lower decides by the node's shapes and attributes, which the
// clone shares with the original, not by node identity.
package convalgo

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"

	"wdc/ir"
	"wdc/ir/loop"
	"wdc/passes/roofline"
	"wdc/passes/wd"
)

// DefaultEfficiency is e_a, the fraction of the machine's peak FLOP/s the
// code generated for each algorithm reaches on its compute-heavy phases.
// Calibrated on this project's 2-core AMD EPYC test machine (one thread,
// clang-14 -O3 -march=native, AVX-512; peak 194 GFLOP/s per core by the
// roofline's FMA loop) by timing compiled conv layers (TestCalibrate
// with WDC_CALIBRATE=1 prints the fit: for each algorithm the median over
// layers of W/(T_measured·F_peak)). The spread is wide for the loop-nest
// lowerings (direct: it depends on the output row length, its contiguous
// inner loop); see docs/conv-algorithms.md. Re-run it after changing the
// lowerings or schedules.
//
// im2col runs on the backend's packed GEMM (backends/llvm): 0.7 of peak
// on ResNet-18's 3×3 layers. Winograd with constant weights runs on the
// same GEMM with the tiles as its columns (Plan.Lower): W is the
// Lavin–Gray count, and the efficiency is further multiplied by the
// tiles' share of the columns computed (tiles padded to GemmColumns);
// F(4×4,3×3) reaches less of peak than F(2×2,3×3) because its larger
// transforms (36 products per tile) weigh more against the products;
// 0.58 puts the two level on ResNet-18's 28×28 layers, where they
// measured level on one thread (F(4×4) was faster on two).
var DefaultEfficiency = map[string]float64{
	loop.ConvDirect:    0.012,
	loop.ConvIm2col:    0.7,
	loop.ConvWinograd2: 0.74,
	loop.ConvWinograd4: 0.58,
	loop.ConvFFT:       0.06,
}

// WinogradNestEfficiency is e_a of the loop-nest Winograd lowering, which
// a layer gets when its weights are not constants (no compile-time
// filter transform, so not the GEMM path): the earlier calibration of
// that nest, 0.14-0.15 of an 80 GFLOP/s peak.
const WinogradNestEfficiency = 0.06

// GemmColumns is the column count of the CPU backend's GEMM microkernel
// (32 with AVX-512, 16 with AVX2): Winograd's tile count is padded to a
// multiple of it.
var GemmColumns = 32

// DefaultLaunch is t_launch, the fixed cost of one kernel call (waking the
// thread pool, loop setup), in seconds.
const DefaultLaunch = 5e-6

// Options control Select.
type Options struct {
	// Machine is the roofline (default: roofline.Load, or
	// roofline.Default() if measuring fails).
	Machine *roofline.Machine
	// Threads is p (0: the machine's cores).
	Threads int
	// Force, if set, is used for every layer it applies to; other layers
	// get the cost model's choice.
	Force string
	// MaxWorkspace discards candidates needing more scratch (bytes;
	// 0: 1 GiB).
	MaxWorkspace int64
	// Efficiency overrides DefaultEfficiency per algorithm.
	Efficiency map[string]float64
	// Launch overrides DefaultLaunch (seconds; negative: 0).
	Launch float64
}

// Candidate is one algorithm's prediction for one layer.
type Candidate struct {
	Algo       string  `json:"algo"`
	Applicable bool    `json:"applicable"`
	Reason     string  `json:"reason,omitempty"` // why not applicable, or discarded
	FLOPs      float64 `json:"flops"`
	Depth      int64   `json:"depth"`
	Bytes      int64   `json:"bytes"`           // Q
	Workspace  int64   `json:"workspace_bytes"` // scratch of the lowered Func
	Efficiency float64 `json:"efficiency"`
	TComp      float64 `json:"t_comp_s"`
	TMem       float64 `json:"t_mem_s"`
	Time       float64 `json:"time_s"` // predicted T_op
}

// Layer is the decision for one conv node.
type Layer struct {
	Node       string      `json:"node"`
	Desc       string      `json:"desc"`
	Candidates []Candidate `json:"candidates"`
	Choice     string      `json:"choice"`
	Forced     bool        `json:"forced"`
	Note       string      `json:"note,omitempty"`
}

// Plan is the per-layer choice for a graph.
type Plan struct {
	Layers  []Layer
	Machine *roofline.Machine
	opts    Options
	byNode  map[*ir.Node]string
	mu      sync.Mutex
	byShape map[string]string // signature -> algorithm, for clones
}

// Algos are the algorithm names accepted by ParseAlgo (and --conv-algo).
func Algos() []string { return loop.ConvAlgos() }

// ParseAlgo checks an algorithm name; "" and "auto" mean the cost model's
// choice (returned as ""). The names of passes/wd are accepted too.
func ParseAlgo(s string) (string, error) {
	switch s {
	case "", "auto":
		return "", nil
	case wd.AlgoWinograd2:
		return loop.ConvWinograd2, nil
	case wd.AlgoWinograd4:
		return loop.ConvWinograd4, nil
	}
	for _, a := range loop.ConvAlgos() {
		if s == a {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown convolution algorithm %q (want auto, %s)", s, strings.Join(loop.ConvAlgos(), ", "))
}

func (o *Options) fill() error {
	if o.Machine == nil {
		m, err := roofline.Load(roofline.Options{})
		if err != nil {
			m = roofline.Default()
		}
		o.Machine = m
	}
	if o.Threads <= 0 || o.Threads > o.Machine.Cores {
		o.Threads = o.Machine.Cores
	}
	if o.MaxWorkspace <= 0 {
		o.MaxWorkspace = 1 << 30
	}
	if o.Launch == 0 {
		o.Launch = DefaultLaunch
	}
	if o.Launch < 0 {
		o.Launch = 0
	}
	f, err := ParseAlgo(o.Force)
	o.Force = f
	return err
}

// Select predicts every candidate for every conv node of g and picks one.
func Select(g *ir.Graph, opts Options) (*Plan, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	p := &Plan{Machine: opts.Machine, opts: opts, byNode: map[*ir.Node]string{}, byShape: map[string]string{}}
	for _, n := range g.Nodes {
		if n.Op != "conv" {
			continue
		}
		l, err := p.decide(n)
		if err != nil {
			return nil, err
		}
		p.Layers = append(p.Layers, l)
		p.byNode[n] = l.Choice
		p.byShape[signature(n)] = l.Choice
	}
	return p, nil
}

// Algo is the algorithm chosen for conv node n of the selected graph (or
// any node with the same shapes and attributes); "" for other nodes.
func (p *Plan) Algo(n *ir.Node) string {
	if n == nil || n.Op != "conv" {
		return ""
	}
	if a, ok := p.byNode[n]; ok {
		return a
	}
	key := signature(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.byShape[key]; ok {
		return a
	}
	l, err := p.decide(n)
	if err != nil {
		return loop.ConvDirect
	}
	p.byShape[key] = l.Choice
	return l.Choice
}

// Lower lowers a kernel group (a producer and its fused element-wise
// chain) with the chosen convolution algorithm when the producer is a
// conv; other groups go to the backend's default. It is the
// backends/llvm Options.Lower hook.
//
// An im2col choice goes to the backend's own GEMM (returning nil, nil,
// nil): its implicit im2col packs panels for the register-blocked
// microkernel instead of materializing the lowered matrix; layers the
// GEMM does not cover (e.g. depthwise) get the materialized im2col
// lowering. A Winograd choice with constant weights also runs on the
// backend's GEMM (loop.LowerWinogradGemm: transforms around the
// microkernel, filters transformed at compile time); otherwise it gets
// the loop-nest lowering. Other producers go to the backend's default
// (nil, nil, nil), which uses the GEMM for dense and matmul.
func (p *Plan) Lower(nodes []*ir.Node) (*loop.Func, *loop.Gemm, error) {
	if len(nodes) == 0 || nodes[0].Op != "conv" {
		return nil, nil, nil
	}
	algo := p.Algo(nodes[0])
	switch algo {
	case loop.ConvIm2col:
		if _, gemm, err := loop.LowerGemm(nodes); err == nil && gemm != nil {
			return nil, nil, nil
		}
	case loop.ConvWinograd2, loop.ConvWinograd4:
		if nodes[0].Inputs[1].IsConst() {
			if f, gemm, err := loop.LowerWinogradGemm(nodes, winogradM(algo)); err == nil {
				return f, gemm, nil
			}
		}
	}
	f, err := loop.LowerConvAlgo(nodes, algo)
	return f, nil, err
}

func signature(n *ir.Node) string {
	var b strings.Builder
	for _, v := range n.Inputs {
		fmt.Fprintf(&b, "%v;", v.Type.Shape)
	}
	fmt.Fprintf(&b, "%v", n.Attrs)
	return b.String()
}

func (p *Plan) decide(n *ir.Node) (Layer, error) {
	cands, err := Predict(n, p.opts)
	if err != nil {
		return Layer{}, err
	}
	l := Layer{Node: n.Name(), Desc: describe(n), Candidates: cands}
	best := -1
	for i, c := range cands {
		if c.Applicable && (best < 0 || c.Time < cands[best].Time) {
			best = i
		}
	}
	if best < 0 {
		return l, fmt.Errorf("%s: no convolution algorithm applies", n.Where())
	}
	l.Choice = cands[best].Algo
	if f := p.opts.Force; f != "" {
		for _, c := range cands {
			if c.Algo != f {
				continue
			}
			if c.Applicable {
				l.Choice, l.Forced = f, true
			} else {
				l.Note = fmt.Sprintf("forced %s does not apply (%s); using the model's choice", f, c.Reason)
			}
		}
	}
	return l, nil
}

func describe(n *ir.Node) string {
	x, w, y := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape, n.Out.Type.Shape
	win := ir.ConvWindow(n, len(x)-2, w[2:])
	s := fmt.Sprintf("%v %d->%d k%v @%v->%v", x[:1], x[1], w[0], w[2:], x[2:], y[2:])
	for _, st := range win.Strides {
		if st != 1 {
			s += fmt.Sprintf(" s%v", win.Strides)
			break
		}
	}
	if g := n.Int("group"); g != 1 {
		s += fmt.Sprintf(" g%d", g)
	}
	return s
}

// Predict returns the prediction of every algorithm for conv node n, in
// loop.ConvAlgos() order.
func Predict(n *ir.Node, opts Options) ([]Candidate, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if n == nil || n.Op != "conv" {
		return nil, fmt.Errorf("convalgo: not a conv node")
	}
	wdc, err := wd.ConvAlgorithms(n)
	if err != nil {
		return nil, err
	}
	byName := map[string]wd.AlgoCost{}
	for _, a := range wdc {
		byName[a.Name] = a
	}
	m := opts.Machine
	p := opts.Threads
	fpe := m.PeakFLOPSPerCore
	bw := m.Bandwidth(p)
	var out []Candidate
	for _, algo := range loop.ConvAlgos() {
		c := Candidate{Algo: algo}
		if err := loop.ConvAlgoApplies(n, algo); err != nil {
			c.Reason = err.Error()
			out = append(out, c)
			continue
		}
		f, err := loop.LowerConvAlgo([]*ir.Node{n}, algo)
		if err != nil {
			c.Reason = err.Error()
			out = append(out, c)
			continue
		}
		c.Workspace = 4 * int64(f.TempSize())
		a := byName[wdName(algo)]
		c.FLOPs = Flops(n, algo)
		c.Depth = a.Depth
		c.Bytes = a.Bytes
		if algo == loop.ConvFFT || algo == loop.ConvDirect {
			// Our own temps: the DFT's spectra and tables; direct's padded copy.
			c.Bytes = byName[wd.AlgoDirect].Bytes + 2*c.Workspace
		}
		c.Efficiency = opts.Efficiency[algo]
		if c.Efficiency <= 0 {
			c.Efficiency = DefaultEfficiency[algo]
		}
		if algo == loop.ConvWinograd2 || algo == loop.ConvWinograd4 {
			if !n.Inputs[1].IsConst() && opts.Efficiency[algo] <= 0 {
				c.Efficiency = WinogradNestEfficiency // Plan.Lower takes the loop nest
			} else {
				c.Efficiency *= tileShare(n, algo)
				// the GEMM path reads the α² transformed filters in place of the
				// 3×3 weights and keeps its transforms in per-thread panels
				a := winogradM(algo) + 2
				c.Bytes = byName[wd.AlgoDirect].Bytes + int64(a*a-9)*4*int64(n.Inputs[1].Type.Shape.Elements()/9)
			}
		}
		if c.Workspace > opts.MaxWorkspace {
			c.Reason = fmt.Sprintf("workspace %d bytes exceeds the limit %d", c.Workspace, opts.MaxWorkspace)
			out = append(out, c)
			continue
		}
		c.Applicable = true
		D := float64(max(c.Depth, 1))
		peff := math.Min(float64(p), math.Ceil(c.FLOPs/D))
		c.TComp = (c.FLOPs-D)/(peff*c.Efficiency*fpe) + D/fpe
		c.TMem = float64(c.Bytes) / bw
		c.Time = opts.Launch + math.Max(c.TComp, c.TMem)
		out = append(out, c)
	}
	return out, nil
}

// winogradM is the output tile size m of Winograd algorithm algo, F(m×m, 3×3).
func winogradM(algo string) int {
	if algo == loop.ConvWinograd4 {
		return 4
	}
	return 2
}

// tileShare is the share of the Winograd GEMM's columns that are real
// tiles: ⌈H'/m⌉·⌈W'/m⌉ tiles per image, padded to GemmColumns, except
// that a last panel of at most GemmColumns/2 tiles runs on the
// half-width microkernel.
func tileShare(n *ir.Node, algo string) float64 {
	m := winogradM(algo)
	y := n.Out.Type.Shape
	t := ((y[2] + m - 1) / m) * ((y[3] + m - 1) / m)
	c := max(GemmColumns, 2)
	cols := t / c * c
	if r := t % c; r > 0 && r <= c/2 {
		cols += c / 2
	} else if r > 0 {
		cols += c
	}
	return float64(t) / float64(cols)
}

func wdName(algo string) string {
	switch algo {
	case loop.ConvWinograd2:
		return wd.AlgoWinograd2
	case loop.ConvWinograd4:
		return wd.AlgoWinograd4
	}
	return algo
}

// Flops counts the floating-point operations (an FMA is 2) of algorithm
// algo as lowered by wdc/ir/loop, for conv node n (which it must apply
// to). Direct and im2col: 2·N·C_out·H'·W'·(C_in/g)·K. Winograd: twice the
// expanded Lavin–Gray count of cost-models.md §4.2 (wd.ConvAlgorithms).
// DFT: the matrix-product transforms actually emitted (per (n,c) plane
// 2·H_f·W_h·W_f + 4·H_f²·W_h multiply-adds forward, per kernel plane
// 2·K_h·W_h·K_w + 4·H_f·W_h·K_h, per (n,m) output 4·H'·W_h·H_f +
// 2·H'·W'·W_h inverse, and 4·N·C_out·C_in·H_f·W_h for the products), not
// Table 6's c·HW·log2(HW) of a real FFT.
func Flops(n *ir.Node, algo string) float64 {
	x, w, y := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape, n.Out.Type.Shape
	N, M, Cg := float64(x[0]), float64(w[0]), float64(w[1])
	K, O := 1.0, 1.0
	for _, k := range w[2:] {
		K *= float64(k)
	}
	for _, o := range y[2:] {
		O *= float64(o)
	}
	switch algo {
	case loop.ConvWinograd2, loop.ConvWinograd4:
		as, err := wd.ConvAlgorithms(n)
		if err == nil {
			for _, a := range as {
				if a.Name == wdName(algo) {
					return 2 * float64(a.Work)
				}
			}
		}
	case loop.ConvFFT:
		win := ir.ConvWindow(n, 2, w[2:])
		Hf := float64(x[2] + win.PadBegin[0] + win.PadEnd[0])
		Wf := float64(x[3] + win.PadBegin[1] + win.PadEnd[1])
		Wh := math.Floor(Wf/2) + 1
		Kh, Kw := float64(w[2]), float64(w[3])
		Ho, Wo := float64(y[2]), float64(y[3])
		C := float64(x[1])
		macs := N*C*(2*Hf*Wh*Wf+4*Hf*Hf*Wh) +
			M*C*(2*Kh*Wh*Kw+4*Hf*Wh*Kh) +
			4*N*M*C*Hf*Wh +
			N*M*(4*Ho*Wh*Hf+2*Ho*Wo*Wh)
		return 2 * macs
	}
	return 2 * N * M * O * Cg * K
}

// Explain prints, per conv layer, every candidate's figures and predicted
// time, and the choice.
func (p *Plan) Explain(w io.Writer) error {
	var b strings.Builder
	m := p.Machine
	fmt.Fprintf(&b, "convolution algorithms: T = t_launch + max(W/(p·e·f_pe), Q/B), p = %d thread(s); machine: %s\n", p.opts.Threads, m)
	if p.opts.Force != "" {
		fmt.Fprintf(&b, "forced: %s (where it applies)\n", p.opts.Force)
	}
	for _, l := range p.Layers {
		fmt.Fprintf(&b, "\n%s: conv %s\n", l.Node, l.Desc)
		fmt.Fprintf(&b, "  %-10s %12s %6s %12s %12s %5s %10s %10s %10s\n", "algorithm", "MFLOP", "depth", "Q bytes", "workspace", "eff", "T_comp", "T_mem", "T")
		for _, c := range l.Candidates {
			if !c.Applicable {
				fmt.Fprintf(&b, "  %-10s %s\n", c.Algo, "-  "+c.Reason)
				continue
			}
			mark := ""
			if c.Algo == l.Choice {
				mark = "  <- chosen"
				if l.Forced {
					mark = "  <- forced"
				}
			}
			fmt.Fprintf(&b, "  %-10s %12.2f %6d %12d %12d %5.2f %10s %10s %10s%s\n", c.Algo, c.FLOPs/1e6, c.Depth, c.Bytes, c.Workspace,
				c.Efficiency, dur(c.TComp), dur(c.TMem), dur(c.Time), mark)
		}
		if l.Note != "" {
			fmt.Fprintf(&b, "  note: %s\n", l.Note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dur(s float64) string {
	switch {
	case s >= 1:
		return fmt.Sprintf("%.2fs", s)
	case s >= 1e-3:
		return fmt.Sprintf("%.2fms", s*1e3)
	default:
		return fmt.Sprintf("%.1fus", s*1e6)
	}
}
