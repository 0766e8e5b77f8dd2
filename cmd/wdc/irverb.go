package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"wdc/ir"
	"wdc/passes"
)

func newIRCmd() *cobra.Command {
	var after, pipeline string
	var full, noLoc, list bool
	cmd := &cobra.Command{
		Use:   "ir MODEL",
		Short: "Print a model's tensor IR, optionally after a pass",
		Long: `Print MODEL's tensor IR in wdc's textual form (docs/ir.md). Constants with more
than 16 values are elided unless --full is given; with --full the output parses back
to the same graph and can be given to any verb as a .ir file.
--after PASS runs the pipeline and prints the IR right after that pass ("*": after
every pass); --list shows the passes and pipelines.`,
		Example: `  wdc ir examples/lenet5.wdc
  wdc ir model.onnx --after shape-inference
  wdc ir examples/jet_tagger.wdc --full > jet.ir && wdc run jet.ir`,
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return nil
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if list {
				fmt.Fprintln(w, "passes:")
				for _, p := range passes.Passes() {
					fmt.Fprintf(w, "  %-18s %s\n", p.Name, p.Doc)
				}
				fmt.Fprintln(w, "pipelines:")
				for _, name := range passes.PipelineNames() {
					pl, _ := passes.LookupPipeline(name)
					fmt.Fprintf(w, "  %-18s %s: %s\n", name, pl.Doc, strings.Join(pl.Passes, ", "))
				}
				return nil
			}
			g, err := loadModel(args[0])
			if err != nil {
				return err
			}
			opts := ir.PrintOptions{ElideConsts: !full, ElideAbove: 16, NoLoc: noLoc}
			if after == "" {
				return ir.PrintWith(w, g, opts)
			}
			return passes.RunPipeline(g, pipeline, passes.Options{
				After: after,
				Dump: func(pass string, g *ir.Graph) {
					fmt.Fprintf(w, "// after pass %s\n", pass)
					_ = ir.PrintWith(w, g, opts)
				},
			})
		},
	}
	cmd.Flags().StringVar(&after, "after", "", `print the IR after this pass ("*": after every pass)`)
	cmd.Flags().StringVar(&pipeline, "pipeline", "analysis", "the pipeline run for --after")
	cmd.Flags().BoolVar(&full, "full", false, "print every constant's data, so the output parses back")
	cmd.Flags().BoolVar(&noLoc, "no-loc", false, "leave out source positions")
	cmd.Flags().BoolVar(&list, "list", false, "list the passes and pipelines")
	return cmd
}
