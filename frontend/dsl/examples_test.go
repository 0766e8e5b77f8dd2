package dsl

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wdc/ir"
	"wdc/runtime"
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

// The small examples run in the interpreter (skipped while kernels are
// missing); mlp_from_npz matches numpy's forward pass of the same weights.
func TestExamplesRun(t *testing.T) {
	for _, name := range []string{"lenet5", "jet_tagger", "mlp_from_npz"} {
		g, err := ParseFile("../../examples/" + name + ".wdc")
		if err != nil {
			t.Fatal(err)
		}
		if ops := runtime.Unsupported(g); len(ops) > 0 {
			t.Skipf("%s: the interpreter has no kernel for %v yet", name, ops)
		}
		in := map[string]*ir.Tensor{}
		for _, v := range g.Inputs {
			x := ir.NewTensor(v.Type.Elem, v.Type.Shape)
			for i := range x.F {
				x.F[i] = float32(i%7) / 7
			}
			in[v.Name] = x
		}
		if name == "mlp_from_npz" {
			in["x"] = ir.FromFloats(ir.Shape{1, 4}, []float32{1, -2, 0.5, 3})
		}
		out, err := runtime.Run(g, in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := out["probs"]
		var sum float64
		for _, f := range p.F {
			sum += float64(f)
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Errorf("%s: probabilities sum to %g", name, sum)
		}
		if name == "mlp_from_npz" {
			want := []float64{0.38615307, 0.36516836, 0.24867854} // numpy
			for i, w := range want {
				if math.Abs(float64(p.F[i])-w) > 1e-6 {
					t.Errorf("mlp_from_npz: probs %v, want %v", p.F, want)
					break
				}
			}
		}
	}
}

// docs/dsl.md describes every layer and every keyword argument.
func TestDocsCoverLayers(t *testing.T) {
	b, err := os.ReadFile("../../docs/dsl.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, name := range LayerNames() {
		head := "### `" + name + "`"
		i := strings.Index(doc, head)
		if i < 0 {
			t.Errorf("docs/dsl.md has no section %s", head)
			continue
		}
		section := doc[i+len(head):]
		if j := strings.Index(section, "\n### "); j >= 0 {
			section = section[:j]
		}
		for _, k := range layers[name].kw {
			if !strings.Contains(section, "| `"+k.name+"` |") {
				t.Errorf("docs/dsl.md: %s does not document argument %s", name, k.name)
			}
		}
	}
}
