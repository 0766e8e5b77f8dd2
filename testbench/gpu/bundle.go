// Package gpu prepares the GPU check: a self-contained bundle directory
// with the CUDA sources wdc generates for a set of test models, their
// inputs and golden outputs (from the reference interpreter), the weights
// as the PyTorch reference reads them, and run.sh, which on a machine
// with an NVIDIA GPU, nvcc and PyTorch (no Go, no network) builds every
// model, checks its outputs and times it against PyTorch eager.
package gpu

import (
	"embed"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"wdc/backends/cuda"
	"wdc/frontend/dsl"
	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/runtime"
)

//go:embed run.sh check.py
var scripts embed.FS

// Case is one model of the bundle.
type Case struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`   // "onnx-tier-a", "model", "example", "sgemm"
	Target string `json:"target"` // the target, printed beside the measurement
	// TargetRatio is the wanted wdc/PyTorch time ratio (at most), or for
	// SGEMM the wanted fraction of cuBLAS throughput (at least); 0: none.
	TargetRatio float64 `json:"target_ratio"`
	Torch       bool    `json:"torch"` // rebuild in PyTorch and time it
	Iters       int     `json:"iters"`
}

// Options control PrepareBundle.
type Options struct {
	// Root is the repository root (examples/), default ".".
	Root string
	// TestData is the shared test data directory (default
	// /work/shared/testdata).
	TestData string
	// Only, if set, keeps the cases whose names it lists.
	Only []string
	// SGEMM is the SGEMM size (default 4096).
	SGEMM int
}

type prepared struct {
	c      Case
	g      *ir.Graph
	feeds  map[string]*ir.Tensor
	golden bool // outputs computed here (false: on the GPU machine, by torch)
	opts   cuda.Options
}

// PrepareBundle writes the bundle into outDir (created; existing case
// directories are replaced).
func PrepareBundle(outDir string, o Options) error {
	if o.Root == "" {
		o.Root = "."
	}
	if o.TestData == "" {
		o.TestData = "/work/shared/testdata"
	}
	if o.SGEMM == 0 {
		o.SGEMM = 4096
	}
	cases, err := collect(o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	var list []Case
	for _, p := range cases {
		if len(o.Only) > 0 && !contains(o.Only, p.c.Name) {
			continue
		}
		if err := writeCase(filepath.Join(outDir, p.c.Name), p); err != nil {
			return fmt.Errorf("bundle case %s: %v", p.c.Name, err)
		}
		list = append(list, p.c)
	}
	if len(list) == 0 {
		return fmt.Errorf("no bundle case selected (have %s)", strings.Join(caseNames(cases), ", "))
	}
	for _, name := range []string{"run.sh", "check.py"} {
		data, err := scripts.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(outDir, name), data, 0o755); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(outDir, "cases.json"), append(js, '\n'), 0o644)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func caseNames(ps []prepared) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.c.Name)
	}
	return s
}

func randomFeeds(g *ir.Graph, seed int64) map[string]*ir.Tensor {
	r := rand.New(rand.NewSource(seed))
	feeds := map[string]*ir.Tensor{}
	for _, v := range g.Inputs {
		t := ir.NewTensor(ir.Float32, v.Type.Shape)
		for i := range t.F {
			t.F[i] = float32(r.Float64()*2 - 1)
		}
		feeds[v.Name] = t
	}
	return feeds
}

// collect loads every case.
func collect(o Options) ([]prepared, error) {
	var ps []prepared
	// The ONNX tier-A conv/gemm/matmul/pool tests, merged into one model.
	node := filepath.Join(o.TestData, "onnx-backend", "node")
	subset, err := os.ReadFile(filepath.Join(o.TestData, "onnx-backend", "RECOMMENDED-SUBSET.txt"))
	if err != nil {
		return nil, err
	}
	merged := ir.NewGraph("onnx_tier_a")
	mfeeds := map[string]*ir.Tensor{}
	for _, name := range cuda.TierAConvGemmPool(string(subset)) {
		g, feeds, err := loadONNX(filepath.Join(node, name))
		if err != nil {
			return nil, err
		}
		if cuda.Compilable(g) != nil {
			continue
		}
		if err := cuda.MergeInto(merged, g, name+"_", feeds, mfeeds); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	ps = append(ps, prepared{c: Case{Name: "onnx_tier_a", Kind: "onnx-tier-a", Target: "outputs within float32 tolerance"},
		g: merged, feeds: mfeeds, golden: true, opts: cuda.Options{SingleKernel: -1}})
	// Real models.
	models := filepath.Join(o.TestData, "models")
	for _, m := range []struct{ name, dir string }{
		{"mnist_cnn", "mnist-cnn"}, {"mnist_mlp_onnx_mlir", "mnist-mlp-onnx-mlir"},
		{"mnist_mlp_hls4ml", "mnist-mlp-hls4ml"}, {"jet_tagger_onnx", "jet-tagger/onnx"},
	} {
		g, feeds, err := loadONNX(filepath.Join(models, m.dir))
		if err != nil {
			return nil, err
		}
		ps = append(ps, prepared{c: Case{Name: m.name, Kind: "model", Target: "outputs within float32 tolerance", Torch: true, Iters: 200},
			g: g, feeds: feeds, golden: true})
	}
	// Example networks.
	for _, e := range []struct {
		name, target string
		ratio        float64
	}{
		{"jet_tagger", "<= 0.15x PyTorch eager", 0.15},
		{"lenet5", "<= 0.5x PyTorch eager", 0.5},
		{"resnet18", "<= 1.0x PyTorch eager (batch 1)", 1.0},
	} {
		g, err := dsl.ParseFile(filepath.Join(o.Root, "examples", e.name+".wdc"))
		if err != nil {
			return nil, err
		}
		iters := 200
		if e.name == "resnet18" {
			iters = 50
		}
		ps = append(ps, prepared{c: Case{Name: e.name, Kind: "example", Target: e.target, TargetRatio: e.ratio, Torch: true, Iters: iters},
			g: g, feeds: randomFeeds(g, 1), golden: true})
	}
	// SGEMM: inputs and golden output made on the GPU machine (64 MB each).
	n := o.SGEMM
	g := ir.NewGraph(fmt.Sprintf("sgemm%d", n))
	a, _ := g.AddInput("a", ir.Type{Elem: ir.Float32, Shape: ir.Shape{n, n}}, ir.Pos{})
	b, _ := g.AddInput("b", ir.Type{Elem: ir.Float32, Shape: ir.Shape{n, n}}, ir.Pos{})
	c, err := g.AddNode("matmul", "c", []*ir.Value{a, b}, nil, ir.Pos{})
	if err != nil {
		return nil, err
	}
	g.Outputs = []*ir.Value{c}
	ps = append(ps, prepared{c: Case{Name: fmt.Sprintf("sgemm%d", n), Kind: "sgemm", Target: ">= 50% of cuBLAS (torch.matmul, TF32 off)", TargetRatio: 0.5, Torch: true, Iters: 20},
		g: g, golden: false})
	return ps, nil
}

// loadONNX loads dir/model.onnx and dir/test_data_set_0/input_*.pb, with
// the input shapes of the test data (a batch of 3, say).
func loadONNX(dir string) (*ir.Graph, map[string]*ir.Tensor, error) {
	var ts []*ir.Tensor
	var shapes []ir.Shape
	for i := 0; ; i++ {
		p := filepath.Join(dir, "test_data_set_0", "input_"+strconv.Itoa(i)+".pb")
		if _, err := os.Stat(p); err != nil {
			break
		}
		t, _, err := runtime.ReadTensorPB(p)
		if err != nil {
			return nil, nil, err
		}
		ts = append(ts, t)
		shapes = append(shapes, t.Shape)
	}
	g, err := onnx.Load(filepath.Join(dir, "model.onnx"), onnx.Options{InputShapeList: shapes})
	if err != nil {
		return nil, nil, err
	}
	if len(ts) != len(g.Inputs) {
		return nil, nil, fmt.Errorf("%s: %d inputs in test_data_set_0, the model has %d", dir, len(ts), len(g.Inputs))
	}
	feeds := map[string]*ir.Tensor{}
	for i, in := range g.Inputs {
		feeds[in.Name] = ts[i]
	}
	return g, feeds, nil
}

func writeCase(dir string, p prepared) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	prog, err := cuda.Build(p.g, p.opts)
	if err != nil {
		return err
	}
	if err := prog.Write(dir); err != nil {
		return err
	}
	a := prog.Artifact
	for _, sub := range []string{"inputs", "golden"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	if p.feeds != nil {
		for i, in := range a.Inputs {
			t, ok := p.feeds[in.Name]
			if !ok {
				return fmt.Errorf("no input %q", in.Name)
			}
			if err := runtime.SaveNPY(filepath.Join(dir, "inputs", fmt.Sprintf("input_%d.npy", i)), t); err != nil {
				return err
			}
		}
	}
	if p.golden {
		want, err := runtime.Run(p.g, p.feeds)
		if err != nil {
			return err
		}
		for j, out := range a.Outputs {
			if err := runtime.SaveNPY(filepath.Join(dir, "golden", fmt.Sprintf("output_%d.npy", j)), want[out.Name]); err != nil {
				return err
			}
		}
	}
	gj, err := json.MarshalIndent(GraphJSON(prog), "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "graph.json"), append(gj, '\n'), 0o644)
}

// JNode is one node of graph.json.
type JNode struct {
	Op     string         `json:"op"`
	Name   string         `json:"name"`
	Inputs []string       `json:"inputs"`
	Shape  []int          `json:"shape"`
	Attrs  map[string]any `json:"attrs"`
}

// JGraph is graph.json: the optimized graph the CUDA code computes, for
// the PyTorch reference (constants in weights.bin at the manifest's
// offsets).
type JGraph struct {
	Name    string            `json:"name"`
	Inputs  []cuda.TensorInfo `json:"inputs"`
	Outputs []string          `json:"outputs"`
	Consts  []cuda.ConstInfo  `json:"consts"`
	Nodes   []JNode           `json:"nodes"`
}

// GraphJSON describes the program's optimized graph with every
// attribute resolved (defaults filled in).
func GraphJSON(p *cuda.Program) JGraph {
	g := p.Graph
	j := JGraph{Name: g.Name, Inputs: p.Artifact.Inputs, Consts: p.Artifact.Consts}
	for _, v := range g.Outputs {
		j.Outputs = append(j.Outputs, v.Name)
	}
	for _, n := range g.Nodes {
		jn := JNode{Op: n.Op, Name: n.Name(), Shape: n.Out.Type.Shape, Attrs: map[string]any{}}
		for _, in := range n.Inputs {
			jn.Inputs = append(jn.Inputs, in.Name)
		}
		sp := len(n.Inputs[0].Type.Shape) - 2
		switch n.Op {
		case "conv", "conv_transpose":
			w := ir.ConvWindow(n, sp, n.Inputs[1].Type.Shape[2:])
			jn.Attrs["strides"], jn.Attrs["dilations"] = w.Strides, w.Dilations
			jn.Attrs["pads"] = append(append([]int{}, w.PadBegin...), w.PadEnd...)
			jn.Attrs["group"] = n.Int("group")
		case "max_pool", "avg_pool":
			w := ir.PoolWindow(n, sp)
			jn.Attrs["kernel_shape"], jn.Attrs["strides"], jn.Attrs["dilations"] = w.Kernel, w.Strides, w.Dilations
			jn.Attrs["pads"] = append(append([]int{}, w.PadBegin...), w.PadEnd...)
			jn.Attrs["ceil_mode"] = n.Int("ceil_mode")
			if n.Op == "avg_pool" {
				jn.Attrs["count_include_pad"] = n.Int("count_include_pad")
			}
		case "dense":
			jn.Attrs["trans_a"], jn.Attrs["trans_b"] = n.Int("trans_a"), n.Int("trans_b")
			jn.Attrs["alpha"], jn.Attrs["beta"] = n.Float("alpha"), n.Float("beta")
		case "softmax", "concat", "flatten":
			jn.Attrs["axis"] = n.Int("axis")
		case "leaky_relu":
			jn.Attrs["alpha"] = n.Float("alpha")
		case "clip":
			jn.Attrs["min"], jn.Attrs["max"] = jsonFloat(n.Float("min")), jsonFloat(n.Float("max"))
		case "batch_norm":
			jn.Attrs["epsilon"] = n.Float("epsilon")
		case "transpose":
			jn.Attrs["perm"] = ir.TransposePerm(n, len(n.Inputs[0].Type.Shape))
		}
		j.Nodes = append(j.Nodes, jn)
	}
	sort.SliceStable(j.Consts, func(a, b int) bool { return j.Consts[a].Offset < j.Consts[b].Offset })
	return j
}

// jsonFloat keeps infinities representable in JSON (as null).
func jsonFloat(f float64) any {
	if f > 1e38 || f < -1e38 {
		return nil
	}
	return f
}
