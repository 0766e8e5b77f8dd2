// Command prepare writes the GPU check bundle (see package wdc/testbench/gpu):
//
//	go run ./testbench/gpu/prepare -o out/gpu-bundle
//
// then, on the GPU machine, bash out/gpu-bundle/run.sh.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"wdc/testbench/gpu"
)

func main() {
	out := flag.String("o", "out/gpu-bundle", "bundle directory")
	root := flag.String("root", ".", "repository root (for examples/)")
	data := flag.String("testdata", "/work/shared/testdata", "shared test data directory")
	only := flag.String("only", "", "comma-separated case names (default: all)")
	n := flag.Int("sgemm", 4096, "SGEMM size")
	flag.Parse()
	o := gpu.Options{Root: *root, TestData: *data, SGEMM: *n}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	if err := gpu.PrepareBundle(*out, o); err != nil {
		fmt.Fprintln(os.Stderr, "prepare:", err)
		os.Exit(1)
	}
	fmt.Printf("bundle in %s: on the GPU machine run  bash %s/run.sh\n", *out, *out)
}
