package llvm_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"wdc/backends/llvm"
	"wdc/ir"
	"wdc/ir/loop"
)

// mergeCases builds one graph holding every case (inputs prefixed by the
// case name), so one clang run compiles them all.
func mergeCases(t *testing.T, name string, cases []loop.OpCase) (*ir.Graph, map[string]*ir.Tensor) {
	t.Helper()
	g := ir.NewGraph(name)
	feeds := map[string]*ir.Tensor{}
	for ci, c := range cases {
		cg, cf, err := c.Graph(int64(ci) + 11)
		if err != nil {
			t.Fatal(err)
		}
		var ins []*ir.Value
		for _, v := range cg.Inputs {
			vn := c.Name + "_" + v.Name
			nv, err := g.AddInput(vn, v.Type, ir.Pos{})
			if err != nil {
				t.Fatal(err)
			}
			feeds[vn] = cf[v.Name]
			ins = append(ins, nv)
		}
		n := cg.Nodes[0]
		out, err := g.AddNode(n.Op, c.Name, ins, n.Attrs, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		g.Outputs = append(g.Outputs, out)
	}
	return g, feeds
}

func bigGemmCases() []loop.OpCase {
	s := func(d ...int) ir.Shape { return ir.Shape(d) }
	ints := func(v ...int64) ir.Attr { return ir.IntsAttr(v...) }
	return []loop.OpCase{
		// Several KC, MC and NC blocks, threads splitting N or M.
		{Name: "dense_big", Op: "dense", Shapes: []ir.Shape{s(157, 530), s(530, 2100), s(2100)}},
		// Matrix-vector products (M < 4), one and several threads.
		{Name: "gemv_big", Op: "dense", Shapes: []ir.Shape{s(2, 700), s(700, 1000), s(1000)}},
		{Name: "gemv_odd", Op: "dense", Shapes: []ir.Shape{s(1, 513), s(513, 130)}},
		{Name: "gemv_3", Op: "matmul", Shapes: []ir.Shape{s(3, 33), s(33, 71)}},
		{Name: "matmul_tall", Op: "matmul", Shapes: []ir.Shape{s(301, 257), s(257, 7)}},
		{Name: "conv3x3_big", Op: "conv", Shapes: []ir.Shape{s(1, 16, 30, 30), s(32, 16, 3, 3), s(32)}, Attrs: ir.Attrs{"pads": ints(1, 1, 1, 1)}},
		{Name: "conv3x3_deep", Op: "conv", Shapes: []ir.Shape{s(1, 40, 9, 9), s(70, 40, 3, 3), s(70)}, Attrs: ir.Attrs{"pads": ints(1, 1, 1, 1)}},
		{Name: "conv7x7_s2", Op: "conv", Shapes: []ir.Shape{s(1, 3, 45, 45), s(16, 3, 7, 7), s(16)}, Attrs: ir.Attrs{"pads": ints(3, 3, 3, 3), "strides": ints(2, 2)}},
	}
}

// TestGemmCompiled compiles GEMM-shaped ops at odd sizes (every
// transpose, conv strides, pads, dilations, groups) with each
// microkernel this machine can run, on 2, 1 and 3 threads.
func TestGemmCompiled(t *testing.T) {
	needClang(t)
	kernels := []llvm.Microkernel{llvm.AVX2Kernel, {VW: 8, MR: 4, NV: 3}}
	if llvm.HostKernel() == llvm.AVX512Kernel {
		kernels = append(kernels, llvm.AVX512Kernel)
	}
	cases := append(loop.GemmCases(), bigGemmCases()...)
	for _, u := range kernels {
		t.Run(fmt.Sprintf("%dx%d", u.MR, u.NR()), func(t *testing.T) {
			g, feeds := mergeCases(t, "gemm", cases)
			ngemm := 0
			opts := llvm.Options{Threads: 2, Microkernel: u, DumpGemm: func(string, *loop.Gemm) { ngemm++ }}
			compileRun(t, g, feeds, opts, rtol, 1e-4, 1, 3) // sums of up to 530 products of N(0,1) values
			if ngemm != len(cases) {
				t.Errorf("%d of %d kernels use the GEMM", ngemm, len(cases))
			}
		})
	}
}

// TestGemmEpilogueCompiled: conv → add → relu (applied by the GEMM) and
// conv → sigmoid → mul (an epilogue nest after it).
func TestGemmEpilogueCompiled(t *testing.T) {
	needClang(t)
	g := ir.NewGraph("epi")
	feeds := map[string]*ir.Tensor{}
	add := func(name string, s ir.Shape) *ir.Value {
		v, err := g.AddInput(name, ir.Type{Elem: ir.Float32, Shape: s}, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		tt := ir.NewTensor(ir.Float32, s)
		for i := range tt.F {
			tt.F[i] = float32((i*7919)%23)/11 - 1
		}
		feeds[name] = tt
		return v
	}
	node := func(op, name string, attrs ir.Attrs, in ...*ir.Value) *ir.Value {
		v, err := g.AddNode(op, name, in, attrs, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	x, w, b, e := add("x", ir.Shape{1, 8, 20, 20}), add("w", ir.Shape{16, 8, 3, 3}), add("b", ir.Shape{16}), add("e", ir.Shape{1, 16, 20, 20})
	pads := ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1)}
	y1 := node("relu", "y1", nil, node("add", "s1", nil, e, node("conv", "c1", pads, x, w, b)))
	y2 := node("mul", "y2", nil, node("sigmoid", "s2", nil, node("conv", "c2", pads, x, w, b)), e)
	g.Outputs = []*ir.Value{y1, y2}
	var descs []string
	opts := llvm.Options{Threads: 2, DumpGemm: func(k string, gm *loop.Gemm) { descs = append(descs, gm.String()) }}
	compileRun(t, g, feeds, opts, rtol, atol, 1)
	if len(descs) != 2 || !strings.HasSuffix(descs[0], "+add relu") || !strings.HasSuffix(descs[1], "+epilogue") {
		t.Errorf("GEMM kernels: %q", descs)
	}
}

// TestMicrokernelAssembly checks that the microkernel's loop is vector
// FMAs on ymm (or zmm) registers after llc -O3 -mcpu=native.
func TestMicrokernelAssembly(t *testing.T) {
	llc, err := exec.LookPath("llc-14")
	if err != nil {
		t.Skip("llc-14 is not installed")
	}
	g, _ := mergeCases(t, "asm", loop.GemmCases()[:1])
	for _, u := range []llvm.Microkernel{llvm.AVX2Kernel, llvm.AVX512Kernel} {
		if u.VW == 16 && llvm.HostKernel() != llvm.AVX512Kernel {
			continue
		}
		ll := buildLL(t, g, llvm.Options{Microkernel: u})
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "m.ll"), []byte(ll), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(llc, "-O3", "-mcpu=native", "-o", "-", filepath.Join(dir, "m.ll")).CombinedOutput()
		if err != nil {
			t.Fatalf("llc: %v\n%s", err, out)
		}
		asm := string(out)
		i := strings.Index(asm, "wdc_ukr:")
		if i < 0 {
			t.Fatal("no wdc_ukr in the assembly")
		}
		asm = asm[i:]
		if j := strings.Index(asm, ".Lfunc_end"); j > 0 {
			asm = asm[:j]
		}
		reg := "ymm"
		if u.VW == 16 {
			reg = "zmm"
		}
		n := len(regexp.MustCompile(`vfmadd\w+\s+[^\n]*%`+reg).FindAllString(asm, -1))
		if n < u.MR*u.NV {
			t.Errorf("%dx%d microkernel: %d vfmadd on %s registers, want at least %d", u.MR, u.NR(), n, reg, u.MR*u.NV)
		}
		t.Logf("%dx%d microkernel: %d vfmadd on %s", u.MR, u.NR(), n, reg)
	}
}

// TestGemmPackedWeights: constant conv weights are stored as packed
// panels (groups, rows not a multiple of MR, several KC blocks).
func TestGemmPackedWeights(t *testing.T) {
	needClang(t)
	g := ir.NewGraph("packed")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{2, 60, 9, 9}}, ir.Pos{})
	cst := func(name string, s ir.Shape) *ir.Value { return patternConst(t, g, name, s, 29) }
	y, err := g.AddNode("conv", "y", []*ir.Value{x, cst("w", ir.Shape{38, 30, 3, 3}), cst("b", ir.Shape{38})},
		ir.Attrs{"group": ir.IntAttr(2), "pads": ir.IntsAttr(1, 1, 1, 1)}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	z, err := g.AddNode("relu", "z", []*ir.Value{y}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{z}
	for _, u := range []llvm.Microkernel{llvm.AVX2Kernel, llvm.HostKernel()} {
		compileRun(t, g, randomFeeds(g, 3), llvm.Options{Threads: 2, Microkernel: u}, rtol, 1e-4, 1)
	}
}

// TestGemmSwappedConv: a conv with few output pixels (7×7) and constant
// weights runs as the swapped product C^T = B^T·A^T (pixels as the
// microkernel's rows), here with groups, batch 2, stride 2, several KC
// blocks, a residual add and relu, on 1, 2 and 3 threads.
func TestGemmSwappedConv(t *testing.T) {
	needClang(t)
	g := convAddRelu(t, "swapped", ir.Shape{2, 80, 13, 13}, ir.Shape{128, 40, 3, 3}, 2, 2, 1, 29, true)
	for _, u := range []llvm.Microkernel{llvm.AVX2Kernel, llvm.HostKernel()} {
		ll := buildLL(t, g, llvm.Options{Microkernel: u})
		// The descriptor ends with gAPacked = 2 (swapped), the weights'
		// stride per group, 64·360, and gBPacked = 0.
		if !strings.Contains(ll, "i64 2, i64 23040, i64 0, i64 0"+noPool) {
			t.Errorf("microkernel %+v: the conv did not run swapped", u)
		}
		compileRun(t, g, randomFeeds(g, 5), llvm.Options{Threads: 1, Microkernel: u}, rtol, 1e-4, 2, 3)
	}
}

// buildLL is g's LLVM IR as Build emits it with opts (no clang).
// noPool ends a GEMM descriptor without a fused max pool (its eight
// entries zero).
const noPool = ", i64 0, i64 0, i64 0, i64 0, i64 0, i64 0, i64 0, i64 0]"

func buildLL(t *testing.T, g *ir.Graph, opts llvm.Options) string {
	t.Helper()
	p, err := llvm.Build(g, opts)
	if err != nil {
		t.Fatal(err)
	}
	ll, err := p.LL()
	if err != nil {
		t.Fatal(err)
	}
	return ll
}

// TestGemmDirectConv: conv products that run "direct" (output pixels of
// one row read in place from the padded input, no im2col copy). With as
// many output channels per group as the half-width microkernel has
// columns: LeNet-5's second conv, stride 2 with padding, a residual and
// ReLU on batch 2, groups with rows longer than MR (several runs per
// row). Strided convs with more channels, NR at a time: a last channel
// panel part empty, with a residual on batch 2 (threads split the output
// rows, each padding the input rows it reads); weights larger than the
// input (threads split the channel panels); K over one KC block; a 1×1
// stride-2 downsampling conv. 1-3 threads, AVX2 and host kernels.
func TestGemmDirectConv(t *testing.T) {
	needClang(t)
	direct := regexp.MustCompile(`i64 4, i64 [^,]+, i64 0, i64 0` + regexp.QuoteMeta(noPool))
	for _, u := range []llvm.Microkernel{llvm.AVX2Kernel, llvm.HostKernel()} {
		m, nr := u.NR()/2, u.NR()
		cases := []struct {
			name               string
			x, w               ir.Shape
			group, stride, pad int64
			residual           bool
		}{
			{"lenet_conv2", ir.Shape{1, 6, 14, 14}, ir.Shape{m, 6, 5, 5}, 1, 1, 0, false},
			{"strided_residual", ir.Shape{2, 3, 17, 19}, ir.Shape{m, 3, 3, 3}, 1, 2, 1, true},
			{"groups_long_rows", ir.Shape{2, 8, 24, 37}, ir.Shape{2 * m, 4, 3, 3}, 2, 1, 1, false},
			// full width: 28 outputs a row fill MR = 14 and 6 row tiles
			{"wide_partial_panel_residual", ir.Shape{2, 24, 9, 56}, ir.Shape{2*nr + 3, 24, 3, 3}, 1, 2, 1, true},
			{"wide_channel_split", ir.Shape{1, 16, 5, 56}, ir.Shape{6*nr + 5, 16, 3, 3}, 1, 2, 1, false},
			{"wide_k_blocks", ir.Shape{1, 64, 15, 56}, ir.Shape{nr + 3, 64, 3, 3}, 1, 2, 1, false},
			{"wide_downsample_residual", ir.Shape{2, 24, 12, 56}, ir.Shape{2 * nr, 24, 1, 1}, 1, 2, 0, true},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/NR%d", c.name, u.NR()), func(t *testing.T) {
				g := convAddRelu(t, c.name, c.x, c.w, c.group, c.stride, c.pad, 23, c.residual)
				ll := buildLL(t, g, llvm.Options{Microkernel: u})
				if !direct.MatchString(ll) { // the descriptor: gAPacked = 4, the group stride, no packed B, no Winograd
					t.Fatalf("the conv did not run direct: %s", regexp.MustCompile(`@geom_[^\n]*`).FindString(ll))
				}
				compileRun(t, g, randomFeeds(g, 7), llvm.Options{Threads: 1, Microkernel: u}, rtol, 1e-4, 2, 3)
			})
		}
	}
}

// TestGemmInplaceConv: stride-1 convs with few output channels read B
// in place (output pixels of one row straight from the padded input, no
// im2col copy): LeNet-5's first conv on the host kernel; rows of one
// whole tile and a narrower one (through a local tile) with a residual
// on batch 2; groups. 1-3 threads, AVX2 and host kernels.
func TestGemmInplaceConv(t *testing.T) {
	needClang(t)
	inplace := regexp.MustCompile(`i64 5, i64 [^,]+, i64 0, i64 0` + regexp.QuoteMeta(noPool))
	for _, u := range []llvm.Microkernel{llvm.AVX2Kernel, llvm.HostKernel()} {
		m := u.NR() / 4
		fc := max(m-2, 4) // LeNet-5's 6 on the host kernel (fewer run as loop nests)
		cases := []struct {
			name       string
			x, w       ir.Shape
			group, pad int64
			residual   bool
		}{
			{"first_conv", ir.Shape{1, 1, 28, 28}, ir.Shape{fc, 1, 5, 5}, 1, 2, false},
			{"residual_batch2", ir.Shape{2, 3, 9, 62}, ir.Shape{m, 3, 3, 3}, 1, 1, true},
			{"groups", ir.Shape{1, 4, 10, 30}, ir.Shape{2 * m, 2, 3, 3}, 2, 1, false},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/NR%d", c.name, u.NR()), func(t *testing.T) {
				g := convAddRelu(t, c.name, c.x, c.w, c.group, 1, c.pad, 19, c.residual)
				if ll := buildLL(t, g, llvm.Options{Microkernel: u}); !inplace.MatchString(ll) { // gAPacked = 5
					t.Fatalf("the conv did not read B in place: %s", regexp.MustCompile(`@geom_[^\n]*`).FindString(ll))
				}
				compileRun(t, g, randomFeeds(g, 7), llvm.Options{Threads: 1, Microkernel: u}, rtol, 1e-4, 2, 3)
			})
		}
	}
}

// TestGemmPackedB: a constant B (matmul weights, M ≥ 4) is stored as
// packed NR-column panels: N not a multiple of NR, several KC blocks,
// a transposed view (dense's [N, K] weights), 1-3 threads.
func TestGemmPackedB(t *testing.T) {
	needClang(t)
	g := ir.NewGraph("packedb")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{37, 300}}, ir.Pos{})
	cst := func(name string, s ir.Shape) *ir.Value { return patternConst(t, g, name, s, 31) }
	y, err := g.AddNode("matmul", "y", []*ir.Value{x, cst("w", ir.Shape{300, 70})}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := g.AddNode("transpose", "wt", []*ir.Value{cst("v", ir.Shape{45, 300})}, ir.Attrs{"perm": ir.IntsAttr(1, 0)}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	z, err := g.AddNode("matmul", "z", []*ir.Value{x, wt}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y, z}
	for _, u := range []llvm.Microkernel{llvm.AVX2Kernel, llvm.HostKernel()} {
		ll := buildLL(t, g, llvm.Options{Microkernel: u})
		if n := strings.Count(ll, "i64 1, i64 0"+noPool); n != 2 { // gBPacked = 1, gWino = 0, no pool: the descriptor's last entries
			t.Errorf("microkernel %+v: %d products with packed B, want 2", u, n)
		}
		compileRun(t, g, randomFeeds(g, 7), llvm.Options{Threads: 1, Microkernel: u}, rtol, 1e-4, 2, 3)
	}
}

// convGraph starts a graph named name: an input x of shape xs, a conv
// "y" of it with patterned weights of shape ws (patternConst, period)
// and bias, returned with the conv's result.
func convGraph(t *testing.T, name string, xs, ws ir.Shape, group, stride, pad int64, period int) (*ir.Graph, *ir.Value) {
	t.Helper()
	g := ir.NewGraph(name)
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: xs}, ir.Pos{})
	cst := func(name string, s ir.Shape) *ir.Value { return patternConst(t, g, name, s, period) }
	y, err := g.AddNode("conv", "y", []*ir.Value{x, cst("w", ws), cst("b", ir.Shape{ws[0]})},
		ir.Attrs{"group": ir.IntAttr(group), "pads": ir.IntsAttr(pad, pad, pad, pad), "strides": ir.IntsAttr(stride, stride)}, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	return g, y
}

// convAddRelu is convGraph's conv followed, when residual, by the
// addition of a second input "e", then by ReLU, the graph's output.
func convAddRelu(t *testing.T, name string, xs, ws ir.Shape, group, stride, pad int64, period int, residual bool) *ir.Graph {
	t.Helper()
	g, y := convGraph(t, name, xs, ws, group, stride, pad, period)
	var err error
	if residual {
		e, _ := g.AddInput("e", y.Type, ir.Pos{})
		if y, err = g.AddNode("add", "s", []*ir.Value{y, e}, nil, ir.Pos{}); err != nil {
			t.Fatal(err)
		}
	}
	if y, err = g.AddNode("relu", "z", []*ir.Value{y}, nil, ir.Pos{}); err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y}
	return g
}

// patternConst adds to g a constant of shape s holding a fixed pattern,
// (i·7919 mod period)/period − 0.5.
func patternConst(t testing.TB, g *ir.Graph, name string, s ir.Shape, period int) *ir.Value {
	t.Helper()
	tt := ir.NewTensor(ir.Float32, s)
	for i := range tt.F {
		tt.F[i] = float32((i*7919)%period)/float32(period) - 0.5
	}
	v, err := g.AddConst(name, tt, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLargeWeights: a model whose weights (4.4 MB) wdc_init moves into
// 2 MiB pages computes what the interpreter does, on 1 and 2 threads.
func TestLargeWeights(t *testing.T) {
	needClang(t)
	g := ir.NewGraph("large")
	x, _ := g.AddInput("x", ir.Type{Elem: ir.Float32, Shape: ir.Shape{3, 1100}}, ir.Pos{})
	cst := func(name string, s ir.Shape) *ir.Value { return patternConst(t, g, name, s, 31) }
	y, err := g.AddNode("dense", "y", []*ir.Value{x, cst("w", ir.Shape{1100, 1000}), cst("b", ir.Shape{1000})}, nil, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y}
	compileRun(t, g, randomFeeds(g, 5), llvm.Options{Threads: 1}, rtol, 1e-4, 2)
}

// TestGemmPooledConv: a max pool reading only a conv's result is applied
// by the conv's product (one kernel, the conv result never stored
// whole): ResNet's stem shape, pools taller than their stride (conv rows
// shared by consecutive chunks, kept not recomputed), strides wider than
// the window, ceil mode with asymmetric pads, batch 2 and more rows than
// one microkernel tile; rows wide enough that each chunk holds one pool
// row; a stem whose conv rows the direct product computes; 1-3 threads,
// AVX2 and host kernels.
func TestGemmPooledConv(t *testing.T) {
	needClang(t)
	defer llvm.SetFusePoolMin(1)()
	cases := []struct {
		name        string
		x, w        ir.Shape
		stride, pad int64
		pk, ps      int64
		ppads       []int64
		ceil        bool
	}{
		{"stem", ir.Shape{1, 3, 40, 44}, ir.Shape{20, 3, 7, 7}, 2, 3, 3, 2, []int64{1, 1, 1, 1}, false},
		{"stem_direct", ir.Shape{1, 3, 40, 56}, ir.Shape{40, 3, 7, 7}, 2, 3, 3, 2, []int64{1, 1, 1, 1}, false},
		{"overlap2_wide", ir.Shape{1, 2, 9, 600}, ir.Shape{64, 2, 3, 3}, 1, 1, 3, 1, []int64{1, 1, 1, 1}, false},
		{"gaps_batch2", ir.Shape{2, 5, 23, 30}, ir.Shape{33, 5, 3, 3}, 1, 1, 2, 3, []int64{0, 0, 0, 0}, false},
		{"ceil_asym_wide", ir.Shape{1, 4, 15, 700}, ir.Shape{40, 4, 3, 3}, 2, 1, 3, 2, []int64{0, 1, 2, 0}, true},
	}
	for _, u := range []llvm.Microkernel{llvm.AVX2Kernel, llvm.HostKernel()} {
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/NR%d", c.name, u.NR()), func(t *testing.T) {
				g, y := convGraph(t, c.name, c.x, c.w, 1, c.stride, c.pad, 29)
				r, err := g.AddNode("relu", "r", []*ir.Value{y}, nil, ir.Pos{})
				if err != nil {
					t.Fatal(err)
				}
				attrs := ir.Attrs{"kernel_shape": ir.IntsAttr(c.pk, c.pk), "strides": ir.IntsAttr(c.ps, c.ps), "pads": ir.IntsAttr(c.ppads...)}
				if c.ceil {
					attrs["ceil_mode"] = ir.IntAttr(1)
				}
				z, err := g.AddNode("max_pool", "p", []*ir.Value{r}, attrs, ir.Pos{})
				if err != nil {
					t.Fatal(err)
				}
				g.Outputs = []*ir.Value{z}
				ll := buildLL(t, g, llvm.Options{Microkernel: u})
				if n := strings.Count(ll, "define internal void @k"); n != 1 || !strings.Contains(ll, "@k0_r_p(") {
					t.Fatalf("%d kernels, want the pool fused into the conv's (k0_r_p)", n)
				}
				// 28 outputs a row: the direct product (gAPacked = 4) computes the conv
				// rows; stride 1: the usual product (others depend on MR)
				d := regexp.MustCompile(`i64 4, i64 [^,]+, i64 0, i64 0, i64 [1-9]`).MatchString(ll)
				if c.name == "stem_direct" && !d || c.stride == 1 && d {
					t.Fatalf("direct product %v, want %v", d, !d)
				}
				compileRun(t, g, randomFeeds(g, 5), llvm.Options{Threads: 1, Microkernel: u}, rtol, 1e-4, 2, 3)
				// the reference path (taken without pack buffers) pools too
				compileRun(t, g, randomFeeds(g, 5), llvm.Options{Threads: 1, Microkernel: u, ExtraCFlags: []string{"-DWDC_GEMM_REF"}}, rtol, 1e-4)
			})
		}
	}
}
