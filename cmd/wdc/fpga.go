package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"wdc/backends/hls"
	"wdc/backends/verilog"
	"wdc/ir"
	"wdc/passes/quantize"
	"wdc/runtime"
	"wdc/testbench/verilator"
)

// inputVector concatenates g's inputs in order, as the hardware and the C
// simulation take them.
func inputVector(g *ir.Graph, feeds map[string]*ir.Tensor) ([]float32, error) {
	var vec []float32
	for _, v := range g.Inputs {
		t := feeds[v.Name]
		if !t.Elem.IsFloat() {
			return nil, fmt.Errorf("input %s is %v: the FPGA targets take float inputs", v.Name, t.Type)
		}
		vec = append(vec, t.F...)
	}
	return vec, nil
}

// fixedWords concatenates the golden fixed-point words of every output.
func fixedWords(qg *ir.Graph, feeds map[string]*ir.Tensor) ([]int64, error) {
	gold, err := quantize.RunFixed(qg, feeds)
	if err != nil {
		return nil, err
	}
	var words []int64
	for _, o := range qg.Outputs {
		words = append(words, gold[o.Name].I...)
	}
	return words, nil
}

// firstMismatch compares words from hardware with the golden model.
func firstMismatch(got, want []int64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d output words, the golden model has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("output word %d is %d, the golden fixed-point model says %d", i, got[i], want[i])
		}
	}
	return nil
}

// runHLS quantizes g, emits HLS C++, runs its C simulation on the inputs
// and checks every output word against the golden fixed-point interpreter.
func runHLS(w io.Writer, g *ir.Graph, feeds map[string]*ir.Tensor, q *quantFlags, buildDir string) (map[string]*ir.Tensor, error) {
	qg, err := q.quantize(g)
	if err != nil {
		return nil, err
	}
	dir := buildDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wdc-hls-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	if err := hls.Emit(qg, dir, hls.Options{}); err != nil {
		return nil, err
	}
	vec, err := inputVector(g, feeds)
	if err != nil {
		return nil, err
	}
	got, err := hls.CSim(dir, [][]float32{vec})
	if err != nil {
		return nil, err
	}
	want, err := fixedWords(qg, feeds)
	if err != nil {
		return nil, err
	}
	if err := firstMismatch(got[0], want); err != nil {
		return nil, fmt.Errorf("hls C simulation disagrees with the golden model: %v", err)
	}
	fmt.Fprintf(w, "hls: C simulation matches the golden fixed-point model bit for bit (%d output words)\n", len(want))
	return runtime.Run(qg, feeds)
}

// emitVerilog quantizes g and writes its RTL into dir.
func emitVerilog(g *ir.Graph, dir string, q *quantFlags, opts verilog.Options) (*verilog.Design, error) {
	qg, err := q.quantize(g)
	if err != nil {
		return nil, err
	}
	return verilog.Emit(qg, dir, opts)
}

func describeDesign(w io.Writer, d *verilog.Design, dir string) {
	fmt.Fprintf(w, "wrote Verilog to %s: %d layer modules, top %q (%v -> %v)\n", dir, len(d.Layers), d.Top, d.Input.Elem, d.Output.Elem)
	fmt.Fprintf(w, "  predicted latency %d cycles (%.1f ns at %g MHz), initiation interval %d cycles\n",
		d.LatencyCycles, float64(d.LatencyCycles)*1000/d.ClockMHz, d.ClockMHz, d.IICycles)
	fmt.Fprintf(w, "  estimate: %d LUT, %d FF, %d DSP, %d BRAM (wdc report %s runs yosys)\n", d.Estimate.LUT, d.Estimate.FF, d.Estimate.DSP, d.Estimate.BRAM, dir)
}

func printCheck(w io.Writer, c *verilator.Check, clock float64) {
	fmt.Fprintf(w, "%d vectors, %d mismatches; latency %d cycles (%.1f ns at %g MHz), initiation interval %d cycles\n",
		c.Vectors, c.Mismatches, c.LatencyCycles, float64(c.LatencyCycles)*1000/clock, clock, c.IICycles)
	if c.First != nil {
		fmt.Fprintf(w, "first divergence: %v\n", c.First)
	} else {
		fmt.Fprintln(w, "every output word matches the golden fixed-point interpreter")
	}
}

func newSimCmd() *cobra.Command {
	var input, outDir string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sim DIR --input FILE",
		Short: "Simulate generated Verilog in Verilator and compare it with the golden model",
		Long: `Build the Verilator testbench of the design in DIR (written by wdc compile --target
verilog), stream every input vector through it, and compare every output word with the
golden fixed-point interpreter, printing the first divergence (layer, index, expected,
got). FILE holds the vectors: hls4ml's .dat text (one vector per line) or a .npy with a
leading sample dimension. Latency is counted from the first input accepted to the first
output valid; the initiation interval between accepted inputs in steady state.
--json prints vectors, mismatches, latency_cycles, ii_cycles (and first_divergence).
--output-dir writes the outputs, one row per vector: <output>.npy as floats and
<output>.words.npy as the raw fixed-point words.`,
		Example: `  wdc compile jet.onnx --target verilog -o rtl/
  wdc sim rtl/ --input ../shared/testdata/models/jet-tagger/tb_input_features.dat`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if input == "" {
				return fmt.Errorf("--input FILE is required")
			}
			d, err := verilog.LoadDesign(args[0])
			if err != nil {
				return err
			}
			rows, err := readVectors(input)
			if err != nil {
				return err
			}
			c, err := verilator.RunFloat(args[0], rows, verilator.Options{})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if outDir != "" {
				if err := writeSimOutputs(outDir, d, c.Outputs); err != nil {
					return err
				}
			}
			if asJSON {
				if err := writeJSON(w, c); err != nil {
					return err
				}
			} else {
				printCheck(w, c, d.ClockMHz)
			}
			if c.Mismatches > 0 {
				return fmt.Errorf("%d of %d vectors differ from the golden model", c.Mismatches, c.Vectors)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "input vectors (.dat or .npy)")
	cmd.Flags().StringVarP(&outDir, "output-dir", "o", "", "write the outputs here")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// writeSimOutputs writes one row per vector, as floats and as words.
func writeSimOutputs(dir string, d *verilog.Design, rows [][]int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	n := len(rows)
	shape := append(ir.Shape{n}, d.Output.Count)
	words := ir.NewTensor(ir.Int64, shape)
	vals := ir.NewTensor(ir.Float32, shape)
	for i, r := range rows {
		for j, x := range r {
			words.I[i*d.Output.Count+j] = x
			vals.F[i*d.Output.Count+j] = float32(math.Ldexp(float64(x), -d.Output.Frac))
		}
	}
	base := filepath.Join(dir, fileName(d.Output.Value))
	if err := runtime.SaveNPY(base+".npy", vals); err != nil {
		return err
	}
	return runtime.SaveNPY(base+".words.npy", words)
}

func newReportCmd() *cobra.Command {
	var asJSON, flatten, noCache, quiet bool
	var jobs int
	cmd := &cobra.Command{
		Use:   "report DIR",
		Short: "Synthesize generated Verilog with yosys and count FPGA resources",
		Long: `Run yosys synth_xilinx on the design in DIR and print LUT, FF, DSP48 and BRAM counts
next to wdc's own analytic estimate from the design; --json prints lut, ff, dsp, bram
and estimate (and the per-module runs).

By default every dense and conv layer is synthesized alone and the top level flattened
with the other layers, in parallel (--jobs, default: the number of CPUs); the counts are
the sums of those runs, and each run is cached in DIR/.yosys-cache under a hash of its
Verilog, so a second report is instant and an edit re-synthesizes only what changed.
--flatten runs one synth_xilinx -flatten over the whole design instead (uncached; about
an hour for the jet tagger on 2 cores, against a few minutes per module).`,
		Example: "  wdc report rtl/\n  wdc report rtl/ --json --jobs 4",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := verilog.ReportOptions{Flatten: flatten, Jobs: jobs, NoCache: noCache}
			var bar *progressbar.ProgressBar
			// a progress bar (modules done / total) on a terminal
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && !quiet && !flatten && term.IsTerminal(int(f.Fd())) {
				opts.Progress = func(done, total int, module string) {
					if bar == nil {
						bar = progressbar.NewOptions(total,
							progressbar.OptionSetWriter(f),
							progressbar.OptionSetDescription("yosys synth_xilinx"),
							progressbar.OptionShowCount(),
							progressbar.OptionSetElapsedTime(true),
							progressbar.OptionClearOnFinish(),
							progressbar.OptionThrottle(100*time.Millisecond))
					}
					bar.Set(done)
				}
			}
			r, err := verilog.ReportWith(cmd.Context(), args[0], opts)
			if bar != nil {
				bar.Close()
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, r)
			}
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(tw, "\tLUT\tFF\tDSP48\tBRAM\t\n")
			fmt.Fprintf(tw, "yosys synth_xilinx\t%d\t%d\t%d\t%d\t\n", r.LUT, r.FF, r.DSP, r.BRAM)
			fmt.Fprintf(tw, "wdc estimate\t%d\t%d\t%d\t%d\t\n", r.Estimate.LUT, r.Estimate.FF, r.Estimate.DSP, r.Estimate.BRAM)
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(w, r.Note())
			if len(r.Modules) > 0 {
				fmt.Fprint(w, r.ModuleTable())
			}
			for _, s := range r.Warnings {
				fmt.Fprintf(w, "warning: %s\n", s)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.BoolVar(&flatten, "flatten", false, "one synth_xilinx -flatten run over the whole design (slow, uncached)")
	f.IntVarP(&jobs, "jobs", "j", 0, "yosys processes at once (default: the number of CPUs)")
	f.BoolVar(&noCache, "no-cache", false, "synthesize every module again instead of reading DIR/.yosys-cache")
	f.BoolVarP(&quiet, "quiet", "q", false, "no progress bar (there is none unless stderr is a terminal)")
	return cmd
}

// runVerilog compiles g to RTL, simulates it on the inputs and checks it
// bit for bit against the golden fixed-point interpreter.
func runVerilog(w io.Writer, g *ir.Graph, feeds map[string]*ir.Tensor, q *quantFlags, buildDir string) (map[string]*ir.Tensor, error) {
	dir := buildDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "wdc-rtl-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	}
	if _, err := emitVerilog(g, dir, q, verilog.Options{}); err != nil {
		return nil, err
	}
	vec, err := inputVector(g, feeds)
	if err != nil {
		return nil, err
	}
	c, err := verilator.RunFloat(dir, [][]float32{vec}, verilator.Options{})
	if err != nil {
		return nil, err
	}
	if c.Mismatches > 0 {
		return nil, fmt.Errorf("the RTL disagrees with the golden model: %v", c.First)
	}
	fmt.Fprintf(w, "verilog: Verilator simulation matches the golden fixed-point model bit for bit; latency %d cycles, II %d\n", c.LatencyCycles, c.IICycles)
	qg, err := verilog.LoadGraph(dir)
	if err != nil {
		return nil, err
	}
	return runtime.Run(qg, feeds)
}
