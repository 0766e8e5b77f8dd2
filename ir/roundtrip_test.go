package ir_test

import (
	"os"
	"path/filepath"
	"testing"

	"wdc/frontend/dsl"
	"wdc/frontend/onnx"
	"wdc/ir"
)

// Every bundled example and every real ONNX model prints and parses back
// to an equal graph, bit for bit, and prints identically the second time.
func TestRoundTripExamplesAndModels(t *testing.T) {
	var graphs []*ir.Graph
	examples, _ := filepath.Glob("../examples/*.wdc")
	if len(examples) == 0 {
		t.Fatal("no examples found")
	}
	for _, p := range examples {
		g, err := dsl.ParseFile(p)
		if err != nil {
			t.Fatal(err)
		}
		graphs = append(graphs, g)
	}
	models, _ := filepath.Glob("../../shared/testdata/models/*/model.onnx")
	if len(models) == 0 {
		t.Log("the shared test data is absent: only the examples are round-tripped")
	}
	for _, p := range models {
		g, err := onnx.Load(p, onnx.Options{})
		if err != nil {
			t.Fatal(err)
		}
		graphs = append(graphs, g)
	}
	for _, g := range graphs {
		t.Run(g.Name, func(t *testing.T) {
			text := g.String()
			back, err := ir.Parse(g.Name+".ir", text)
			if err != nil {
				t.Fatal(err)
			}
			if err := ir.Equal(g, back); err != nil {
				t.Fatal(err)
			}
			if back.String() != text {
				t.Fatal("second print differs from the first")
			}
		})
	}
	if _, err := os.Stat("../examples/resnet18.wdc"); err != nil {
		t.Fatal("resnet18 example missing")
	}
}
