package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"

	"wdc/passes/wd"
)

func newCostCmd() *cobra.Command {
	var asJSON, algos bool
	cmd := &cobra.Command{
		Use:   "cost MODEL",
		Short: "Print the Work-Depth analysis of a model",
		Long: `Print the Work-Depth (W-D) analysis of MODEL (Ben-Nun & Hoefler; docs/work-depth.md):
for every op its work W (operations, a multiply-add counted once), depth D (longest chain
of dependent operations), W/D and least memory traffic; for the network the total W,
the depth as the critical path through the graph, the average parallelism W/D and
Brent's bounds. --algorithms adds the Table 6 figures of each convolution algorithm
(direct, im2col, Winograd, FFT). --json prints the same as one JSON object.`,
		Example: `  wdc cost examples/lenet5.wdc
  wdc cost model.onnx --json | jq .work`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := loadModel(args[0])
			if err != nil {
				return err
			}
			r, err := wd.Analyze(g)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(w, r)
			}
			if err := r.WriteTable(w); err != nil {
				return err
			}
			if algos {
				return r.WriteAlgorithms(w)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the analysis as JSON")
	cmd.Flags().BoolVar(&algos, "algorithms", false, "also print each convolution algorithm's W, D and memory traffic")
	return cmd
}

// writeJSON prints v as indented JSON, the form of every verb's --json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
