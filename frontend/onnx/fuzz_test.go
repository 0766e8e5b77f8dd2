package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"wdc/frontend/onnx/onnxpb"
)

// FuzzLoad feeds arbitrary bytes to the importer: it must return a graph
// or an error, never panic, hang or allocate without bound.
func FuzzLoad(f *testing.F) {
	seeds := []*onnxpb.ModelProto{reluModel()}
	seeds = append(seeds, model(13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			nodeP("Shape", "shape", []string{"x"}, []string{"s"}),
			nodeP("ConstantOfShape", "c", []string{"s"}, []string{"z"}),
			nodeP("Add", "add", []string{"x", "z"}, []string{"y0"}),
			nodeP("Softmax", "sm", []string{"y0"}, []string{"y"}, intA("axis", 1)),
		},
		Input:  []*onnxpb.ValueInfoProto{fvi("x", 2, 3, 4)},
		Output: []*onnxpb.ValueInfoProto{fvi("y", 2, 3, 4)},
	}))
	for _, m := range seeds {
		data, _ := proto.Marshal(m)
		f.Add(data)
	}
	// Small models of the conformance suite, copied into testdata/.
	files, _ := filepath.Glob("testdata/*.onnx")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	trace := os.Getenv("WDC_FUZZ_TRACE") // a folder: each worker keeps its current input there (to find hangs)
	f.Fuzz(func(t *testing.T, data []byte) {
		if trace != "" {
			os.WriteFile(filepath.Join(trace, fmt.Sprintf("cur-%d", os.Getpid())), data, 0o644)
		}
		g, err := LoadBytes(data, "fuzz.onnx", Options{MaxTensorBytes: 1 << 20, MaxTotalBytes: 4 << 20})
		if err == nil && g == nil {
			t.Fatal("no graph and no error")
		}
		if err == nil {
			if verr := g.Verify(); verr != nil {
				t.Fatalf("imported graph does not verify: %v", verr)
			}
		}
	})
}
