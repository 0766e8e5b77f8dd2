package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"wdc/frontend/dsl"
	"wdc/frontend/onnx"
	"wdc/ir"
)

// memBudget bounds any one tensor of an imported model (--max-tensor-bytes).
var memBudget int64 = 4 << 30

// loadModel reads a network by its file extension.
func loadModel(path string) (*ir.Graph, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot read model: %v", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".wdc":
		return dsl.ParseFile(path)
	case ".onnx":
		return onnx.Load(path, onnx.Options{MaxTensorBytes: memBudget})
	case ".ir":
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return ir.Parse(path, string(text))
	}
	return nil, fmt.Errorf("%s: unknown model format %q (want .wdc, .onnx or .ir)", path, filepath.Ext(path))
}
