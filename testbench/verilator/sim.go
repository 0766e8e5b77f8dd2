package verilator

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"wdc/backends/verilog"
)

// Result is what one simulation measured.
type Result struct {
	Outputs       [][]int64 `json:"-"`              // one row of output words per input vector
	LatencyCycles int       `json:"latency_cycles"` // first input accepted to first output valid
	IICycles      int       `json:"ii_cycles"`      // median cycles between accepted inputs
	Cycles        int       `json:"cycles"`         // cycles simulated in all
}

// Options steer a simulation.
type Options struct {
	// ReadySeed, when non-zero, drives out_ready pseudo-randomly (about 3
	// cycles in 4) from this seed to exercise the stall logic.
	ReadySeed uint32
	// taps, when set, names a file where the harness records every
	// layer's result words (see verilog.Tap).
	taps string
}

// Simulate builds (once per design directory) and runs the Verilator
// testbench of the design in dir on the input vectors (fixed-point words
// of the design's input type, after the input cast).
func Simulate(dir string, inputs [][]int64) (*Result, error) {
	return SimulateWith(dir, inputs, Options{})
}

// SimulateWith is Simulate with options.
func SimulateWith(dir string, inputs [][]int64, opts Options) (*Result, error) {
	d, err := verilog.LoadDesign(dir)
	if err != nil {
		return nil, err
	}
	lo, hi := int64(-1)<<(d.Input.W-1), int64(1)<<(d.Input.W-1)-1
	for v, row := range inputs {
		if len(row) != d.Input.Count {
			return nil, fmt.Errorf("input vector %d has %d words; the design takes %d (%s)", v, len(row), d.Input.Count, d.Input.Elem)
		}
		for i, q := range row {
			if q < lo || q > hi {
				return nil, fmt.Errorf("input vector %d, word %d: %d does not fit %s (range %d..%d)", v, i, q, d.Input.Elem, lo, hi)
			}
		}
	}
	bin, err := Build(dir)
	if err != nil {
		return nil, err
	}
	var in bytes.Buffer
	fmt.Fprintf(&in, "%d\n", len(inputs))
	for _, row := range inputs {
		for i, q := range row {
			if i > 0 {
				in.WriteByte(' ')
			}
			in.WriteString(strconv.FormatInt(q, 10))
		}
		in.WriteByte('\n')
	}
	inFile := filepath.Join(dir, "sim_inputs.txt")
	outFile := filepath.Join(dir, "sim_outputs.txt")
	if err := os.WriteFile(inFile, in.Bytes(), 0o644); err != nil {
		return nil, err
	}
	os.Remove(outFile)
	ii := max(d.IICycles, 1)
	maxCycles := int64(len(inputs)+1)*int64(ii)*4 + int64(d.LatencyCycles)*4 + 1000
	args := []string{"sim_inputs.txt", "sim_outputs.txt", strconv.FormatInt(maxCycles, 10), strconv.FormatUint(uint64(opts.ReadySeed), 10)}
	if opts.taps != "" {
		args = append(args, opts.taps)
	}
	// Verilator models of wide designs (a latched image is thousands of
	// bits) keep large temporaries on the stack: run with an unlimited stack.
	cmd := exec.Command(bin, args...)
	if sh, err := exec.LookPath("sh"); err == nil {
		cmd = exec.Command(sh, append([]string{"-c", `ulimit -s unlimited 2>/dev/null || ulimit -s 1048576 2>/dev/null; exec "$0" "$@"`, bin}, args...)...)
	}
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("simulation of %s failed: %v\n%s", dir, err, strings.TrimSpace(stderr.String()))
	}
	return readOutputs(outFile, len(inputs), d.Output.Count)
}

func readOutputs(path string, n, count int) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := &Result{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	line := 0
	for sc.Scan() {
		line++
		fs := strings.Fields(sc.Text())
		if len(r.Outputs) < n {
			if len(fs) != count {
				return nil, fmt.Errorf("%s:%d: %d words, want %d", path, line, len(fs), count)
			}
			row := make([]int64, count)
			for i, s := range fs {
				if row[i], err = strconv.ParseInt(s, 10, 64); err != nil {
					return nil, fmt.Errorf("%s:%d: %v", path, line, err)
				}
			}
			r.Outputs = append(r.Outputs, row)
			continue
		}
		if len(fs) != 2 {
			return nil, fmt.Errorf("%s:%d: want \"name value\"", path, line)
		}
		v, err := strconv.Atoi(fs[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		switch fs[0] {
		case "latency":
			r.LatencyCycles = v
		case "ii":
			r.IICycles = v
		case "cycles":
			r.Cycles = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(r.Outputs) != n {
		return nil, fmt.Errorf("%s: %d output vectors, want %d", path, len(r.Outputs), n)
	}
	return r, nil
}

// Build compiles the Verilator model and harness of the design in dir
// (obj_dir/vsim), reusing an earlier build when the sources have not
// changed, and returns the executable's path.
func Build(dir string) (string, error) {
	d, err := verilog.LoadDesign(dir)
	if err != nil {
		return "", err
	}
	vl, err := need("verilator", "verilator")
	if err != nil {
		return "", err
	}
	if _, err := need("g++", "g++"); err != nil {
		return "", err
	}
	if _, err := need("make", "make"); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, HarnessFile)); err != nil {
		if err := Generate(dir); err != nil {
			return "", err
		}
	}
	// .mem files are read when the simulation starts, so they are not part of the build
	srcs := append(append([]string{}, d.Files...), HarnessFile, verilog.DesignFile)
	h := sha256.New()
	for _, s := range srcs {
		b, err := os.ReadFile(filepath.Join(dir, s))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", s, len(b))
		h.Write(b)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(abs, "obj_dir", "vsim") // absolute: it runs with dir as its working directory
	stamp := filepath.Join(dir, "obj_dir", "wdc.stamp")
	if old, err := os.ReadFile(stamp); err == nil && string(old) == sum {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	opt := optLevel()
	flags := verilateFlags()
	key := cacheKey(vl, sum, append(append([]string{}, flags...), opt))
	if fromCache(key, bin) {
		if err := os.WriteFile(stamp, []byte(sum), 0o644); err != nil {
			return "", err
		}
		writeBuildLog(dir, BuildTimes{Cached: true})
		return bin, nil
	}
	// 1. Verilator translates the design to C++ (single-threaded here)
	t0 := time.Now()
	os.RemoveAll(filepath.Join(dir, "obj_dir"))
	args := append(append([]string{}, flags...), "-Mdir", "obj_dir", "-o", "vsim", "--top-module", d.Top)
	args = append(args, d.Files...)
	args = append(args, HarnessFile)
	cmd := exec.Command(vl, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("verilator on %s failed: %v\n%s", dir, err, tail(string(out), 4000))
	}
	if len(bytes.TrimSpace(out)) == 0 {
		lintClean(lintKey(vl, dir, d)) // verilated with -Wall and not a word
	}
	t1 := time.Now()
	// 2. g++ compiles it, with Verilator's run-time library from the cache
	rt := runtimeKey(vl, opt)
	reused := runtimeFromCache(rt, filepath.Join(dir, "obj_dir"))
	mk := exec.Command("make", "-C", "obj_dir", "-f", "V"+d.Top+".mk", "-j", strconv.Itoa(max(goruntime.NumCPU(), 1)),
		"OPT_FAST="+opt, "OPT_SLOW="+opt, "OPT_GLOBAL="+opt, "vsim")
	mk.Dir = dir
	mk.Env = os.Environ()
	if cc, err := exec.LookPath("ccache"); err == nil && os.Getenv("OBJCACHE") == "" {
		mk.Env = append(mk.Env, "OBJCACHE="+cc) // verilated.mk prefixes every compile with it
	}
	out, err = mk.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compiling the Verilator model of %s failed: %v\n%s", dir, err, tail(string(out), 4000))
	}
	t2 := time.Now()
	if !reused {
		runtimeToCache(rt, filepath.Join(dir, "obj_dir"))
	}
	if err := os.WriteFile(stamp, []byte(sum), 0o644); err != nil {
		return "", err
	}
	toCache(key, bin)
	writeBuildLog(dir, BuildTimes{Verilate: t1.Sub(t0), Compile: t2.Sub(t1), RuntimeCached: reused})
	return bin, nil
}

// optLevel is the g++ optimisation of the model. The generated C++ of a
// design with thousands of constant products is large (megabytes), and
// g++ spends almost all of a build's time optimising it: verilated.mk
// compiles the model with -Os by default, which took the jet tagger's
// build 3 to 12 minutes here, against about 30 s at -O0. A simulation
// runs a few thousand to a few hundred thousand cycles, so the model is
// compiled without optimisation; WDC_VERILATOR_OPT overrides the level
// (e.g. -O2 for long runs).
func optLevel() string {
	if v := strings.TrimSpace(os.Getenv("WDC_VERILATOR_OPT")); v != "" {
		return v
	}
	return "-O0"
}

// verilateFlags are Verilator's arguments. Its DFG optimiser is off: on
// wide buses it merged thousands of word assignments into chains of ever
// wider concatenation temporaries (quadratic code; it doubled the
// verilation time of the MNIST CNN and gave g++ huge functions).
func verilateFlags() []string {
	return []string{"--cc", "--exe", "-Wall", "-Wno-fatal", "-fno-dfg", "--x-assign", "fast", "--x-initial", "fast"}
}

// BuildTimes is where a Build's time went (obj_dir/wdc.build.json).
type BuildTimes struct {
	Verilate      time.Duration `json:"verilate_ns"`              // Verilator translating the design to C++
	Compile       time.Duration `json:"compile_ns"`               // g++ and the link
	Cached        bool          `json:"cached,omitempty"`         // the simulator came from the build cache
	RuntimeCached bool          `json:"runtime_cached,omitempty"` // Verilator's run-time library came from the cache
}

func (t BuildTimes) String() string {
	if t.Cached {
		return "simulator from the build cache"
	}
	s := fmt.Sprintf("verilator %.1fs, g++ %.1fs", t.Verilate.Seconds(), t.Compile.Seconds())
	if t.RuntimeCached {
		s += " (run-time library cached)"
	}
	return s
}

func writeBuildLog(dir string, t BuildTimes) {
	if b, err := json.Marshal(t); err == nil {
		os.WriteFile(filepath.Join(dir, "obj_dir", "wdc.build.json"), b, 0o644)
	}
}

// LastBuild reports the time of the last Build of the design in dir.
func LastBuild(dir string) (BuildTimes, error) {
	var t BuildTimes
	b, err := os.ReadFile(filepath.Join(dir, "obj_dir", "wdc.build.json"))
	if err != nil {
		return t, err
	}
	err = json.Unmarshal(b, &t)
	return t, err
}

// Lint runs verilator --lint-only -Wall on the design in dir and returns
// its warnings (nil when clean).
func Lint(dir string) error {
	d, err := verilog.LoadDesign(dir)
	if err != nil {
		return err
	}
	vl, err := need("verilator", "verilator")
	if err != nil {
		return err
	}
	// a clean result is cached (a Build's verilation, which runs with
	// -Wall, records it too): linting a large design costs as much as
	// verilating it
	key := lintKey(vl, dir, d)
	if lintCached(key) {
		return nil
	}
	args := append([]string{"--lint-only", "-Wall", "--top-module", d.Top}, d.Files...)
	cmd := exec.Command(vl, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		return fmt.Errorf("verilator --lint-only -Wall on %s: %v\n%s", dir, err, tail(string(out), 6000))
	}
	lintClean(key)
	return nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}
