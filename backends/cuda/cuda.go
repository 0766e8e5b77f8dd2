// Package cuda is wdc's GPU backend: it renders the loop-level IR
// (wdc/ir/loop) of a graph's fused kernel groups as CUDA C, with host code
// behind a small C ABI, a Makefile for nvcc (sm_80 and sm_90) and a driver
// program that reads .npy inputs and writes .npy outputs.
//
// Like the CPU backend (backends/llvm) it optimizes a clone of the graph
// (passes/graphopt, pipeline cpu-opt), groups each fusable producer with
// the chain of element-wise ops that follow it, lowers every group to one
// loop.Func, and plans the activations in one arena (graphopt.PackIntervals).
// Then:
//
//   - grid mode: one __global__ kernel per group (per top-level loop nest
//     of the group's Func): the outer perfect nest of independent loops is
//     collapsed into one flat index spread over a grid-stride loop. Conv,
//     dense and matmul big enough get a shared-memory tiled GEMM (conv as
//     an implicit GEMM), with the fused epilogue applied at the store;
//     smaller ones are lowered output-stationary (one thread per output).
//   - single-kernel mode, for small networks (a whole MLP or LeNet-5): all
//     groups run in ONE kernel of one block, one group after the other,
//     separated by __syncthreads(); each group's iterations are spread over
//     the block's threads. One launch instead of one per layer.
//
// The generated source is plain enough to be compiled three ways: by nvcc
// for the GPU; by clang-19's CUDA front end to PTX (-nocudainc, with the
// minimal declarations of wdc_cuda.h), which the tests do; and by g++ as
// C++ with an emulation of the CUDA execution model (WDC_EMULATE: blocks
// run one after the other, a block's threads run in turn between barriers),
// which the tests run and compare with the interpreter. Code between
// barriers that depends on threadIdx sits in WDC_THREADS { ... } sections;
// per-thread values that live across a barrier are WDC_PRIVATE.
package cuda

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"wdc/ir"
	"wdc/ir/loop"
	"wdc/passes/graphopt"
)

// Options control code generation.
type Options struct {
	// NoOptimize skips the graph passes (cpu-opt pipeline).
	NoOptimize bool
	// NoFuse gives every node its own kernel.
	NoFuse bool
	// SingleKernel: 0 chooses (one kernel when the whole network's work is
	// at most SingleKernelMaxWork), 1 forces one kernel, -1 forbids it.
	SingleKernel int
	// SingleKernelMaxWork is the automatic single-kernel limit in loop-IR
	// statement executions (default 1<<22).
	SingleKernelMaxWork int64
	// NoTiling lowers every conv/dense/matmul output-stationary.
	NoTiling bool
	// TileMinMACs is the smallest multiply-accumulate count that gets the
	// tiled GEMM (default 1<<18).
	TileMinMACs int64
	// TileConfig forces one tile configuration of the tiled GEMM (1: 128×128,
	// 2: 64×64, 3: 32×32, 4: 16×16); 0 picks the largest tile that still
	// gives a wave of blocks.
	TileConfig int
	// Archs are the GPU architectures of the Makefile (default sm_80, sm_90).
	Archs []string
	// Dump, if set, receives each kernel's loop IR.
	Dump func(kernel string, f *loop.Func)
}

// TensorInfo describes one input or output.
type TensorInfo struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"`
	Size  int    `json:"size"`
}

// KernelInfo describes one generated kernel.
type KernelInfo struct {
	Name   string   `json:"name"`
	Layers []string `json:"layers"` // the nodes of the fused group
	Kind   string   `json:"kind"`   // "grid", "tiled", "block"
	Grid   [3]int64 `json:"grid,omitempty"`
	Block  int64    `json:"block"`
}

// Artifact describes generated CUDA sources.
type Artifact struct {
	Dir          string       `json:"-"`
	Name         string       `json:"name"`
	Inputs       []TensorInfo `json:"inputs"`
	Outputs      []TensorInfo `json:"outputs"`
	SingleKernel bool         `json:"single_kernel"`
	Kernels      []KernelInfo `json:"kernels"`
	Launches     int          `json:"launches"`
	Arena        int64        `json:"arena_bytes"`
	Weights      int64        `json:"weights_bytes"`
	Scratch      int64        `json:"scratch_bytes"`
	Files        []string     `json:"files"`
	// Consts locates every constant in weights.bin (float32 offsets), for
	// tools that rebuild the network elsewhere (the GPU check's PyTorch
	// reference).
	Consts []ConstInfo `json:"consts"`
}

// ConstInfo locates a constant in weights.bin.
type ConstInfo struct {
	Name   string `json:"name"`
	Shape  []int  `json:"shape"`
	Offset int64  `json:"offset"` // in float32 elements
}

// ManifestFile is the manifest's name in an artifact directory.
const ManifestFile = "manifest.json"

type storage struct {
	kind int
	idx  int
	off  int64
}

const (
	stInput = iota
	stOutput
	stConst
	stArena
)

type kernel struct {
	name   string
	layers []string
	f      *loop.Func
	args   []*ir.Value
	out    *ir.Value
	gemm   *gemmSpec
	nodes  []*ir.Node
	work   int64
}

// Program is a graph lowered and planned, ready to render.
type Program struct {
	Artifact *Artifact
	Weights  []byte
	Graph    *ir.Graph // the optimized clone that was compiled
	kernels  []*kernel
	where    map[*ir.Value]storage
	alias    map[*ir.Value]*ir.Value
	arena    int64
	scratch  int64
	single   bool
	idx      string
	archs    []string
}

// Emit generates the CUDA sources of g into dir: model.cu (kernels and
// host code), model.h (the C ABI), wdc_cuda.h (portability: nvcc, clang
// without CUDA headers, CPU emulation), driver.cu, Makefile, weights.bin
// and manifest.json. No CUDA toolchain is needed.
func Emit(g *ir.Graph, dir string, opts Options) (*Artifact, error) {
	p, err := Build(g, opts)
	if err != nil {
		return nil, err
	}
	if err := p.Write(dir); err != nil {
		return nil, err
	}
	return p.Artifact, nil
}

// Build optimizes (a clone of) g, lowers it to kernels and plans memory.
func Build(g *ir.Graph, opts Options) (p *Program, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("CUDA backend: graph %q: %v", g.Name, r)
		}
	}()
	if g == nil {
		return nil, fmt.Errorf("no graph to compile")
	}
	if err := g.Verify(); err != nil {
		return nil, err
	}
	if u := loop.Unsupported(g); len(u) > 0 {
		return nil, fmt.Errorf("graph %q: the CUDA backend cannot compile op(s) %s (it supports %s)", g.Name, strings.Join(u, ", "), strings.Join(loop.Supported(), ", "))
	}
	for _, v := range append(append([]*ir.Value{}, g.Inputs...), g.Outputs...) {
		if v.Type.Elem.Kind != ir.F32 {
			return nil, fmt.Errorf("graph %q: %q is %v; the CUDA backend compiles f32 models only", g.Name, v.Name, v.Type)
		}
	}
	g, err = graphopt.Clone(g)
	if err != nil {
		return nil, err
	}
	if !opts.NoOptimize {
		if err := graphopt.Optimize(g); err != nil {
			return nil, err
		}
	}
	archs := opts.Archs
	if len(archs) == 0 {
		archs = []string{"sm_80", "sm_90"}
	}
	p = &Program{Graph: g, where: map[*ir.Value]storage{}, alias: map[*ir.Value]*ir.Value{}, archs: archs}
	a := &Artifact{Name: g.Name}
	p.Artifact = a
	for i, v := range g.Inputs {
		p.where[v] = storage{kind: stInput, idx: i}
		a.Inputs = append(a.Inputs, TensorInfo{Name: v.Name, Shape: v.Type.Shape, Size: v.Type.Shape.Elements()})
	}
	var copies []*kernel
	for j, v := range g.Outputs {
		a.Outputs = append(a.Outputs, TensorInfo{Name: v.Name, Shape: v.Type.Shape, Size: v.Type.Shape.Elements()})
		if _, taken := p.where[v]; v.Producer != nil && !taken {
			p.where[v] = storage{kind: stOutput, idx: j}
			continue
		}
		out := &ir.Value{Name: fmt.Sprintf("output%d", j), Type: v.Type}
		p.where[out] = storage{kind: stOutput, idx: j}
		copies = append(copies, &kernel{name: fmt.Sprintf("copy_output%d", j), layers: []string{"copy of " + v.Name}, f: copyFunc(v.Type.Shape.Elements()), args: []*ir.Value{v, out}, out: out})
	}
	var wbuf bytes.Buffer
	for _, v := range g.Consts {
		for wbuf.Len()%256 != 0 {
			wbuf.WriteByte(0)
		}
		p.where[v] = storage{kind: stConst, off: int64(wbuf.Len() / 4)}
		if v.Type.Elem.Kind != ir.F32 {
			continue
		}
		a.Consts = append(a.Consts, ConstInfo{Name: v.Name, Shape: v.Type.Shape, Offset: int64(wbuf.Len() / 4)})
		bs := make([]byte, 4*len(v.Const.F))
		for i, f := range v.Const.F {
			binary.LittleEndian.PutUint32(bs[4*i:], math.Float32bits(f))
		}
		wbuf.Write(bs)
	}
	for wbuf.Len()%256 != 0 || wbuf.Len() == 0 {
		wbuf.WriteByte(0)
	}
	p.Weights = wbuf.Bytes()
	a.Weights = int64(wbuf.Len())

	// One kernel per fusion group, as in the CPU backend (loop.FusionGroups).
	isOut := map[*ir.Value]bool{}
	for _, v := range g.Outputs {
		isOut[v] = true
	}
	for _, gr := range loop.FusionGroups(g, !opts.NoFuse) {
		group, n := gr.Nodes, gr.Nodes[0]
		f, err := lowerGPU(group)
		if err != nil {
			return nil, err
		}
		last, args := group[len(group)-1], gr.Args
		if f.Alias && !isOut[last.Out] {
			p.alias[last.Out] = p.root(n.Inputs[0])
			continue
		}
		var layers []string
		for _, m := range group {
			layers = append(layers, fmt.Sprintf("%s %q", m.Op, m.Name()))
		}
		k := &kernel{name: fmt.Sprintf("k%d_%s", len(p.kernels), f.Name), layers: layers, nodes: group, f: f, args: args, out: last.Out, work: f.Work()}
		p.kernels = append(p.kernels, k)
	}
	p.kernels = append(p.kernels, copies...)

	// Single kernel or a grid of kernels.
	var work int64
	for _, k := range p.kernels {
		work += k.work
	}
	limit := opts.SingleKernelMaxWork
	if limit == 0 {
		limit = 1 << 22
	}
	p.single = opts.SingleKernel > 0 || opts.SingleKernel == 0 && work <= limit
	a.SingleKernel = p.single
	tileMin := opts.TileMinMACs
	if tileMin == 0 {
		tileMin = 1 << 18
	}
	if !p.single && !opts.NoTiling {
		for _, k := range p.kernels {
			if !isGEMMOp(k) {
				continue
			}
			nodes := k.nodes
			f, epi, err := loop.LowerEpilogue(nodes)
			if err != nil {
				return nil, err
			}
			s, err := gemmOf(f, epi, nodes[0])
			if err != nil {
				return nil, fmt.Errorf("%s: %v", nodes[0].Where(), err)
			}
			if s == nil || s.macs() < tileMin || s.Z > 65535 || ceilDiv(s.M, 16) > 65535 {
				continue
			}
			s.chooseTile(132)
			if opts.TileConfig > 0 && opts.TileConfig <= len(tileCfgs) {
				s.Cfg = tileCfgs[opts.TileConfig-1]
			}
			k.gemm = s
			k.f = f
		}
	}
	// Index arithmetic in int when every size allows.
	p.idx = "int"
	for _, k := range p.kernels {
		for _, b := range append(append([]*loop.Buffer{}, k.f.Params...), k.f.Temps...) {
			if int64(b.Size()) >= 1<<31-1<<24 {
				p.idx = "long long"
			}
		}
		for _, st := range stages(k.f) {
			if st.Total >= 1<<31-1<<24 {
				p.idx = "long long"
			}
		}
	}

	// Plan the arena (as the CPU backend): a kernel result lives from its
	// kernel to its last reader.
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
		iv[i] = graphopt.Interval{Size: int64(v.Type.Shape.Elements()), Start: start[v], End: end[v]}
	}
	offs, size, _ := graphopt.PackIntervals(iv, 64)
	for i, v := range vals {
		p.where[v] = storage{kind: stArena, off: offs[i]}
	}
	p.arena = size
	a.Arena = 4 * size
	for _, k := range p.kernels {
		p.scratch = max(p.scratch, int64(k.f.TempSize()+64*len(k.f.Temps)))
		if opts.Dump != nil {
			opts.Dump(k.name, k.f)
		}
	}
	a.Scratch = 4 * p.scratch
	for _, k := range p.kernels {
		ki := KernelInfo{Name: k.name, Layers: k.layers}
		switch {
		case p.single:
			ki.Kind, ki.Block = "block", singleThreads
		case k.gemm != nil:
			ki.Kind, ki.Grid, ki.Block = "tiled", k.gemm.grid(), gemmThreads
		default:
			ki.Kind, ki.Block = "grid", gridThreads
		}
		a.Kernels = append(a.Kernels, ki)
	}
	return p, nil
}

func isGEMMOp(k *kernel) bool {
	if len(k.nodes) == 0 {
		return false
	}
	op := k.nodes[0].Op
	return op == "conv" || op == "dense" || op == "matmul"
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

func copyFunc(size int) *loop.Func {
	x := &loop.Buffer{Name: "x", Shape: []int{size}}
	y := &loop.Buffer{Name: "y", Shape: []int{size}}
	return &loop.Func{Name: "copy", Params: []*loop.Buffer{x, y}, Body: []loop.Stmt{loop.Loop("i", size, loop.St(y, loop.Ld(x, loop.V("i")), loop.V("i")))}}
}

// Write writes the sources into dir.
func (p *Program) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src, err := p.Source()
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"model.cu":    []byte(src),
		"model.h":     []byte(p.Header()),
		"wdc_cuda.h":  []byte(portHeader),
		"driver.cu":   []byte(driverSource),
		"Makefile":    []byte(p.Makefile()),
		"weights.bin": p.Weights,
	}
	var names []string
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	p.Artifact.Files = append(names, ManifestFile)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	p.Artifact.Dir = dir
	mj, err := json.MarshalIndent(p.Artifact, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ManifestFile), append(mj, '\n'), 0o644)
}
