package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"wdc/backends/target"
	"wdc/ir"
	"wdc/passes/convalgo"
	"wdc/passes/quantize"
	"wdc/runtime"
	"wdc/testbench/check"
)

func newRunCmd() *cobra.Command {
	var inputs []string
	var outDir, targetName, buildDir string
	var seed uint64
	var threads int
	var q quantFlags
	var convAlgo string
	var explain bool
	cmd := &cobra.Command{
		Use:   "run MODEL",
		Short: "Run a model on a target and write its outputs",
		Long: `Run MODEL (.wdc, .onnx or .ir) and print each output's shape and a short summary (top
classes for a classifier); --output-dir writes each output to DIR/<output>.npy.
Inputs come from .npy or ONNX TensorProto .pb files; an input not given is filled from
a seeded random generator (uniform in [0, 1) for floats), and wdc says so.

Targets: interpreter (the reference interpreter, the golden model), cpu (compiled to
native code through LLVM; its outputs are compared with the interpreter's and a
difference beyond rtol 1e-3 / atol 1e-4 is an error; --explain shows why each
convolution got its algorithm, --conv-algo forces one), hls (fixed-point HLS C++,
compiled with g++ as C simulation and compared bit for bit with the golden fixed-point
interpreter), verilog (fixed-point RTL simulated in Verilator, compared bit for bit).
--precision, --quant-config or --calibrate run the model in fixed point: on the
interpreter this is the golden fixed-point model, and wdc reports what precision
cost (float vs fixed outputs, top-1 agreement).`,
		Example: `  wdc run examples/lenet5.wdc
  wdc run model.onnx --input input.1=digit.npy --output-dir out/
  wdc run examples/resnet18.wdc --target cpu --threads 2
  wdc run jet.onnx --precision 'fixed<16,6>' --target hls`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := loadModel(args[0])
			if err != nil {
				return err
			}
			feeds, err := readInputs(g, inputs, seed, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			var outs map[string]*ir.Tensor
			switch {
			case targetName == "verilog":
				if outs, err = runVerilog(w, g, feeds, &q, buildDir); err != nil {
					return err
				}
			case targetName == "hls":
				if outs, err = runHLS(w, g, feeds, &q, buildDir); err != nil {
					return err
				}
			case q.set():
				if targetName != "interpreter" {
					return fmt.Errorf("fixed-point precision runs on the interpreter, hls or verilog targets, not %q", targetName)
				}
				qg, err := q.quantize(g)
				if err != nil {
					return err
				}
				if outs, err = runtime.Run(qg, feeds); err != nil {
					return err
				}
				rep, err := quantize.Compare(g, qg, []map[string]*ir.Tensor{feeds})
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "fixed point vs float: %v\n", rep)
			default:
				topts := target.Options{Threads: threads, BuildDir: buildDir, ConvAlgo: convAlgo}
				if explain {
					topts.Explain = w
				}
				if outs, err = runFloat(w, targetName, g, feeds, topts); err != nil {
					return err
				}
			}
			for _, v := range g.Outputs {
				t := outs[v.Name]
				fmt.Fprintf(w, "output %s: %v\n", v.Name, t.Type)
				summarize(w, t)
				if outDir != "" {
					if err := os.MkdirAll(outDir, 0o755); err != nil {
						return err
					}
					path := filepath.Join(outDir, fileName(v.Name)+".npy")
					if err := runtime.SaveNPY(path, t); err != nil {
						return err
					}
					fmt.Fprintf(w, "  written to %s\n", path)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&inputs, "input", "i", nil, "NAME=FILE: feed input NAME from a .npy or .pb file (repeatable)")
	f.StringVarP(&outDir, "output-dir", "o", "", "write each output to DIR/<output>.npy")
	f.Uint64Var(&seed, "seed", 1, "seed for inputs not given on the command line")
	f.StringVarP(&targetName, "target", "t", "interpreter", "interpreter, cpu, hls or verilog")
	f.IntVar(&threads, "threads", 0, "threads of compiled CPU code (0: all CPUs)")
	f.StringVar(&buildDir, "build-dir", "", "keep the compiled model in this folder (default: a temporary one)")
	addConvFlags(f, &convAlgo, &explain)
	q.add(f)
	return cmd
}

func addConvFlags(f *pflag.FlagSet, algo *string, explain *bool) {
	f.StringVar(algo, "conv-algo", "auto", "convolution algorithm for the cpu target: auto (the cost model picks per layer), "+strings.Join(convalgo.Algos(), ", "))
	if explain != nil {
		f.BoolVar(explain, "explain", false, "print each conv layer's candidate algorithms with their predicted times")
	}
}

// Compiled float outputs may differ from the interpreter's (which sums in
// float64) by float32 rounding accumulated over many layers.
const runRTol, runATol = 1e-3, 1e-4

// runFloat runs g on a float target; a compiled target is checked
// against the interpreter on the same inputs.
func runFloat(w io.Writer, name string, g *ir.Graph, feeds map[string]*ir.Tensor, opts target.Options) (map[string]*ir.Tensor, error) {
	r, err := target.Open(name, g, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	start := time.Now()
	outs, err := r.Run(feeds)
	if err != nil {
		return nil, err
	}
	if name == "interpreter" {
		return outs, nil
	}
	elapsed := time.Since(start)
	ref, err := runtime.Run(g, feeds)
	if err != nil {
		return nil, fmt.Errorf("the interpreter, for comparison: %v", err)
	}
	for _, v := range g.Outputs {
		got, want := outs[v.Name], ref[v.Name]
		if got == nil || !got.Type.Equal(want.Type) {
			return nil, fmt.Errorf("target %s gave output %s as %v, the interpreter as %v", name, v.Name, got, want.Type)
		}
		d := check.Compare(got, want, runRTol, runATol)
		if d.Bad > 0 {
			return nil, fmt.Errorf("target %s disagrees with the interpreter on output %s: %d values outside rtol %g, atol %g (max abs error %.3g, max rel error %.3g; first at %d: %g vs %g)",
				name, v.Name, d.Bad, runRTol, runATol, d.MaxAbs, d.MaxRel, d.First, got.Float(d.First), want.Float(d.First))
		}
		fmt.Fprintf(w, "%s: output %s matches the interpreter (max abs error %.3g, max rel error %.3g; first run %v)\n", name, v.Name, d.MaxAbs, d.MaxRel, elapsed.Round(time.Microsecond))
	}
	return outs, nil
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9_.\-]+`)

func fileName(name string) string { return unsafeFileChars.ReplaceAllString(name, "_") }

// readInputs loads the named input files and fills the rest from a seeded generator.
func readInputs(g *ir.Graph, specs []string, seed uint64, log io.Writer) (map[string]*ir.Tensor, error) {
	feeds := map[string]*ir.Tensor{}
	for _, s := range specs {
		name, path, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--input %q: want NAME=FILE", s)
		}
		v := g.Lookup(name)
		if v == nil || v.Producer != nil || v.Const != nil {
			return nil, fmt.Errorf("--input %s: the model has no input %q (its inputs: %s)", s, name, inputNames(g))
		}
		t, err := loadTensor(path)
		if err != nil {
			return nil, fmt.Errorf("--input %s: %v", name, err)
		}
		if !t.Type.Equal(v.Type) {
			if t.Elem == v.Type.Elem && t.Shape.Elements() == v.Type.Shape.Elements() && len(t.Shape) != len(v.Type.Shape) {
				t = t.Reshaped(v.Type.Shape) // e.g. a [784] vector for a [1,784] input
			} else {
				return nil, fmt.Errorf("--input %s: %s holds %v, the model expects %v", name, path, t.Type, v.Type)
			}
		}
		feeds[name] = t
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, v := range g.Inputs {
		if _, ok := feeds[v.Name]; ok {
			continue
		}
		t := ir.NewTensor(v.Type.Elem, v.Type.Shape)
		if t.Elem.IsFloat() {
			for i := range t.F {
				t.F[i] = rng.Float32()
			}
			fmt.Fprintf(log, "wdc: input %s (%v) not given: using uniform random values in [0, 1) from seed %d\n", v.Name, v.Type, seed)
		} else {
			lo, hi := t.Elem.IntRange()
			lo, hi = max(lo, -128), min(hi, 127)
			for i := range t.I {
				t.I[i] = lo + rng.Int64N(hi-lo+1)
			}
			fmt.Fprintf(log, "wdc: input %s (%v) not given: using random integers in [%d, %d] from seed %d\n", v.Name, v.Type, lo, hi, seed)
		}
		feeds[v.Name] = t
	}
	return feeds, nil
}

func inputNames(g *ir.Graph) string {
	var s []string
	for _, v := range g.Inputs {
		s = append(s, fmt.Sprintf("%s %v", v.Name, v.Type))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func loadTensor(path string) (*ir.Tensor, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".npy":
		return runtime.LoadNPY(path)
	case ".pb":
		t, _, err := runtime.ReadTensorPB(path)
		return t, err
	}
	return nil, fmt.Errorf("%s: unknown tensor format (want .npy or .pb)", path)
}

// summarize prints value statistics and, for a [N, classes] output, the top classes.
func summarize(w io.Writer, t *ir.Tensor) {
	n := t.Len()
	if n == 0 {
		return
	}
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for i := 0; i < n; i++ {
		x := t.Float(i)
		lo, hi, sum = math.Min(lo, x), math.Max(hi, x), sum+x
	}
	fmt.Fprintf(w, "  min %.6g  max %.6g  mean %.6g\n", lo, hi, sum/float64(n))
	if len(t.Shape) < 1 || len(t.Shape) > 2 || t.Shape[len(t.Shape)-1] < 2 {
		return
	}
	classes := t.Shape[len(t.Shape)-1]
	rows := n / classes
	for r := 0; r < rows && r < 4; r++ {
		idx := make([]int, classes)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return t.Float(r*classes+idx[a]) > t.Float(r*classes+idx[b]) })
		var top []string
		for _, c := range idx[:min(5, classes)] {
			top = append(top, fmt.Sprintf("%d (%.4g)", c, t.Float(r*classes+c)))
		}
		fmt.Fprintf(w, "  row %d: argmax %d; top: %s\n", r, idx[0], strings.Join(top, ", "))
	}
}
