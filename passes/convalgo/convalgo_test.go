package convalgo

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"wdc/ir"
	"wdc/ir/loop"
	"wdc/passes/roofline"
)

// testMachine is a fixed roofline, so predictions do not depend on the
// machine running the test.
var testMachine = &roofline.Machine{PeakFLOPS: 200e9, PeakFLOPSPerCore: 100e9, BandwidthBytes: 20e9, BandwidthPerCore: 15e9, Cores: 2, Source: "test"}

func convGraph(t testing.TB, name string, x, w []int, attrs ir.Attrs) *ir.Graph {
	t.Helper()
	c := loop.OpCase{Name: name, Op: "conv", Shapes: []ir.Shape{x, w}, Attrs: attrs}
	g, _, err := c.Graph(1)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func pads1() ir.Attrs { return ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)} }

func TestPredictTable(t *testing.T) {
	eff := map[string]float64{"direct": 0.1, "im2col": 0.2, "winograd2": 0.1, "winograd4": 0.1, "fft": 0.2}
	opts := Options{Machine: testMachine, Threads: 1, Efficiency: eff}
	cases := []struct {
		name        string
		x, w        []int
		attrs       ir.Attrs
		directFLOPs float64
		choice      string
		notApply    []string
	}{
		// ResNet-18 stage 1: 2·64·64·9·56·56 FLOPs.
		{"conv3x3_64_56", []int{1, 64, 56, 56}, []int{64, 64, 3, 3}, pads1(), 2 * 64 * 64 * 9 * 3136, loop.ConvWinograd4, nil},
		// 14×14: F(4×4)'s 16 tiles fill the half-width microkernel,
		// F(2×2)'s 49 three quarters of 64 columns.
		{"conv3x3_256_14", []int{1, 256, 14, 14}, []int{256, 256, 3, 3}, pads1(), 2 * 256 * 256 * 9 * 196, loop.ConvWinograd4, nil},
		// 1x1: no Winograd; im2col is the same work at twice the efficiency.
		{"conv1x1_256_64_56", []int{1, 256, 56, 56}, []int{64, 256, 1, 1}, nil, 2 * 64 * 256 * 3136, loop.ConvIm2col, []string{loop.ConvWinograd2, loop.ConvWinograd4}},
		// Stride 2: only direct and im2col.
		{"conv7x7_s2", []int{1, 3, 224, 224}, []int{64, 3, 7, 7}, ir.Attrs{"strides": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(3, 3, 3, 3)}, 2 * 64 * 3 * 49 * 112 * 112, loop.ConvIm2col, []string{loop.ConvWinograd2, loop.ConvWinograd4, loop.ConvFFT}},
		// A large kernel on many channels: the DFT's products cost H_f·W_h per (m, c) pair against 2·K·H'·W'.
		{"conv11x11_64_32", []int{1, 64, 32, 32}, []int{64, 64, 11, 11}, ir.Attrs{"pads": ir.IntsAttr(5, 5, 5, 5)}, 2 * 64 * 64 * 121 * 1024, loop.ConvFFT, []string{loop.ConvWinograd2, loop.ConvWinograd4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := convGraph(t, c.name, c.x, c.w, c.attrs)
			n := g.Nodes[0]
			cands, err := Predict(n, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(cands) != 5 || cands[0].Algo != loop.ConvDirect {
				t.Fatalf("candidates %+v", cands)
			}
			d := cands[0]
			if d.FLOPs != c.directFLOPs {
				t.Errorf("direct FLOPs %v, want %v", d.FLOPs, c.directFLOPs)
			}
			// T = t_launch + max(T_comp, T_mem) with Brent's T_comp.
			D := float64(d.Depth)
			tc := (d.FLOPs-D)/(1*0.1*100e9) + D/100e9
			tm := float64(d.Bytes) / 15e9
			if want := DefaultLaunch + math.Max(tc, tm); math.Abs(d.Time-want) > 1e-12*want {
				t.Errorf("direct time %v, want %v", d.Time, want)
			}
			if cands[1].FLOPs != d.FLOPs || cands[1].Workspace <= d.Workspace {
				t.Errorf("im2col: FLOPs %v workspace %v (direct %v %v)", cands[1].FLOPs, cands[1].Workspace, d.FLOPs, d.Workspace)
			}
			for _, a := range c.notApply {
				for _, k := range cands {
					if k.Algo == a && k.Applicable {
						t.Errorf("%s applies", a)
					}
				}
			}
			for _, k := range cands {
				if k.Algo == loop.ConvWinograd4 && k.Applicable {
					// Lavin: F(4x4,3x3) has 4x fewer multiplications; with transforms, at least 2x fewer FLOPs here (tile rounding, filter transform).
					if r := d.FLOPs / k.FLOPs; r < 2 || r > 4 {
						t.Errorf("winograd4 FLOP reduction %.2f", r)
					}
				}
			}
			p, err := Select(g, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Algo(n); got != c.choice {
				var b bytes.Buffer
				p.Explain(&b)
				t.Errorf("chose %s, want %s\n%s", got, c.choice, b.String())
			}
		})
	}
}

func TestWorkspaceLimit(t *testing.T) {
	g := convGraph(t, "c", []int{1, 64, 56, 56}, []int{64, 64, 3, 3}, pads1())
	p, err := Select(g, Options{Machine: testMachine, MaxWorkspace: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range p.Layers[0].Candidates {
		if c.Algo != loop.ConvDirect && c.Applicable {
			t.Errorf("%s (workspace %d) kept under a 1 MiB limit", c.Algo, c.Workspace)
		}
	}
	if p.Layers[0].Choice != loop.ConvDirect {
		t.Errorf("chose %s", p.Layers[0].Choice)
	}
}

func TestForceAndDeterminism(t *testing.T) {
	g := convGraph(t, "c", []int{1, 3, 9, 9}, []int{4, 3, 3, 3}, ir.Attrs{"strides": ir.IntsAttr(2, 2)})
	p, err := Select(g, Options{Machine: testMachine, Force: "winograd4"})
	if err != nil {
		t.Fatal(err)
	}
	l := p.Layers[0]
	if l.Forced || !strings.Contains(l.Note, "does not apply") {
		t.Errorf("forced winograd4 on a stride-2 layer: %+v", l)
	}
	g2 := convGraph(t, "c", []int{1, 3, 9, 9}, []int{4, 3, 3, 3}, pads1())
	for _, a := range Algos() {
		p, err := Select(g2, Options{Machine: testMachine, Force: a})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Algo(g2.Nodes[0]); got != a || !p.Layers[0].Forced {
			t.Errorf("forced %s, got %s", a, got)
		}
	}
	if _, err := Select(g2, Options{Machine: testMachine, Force: "gemm"}); err == nil {
		t.Error("unknown algorithm accepted")
	}
	var out [2]bytes.Buffer
	for i := range out {
		p, err := Select(g2, Options{Machine: testMachine})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Explain(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	if out[0].String() != out[1].String() {
		t.Error("two selections explained differently")
	}
	t.Log("\n" + out[0].String())
	// A clone's node (same shapes and attributes) gets the same choice.
	p2, _ := Select(g2, Options{Machine: testMachine, Force: "fft"})
	g3 := convGraph(t, "c", []int{1, 3, 9, 9}, []int{4, 3, 3, 3}, pads1())
	if a := p2.Algo(g3.Nodes[0]); a != "fft" {
		t.Errorf("clone got %s", a)
	}
	if f, _, err := p2.Lower(g3.Nodes); err != nil || len(f.Temps) == 0 {
		t.Errorf("Lower: %v", err)
	}
}

// TestWinogradEfficiencyByWeights: with constant weights Winograd runs on
// the backend's GEMM (the calibrated efficiency times the tiles' share of
// the GEMM's columns; the bytes read are the input, the output and the
// 36 transformed filters); with weights given at run time, on the loop
// nest.
func TestWinogradEfficiencyByWeights(t *testing.T) {
	for _, constW := range []bool{true, false} {
		g := ir.NewGraph("w")
		x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{1, 64, 56, 56}}, ir.Pos{})
		var w *ir.Value
		if constW {
			w, _ = g.AddConst("w", ir.NewTensor(ir.Float32, ir.Shape{64, 64, 3, 3}), ir.Pos{})
		} else {
			w, _ = g.AddInput("w", ir.Type{Elem: ir.Float32, Shape: ir.Shape{64, 64, 3, 3}}, ir.Pos{})
		}
		y, err := g.AddNode("conv", "y", []*ir.Value{x, w}, pads1(), ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		g.Outputs = []*ir.Value{y}
		cands, err := Predict(y.Producer, Options{Machine: testMachine, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cands {
			if c.Algo != loop.ConvWinograd4 {
				continue
			}
			want := WinogradNestEfficiency
			if constW {
				want = DefaultEfficiency[loop.ConvWinograd4] * 196 / 208 // 14×14 tiles: 6 panels of 32 and a half panel
				// input, output, and 36 transformed filters of 64×64
				if wantQ := int64(4 * (2*64*56*56 + 36*64*64)); c.Bytes != wantQ {
					t.Errorf("winograd4 bytes %d, want %d", c.Bytes, wantQ)
				}
			}
			if math.Abs(c.Efficiency-want) > 1e-9 {
				t.Errorf("constant weights %v: efficiency %v, want %v", constW, c.Efficiency, want)
			}
		}
	}
}
