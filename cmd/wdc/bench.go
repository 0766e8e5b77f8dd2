package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"wdc/backends/target"
	"wdc/testbench/bench"
)

func newBenchCmd() *cobra.Command {
	var sc bench.SuiteConfig
	var vs string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench [MODEL]...",
		Short: "Time a model against onnxruntime and PyTorch in one interleaved run and print the ratios",
		Long: `Time MODEL on a wdc target against the peers, in one run whose turns are interleaved
(wdc, onnxruntime, PyTorch, wdc, ...) because these machines are shared and noisy: only
ratios measured together mean something. All sides use the same threads and inputs, and
the peers' outputs are checked against wdc's. MODEL is an ONNX file or a suite name
(` + strings.Join(bench.SuiteNames(), ", ") + `); with no MODEL the whole suite runs.
Peers: onnxruntime (npm onnxruntime-node), pytorch (Debian python3-torch) and, for
single matrix products, openblas (numpy). --json prints, per model, model, target,
threads, median_ms and peers: name -> median_ms, ratio.`,
		Example: `  wdc bench resnet18 --target cpu --threads 2 --vs onnxruntime,pytorch
  wdc bench model.onnx --target cpu --threads 1 --runs 30 --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			sc.Models = args
			if vs == "none" {
				sc.Peers = []string{}
			} else if vs != "" {
				var err error
				if sc.Peers, err = bench.ParsePeers(vs); err != nil {
					return err
				}
			}
			sc.Progress = cmd.ErrOrStderr()
			if !asJSON {
				sc.Log = cmd.OutOrStdout()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
			defer stop()
			rs, err := bench.RunSuite(ctx, sc)
			w := cmd.OutOrStdout()
			if asJSON {
				var js []bench.JSONResult
				for _, r := range rs {
					js = append(js, r.JSON())
				}
				var v any = js
				if len(js) == 1 {
					v = js[0]
				}
				if err := writeJSON(w, v); err != nil {
					return err
				}
			} else if len(rs) > 0 {
				fmt.Fprintln(w, "== summary (ratio = wdc median / peer median; below 1: wdc is faster)")
				bench.WriteSummary(w, rs)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&sc.Target, "target", "cpu", "wdc target: "+strings.Join(target.Names(), ", "))
	f.IntVar(&sc.Threads, "threads", 2, "threads for wdc and every peer")
	f.IntVar(&sc.Runs, "runs", 0, "interleaved rounds (0: each model's default)")
	f.IntVar(&sc.Warmup, "warmup", 0, "untimed runs before measuring (0: 3)")
	f.StringVar(&vs, "vs", "", "peers, comma-separated: onnxruntime, pytorch, openblas (default: each model's own list; none: no peer)")
	f.BoolVar(&asJSON, "json", false, "print the results as JSON")
	f.StringVar(&sc.CacheDir, "cache", "out/bench/models", "where generated suite models are written")
	return cmd
}
