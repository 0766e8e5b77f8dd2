package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportVerb compiles a tiny network to Verilog and runs `wdc report`
// on it: the table names the per-module sums, --json has lut, ff, dsp,
// bram and estimate, and the second run comes from the cache.
func TestReportVerb(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := wdc(t, "report", dir); err == nil || !strings.Contains(err.Error(), "design.json") {
		t.Errorf("report on an empty directory: %v", err)
	}
	if _, err := exec.LookPath("yosys"); err != nil {
		t.Skip("yosys not installed")
	}
	model := filepath.Join(dir, "tiny.wdc")
	src := "network tiny\nseed 3\ninput x: f32[1,3]\noutput y = x -> fc1: dense(out=2) -> relu\n"
	if err := os.WriteFile(model, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	rtl := filepath.Join(dir, "rtl")
	mustWDC(t, "compile", model, "--target", "verilog", "--precision", "fixed<8,3>", "-o", rtl)
	out, stderr, err := wdc(t, "report", rtl)
	if err != nil {
		t.Fatalf("wdc report: %v\n%s%s", err, out, stderr)
	}
	t.Logf("\n%s", out)
	for _, want := range []string{"yosys synth_xilinx", "wdc estimate", "sums over 2 runs", "0 of 2 runs from .yosys-cache"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	var r struct {
		LUT, FF, DSP, BRAM *int
		Estimate           *struct{ LUT, FF, DSP, BRAM *int }
		Modules            []struct{ Cached bool }
	}
	if err := json.Unmarshal([]byte(mustWDC(t, "report", rtl, "--json")), &r); err != nil {
		t.Fatal(err)
	}
	if r.LUT == nil || r.FF == nil || r.DSP == nil || r.BRAM == nil || r.Estimate == nil || r.Estimate.DSP == nil {
		t.Fatalf("--json lacks lut, ff, dsp, bram or estimate: %+v", r)
	}
	if *r.LUT == 0 || *r.FF == 0 || len(r.Modules) != 2 || !r.Modules[0].Cached || !r.Modules[1].Cached {
		t.Errorf("second report: %d LUT, %d FF, modules %+v (want both cached)", *r.LUT, *r.FF, r.Modules)
	}
}
