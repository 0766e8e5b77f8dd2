package dsl

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds mutated programs to the parser: any input must give a
// graph that verifies or an error that names the file, never a panic.
// Seeds: the bundled examples and the error cases. Crashers found are kept
// in testdata/fuzz/FuzzParse as regression inputs.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../examples/*.wdc")
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	_, cases := readCasesF(f, "testdata/errors.txt")
	for _, src := range cases {
		f.Add([]byte(src))
	}
	old := maxParamElements
	maxParamElements = 1 << 24 // resnet18 fits; keeps each run's memory small
	defer func() { maxParamElements = old }()
	// Resolve weight files against the examples directory.
	name := filepath.Join("..", "..", "examples", "fuzz.wdc")
	f.Fuzz(func(t *testing.T, src []byte) {
		g, err := Parse(name, src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), name) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("panic: %v", err)
			}
			return
		}
		if err := g.Verify(); err != nil {
			t.Fatalf("graph does not verify: %v", err)
		}
	})
}

func readCasesF(f *testing.F, path string) ([]string, map[string]string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	body := map[string]string{}
	var names []string
	var cur string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if n, ok := strings.CutPrefix(line, "== "); ok {
			cur = strings.TrimSpace(n)
			names = append(names, cur)
			continue
		}
		body[cur] += line
	}
	return names, body
}

// Deeply nested brackets are refused before the recursive parser sees them.
func TestDeepNesting(t *testing.T) {
	src := "output y = " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000)
	_, err := Parse("t.wdc", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "t.wdc:1:212: syntax error: brackets nested more than 200 deep") {
		t.Errorf("got %v", err)
	}
	// Exponential block expansion is bounded by the node limit.
	old := maxNodes
	maxNodes = 1000
	defer func() { maxNodes = old }()
	var b strings.Builder
	b.WriteString("input x: f32[1]\nblock b0(t) { return t -> relu }\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "block b%d(t) { return t -> b%d -> b%d }\n", i, i-1, i-1)
	}
	b.WriteString("output y = x -> b29\n")
	_, err = Parse("t.wdc", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "the network has more than 1000 nodes") {
		t.Errorf("got %v", err)
	}
	// Blocks that make no nodes are bounded by the number of calls.
	src = strings.Replace(b.String(), "return t -> relu", "return t", 1)
	_, err = Parse("t.wdc", []byte(src))
	if err == nil || !strings.Contains(err.Error(), "4000 layer and block calls") {
		t.Errorf("got %v", err)
	}
}
