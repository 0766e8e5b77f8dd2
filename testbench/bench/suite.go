package bench

import (
	"context"
	"fmt"
	"io"
)

// SuiteConfig runs several suite models in turn.
type SuiteConfig struct {
	Models   []string // suite names or ONNX paths (nil: the whole Suite)
	CacheDir string   // generated models (e.g. out/bench/models)
	Target   string
	Threads  int
	Runs     int      // 0: each model's suggested rounds
	Warmup   int      // 0: Run's default
	Peers    []string // nil: each suite model's own peer list
	Progress io.Writer
	Log      io.Writer // each model's table as it finishes (nil: none)
	// NewRunner builds wdc's side per model (nil: the registered target).
	NewRunner func(model string, threads int) (Runner, error)
}

// RunSuite benchmarks each model and returns the results in order. A model
// that fails is reported on Log and skipped; the error lists them all.
func RunSuite(ctx context.Context, sc SuiteConfig) ([]*Result, error) {
	names := sc.Models
	if len(names) == 0 {
		names = SuiteNames()
	}
	var out []*Result
	var failed []string
	for _, name := range names {
		cfg := Config{Target: sc.Target, Threads: sc.Threads, Runs: sc.Runs, Warmup: sc.Warmup, Peers: sc.Peers, Progress: sc.Progress, Name: name}
		var err error
		if m, ok := LookupSuite(name); ok {
			cfg.Model, err = ModelPath(m, sc.CacheDir, "")
			if cfg.Runs == 0 {
				cfg.Runs = m.Runs
			}
			if cfg.Peers == nil {
				cfg.Peers = m.Peers
			}
		} else {
			cfg.Model, err = ResolveModel(name, sc.CacheDir)
		}
		if err == nil && sc.NewRunner != nil {
			cfg.WDC, err = sc.NewRunner(cfg.Model, cfg.Threads)
		}
		var r *Result
		if err == nil {
			r, err = Run(ctx, cfg)
		}
		if err != nil {
			if ctx.Err() != nil {
				return out, ctx.Err()
			}
			failed = append(failed, name)
			if sc.Log != nil {
				fmt.Fprintf(sc.Log, "%s: %v\n\n", name, err)
			}
			continue
		}
		out = append(out, r)
		if sc.Log != nil {
			r.WriteTable(sc.Log)
			fmt.Fprintln(sc.Log)
		}
	}
	if len(failed) > 0 {
		return out, fmt.Errorf("bench: %d model(s) failed: %v", len(failed), failed)
	}
	return out, nil
}
