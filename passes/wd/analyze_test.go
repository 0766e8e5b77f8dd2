package wd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"wdc/ir"
)

// residual builds y = relu(conv(x)) + relu(x), a diamond; longFirst puts
// the conv branch as the add's first operand.
func residual(t *testing.T, longFirst bool) *ir.Graph {
	b := newBuilder(t, "residual")
	x := b.input("x", 1, 4, 8, 8)
	// conv 4->4, 3x3, same: D = ⌈log2 4⌉ + 2 + 2 = 6, W = 256·36 = 9216.
	c := b.node("conv", "conv", ir.Attrs{"pads": ints(1, 1, 1, 1)}, x, b.weight("w", 4, 4, 3, 3))
	long := b.node("relu", "relu_long", nil, c)
	short := b.node("relu", "relu_short", nil, x)
	in := []*ir.Value{long, short}
	if !longFirst {
		in = []*ir.Value{short, long}
	}
	sum := b.node("add", "sum", nil, in...)
	return b.output(sum)
}

func TestCriticalPathDiamond(t *testing.T) {
	for _, longFirst := range []bool{true, false} {
		r, err := Analyze(residual(t, longFirst))
		if err != nil {
			t.Fatal(err)
		}
		// Depth: conv 6 + relu 1 + add 1 = 8, not relu 1 + add 1 = 2.
		// Work: 9216 + 256 + 256 + 256.
		if r.Depth != 8 || r.Work != 9216+3*256 {
			t.Errorf("longFirst=%v: W = %d, D = %d; want %d, 8", longFirst, r.Work, r.Depth, 9216+3*256)
		}
		if got := strings.Join(r.CriticalPath, ","); got != "conv,relu_long,sum" {
			t.Errorf("longFirst=%v: critical path %s, want conv,relu_long,sum", longFirst, got)
		}
		for _, o := range r.Ops {
			if want := o.Node != "relu_short"; o.Critical != want {
				t.Errorf("%s: critical = %v", o.Node, o.Critical)
			}
		}
		if got := r.Ops[len(r.Ops)-1].Finish; got != 8 {
			t.Errorf("sum finishes at step %d, want 8", got)
		}
	}
}

func TestConvAlgorithmsHand(t *testing.T) {
	// x [1,2,6,6], w [3,2,3,3], pads 1: out [1,3,6,6] (108 values), fp32.
	b := newBuilder(t, "wino")
	y := b.node("conv", "c", ir.Attrs{"pads": ints(1, 1, 1, 1)}, b.input("x", 1, 2, 6, 6), b.weight("w", 3, 2, 3, 3))
	b.output(y)
	algos, err := ConvAlgorithms(y.Producer)
	if err != nil {
		t.Fatal(err)
	}
	// Direct Q = 4·(72 + 54 + 108) = 936 bytes.
	// direct/im2col: W = 108·2·9 = 1944, D = ⌈log2 2⌉ + 2 + 2 = 5;
	//   lowered matrix (2·3·3)×(1·6·6) = 648 floats = 2592 bytes, Q = 936 + 2·2592.
	// Winograd F(2x2,3x3): m = 2, r = 3, α = 4, P = 1·⌈6/2⌉·⌈6/2⌉ = 9.
	//   filter   3·2·(4·9 + 16·3)   = 504
	//   input    2·9·2·64           = 2304
	//   GEMMs    16·3·2·9           = 864
	//   output   3·9·(2·16 + 4·4)   = 1296   → W = 4968
	//   D = 2·2 + 4·2 + 1 = 13; workspace 4·16·(2·9 + 3·9 + 2·3) = 3264.
	// Winograd F(4x4,3x3): α = 6, P = ⌈6/4⌉² = 4.
	//   filter   6·(6·9 + 36·3)     = 972
	//   input    2·4·2·216          = 3456
	//   GEMMs    36·3·2·4           = 864
	//   output   3·4·(4·36 + 16·6)  = 2880   → W = 8172
	//   D = 4 + 4·3 + 1 = 17; workspace 4·36·(8 + 12 + 6) = 3744.
	// FFT over the padded 8x8 input, HW = 64, log2 HW = 6, c = 2.5:
	//   2.5·64·6·(3·2 + 1·2 + 1·3) = 960·11 = 10560, + 64·1·2·3 = 384 → 10944
	//   D = 2·6 + 1 = 13; spectra 4·8·9·(2 + 3 + 6) = 3168 bytes.
	want := []AlgoCost{
		{Name: AlgoDirect, Applicable: true, Work: 1944, Depth: 5, Bytes: 936},
		{Name: AlgoIm2col, Applicable: true, Work: 1944, Depth: 5, Bytes: 936 + 2*2592, Workspace: 2592},
		{Name: AlgoWinograd2, Applicable: true, Work: 4968, Depth: 13, Bytes: 936 + 3264, Workspace: 3264, M: 2, R: 3, Tiles: 9},
		{Name: AlgoWinograd4, Applicable: true, Work: 8172, Depth: 17, Bytes: 936 + 3744, Workspace: 3744, M: 4, R: 3, Tiles: 4},
		{Name: AlgoFFT, Applicable: true, Work: 10944, Depth: 13, Bytes: 936 + 3168, Workspace: 3168},
	}
	if FFTConstant != 2.5 {
		t.Fatalf("FFTConstant = %v; this test computed with 2.5", FFTConstant)
	}
	if len(algos) != len(want) {
		t.Fatalf("got %d algorithms, want %d", len(algos), len(want))
	}
	for i := range want {
		if algos[i] != want[i] {
			t.Errorf("%s:\n got %+v\nwant %+v", want[i].Name, algos[i], want[i])
		}
	}
	// Lavin's multiplication ratio for the element-wise stage: direct
	// r²·m² per tile and channel pair vs α²: 36/16 = 2.25 and 144/36 = 4.
	if d, w := 3*3*2*2, 4*4; float64(d)/float64(w) != 2.25 {
		t.Errorf("F(2,3) ratio %v", float64(d)/float64(w))
	}
}

func TestConvAlgorithmsGroupedAndInapplicable(t *testing.T) {
	b := newBuilder(t, "g")
	x := b.input("x", 2, 4, 4, 4)
	// Grouped 3x3: two groups of 2->3 channels, out [2,6,2,2] (valid).
	gy := b.node("conv", "gc", ir.Attrs{"group": ir.IntAttr(2)}, x, b.weight("w", 6, 2, 3, 3))
	// 5x5 stride 2 with pads 2: neither Winograd nor FFT.
	sy := b.node("conv", "sc", ir.Attrs{"strides": ints(2, 2), "pads": ints(2, 2, 2, 2)}, x, b.weight("w2", 3, 4, 5, 5))
	b.output(gy, sy)

	algos, err := ConvAlgorithms(gy.Producer)
	if err != nil {
		t.Fatal(err)
	}
	// Per group: C_in = 2, C_out = 3, N = 2, out 2x2.
	// Direct: 2 groups · 2·3·4·2·9 = 864 (= the node's MACs).
	if algos[0].Work != 864 || algos[0].Work != MACs(gy.Producer) || algos[0].Depth != 1+2+2 {
		t.Errorf("grouped direct: %+v", algos[0])
	}
	// F(2x2,3x3): α = 4, P = 2·1·1 = 2 per group;
	// per group 3·2·84 + 2·2·2·64 + 16·3·2·2 + 3·2·48 = 504 + 512 + 192 + 288 = 1496; two groups 2992.
	if a := algos[2]; !a.Applicable || a.Work != 2992 || a.Tiles != 2 || a.Depth != 4+8+1 {
		t.Errorf("grouped Winograd F(2x2,3x3): %+v", a)
	}
	// FFT per group: HW = 16, log2 = 4: 2.5·16·4·(6 + 4 + 6) = 2560, + 16·2·2·3 = 192; two groups 5504.
	if a := algos[4]; !a.Applicable || a.Work != 5504 || a.Depth != 8+1 {
		t.Errorf("grouped FFT: %+v", a)
	}

	algos, err = ConvAlgorithms(sy.Producer)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range algos[2:] {
		if a.Applicable || a.Reason == "" || a.Work != 0 {
			t.Errorf("%s should not apply to a 5x5 stride-2 conv: %+v", a.Name, a)
		}
	}
	if !strings.Contains(algos[2].Reason, "3x3 kernel") || !strings.Contains(algos[4].Reason, "stride 1") {
		t.Errorf("reasons: %q, %q", algos[2].Reason, algos[4].Reason)
	}
	if _, err := ConvAlgorithms(b.g.Nodes[0].Inputs[0].Producer); err == nil {
		t.Errorf("a nil node should be refused")
	}
}

func TestReportJSONAndTable(t *testing.T) {
	r, err := Analyze(lenet5(t))
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"graph":"lenet5"`, `"work":435850`, `"depth":51`, `"critical_path":["conv1"`,
		`"conv_algorithms":[{"node":"conv1"`, `"workspace_bytes":`, `"brent":[{"p":1,`, `"macs":416520`} {
		if !bytes.Contains(js, []byte(key)) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || back.Work != r.Work || len(back.Ops) != len(r.Ops) {
		t.Errorf("JSON does not read back: %v", err)
	}

	var tb strings.Builder
	if err := r.WriteTable(&tb); err != nil {
		t.Fatal(err)
	}
	out := tb.String()
	for _, want := range []string{"*  conv1  conv      f32[1,6,28,28]   122304   7", "total", "435850  51",
		"critical     conv1 -> relu1 -> pool1", "(W-D)/p + D"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Every table row of the node section has the same width up to the
	// number columns: the W column ends at the same offset on every line.
	lines := strings.Split(out, "\n")
	end := -1
	for _, l := range lines {
		if strings.Contains(l, " conv ") || strings.Contains(l, " relu ") || strings.Contains(l, " dense ") {
			f := strings.Fields(l)
			w := f[len(f)-4]
			e := strings.Index(l, " "+w+" ") + len(w) + 1
			if end >= 0 && e != end {
				t.Errorf("misaligned W column in %q", l)
			}
			end = e
		}
	}
	tb.Reset()
	if err := r.WriteAlgorithms(&tb); err != nil {
		t.Fatal(err)
	}
	if s := tb.String(); !strings.Contains(s, "convolution algorithms for conv2:") || !strings.Contains(s, "needs a 3x3 kernel") {
		t.Errorf("algorithm section:\n%s", s)
	}
}

func TestAnalyzeRejectsBadGraphs(t *testing.T) {
	if _, err := Analyze(nil); err == nil {
		t.Error("nil graph accepted")
	}
	b := newBuilder(t, "bad")
	y := b.node("relu", "y", nil, b.input("x", 2, 2))
	g := b.output(y)
	y.Producer.Op = "no_such_op"
	if _, err := Analyze(g); err == nil || !strings.Contains(err.Error(), `"y"`) {
		t.Errorf("unknown op: %v", err)
	}
	y.Producer.Op = "relu"
	y.Type = ir.Type{Elem: ir.Float32, Shape: ir.Shape{3}}
	if _, err := Analyze(g); err == nil || !strings.Contains(err.Error(), `"y"`) {
		t.Errorf("stale type: %v", err)
	}
}

func TestBrentRows(t *testing.T) {
	// A single relu: W = 4, D = 1, W/D = 4: rows for p = 1, 2, 4.
	b := newBuilder(t, "one")
	r, err := Analyze(b.output(b.node("relu", "y", nil, b.input("x", 4))))
	if err != nil {
		t.Fatal(err)
	}
	want := []BrentRow{{1, 4, 4}, {2, 2, 2.5}, {4, 1, 1.75}}
	if len(r.Brent) != 3 || r.Brent[0] != want[0] || r.Brent[1] != want[1] || r.Brent[2] != want[2] {
		t.Errorf("Brent rows %v, want %v", r.Brent, want)
	}
	// W/D = 1 (a 1-element relu): the p = 1 row appears once.
	b = newBuilder(t, "unit")
	r, err = Analyze(b.output(b.node("relu", "y", nil, b.input("x", 1))))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Brent) != 2 || r.Brent[0].P != 1 || r.Brent[1].P != 2 {
		t.Errorf("Brent rows %v, want p = 1 and 2", r.Brent)
	}
	// A graph without nodes: zero totals, an empty critical path.
	b = newBuilder(t, "empty")
	r, err = Analyze(b.output(b.input("x", 3)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Work != 0 || r.Depth != 0 || r.CriticalPath == nil || len(r.CriticalPath) != 0 {
		t.Errorf("empty graph: %+v", r)
	}
	var sb strings.Builder
	if err := r.WriteTable(&sb); err != nil || !strings.Contains(sb.String(), "parallelism  W/D = -") {
		t.Errorf("empty graph table: %v\n%s", err, sb.String())
	}
}
