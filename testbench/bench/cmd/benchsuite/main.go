// Command benchsuite runs the `make bench` suite (testbench/bench.Suite)
// or the given models against the peers and prints one table per model
// and a summary with the ratios wdc/peer.
//
//	go run ./testbench/bench/cmd/benchsuite [-target interp] [-threads 2] [-runs R] [-vs onnxruntime,pytorch] [-json] [MODEL...]
//
// MODEL is a suite name (lenet5, resnet18, ...) or an ONNX file.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"wdc/testbench/bench"
)

func main() {
	target := flag.String("target", "interp", "wdc target: "+strings.Join(bench.Targets(), ", "))
	threads := flag.Int("threads", 2, "threads for wdc and every peer")
	runs := flag.Int("runs", 0, "interleaved rounds (0: each model's default)")
	warmup := flag.Int("warmup", 0, "untimed runs before measuring (0: 3)")
	vs := flag.String("vs", "", "peers, comma-separated (default: each model's own list; 'none' for none)")
	asJSON := flag.Bool("json", false, "print a JSON array of results instead of tables")
	cache := flag.String("cache", "out/bench/models", "where generated models are written")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: benchsuite [flags] [MODEL...]\nMODEL: an ONNX file or one of %s\n", strings.Join(bench.SuiteNames(), ", "))
		flag.PrintDefaults()
	}
	flag.Parse()
	var peers []string
	if *vs == "none" {
		peers = []string{}
	} else if *vs != "" {
		var err error
		if peers, err = bench.ParsePeers(*vs); err != nil {
			fmt.Fprintln(os.Stderr, "benchsuite:", err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sc := bench.SuiteConfig{Models: flag.Args(), CacheDir: *cache, Target: *target, Threads: *threads, Runs: *runs, Warmup: *warmup, Peers: peers, Progress: os.Stderr}
	if !*asJSON {
		sc.Log = os.Stdout
	}
	rs, err := bench.RunSuite(ctx, sc)
	if *asJSON {
		var js []bench.JSONResult
		for _, r := range rs {
			js = append(js, r.JSON())
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(js)
	} else if len(rs) > 0 {
		fmt.Println("== summary (ratio = wdc median / peer median; below 1: wdc is faster)")
		bench.WriteSummary(os.Stdout, rs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
