package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"wdc/ir"
	"wdc/passes/quantize"
	"wdc/runtime"
)

// quantFlags are the fixed-point options shared by run and compile.
type quantFlags struct {
	precision, config, calibrate string
}

func (q *quantFlags) add(f *pflag.FlagSet) {
	f.StringVar(&q.precision, "precision", "", `fixed-point precision of every layer, e.g. 'fixed<16,6>' (truncate, wrap) or 'fixed<16,6,rne,sat>' (default for FPGA targets)`)
	f.StringVar(&q.config, "quant-config", "", "JSON file with per-layer precisions (docs/fixed-point.md)")
	f.StringVar(&q.calibrate, "calibrate", "", "choose integer bits per layer from the value ranges on these inputs (.dat text, one vector per line, or .npy with a leading sample dimension)")
}

func (q *quantFlags) set() bool { return q.precision != "" || q.config != "" || q.calibrate != "" }

// quantize returns g in fixed point as the flags say.
func (q *quantFlags) quantize(g *ir.Graph) (*ir.Graph, error) {
	cfg := quantize.DefaultConfig()
	if q.config != "" {
		var err error
		if cfg, err = quantize.LoadConfig(q.config); err != nil {
			return nil, err
		}
	}
	if q.precision != "" {
		e, err := quantize.ParsePrecision(q.precision)
		if err != nil {
			return nil, fmt.Errorf("--precision: %v", err)
		}
		cfg.Default = e
	}
	if q.calibrate != "" {
		vecs, err := readVectors(q.calibrate)
		if err != nil {
			return nil, err
		}
		feeds, err := quantize.Feeds(g, vecs)
		if err != nil {
			return nil, fmt.Errorf("--calibrate %s: %v", q.calibrate, err)
		}
		if cfg, err = quantize.Calibrate(g, feeds, cfg); err != nil {
			return nil, err
		}
	}
	return quantize.Quantize(g, cfg)
}

// readVectors reads input vectors: hls4ml's .dat text (one vector per
// line) or a .npy whose first dimension counts the vectors.
func readVectors(path string) ([][]float32, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".dat", ".txt":
		return quantize.ReadDat(path)
	case ".npy":
		t, err := runtime.LoadNPY(path)
		if err != nil {
			return nil, err
		}
		if !t.Elem.IsFloat() || t.Rank() < 1 || t.Shape[0] == 0 {
			return nil, fmt.Errorf("%s: want float vectors with a leading sample dimension, got %v", path, t.Type)
		}
		n := t.Shape[0]
		per := t.Len() / n
		out := make([][]float32, n)
		for i := range out {
			out[i] = t.F[i*per : (i+1)*per]
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unknown vector file format (want .dat or .npy)", path)
}
