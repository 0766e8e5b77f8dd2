package main

import (
	"encoding/json"
	"fmt"
	"wdc/backends/verilog"

	"github.com/spf13/cobra"

	"wdc/backends/cuda"
	"wdc/backends/hls"
	"wdc/backends/llvm"
	"wdc/backends/target"
)

func newCompileCmd() *cobra.Command {
	var targetName, outDir string
	var threads, reuse, addLevels int
	var clock float64
	var q quantFlags
	var convAlgo string
	var explain bool
	cmd := &cobra.Command{
		Use:   "compile MODEL --target T -o DIR",
		Short: "Compile a model for a target",
		Long: `Compile MODEL into DIR.
  cpu      LLVM IR (model.ll), a shared object (model.so) with a C header (model.h) declaring
           wdc_init, wdc_run and the buffer sizes, the weights, and manifest.json; built with
           the Debian LLVM toolchain (clang-14 -O3 -march=native). examples/c shows a C
           program linking it. Each convolution's algorithm (direct, im2col, Winograd
           F(2x2,3x3) or F(4x4,3x3), DFT) is chosen by the cost model from this machine's
           measured roofline; --explain prints every candidate's predicted time and
           --conv-algo forces one.
  cuda     CUDA C kernels (one per fused group; a small network is one kernel), host code
           with a C ABI (wdc_init, wdc_run, wdc_free), a .npy driver and a Makefile for
           nvcc (sm_80, sm_90); docs/gpu-backend.md and make gpu-check.
  verilog  the network quantized to fixed point as synthesizable Verilog-2005: one module
           per layer, valid/ready streaming top level, weights in the logic or ROMs (.mem),
           design.json; wdc sim simulates it in Verilator against the golden model and
           wdc report synthesizes it with yosys.
  hls      the network quantized to fixed point (--precision, default fixed<16,6,rne,sat>) as
           HLS C++ with PIPELINE/UNROLL/ARRAY_PARTITION pragmas, a generated fixed-point
           header, and a C-simulation testbench (wdc run --target hls runs it).`,
		Example: `  wdc compile examples/resnet18.wdc --target cpu -o out/resnet18
  wdc compile examples/lenet5.wdc --target cuda -o out/lenet5-cuda
  wdc compile jet.onnx --target verilog --precision 'fixed<16,6>' -o rtl/
  wdc compile jet.onnx --target hls --precision 'fixed<16,6>' -o out/jet-hls`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if outDir == "" {
				return fmt.Errorf("-o DIR is required")
			}
			g, err := loadModel(args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			switch targetName {
			case "cpu":
				if q.set() {
					return fmt.Errorf("the cpu target computes in float32; fixed-point precision is for the hls target")
				}
				topts := target.Options{Threads: threads, ConvAlgo: convAlgo}
				if explain {
					topts.Explain = w
				}
				plan, err := target.ConvPlan(g, topts)
				if err != nil {
					return err
				}
				a, err := llvm.Compile(g, outDir, llvm.Options{Threads: threads, Lower: plan.Lower})
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "compiled %s to %s: %s, %s (%d kernels)\n", g.Name, outDir, a.Library, a.Header, len(a.Kernels))
				fmt.Fprintf(w, "  activations %d bytes in a reused arena (%d without reuse), weights %d bytes\n", a.Arena, a.Naive, a.Weights)
				fmt.Fprintf(w, "  emit %.2fs, clang %.2fs\n", a.EmitTime, a.ClangTime)
				return nil
			case "cuda":
				if q.set() {
					return fmt.Errorf("the cuda target computes in float32; fixed-point precision is for the hls target")
				}
				a, err := cuda.Emit(g, outDir, cuda.Options{})
				if err != nil {
					return err
				}
				shape := fmt.Sprintf("%d kernels", len(a.Kernels))
				if a.SingleKernel {
					shape = fmt.Sprintf("one kernel holding %d fused layer groups", len(a.Kernels))
				}
				fmt.Fprintf(w, "wrote CUDA C for %s to %s: %s, %d launch(es) per run (build there with make; sm_80 and sm_90)\n", g.Name, outDir, shape, a.Launches)
				return nil
			case "verilog":
				d, err := emitVerilog(g, outDir, &q, verilog.Options{ReuseFactor: reuse, ClockMHz: clock, AddLevelsPerStage: addLevels})
				if err != nil {
					return err
				}
				describeDesign(w, d, outDir)
				return nil
			case "hls":
				qg, err := q.quantize(g)
				if err != nil {
					return err
				}
				if err := hls.Emit(qg, outDir, hls.Options{ReuseFactor: reuse}); err != nil {
					return err
				}
				m, err := hls.ReadManifest(outDir)
				if err != nil {
					return err
				}
				js, _ := json.Marshal(m.Files)
				fmt.Fprintf(w, "wrote HLS C++ for %s to %s: %s (top function %s)\n", g.Name, outDir, js, m.Top)
				return nil
			}
			return fmt.Errorf("unknown target %q (cpu, cuda, verilog or hls)", targetName)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&targetName, "target", "t", "cpu", "cpu, cuda, verilog or hls")
	f.StringVarP(&outDir, "output-dir", "o", "", "folder for the compiled model")
	f.IntVar(&threads, "threads", 0, "default thread count of compiled CPU code (0: all CPUs)")
	f.IntVar(&reuse, "reuse", 1, "reuse factor of dense layers (hardware targets): multipliers = inputs x outputs / R")
	f.Float64Var(&clock, "clock", 200, "target clock in MHz (verilog), for reporting latency in ns")
	f.IntVar(&addLevels, "add-levels", 0, "pipeline register after every N adder-tree levels (verilog; 1: at most one multiply-add between registers; 0: a whole tree per stage, hls4ml's latency)")
	addConvFlags(f, &convAlgo, &explain)
	q.add(f)
	return cmd
}
