// Package llvm is wdc's CPU backend: it lowers a graph to the loop IR
// (wdc/ir/loop), schedules it, renders it as LLVM IR with
// github.com/llir/llvm, and builds a shared object with clang together
// with a small C runtime (a pthread pool and the embedded weights).
//
// The artifact directory holds:
//
//	model.ll       the LLVM IR (byte-identical for the same graph and options)
//	runtime.c      thread pool, arena, and the weights (.incbin of weights.bin)
//	weights.bin    the constants, little-endian float32, 64-byte aligned each
//	model.h        the C API and buffer sizes
//	model.so       the shared object
//	manifest.json  names, shapes and sizes, read by runtime/native
//
// The C API (see model.h): wdc_init() starts the threads, wdc_run(inputs,
// outputs) runs the model on caller-owned float buffers (inputs and
// outputs in manifest order), wdc_set_threads(n) changes the thread count,
// wdc_shutdown() joins the threads. A loaded model runs one wdc_run at a
// time (the activation arena is static).
package llvm

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	llir "github.com/llir/llvm/ir"
	"github.com/llir/llvm/ir/constant"
	"github.com/llir/llvm/ir/enum"
	"github.com/llir/llvm/ir/types"
	"github.com/llir/llvm/ir/value"

	"wdc/ir"
	"wdc/ir/loop"
	"wdc/passes/graphopt"
)

// Options control compilation.
type Options struct {
	// Threads is the default number of threads (0: the number of CPUs
	// online when wdc_init runs). The environment variable WDC_THREADS
	// overrides it at run time, and wdc_set_threads at any time.
	Threads int
	// Clang is the compiler driver (default "clang-14").
	Clang string
	// CFlags replace the default optimization flags "-O3 -march=native".
	CFlags []string
	// ExtraCFlags are appended (e.g. -fsanitize=address).
	ExtraCFlags []string
	// NoOptimize skips the graph passes (cpu-opt pipeline).
	NoOptimize bool
	// NoFuse lowers every node to its own kernel.
	NoFuse bool
	// Schedule is applied to every kernel (default loop.DefaultSchedule).
	Schedule func(*loop.Func) error
	// Dump, if set, receives each kernel's loop IR after scheduling.
	Dump func(kernel string, f *loop.Func)
	// Lower, if set, replaces loop.LowerFused for every kernel group (a
	// producer and its fused element-wise chain, nodes of the optimized
	// clone): passes/convalgo uses it to lower each conv with the
	// algorithm it chose (loop.LowerConvAlgo). It may return (nil, nil)
	// for "the backend's default": the runtime's GEMM when the producer
	// reduces to one (loop.LowerGemm), else loop.LowerFused.
	// A non-nil Gemm comes with its Func as loop.LowerGemm returns them
	// (e.g. loop.LowerWinogradGemm).
	Lower func(nodes []*ir.Node) (*loop.Func, *loop.Gemm, error)
	// NoGemm keeps dense, matmul and conv on their loop nests instead of
	// the packed, register-blocked GEMM of the runtime.
	NoGemm bool
	// Microkernel is the GEMM register blocking (zero: HostKernel()).
	Microkernel Microkernel
	// DumpGemm, if set, receives each GEMM kernel's description (Dump
	// then receives the epilogue nest that runs after the GEMM).
	DumpGemm func(kernel string, g *loop.Gemm)
}

// TensorInfo describes one input or output of a compiled model.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	Size  int    `json:"size"` // elements
	// Type is the element type: f32, i8, u8, i16, u16, i32 or i64
	// (row-major, native little-endian, KindBytes each).
	Type string `json:"type"`
}

func tensorInfo(v *ir.Value) TensorInfo {
	return TensorInfo{Name: v.Name, Shape: v.Type.Shape, Size: v.Type.Shape.Elements(), Type: v.Type.Elem.Kind.String()}
}

// words is the storage of v in 4-byte units.
func words(v *ir.Value) int64 {
	return (int64(v.Type.Shape.Elements())*int64(loop.KindBytes(v.Type.Elem.Kind)) + 3) / 4
}

// Artifact describes a compiled model.
type Artifact struct {
	Dir       string       `json:"-"`
	Name      string       `json:"name"`
	Library   string       `json:"library"`
	Header    string       `json:"header"`
	Inputs    []TensorInfo `json:"inputs"`
	Outputs   []TensorInfo `json:"outputs"`
	Threads   int          `json:"threads"`
	Kernels   []string     `json:"kernels"`
	Arena     int64        `json:"arena_bytes"`
	Peak      int64        `json:"peak_activation_bytes"`
	Naive     int64        `json:"unshared_activation_bytes"`
	Weights   int64        `json:"weights_bytes"`
	Scratch   int64        `json:"scratch_bytes"`
	EmitTime  float64      `json:"emit_seconds"`
	ClangTime float64      `json:"clang_seconds"`
	ClangCPU  float64      `json:"clang_cpu_seconds"` // user+system time of clang and its children
}

// LibPath is the shared object's path.
func (a *Artifact) LibPath() string { return filepath.Join(a.Dir, a.Library) }

// ManifestFile is the name of the manifest in an artifact directory.
const ManifestFile = "manifest.json"

// FindClang returns the path of the compiler or an error naming the
// Debian package that provides it.
func FindClang(name string) (string, error) {
	if name == "" {
		name = "clang-14"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := name
		if !strings.HasPrefix(name, "clang") {
			pkg = "clang-14"
		}
		return "", fmt.Errorf("the CPU backend needs %s to build the shared object, and it is not on PATH (install the Debian package %s: apt-get install %s)", name, pkg, pkg)
	}
	return p, nil
}

// Compile compiles g for this machine's CPU into outDir.
func Compile(g *ir.Graph, outDir string, opts Options) (*Artifact, error) {
	clang, err := FindClang(opts.Clang)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	prog, err := Build(g, opts)
	if err != nil {
		return nil, err
	}
	ll, err := prog.LL()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	a := prog.Artifact
	a.Dir = outDir
	a.EmitTime = time.Since(t0).Seconds()
	files := map[string][]byte{
		"model.ll":    []byte(ll),
		"runtime.c":   []byte(prog.RuntimeC()),
		"weights.bin": prog.Weights,
		"model.h":     []byte(prog.Header()),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	flags := opts.CFlags
	if flags == nil {
		flags = []string{"-O3", "-march=native"}
	}
	// The model and the C runtime compile in parallel, then link
	// (ResNet-18: clang takes 2.9 s on runtime.c, 0.5 s on the model).
	t1 := time.Now()
	clangRun := func(args ...string) (cpu time.Duration, err error) {
		args = append(args, opts.ExtraCFlags...)
		cmd := exec.Command(clang, args...)
		cmd.Dir = outDir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err = cmd.Run()
		if ps := cmd.ProcessState; ps != nil {
			cpu = ps.UserTime() + ps.SystemTime()
		}
		if err != nil {
			err = fmt.Errorf("%s %s (in %s) failed: %v\n%s", clang, strings.Join(args, " "), outDir, err, stderr.String())
		}
		return cpu, err
	}
	object := func(src, obj string) []string {
		return append(append([]string{}, flags...), "-c", "-fPIC", "-Wno-override-module", "-Wno-pass-failed", "-o", obj, src)
	}
	var rtCPU time.Duration
	var rtErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rtCPU, rtErr = clangRun(object("runtime.c", "runtime.o")...)
	}()
	llCPU, llErr := clangRun(object("model.ll", "model.o")...)
	<-done
	if llErr != nil {
		return nil, llErr
	}
	if rtErr != nil {
		return nil, rtErr
	}
	linkCPU, err := clangRun(append(append([]string{}, flags...), "-shared", "-o", a.Library, "model.o", "runtime.o", "-lpthread", "-lm")...)
	if err != nil {
		return nil, err
	}
	for _, obj := range []string{"model.o", "runtime.o"} {
		os.Remove(filepath.Join(outDir, obj))
	}
	a.ClangTime = time.Since(t1).Seconds()
	a.ClangCPU = (llCPU + rtCPU + linkCPU).Seconds()
	mj, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(outDir, ManifestFile), append(mj, '\n'), 0o644); err != nil {
		return nil, err
	}
	return a, nil
}

// storage says where a value lives at run time.
type storage struct {
	kind int   // stInput, stOutput, stConst, stArena
	idx  int   // input/output index
	off  int64 // element offset in weights or arena
}

const (
	stInput = iota
	stOutput
	stConst
	stArena
)

// kernel is one lowered (possibly fused) group of nodes.
type kernel struct {
	name string
	f    *loop.Func
	gemm *loop.Gemm // when set, f's body runs after wdc_gemm
	// pack: how the GEMM's constant operands are stored (gemmPacking).
	pack gemmPacking
	args []*ir.Value // one per Func param
	out  *ir.Value
}

// Program is a graph lowered, scheduled and planned, ready to emit.
type Program struct {
	Artifact *Artifact
	Weights  []byte
	kernels  []*kernel
	where    map[*ir.Value]storage
	alias    map[*ir.Value]*ir.Value
	arena    int64 // elements
	scratch  int64 // elements
	threads  int
	ukr      Microkernel
}

// Build optimizes (a clone of) g, lowers it to kernels, schedules them
// and plans storage; nothing is written.
func Build(g *ir.Graph, opts Options) (*Program, error) {
	if g == nil {
		return nil, fmt.Errorf("no graph to compile")
	}
	if err := g.Verify(); err != nil {
		return nil, err
	}
	if u := loop.Unsupported(g); len(u) > 0 {
		return nil, fmt.Errorf("graph %q: the CPU backend cannot compile op(s) %s (it supports %s)", g.Name, strings.Join(u, ", "), strings.Join(loop.Supported(), ", "))
	}
	for _, v := range append(append([]*ir.Value{}, g.Inputs...), g.Outputs...) {
		if k := v.Type.Elem.Kind; k != ir.F32 && !loop.IsIntKind(k) {
			return nil, fmt.Errorf("graph %q: %q is %v; the CPU backend compiles f32, i8, u8, i16, u16, i32 and i64 tensors", g.Name, v.Name, v.Type)
		}
	}
	g, err := graphopt.Clone(g)
	if err != nil {
		return nil, err
	}
	if !opts.NoOptimize {
		if err := graphopt.Optimize(g); err != nil {
			return nil, err
		}
	}
	sched := opts.Schedule
	if sched == nil {
		sched = loop.DefaultSchedule
	}
	p := &Program{where: map[*ir.Value]storage{}, alias: map[*ir.Value]*ir.Value{}, threads: opts.Threads, ukr: opts.Microkernel}
	if p.ukr == (Microkernel{}) {
		p.ukr = HostKernel()
	}
	if err := p.ukr.valid(); err != nil {
		return nil, err
	}
	a := &Artifact{Name: g.Name, Library: "model.so", Header: "model.h", Threads: opts.Threads}
	p.Artifact = a
	for i, v := range g.Inputs {
		p.where[v] = storage{kind: stInput, idx: i}
		a.Inputs = append(a.Inputs, tensorInfo(v))
	}
	// Outputs: the first listing of a node result is written in place;
	// an input, constant or repeated output gets a copy kernel.
	var copies []*kernel
	for j, v := range g.Outputs {
		a.Outputs = append(a.Outputs, tensorInfo(v))
		if _, taken := p.where[v]; v.Producer != nil && !taken {
			p.where[v] = storage{kind: stOutput, idx: j}
			continue
		}
		out := &ir.Value{Name: fmt.Sprintf("output%d", j), Type: v.Type}
		p.where[out] = storage{kind: stOutput, idx: j}
		copies = append(copies, &kernel{name: fmt.Sprintf("copy_output%d", j), f: copyFunc(v.Type.Shape.Elements(), v.Type.Elem.Kind), args: []*ir.Value{v, out}, out: out})
	}
	// One kernel per fusion group (loop.FusionGroups).
	isOut := map[*ir.Value]bool{}
	for _, v := range g.Outputs {
		isOut[v] = true
	}
	users := g.Users()
	packed := map[*ir.Value][]float32{} // constant GEMM A operands stored as packed panels
	groups := loop.FusionGroups(g, !opts.NoFuse)
	fusedInto := map[int]bool{} // groups (max pools) applied by an earlier kernel
	for gi, gr := range groups {
		if fusedInto[gi] {
			continue
		}
		group, n := gr.Nodes, gr.Nodes[0]
		f, gm, err := lowerGroup(group, opts)
		if err != nil {
			return nil, err
		}
		last, args := group[len(group)-1], gr.Args
		if f.Alias && !isOut[last.Out] {
			p.alias[last.Out] = p.root(n.Inputs[0])
			continue
		}
		if gm != nil {
			f = gm.EpilogueFunc(f)
			if err := loop.DefaultSchedule(f); err != nil {
				return nil, fmt.Errorf("%s: schedule: %v", n.Where(), err)
			}
		} else if err := sched(f); err != nil {
			return nil, fmt.Errorf("%s: schedule: %v", n.Where(), err)
		}
		if err := loop.ExpandUnrolled(f); err != nil {
			return nil, err
		}
		name := fmt.Sprintf("k%d_%s", len(p.kernels), f.Name)
		k := &kernel{name: name, f: f, gemm: gm, args: args, out: last.Out}
		if gm != nil {
			// A constant A read by this kernel only is stored packed.
			av := args[gm.A.Param]
			packable := av.IsConst() && av.Type.Elem.Kind == ir.F32 && len(users[av]) == 1 && gm.A.Batch[0] == 0 && packed[av] == nil
			if gm.Conv != nil && gm.Conv.Winograd > 0 && (!packable || gm.Batch[1] != 1) {
				gm.Conv.Winograd = 0 // needs its weights transformed at compile time: im2col instead
			}
			if packable {
				if gm.Conv != nil && gm.Conv.Winograd > 0 {
					packed[av] = packWinograd(gm, av.Const.F, p.ukr.MR)
					k.pack.A = 3
				} else if directConv(gm, p.ukr) {
					packed[av] = packA(gm, av.Const.F, p.ukr.NR())
					k.pack.A = 4
				} else if inplaceConv(gm, p.ukr) {
					packed[av] = packA(gm, av.Const.F, p.ukr.MR)
					k.pack.A = 5
				} else if swapConv(gm, p.ukr) {
					packed[av] = packA(gm, av.Const.F, p.ukr.NR())
					k.pack.A = 2
				} else {
					packed[av] = packA(gm, av.Const.F, p.ukr.MR)
					k.pack.A = 1
				}
			}
			// A constant B of a product with at least 4 rows (no
			// matrix-vector path) read by this kernel only: NR-column panels.
			if bv := args[gm.B.Param]; gm.Conv == nil && gm.M >= 4 && gm.Batch == [2]int{1, 1} && bv.IsConst() && bv.Type.Elem.Kind == ir.F32 && len(users[bv]) == 1 && packed[bv] == nil {
				packed[bv] = packB(gm, bv.Const.F, p.ukr.NR())
				k.pack.B = true
			}
			// A max pool reading only this conv's result: applied by the
			// product itself, which then writes the pool's result.
			if pool, j := fusablePool(gm, k.pack, last.Out, users, isOut, groups, gi); pool != nil {
				pn := groups[j].Nodes[0]
				gm.Pool = pool
				fusedInto[j] = true
				k.args = append(append([]*ir.Value(nil), args[:len(args)-1]...), pn.Out)
				k.out = pn.Out
				k.name += "_" + loop.Sanitize(pn.Name())
				y := *f.Params[len(f.Params)-1]
				y.Shape = append([]int(nil), pn.Out.Type.Shape...)
				f.Params = append(append([]*loop.Buffer(nil), f.Params[:len(f.Params)-1]...), &y)
			}
		}
		if opts.Dump != nil {
			opts.Dump(k.name, k.f)
		}
		if gm != nil && opts.DumpGemm != nil {
			opts.DumpGemm(k.name, gm)
		}
		p.kernels = append(p.kernels, k)
	}
	p.kernels = append(p.kernels, copies...)

	// Constants into the weights blob, 16-float aligned; the buffer sized
	// first (ResNet-18 with transformed Winograd filters is 100 MB: growing
	// it by doubling was half of its compile time).
	var wbuf bytes.Buffer
	blob := 0
	for _, v := range g.Consts {
		n := 4 * len(v.Const.F)
		if pk, ok := packed[v]; ok {
			n = 4 * len(pk)
		}
		if k := v.Type.Elem.Kind; loop.IsIntKind(k) {
			n = loop.KindBytes(k) * len(v.Const.I)
		}
		blob += (n + 63) / 64 * 64
	}
	wbuf.Grow(blob + 64)
	for _, v := range g.Consts {
		for wbuf.Len()%64 != 0 {
			wbuf.WriteByte(0)
		}
		p.where[v] = storage{kind: stConst, off: int64(wbuf.Len() / 4)}
		if k := v.Type.Elem.Kind; loop.IsIntKind(k) {
			nb := loop.KindBytes(k)
			b := make([]byte, nb*len(v.Const.I))
			for i, x := range v.Const.I {
				switch nb {
				case 1:
					b[i] = byte(x)
				case 2:
					binary.LittleEndian.PutUint16(b[2*i:], uint16(x))
				case 4:
					binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
				default:
					binary.LittleEndian.PutUint64(b[8*i:], uint64(x))
				}
			}
			wbuf.Write(b)
			continue
		}
		if v.Type.Elem.Kind != ir.F32 {
			continue // not read by any lowering (checked per node)
		}
		data := v.Const.F
		if pk, ok := packed[v]; ok {
			data = pk
		}
		b := wbuf.AvailableBuffer()[:4*len(data)]
		for i, f := range data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
		}
		wbuf.Write(b)
	}
	for wbuf.Len()%64 != 0 || wbuf.Len() == 0 {
		wbuf.WriteByte(0)
	}
	p.Weights = wbuf.Bytes()
	a.Weights = int64(wbuf.Len())

	// Plan the arena: each kernel result that is not an output lives from
	// its kernel to its last reader (readers of aliases count).
	var vals []*ir.Value
	start, end := map[*ir.Value]int{}, map[*ir.Value]int{}
	for i, k := range p.kernels {
		for _, v := range k.args[:len(k.args)-1] {
			r := p.root(v)
			if _, ok := start[r]; ok {
				end[r] = i
			}
		}
		if _, ok := p.where[k.out]; !ok {
			start[k.out], end[k.out] = i, i
			vals = append(vals, k.out)
		}
	}
	iv := make([]graphopt.Interval, len(vals))
	for i, v := range vals {
		iv[i] = graphopt.Interval{Size: words(v), Start: start[v], End: end[v]}
		a.Naive += 4 * iv[i].Size
	}
	offs, size, peak := graphopt.PackIntervals(iv, 16)
	for i, v := range vals {
		p.where[v] = storage{kind: stArena, off: offs[i]}
	}
	p.arena = size
	a.Arena, a.Peak = 4*size, 4*peak
	for _, k := range p.kernels {
		a.Kernels = append(a.Kernels, k.name)
		p.scratch = max(p.scratch, int64(k.f.TempSize()+16*len(k.f.Temps)))
	}
	a.Scratch = 4 * p.scratch
	return p, nil
}

// lowerGroup lowers a fused group, as a GEMM when its producer reduces
// to one (and opts allow it).
func lowerGroup(group []*ir.Node, opts Options) (*loop.Func, *loop.Gemm, error) {
	if opts.Lower != nil {
		f, gm, err := opts.Lower(group)
		if err != nil || f != nil {
			return f, gm, err
		}
	}
	if opts.NoGemm {
		f, err := loop.LowerFused(group)
		return f, nil, err
	}
	return loop.LowerGemm(group)
}

func (p *Program) root(v *ir.Value) *ir.Value {
	for {
		r, ok := p.alias[v]
		if !ok {
			return v
		}
		v = r
	}
}

func copyFunc(size int, k ir.Kind) *loop.Func {
	x := &loop.Buffer{Name: "x", Shape: []int{size}, Elem: k}
	y := &loop.Buffer{Name: "y", Shape: []int{size}, Elem: k}
	return &loop.Func{Name: "copy", Params: []*loop.Buffer{x, y}, Body: []loop.Stmt{loop.Loop("i", size, loop.St(y, loop.Ld(x, loop.V("i")), loop.V("i")))}}
}

// LL renders the program as LLVM IR text.
func (p *Program) LL() (string, error) {
	mod := newModule()
	m := mod.m
	ext := func(name string) *llir.Global {
		gv := m.NewGlobal(name, f32)
		gv.Linkage = enum.LinkageExternal
		gv.Visibility = enum.VisibilityHidden
		return gv
	}
	arena, scratch := ext("wdc_arena"), ext("wdc_scratch")
	wp := m.NewGlobal("wdc_wp", f32p) // where the weights are (see runtimeC)
	wp.Linkage = enum.LinkageExternal
	wp.Visibility = enum.VisibilityHidden
	mod.emitMicrokernel(p.ukr)
	var fns []*llir.Func
	for _, k := range p.kernels {
		pk := k.pack
		pk.MR, pk.NR = p.ukr.MR, p.ukr.NR()
		f, err := mod.emitKernel(k.f, k.name, k.gemm, pk)
		if err != nil {
			return "", fmt.Errorf("CPU backend: emitting kernel %s: %v", k.name, err)
		}
		fns = append(fns, f)
	}
	pin, pout := llir.NewParam("inputs", f32pp), llir.NewParam("outputs", f32pp)
	run := m.NewFunc("wdc_run", types.I32, pin, pout)
	b := run.NewBlock("entry")
	prof := m.NewFunc("wdc_prof", types.Void, llir.NewParam("k", types.I32))
	prof.Visibility = enum.VisibilityHidden
	b.NewCall(prof, constant.NewInt(types.I32, -1))
	weights := b.NewLoad(f32p, wp)
	ptr := func(base value.Value, off int64) value.Value {
		return b.NewGetElementPtr(f32, base, constant.NewInt(i64, off))
	}
	for ki, k := range p.kernels {
		var args []value.Value
		for _, v := range k.args {
			s := p.where[p.root(v)]
			switch s.kind {
			case stInput:
				args = append(args, b.NewLoad(f32p, b.NewGetElementPtr(f32p, pin, constant.NewInt(i64, int64(s.idx)))))
			case stOutput:
				args = append(args, b.NewLoad(f32p, b.NewGetElementPtr(f32p, pout, constant.NewInt(i64, int64(s.idx)))))
			case stConst:
				args = append(args, ptr(weights, s.off))
			default:
				args = append(args, ptr(arena, s.off))
			}
		}
		off := int64(0)
		for _, t := range k.f.Temps {
			args = append(args, ptr(scratch, off))
			off += int64(t.Words()+15) / 16 * 16
		}
		b.NewCall(fns[ki], args...)
		b.NewCall(prof, constant.NewInt(types.I32, int64(ki)))
	}
	done := m.NewFunc("wdc_run_done", types.Void)
	done.Visibility = enum.VisibilityHidden
	b.NewCall(done)
	b.NewRet(constant.NewInt(types.I32, 0))
	var sb strings.Builder
	sb.WriteString("; wdc CPU backend: model " + p.Artifact.Name + "\n")
	sb.WriteString("; kernels: " + strings.Join(p.Artifact.Kernels, ", ") + "\n")
	sb.WriteString(m.String())
	return sb.String(), nil
}
