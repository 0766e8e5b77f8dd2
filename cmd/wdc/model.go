package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"wdc/ir"
)

// loadModel reads a network by its file extension.
func loadModel(path string) (*ir.Graph, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot read model: %v", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".ir":
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return ir.Parse(path, string(text))
	}
	return nil, fmt.Errorf("%s: unknown model format %q (want .wdc, .onnx or .ir)", path, filepath.Ext(path))
}
