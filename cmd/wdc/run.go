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

	"github.com/spf13/cobra"

	"wdc/ir"
	"wdc/runtime"
)

func newRunCmd() *cobra.Command {
	var inputs []string
	var outDir string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "run MODEL",
		Short: "Run a model on the reference interpreter and write its outputs",
		Long: `Run MODEL (.wdc, .onnx or .ir) on the reference interpreter, the golden model
every backend is checked against. Inputs come from .npy or ONNX TensorProto .pb files;
an input not given is filled from a seeded random generator (uniform in [0, 1) for
floats), and wdc says so. Each output is written to DIR/<output>.npy when --output-dir
is given, and its shape and a short summary (top classes for a classifier) are printed.`,
		Example: `  wdc run examples/lenet5.wdc
  wdc run model.onnx --input input.1=digit.npy --output-dir out/
  wdc run model.onnx --input x=test_data_set_0/input_0.pb`,
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
			outs, err := runtime.Run(g, feeds)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
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
	cmd.Flags().StringArrayVarP(&inputs, "input", "i", nil, "NAME=FILE: feed input NAME from a .npy or .pb file (repeatable)")
	cmd.Flags().StringVarP(&outDir, "output-dir", "o", "", "write each output to DIR/<output>.npy")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed for inputs not given on the command line")
	return cmd
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
