package dsl

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/errors.golden from the current messages")

// readCases splits a file of "== name" sections.
func readCases(t *testing.T, path string) (names []string, body map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body = map[string]string{}
	var cur string
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "== "); ok {
			cur = strings.TrimSpace(name)
			if _, dup := body[cur]; dup {
				t.Fatalf("%s: case %s twice", path, cur)
			}
			names = append(names, cur)
			body[cur] = ""
			continue
		}
		if cur != "" {
			body[cur] += line
		}
	}
	return names, body
}

// TestErrorMessages parses each bad program of testdata/errors.txt and
// compares the message with testdata/errors.golden (go test -update
// rewrites the golden file; review the diff).
func TestErrorMessages(t *testing.T) {
	names, srcs := readCases(t, "testdata/errors.txt")
	var out strings.Builder
	got := map[string]string{}
	for _, name := range names {
		_, err := Parse("t.wdc", []byte(srcs[name]))
		msg := "<no error>"
		if err != nil {
			msg = err.Error()
		}
		got[name] = msg + "\n"
		fmt.Fprintf(&out, "== %s\n%s\n", name, msg)
	}
	if *update {
		if err := os.WriteFile("testdata/errors.golden", []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	_, want := readCases(t, "testdata/errors.golden")
	for _, name := range names {
		if w, ok := want[name]; !ok {
			t.Errorf("%s: not in errors.golden (run go test -update and review)", name)
		} else if got[name] != w {
			t.Errorf("%s:\n got: %s want: %s", name, got[name], w)
		}
		if !strings.HasPrefix(got[name], "t.wdc") || got[name] == "<no error>\n" {
			t.Errorf("%s: the message must start with the file name: %s", name, got[name])
		}
	}
}
