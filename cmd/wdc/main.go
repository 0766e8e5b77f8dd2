// Command wdc is the Work-Depth Compiler's command line: it runs, analyses
// and prints networks written in wdc's network language or exported as ONNX.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "wdc:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "wdc",
		Short: "wdc compiles deep neural networks and explains its choices with a Work-Depth cost model",
		Long: `wdc (Work-Depth Compiler) reads a network written in wdc's network language (.wdc),
exported as ONNX (.onnx) or printed as wdc IR (.ir), runs it on the reference interpreter,
and analyses it with the Work-Depth model of Ben-Nun & Hoefler.`,
		Example: `  wdc run examples/lenet5.wdc
  wdc cost examples/resnet18.wdc
  wdc ir examples/jet_tagger.wdc`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().Int64Var(&memBudget, "max-tensor-bytes", memBudget, "refuse models with any tensor larger than this many bytes")
	root.AddCommand(newRunCmd(), newCostCmd(), newIRCmd(), newOpsCmd(), newCheckCmd(), newAccuracyCmd(), newCompileCmd(), newBenchCmd(), newSimCmd(), newReportCmd())
	return root
}
