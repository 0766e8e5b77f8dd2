package verilog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
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
//
// By default (Mode "per-module") every dense and conv layer module is
// synthesized alone, and the top level flattened with all other (small)
// layers, the dense/conv modules read as black boxes; the runs go in
// parallel, their results are cached in DIR/.yosys-cache, and the counts
// are added. yosys cannot optimise across those boundaries (e.g. drop the
// accumulator bits a cast never reads, or merge the cast into the adder
// tree's LUTs), so the sums are, if anything, a little above what one
// flattened run gives (TestReportPerModule: within 10%, DSP and BRAM
// equal). Mode "flattened" is one synth_xilinx -flatten run over the whole
// design, as slow as the sum of the parts on one core, and uncached.
type ResourceReport struct {
	Resources
	Estimate Resources      `json:"estimate"`
	Cells    map[string]int `json:"cells"`         // every cell type yosys used (summed over modules)
	Seconds  float64        `json:"yosys_seconds"` // wall time of the report (cached modules take none)
	Top      string         `json:"top"`
	Mode     string         `json:"mode"`              // "per-module" (counts are sums over modules) or "flattened"
	Jobs     int            `json:"jobs,omitempty"`    // concurrent yosys processes (per-module)
	Yosys    string         `json:"yosys,omitempty"`   // yosys -V
	Modules  []ModuleReport `json:"modules,omitempty"` // per-module runs: dense/conv layers in design order, then the top level with the other layers
	Warnings []string       `json:"warnings,omitempty"`
}

// ModuleReport is one module's synthesis in a per-module report.
type ModuleReport struct {
	Module string `json:"module"`
	Resources
	Estimate Resources      `json:"estimate"` // LayerEstimate (for the top level: its delay lines and valid bits plus its Includes)
	Cells    map[string]int `json:"cells"`
	Seconds  float64        `json:"yosys_seconds"`      // how long its synthesis took (when it was cached: when it ran)
	Cached   bool           `json:"cached"`             // read from DIR/.yosys-cache
	SameAs   string         `json:"same_as,omitempty"`  // synthesized once with this identical module
	Includes []string       `json:"includes,omitempty"` // the light layers synthesized with the top level
}

// ReportOptions steer Report.
type ReportOptions struct {
	// Flatten synthesizes the whole design in one yosys run
	// (synth_xilinx -flatten) instead of one run per module. It can take
	// an hour for the jet tagger on two cores and is never cached.
	Flatten bool
	// Jobs is the number of yosys processes run at once (default: the
	// number of CPUs).
	Jobs int
	// NoCache synthesizes every module again; results are still written
	// to the cache.
	NoCache bool
	// Progress, when set, is called after each module (per-module mode)
	// with the modules done so far (cached ones included), the total, and
	// the module just finished. Calls are serialised.
	Progress func(done, total int, module string)
}

// CacheDir is where per-module yosys results are kept, inside the design
// directory, keyed by a hash of the module's Verilog (module name and
// comments left out, so identical layers share an entry), the contents of
// the .mem files it reads, the yosys version and the synthesis script.
const CacheDir = ".yosys-cache"

// Report synthesizes the design in dir with yosys synth_xilinx, one run
// per module, and counts its cells.
func Report(dir string) (*ResourceReport, error) {
	return ReportWith(context.Background(), dir, ReportOptions{})
}

// ReportContext is Report that stops yosys when ctx is done.
func ReportContext(ctx context.Context, dir string) (*ResourceReport, error) {
	return ReportWith(ctx, dir, ReportOptions{})
}

const missingYosys = "yosys not found on PATH: install the Debian package yosys (apt-get install yosys; `make setup` does it)"

// ReportWith is Report with options.
func ReportWith(ctx context.Context, dir string, opts ReportOptions) (*ResourceReport, error) {
	d, err := LoadDesign(dir)
	if err != nil {
		return nil, err
	}
	ys, err := exec.LookPath("yosys")
	if err != nil {
		return nil, fmt.Errorf("%s", missingYosys)
	}
	version := ""
	if out, err := exec.CommandContext(ctx, ys, "-V").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	if opts.Flatten {
		r, err := reportFlat(ctx, ys, dir, d)
		if r != nil {
			r.Yosys = version
		}
		return r, err
	}
	return reportModules(ctx, ys, version, dir, d, opts)
}

// reportFlat is one synth_xilinx -flatten run over the whole design.
func reportFlat(ctx context.Context, ys, dir string, d *Design) (*ResourceReport, error) {
	statFile := "yosys_stat.json"
	script := fmt.Sprintf("read_verilog %s; synth_xilinx -top %s -flatten; tee -q -o %s stat -json",
		strings.Join(d.Files, " "), d.Top, statFile)
	start := time.Now()
	cells, err := runYosys(ctx, ys, dir, script, statFile, "yosys.log", d.Top)
	if err != nil {
		return nil, err
	}
	r := &ResourceReport{Estimate: d.Estimate, Cells: cells, Seconds: time.Since(start).Seconds(), Top: d.Top, Mode: "flattened"}
	r.Resources = countCells(cells)
	return r, nil
}

// runYosys runs script in dir (log to logFile, relative to dir) and reads
// the statistics it wrote to statFile (relative to dir) for module top.
func runYosys(ctx context.Context, ys, dir, script, statFile, logFile, top string) (map[string]int, error) {
	os.Remove(filepath.Join(dir, statFile))
	start := time.Now()
	cmd := exec.CommandContext(ctx, ys, "-q", "-l", logFile, "-p", script)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("yosys on %s (%s) stopped after %.0fs: %v", dir, top, time.Since(start).Seconds(), ctx.Err())
		}
		return nil, fmt.Errorf("yosys on %s (%s) failed: %v\n%s(full log in %s)", dir, top, err, lastLines(out.String(), 20), filepath.Join(dir, logFile))
	}
	b, err := os.ReadFile(filepath.Join(dir, statFile))
	if err != nil {
		return nil, fmt.Errorf("yosys wrote no statistics for %s: %v", top, err)
	}
	cells, err := parseStat(b, top)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, statFile), err)
	}
	return cells, nil
}

// synthJob is one yosys run of the per-module report.
type synthJob struct {
	module string
	files  []string // Verilog sources (relative to dir)
	key    string   // cache key
	size   int      // bytes of Verilog, to start the big ones first
	libs   []string // Verilog files read as black boxes
	blackb []string // their modules: instances in the statistics, not resources
	users  []int    // indexes into the report's Modules that take this result
}

// cacheEntry is what DIR/.yosys-cache/KEY.json holds.
type cacheEntry struct {
	Yosys   string         `json:"yosys"`
	Module  string         `json:"module"`
	Cells   map[string]int `json:"cells"`
	Seconds float64        `json:"yosys_seconds"`
}

// moduleScript synthesizes one unit: a dense or conv layer's module alone,
// or the top level flattened with its light layers (the heavy ones are
// read as black boxes: their instances are cells, not counted).
const moduleScript = "synth_xilinx -top %s -flatten"

// ownRun says whether a layer is synthesized in a run of its own: the
// multiplier arrays and adder trees of dense and conv layers. Every other
// layer (casts, ReLU, lookups, pooling, softmax's parts) is small and goes
// with the top level, so that yosys can merge it with the logic around it.
func ownRun(l Layer) bool { return l.Op == "dense" || l.Op == "conv" }

func reportModules(ctx context.Context, ys, version, dir string, d *Design, opts ReportOptions) (*ResourceReport, error) {
	start := time.Now()
	cache := filepath.Join(dir, CacheDir)
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	mems := map[string]string{} // .mem file name -> hash of its contents
	for _, m := range d.MemFiles {
		b, err := os.ReadFile(filepath.Join(dir, m))
		if err != nil {
			return nil, fmt.Errorf("design %s: %v", dir, err)
		}
		mems[m] = hashBytes(b)
	}
	r := &ResourceReport{Estimate: d.Estimate, Cells: map[string]int{}, Top: d.Top, Mode: "per-module", Yosys: version}
	byKey := map[string]*synthJob{}
	var jobs []*synthJob
	text := func(file, module string) (string, error) {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return "", fmt.Errorf("design %s: %v", dir, err)
		}
		return normalizeModule(string(b), module, mems), nil
	}
	addJob := func(idx int, j *synthJob, key string) {
		j.key = hashBytes([]byte(version + "\x00" + moduleScript + "\x00" + key))
		if o, ok := byKey[j.key]; ok {
			o.users = append(o.users, idx)
			r.Modules[idx].SameAs = o.module
			return
		}
		j.users = []int{idx}
		byKey[j.key] = j
		jobs = append(jobs, j)
	}
	var heavyFiles, heavyMods, lightFiles []string
	// the top level's own logic (valid bits, delay lines, the reuse
	// counter) with the light layers, flattened
	topEst := Resources{FF: d.DelayBits + d.LatencyCycles}
	var topKey strings.Builder
	var topIncl []string
	for _, l := range d.Layers {
		t, err := text(l.File, l.Module)
		if err != nil {
			return nil, err
		}
		if !ownRun(l) {
			lightFiles = append(lightFiles, l.File)
			topIncl = append(topIncl, l.Module)
			e := LayerEstimate(l)
			topEst.LUT += e.LUT
			topEst.FF += e.FF
			topEst.DSP += e.DSP
			topEst.BRAM += e.BRAM
			// light modules keep their names: the top level refers to them
			topKey.WriteString(l.Module + "\x00" + t + "\x00")
			continue
		}
		r.Modules = append(r.Modules, ModuleReport{Module: l.Module, Estimate: LayerEstimate(l)})
		addJob(len(r.Modules)-1, &synthJob{module: l.Module, files: []string{l.File}, size: len(t)}, t)
		heavyFiles = append(heavyFiles, l.File)
		heavyMods = append(heavyMods, l.Module)
	}
	topFile := d.Files[len(d.Files)-1]
	t, err := os.ReadFile(filepath.Join(dir, topFile))
	if err != nil {
		return nil, fmt.Errorf("design %s: %v", dir, err)
	}
	topKey.Write(t)
	// the black boxes' ports, which the top level's logic depends on, are
	// declared in top.v too; the heavy layers' keys are added to be safe
	for _, j := range jobs {
		topKey.WriteString("\x00" + j.key)
	}
	r.Modules = append(r.Modules, ModuleReport{Module: d.Top, Estimate: topEst, Includes: topIncl})
	addJob(len(r.Modules)-1, &synthJob{module: d.Top, files: append(lightFiles, topFile), size: topKey.Len(), libs: heavyFiles, blackb: heavyMods}, topKey.String())

	total := len(r.Modules)
	done := 0
	var mu sync.Mutex
	finish := func(j *synthJob, e *cacheEntry, cached bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, i := range j.users {
			m := &r.Modules[i]
			m.Cells = e.Cells
			m.Seconds = e.Seconds
			m.Cached = cached
			m.Resources = countCells(e.Cells)
			done++
			if opts.Progress != nil {
				opts.Progress(done, total, m.Module)
			}
		}
	}
	// cached results first
	var todo []*synthJob
	for _, j := range jobs {
		if !opts.NoCache {
			if e := readCache(filepath.Join(cache, j.key+".json"), version); e != nil {
				finish(j, e, true)
				continue
			}
		}
		todo = append(todo, j)
	}
	// the largest modules first, so that the long runs overlap
	sort.SliceStable(todo, func(a, b int) bool { return todo[a].size > todo[b].size })
	n := opts.Jobs
	if n <= 0 {
		n = goruntime.NumCPU()
	}
	if n > len(todo) {
		n = len(todo)
	}
	r.Jobs = n
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *synthJob)
	var wg sync.WaitGroup
	var firstErr error
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				e, err := synthModule(ctx, ys, version, dir, j)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
					continue
				}
				finish(j, e, false)
			}
		}()
	}
feed:
	for _, j := range todo {
		select {
		case queue <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("yosys on %s stopped after %.0fs: %v", dir, time.Since(start).Seconds(), err)
	}
	for i := range r.Modules {
		m := &r.Modules[i]
		for c, k := range m.Cells {
			r.Cells[c] += k
		}
		if i < len(d.Layers) {
			r.Warnings = append(r.Warnings, checkModule(d.Layers[i], m)...)
		}
	}
	r.Resources = countCells(r.Cells)
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// synthModule runs yosys on one module and stores the result in the cache.
func synthModule(ctx context.Context, ys, version, dir string, j *synthJob) (*cacheEntry, error) {
	base := filepath.Join(CacheDir, j.key[:16]+"-"+j.module)
	read := "read_verilog " + strings.Join(j.files, " ")
	if len(j.libs) > 0 {
		read = "read_verilog -lib " + strings.Join(j.libs, " ") + "; " + read
	}
	script := read + "; " + fmt.Sprintf(moduleScript, j.module) + "; tee -q -o " + base + ".stat.json stat -json"
	start := time.Now()
	cells, err := runYosys(ctx, ys, dir, script, base+".stat.json", base+".log", j.module)
	if err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(dir, base+".stat.json"))
	for _, m := range j.blackb {
		delete(cells, m)
		delete(cells, "\\"+m)
	}
	e := &cacheEntry{Yosys: version, Module: j.module, Cells: cells, Seconds: time.Since(start).Seconds()}
	b, err := json.MarshalIndent(e, "", "  ")
	if err == nil {
		tmp := filepath.Join(dir, CacheDir, j.key+".json.tmp")
		if os.WriteFile(tmp, b, 0o644) == nil {
			os.Rename(tmp, filepath.Join(dir, CacheDir, j.key+".json"))
		}
	}
	return e, nil
}

func readCache(path, version string) *cacheEntry {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil || e.Cells == nil || e.Yosys != version {
		return nil
	}
	return &e
}

// normalizeModule is a module's text for the cache key: the .mem files it
// reads replaced by hashes of their contents, its own name by a
// placeholder, and comments dropped, so that two layers with the same
// logic share one synthesis.
func normalizeModule(src, module string, mems map[string]string) string {
	names := make([]string, 0, len(mems))
	for m := range mems {
		names = append(names, m)
	}
	sort.Slice(names, func(a, b int) bool { return len(names[a]) > len(names[b]) })
	for _, m := range names {
		src = strings.ReplaceAll(src, `"`+m+`"`, `"mem:`+mems[m]+`"`)
	}
	var b strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimRight(line, " \t")
		if line == "" {
			continue
		}
		b.WriteString(replaceIdent(line, module, "\x01module"))
		b.WriteByte('\n')
	}
	return b.String()
}

// replaceIdent replaces whole-identifier occurrences of name in s.
func replaceIdent(s, name, with string) string {
	isID := func(c byte) bool {
		return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	var b strings.Builder
	for {
		i := strings.Index(s, name)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(name)
		if (i > 0 && isID(s[i-1])) || (end < len(s) && isID(s[end])) {
			b.WriteString(s[:end])
		} else {
			b.WriteString(s[:i])
			b.WriteString(with)
		}
		s = s[end:]
	}
}

func hashBytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// checkModule flags a layer whose synthesis looks collapsed: multipliers
// the design has but no DSP (nor LUT logic) for them, or a layer with
// registers or logic that yosys reduced to nothing.
func checkModule(l Layer, m *ModuleReport) []string {
	var w []string
	if l.Multipliers > 0 && m.DSP == 0 {
		w = append(w, fmt.Sprintf("%s: the design has %d DSP multipliers, yosys mapped none (logic optimised away?)", l.Module, l.Multipliers))
	}
	if l.Registers > 0 && m.FF == 0 && m.DSP == 0 {
		w = append(w, fmt.Sprintf("%s: the design has %d register bits, yosys kept no flip-flop (logic optimised away?)", l.Module, l.Registers))
	}
	return w
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

// Note says how the counts were obtained, in one line.
func (r *ResourceReport) Note() string {
	if r.Mode == "flattened" {
		return fmt.Sprintf("yosys synth_xilinx -flatten on the whole design (top %s), %.1fs", r.Top, r.Seconds)
	}
	cached, light := 0, 0
	for _, m := range r.Modules {
		if m.Cached {
			cached++
		}
		light += len(m.Includes)
	}
	jobs := "all cached"
	if r.Jobs > 0 {
		jobs = fmt.Sprintf("%d yosys job(s) at once", r.Jobs)
	}
	return fmt.Sprintf("yosys synth_xilinx per module: counts are sums over %d runs (each dense/conv layer alone, the top level %s flattened with the other %d layers; no optimisation across runs); %d of %d runs from %s; %.1fs, %s",
		len(r.Modules), r.Top, light, cached, len(r.Modules), CacheDir, r.Seconds, jobs)
}

// Table prints the report as a table, yosys next to the estimate, then
// the modules (per-module reports) and the cell types.
func (r *ResourceReport) Table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-6s %10s %10s\n", "", "yosys", "estimate")
	for _, row := range []struct {
		name string
		y, e int
	}{{"LUT", r.LUT, r.Estimate.LUT}, {"FF", r.FF, r.Estimate.FF}, {"DSP48", r.DSP, r.Estimate.DSP}, {"BRAM", r.BRAM, r.Estimate.BRAM}} {
		fmt.Fprintf(&b, "%-6s %10d %10d\n", row.name, row.y, row.e)
	}
	b.WriteString(r.Note() + "\n")
	if len(r.Modules) > 0 {
		b.WriteString(r.ModuleTable())
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
	fmt.Fprintf(&b, "cells: %s\n", strings.Join(cs, ", "))
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// ModuleTable lists the modules of a per-module report: yosys's LUT, FF,
// DSP and BRAM with the estimate's DSP, and the synthesis time.
func (r *ResourceReport) ModuleTable() string {
	var b strings.Builder
	w := len("module")
	for _, m := range r.Modules {
		if len(m.Module) > w {
			w = len(m.Module)
		}
	}
	fmt.Fprintf(&b, "%-*s %8s %8s %6s %5s %8s %9s\n", w, "module", "LUT", "FF", "DSP48", "BRAM", "est.DSP", "seconds")
	for _, m := range r.Modules {
		var notes []string
		if len(m.Includes) > 0 {
			notes = append(notes, fmt.Sprintf("with %d layers", len(m.Includes)))
		}
		if m.SameAs != "" {
			notes = append(notes, "same as "+m.SameAs)
		} else if m.Cached {
			notes = append(notes, "cached")
		}
		note := ""
		if len(notes) > 0 {
			note = " (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintf(&b, "%-*s %8d %8d %6d %5d %8d %9.1f%s\n", w, m.Module, m.LUT, m.FF, m.DSP, m.BRAM, m.Estimate.DSP, m.Seconds, note)
	}
	return b.String()
}
