package dsl

import (
	"path/filepath"
	"strings"
	"testing"

	"wdc/ir"
)

func paramCount(g *ir.Graph) (params, stats int64) {
	for _, c := range g.Consts {
		n := int64(c.Type.Shape.Elements())
		if strings.HasSuffix(c.Name, ".mean") || strings.HasSuffix(c.Name, ".var") {
			stats += n
		} else {
			params += n
		}
	}
	return
}

// Every bundled example parses and verifies; the classic networks have
// their published parameter counts.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.wdc")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	want := map[string][2]int64{
		"lenet5":     {61706, 0},
		"jet_tagger": {4389, 0},
		// torchvision's count (weights and biases, batch-norm scale and
		// bias); the 4,800 batch-norm channels add a mean and a var each.
		"resnet18": {11689512, 9600},
	}
	for _, f := range files {
		g, err := ParseFile(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := g.Verify(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		p, s := paramCount(g)
		if w, ok := want[g.Name]; ok && (p != w[0] || s != w[1]) {
			t.Errorf("%s: %d parameters and %d batch-norm statistics, want %d and %d", g.Name, p, s, w[0], w[1])
		}
		t.Logf("%s: %d nodes, %d parameters (+%d statistics), outputs %v", g.Name, len(g.Nodes), p, s, g.Outputs[0].Type)
	}
}
