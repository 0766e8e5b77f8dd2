package verilog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ResourceReport is yosys's count of Xilinx primitives after synth_xilinx
// next to wdc's analytic estimate.
//
//	LUT:  LUT1..LUT6, plus LUTs used as shift registers (SRL16E, SRLC32E)
//	      and as distributed RAM/ROM (RAM32M, RAM64M, RAM*X*)
//	FF:   FD* flip-flops (FDRE, FDSE, FDCE, FDPE)
//	DSP:  DSP48E1 / DSP48E2
//	BRAM: block RAMs in 36 Kib units: RAMB36E1/E2 count 1, RAMB18E1/E2 ½ (rounded up)
type ResourceReport struct {
	Resources
	Estimate Resources      `json:"estimate"`
	Cells    map[string]int `json:"cells"`         // every cell type yosys used
	Seconds  float64        `json:"yosys_seconds"` // how long synthesis took
	Top      string         `json:"top"`
}

// Report synthesizes the design in dir with yosys (synth_xilinx, flattened)
// and counts its cells.
func Report(dir string) (*ResourceReport, error) {
	return ReportContext(context.Background(), dir)
}

// ReportContext is Report that stops yosys when ctx is done.
func ReportContext(ctx context.Context, dir string) (*ResourceReport, error) {
	d, err := LoadDesign(dir)
	if err != nil {
		return nil, err
	}
	ys, err := exec.LookPath("yosys")
	if err != nil {
		return nil, fmt.Errorf("yosys not found on PATH: install the Debian package yosys (apt-get install yosys; `make setup` does it)")
	}
	statFile := "yosys_stat.json"
	script := fmt.Sprintf("read_verilog %s; synth_xilinx -top %s -flatten; tee -q -o %s stat -json",
		strings.Join(d.Files, " "), d.Top, statFile)
	os.Remove(filepath.Join(dir, statFile))
	start := time.Now()
	cmd := exec.CommandContext(ctx, ys, "-q", "-l", "yosys.log", "-p", script)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("yosys on %s stopped after %.0fs: %v", dir, time.Since(start).Seconds(), ctx.Err())
		}
		return nil, fmt.Errorf("yosys on %s failed: %v\n%s(full log in %s)", dir, err, lastLines(out.String(), 20), filepath.Join(dir, "yosys.log"))
	}
	b, err := os.ReadFile(filepath.Join(dir, statFile))
	if err != nil {
		return nil, fmt.Errorf("yosys wrote no statistics: %v", err)
	}
	cells, err := parseStat(b, d.Top)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, statFile), err)
	}
	r := &ResourceReport{Estimate: d.Estimate, Cells: cells, Seconds: time.Since(start).Seconds(), Top: d.Top}
	r.Resources = countCells(cells)
	return r, nil
}

// parseStat reads yosys's stat -json output: the "design" totals when
// present, else the top module's cells.
func parseStat(b []byte, top string) (map[string]int, error) {
	var st struct {
		Modules map[string]struct {
			Cells map[string]int `json:"num_cells_by_type"`
		} `json:"modules"`
		Design *struct {
			Cells map[string]int `json:"num_cells_by_type"`
		} `json:"design"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if st.Design != nil && st.Design.Cells != nil {
		return st.Design.Cells, nil
	}
	if m, ok := st.Modules["\\"+top]; ok {
		return m.Cells, nil
	}
	return nil, fmt.Errorf("no statistics for module %s", top)
}

func countCells(cells map[string]int) Resources {
	var r Resources
	ramb18 := 0
	for name, n := range cells {
		switch {
		case len(name) == 4 && strings.HasPrefix(name, "LUT") && name[3] >= '1' && name[3] <= '6':
			r.LUT += n
		case strings.HasPrefix(name, "SRL"), strings.HasPrefix(name, "RAM32"), strings.HasPrefix(name, "RAM64"),
			strings.HasPrefix(name, "RAM128"), strings.HasPrefix(name, "RAM256"), strings.HasPrefix(name, "RAM16"):
			r.LUT += n
		case strings.HasPrefix(name, "FD"):
			r.FF += n
		case strings.HasPrefix(name, "DSP48"):
			r.DSP += n
		case strings.HasPrefix(name, "RAMB36"):
			r.BRAM += n
		case strings.HasPrefix(name, "RAMB18"):
			ramb18 += n
		}
	}
	r.BRAM += (ramb18 + 1) / 2
	return r
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}

// Table prints the report as a table, yosys next to the estimate.
func (r *ResourceReport) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %10s %10s\n", "", "yosys", "estimate")
	for _, row := range []struct {
		name string
		y, e int
	}{{"LUT", r.LUT, r.Estimate.LUT}, {"FF", r.FF, r.Estimate.FF}, {"DSP48", r.DSP, r.Estimate.DSP}, {"BRAM", r.BRAM, r.Estimate.BRAM}} {
		fmt.Fprintf(&b, "%-6s %10d %10d\n", row.name, row.y, row.e)
	}
	names := make([]string, 0, len(r.Cells))
	for k := range r.Cells {
		names = append(names, k)
	}
	sort.Strings(names)
	var cs []string
	for _, k := range names {
		cs = append(cs, fmt.Sprintf("%s %d", k, r.Cells[k]))
	}
	fmt.Fprintf(&b, "cells: %s\nyosys synth_xilinx took %.1fs\n", strings.Join(cs, ", "), r.Seconds)
	return b.String()
}
