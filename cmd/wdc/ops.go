package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"wdc/ir"
)

func newOpsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ops [OP]...",
		Short:   "List the IR's ops with their inputs and attributes",
		Long:    "List every op of wdc's tensor IR, or describe the named ones: inputs, attributes with defaults, meaning.",
		Example: "  wdc ops\n  wdc ops conv max_pool",
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if len(args) == 0 {
				tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
				for _, name := range ir.OpNames() {
					fmt.Fprintf(tw, "%s\t%s\n", name, ir.Ops[name].Doc)
				}
				return tw.Flush()
			}
			for _, name := range args {
				d, ok := ir.Ops[name]
				if !ok {
					return fmt.Errorf("unknown op %q (wdc ops lists them)", name)
				}
				fmt.Fprintf(w, "%s(%s)\n  %s\n", d.Name, strings.Join(d.Inputs, ", "), d.Doc)
				for _, a := range d.Attrs {
					def := "required"
					switch {
					case a.Default != nil:
						def = "default " + a.Default.String()
					case a.Optional:
						def = "optional"
					}
					fmt.Fprintf(w, "  %-18s %-7s %-22s %s\n", a.Name, a.Kind, def, a.Doc)
				}
			}
			return nil
		},
	}
}
