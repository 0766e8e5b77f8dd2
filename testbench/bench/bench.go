// Package bench measures wdc against peer runtimes (onnxruntime, PyTorch,
// OpenBLAS) on the same model, inputs and thread count, in one interleaved
// run: wdc runs, then each peer runs, and again, round after round, so
// that the noise of a shared machine falls on all of them alike. Only
// ratios measured in one such run are meaningful.
//
// The wdc side is a Runner built by the caller (the reference interpreter
// through Interpreter, or compiled code); each peer is a long-lived child
// process speaking the line protocol of protocol.go, which times its own
// in-process inference calls.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/runtime"
)

// Runner is wdc's side of a benchmark: one inference on inputs by name,
// returning every graph output by name.
type Runner interface {
	Run(inputs map[string]*ir.Tensor) (map[string]*ir.Tensor, error)
}

// RunnerFactory builds the Runner of a target for a graph.
type RunnerFactory func(g *ir.Graph, threads int) (Runner, error)

var (
	targetsMu sync.Mutex
	targets   = map[string]RunnerFactory{}
)

// RegisterTarget makes a target usable by name in Config.Target when
// Config.WDC is nil. "interp" (the reference interpreter) is built in.
func RegisterTarget(name string, f RunnerFactory) {
	targetsMu.Lock()
	defer targetsMu.Unlock()
	targets[name] = f
}

// Targets lists the registered target names.
func Targets() []string {
	targetsMu.Lock()
	defer targetsMu.Unlock()
	var out []string
	for n := range targets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func init() {
	RegisterTarget("interp", func(g *ir.Graph, threads int) (Runner, error) { return Interpreter(g), nil })
}

// Interpreter runs g with the reference interpreter (single-threaded,
// whatever Config.Threads says).
func Interpreter(g *ir.Graph) Runner { return interpRunner{g} }

type interpRunner struct{ g *ir.Graph }

func (r interpRunner) Run(in map[string]*ir.Tensor) (map[string]*ir.Tensor, error) {
	return runtime.Run(r.g, in)
}

func (interpRunner) String() string { return "reference interpreter" }

// Config describes one benchmark.
type Config struct {
	Model   string   // ONNX file, given to the peers and (unless Graph is set) imported for wdc
	Name    string   // name in reports ("" : Model)
	Target  string   // wdc target, reported; selects a registered Runner when WDC is nil
	Threads int      // threads for wdc and every peer (0: 1)
	Runs    int      // interleaved rounds (0: 20); each contestant runs one burst per round
	Warmup  int      // untimed runs per contestant before the rounds (0: 3; <0: none)
	Peers   []string // "onnxruntime", "pytorch", "openblas" (aliases: ort, torch, numpy)

	Graph  *ir.Graph             // the imported model (nil: onnx.Load(Model))
	WDC    Runner                // wdc's side (nil: the registered factory of Target)
	Inputs map[string]*ir.Tensor // nil: RandomInputs(Graph, Seed)
	Seed   int64                 // for RandomInputs (0: 1)

	// MinTurn is the least time one contestant's burst lasts: a contestant
	// faster than that runs several times in a row per round (0: 200 ms:
	// on this shared VM a run that follows an idle pause is up to twice
	// as slow as the next one, so every turn must be long enough for its
	// median to be warm).
	MinTurn time.Duration
	// Gap is a pause between turns, letting the last contestant's spinning
	// worker threads go idle (0: 2 ms; <0: none).
	Gap time.Duration
	// Tolerance on outputs: a peer agrees when max|peer−wdc| <=
	// Tolerance·max(1, max|wdc|) (0: 1e-3).
	Tolerance float64

	PeerSpecs map[string]PeerSpec // overrides how a peer starts (tests)
	PeersDir  string              // where node_modules is ("" : PeersDir())
	Progress  io.Writer           // progress bar (e.g. os.Stderr) for runs expected to take > 2 s; nil: none
}

// Result is a benchmark's outcome. Latencies are in-process, in ms.
type Result struct {
	Model   string
	Target  string
	Runner  string // what ran wdc's side, e.g. "reference interpreter"
	Threads int
	Rounds  int
	FLOPs   int64 // per inference, of conv/dense/matmul (2 per multiply-add); 0 if none
	WDC     Stats
	Peers   []PeerResult
	Inputs  []string // input names, with the seed used
	Seed    int64
	// CPUs and the 1-minute load average before and after the rounds
	// (NaN where /proc/loadavg cannot be read): a load above CPUs means
	// other work shared the machine.
	CPUs                  int
	LoadBefore, LoadAfter float64
}

// loadAvg reads the 1-minute load average (NaN if unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// PeerResult is one peer's figures.
type PeerResult struct {
	Name    string
	Version string
	Stats   Stats
	// Ratio is wdc's median over the peer's: below 1, wdc is faster.
	Ratio float64
	// MaxAbsDiff is the largest |peer − wdc| over all outputs, on the same
	// inputs; MaxAbsRef the largest |wdc| (for scale).
	MaxAbsDiff, MaxAbsRef float64
	Agree                 bool   // within Config.Tolerance
	Err                   string // why this peer has no figures ("" : it has)
}

// GFLOPS is the throughput of a median latency, or 0 when unknown.
func (r *Result) GFLOPS(medianMS float64) float64 {
	if r.FLOPs == 0 || !(medianMS > 0) {
		return 0
	}
	return float64(r.FLOPs) / (medianMS * 1e6)
}

type contestant struct {
	name  string
	run   func(n int, want bool) ([]float64, map[string]*ir.Tensor, []string, error)
	burst int
	med   float64 // warm-up median, ms
	ms    []float64
	pr    *PeerResult // nil for wdc
	peer  *Peer
}

// Run measures cfg.Model under wdc and each peer, interleaved. A peer that
// cannot start, load the model or run it is reported with its error in
// Result.Peers and left out; errors on wdc's side fail the benchmark.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Threads < 1 {
		cfg.Threads = 1
	}
	if cfg.Runs < 1 {
		cfg.Runs = 20
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = 3
	} else if cfg.Warmup < 0 {
		cfg.Warmup = 0
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.MinTurn == 0 {
		cfg.MinTurn = 200 * time.Millisecond
	}
	if cfg.Gap == 0 {
		cfg.Gap = 2 * time.Millisecond
	} else if cfg.Gap < 0 {
		cfg.Gap = 0
	}
	if cfg.Tolerance == 0 {
		cfg.Tolerance = 1e-3
	}
	if cfg.Target == "" {
		cfg.Target = "interp"
	}
	name := cfg.Name
	if name == "" {
		name = cfg.Model
	}
	g := cfg.Graph
	if g == nil {
		if cfg.Model == "" {
			return nil, errors.New("bench: no model given")
		}
		var err error
		if g, err = onnx.Load(cfg.Model, onnx.Options{}); err != nil {
			return nil, err
		}
	}
	runner := cfg.WDC
	if runner == nil {
		targetsMu.Lock()
		f := targets[cfg.Target]
		targetsMu.Unlock()
		if f == nil {
			return nil, fmt.Errorf("bench: target %q has no runner (registered: %v)", cfg.Target, Targets())
		}
		var err error
		if runner, err = f(g, cfg.Threads); err != nil {
			return nil, fmt.Errorf("bench: target %s: %v", cfg.Target, err)
		}
		if c, ok := runner.(io.Closer); ok {
			defer c.Close()
		}
	}
	inputs := cfg.Inputs
	if inputs == nil {
		var err error
		if inputs, err = RandomInputs(g, cfg.Seed); err != nil {
			return nil, err
		}
	}
	var inNames []string
	for _, v := range g.Inputs {
		inNames = append(inNames, v.Name)
	}
	res := &Result{Model: name, Target: cfg.Target, Threads: cfg.Threads, FLOPs: CountFLOPs(g), Inputs: inNames, Seed: cfg.Seed,
		CPUs: goruntime.NumCPU(), LoadBefore: loadAvg()}
	if s, ok := runner.(fmt.Stringer); ok {
		res.Runner = s.String()
	}

	wdc := &contestant{name: "wdc"}
	var wdcOut map[string]*ir.Tensor
	wdc.run = func(n int, want bool) ([]float64, map[string]*ir.Tensor, []string, error) {
		ms := make([]float64, 0, n)
		// A runner that can write into given tensors reuses one set of
		// outputs, as the OpenBLAS peer reuses its result array.
		into, reuse := runner.(interface {
			RunInto(in, out map[string]*ir.Tensor) error
		})
		for i := 0; i < n; i++ {
			var err error
			t0 := time.Now()
			if reuse && wdcOut != nil {
				err = into.RunInto(inputs, wdcOut)
			} else {
				wdcOut, err = runner.Run(inputs)
			}
			d := time.Since(t0)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("wdc (%s): %v", cfg.Target, err)
			}
			ms = append(ms, float64(d.Nanoseconds())/1e6)
		}
		return ms, wdcOut, nil, nil
	}
	cs := []*contestant{wdc}

	// Start the peers.
	model := cfg.Model
	if abs, err := filepath.Abs(model); err == nil {
		model = abs
	}
	var scriptDir string
	peersDir := cfg.PeersDir
	if peersDir == "" {
		peersDir = PeersDir()
	}
	defer func() {
		for _, c := range cs {
			if c.peer != nil {
				c.peer.Close()
			}
		}
		if scriptDir != "" {
			os.RemoveAll(scriptDir)
		}
	}()
	// Capacity fixed up front: contestants point into this slice.
	res.Peers = make([]PeerResult, 0, len(cfg.Peers))
	for _, pn := range cfg.Peers {
		c, err := CanonicalPeer(pn)
		if err != nil {
			return nil, err
		}
		res.Peers = append(res.Peers, PeerResult{Name: c, Ratio: math.NaN(), MaxAbsDiff: math.NaN()})
		pr := &res.Peers[len(res.Peers)-1]
		spec, ok := cfg.PeerSpecs[c]
		if !ok {
			if scriptDir == "" {
				d, err := os.MkdirTemp("", "wdc-bench-peers-")
				if err != nil {
					return nil, err
				}
				scriptDir = d
				if _, err := WritePeerScripts(d); err != nil {
					return nil, err
				}
			}
			if spec, err = PeerSpecFor(c, scriptDir, peersDir, cfg.Threads); err != nil {
				pr.Err = err.Error()
				continue
			}
		}
		p, err := StartPeer(ctx, spec)
		if err != nil {
			pr.Err = err.Error()
			continue
		}
		cs = append(cs, &contestant{name: c, peer: p, pr: pr})
	}
	// Load the model in every peer at once (Python's imports are slow).
	var wg sync.WaitGroup
	for _, c := range cs[1:] {
		wg.Add(1)
		go func(c *contestant) {
			defer wg.Done()
			if err := c.peer.Load(model, cfg.Threads); err != nil {
				c.pr.Err = err.Error()
				return
			}
			c.pr.Version = c.peer.Version
			if err := c.peer.SetInputs(inNames, inputs); err != nil {
				c.pr.Err = err.Error()
				return
			}
			c.run = c.peer.Run
		}(c)
	}
	wg.Wait()
	// Contestants whose peer failed leave the race.
	live := cs[:0:0]
	for _, c := range cs {
		if c.run != nil {
			live = append(live, c)
		} else if c.peer != nil {
			c.peer.Close()
			c.peer = nil
		}
	}

	// Warm up; the last warm-up run returns outputs for the check.
	for _, c := range live {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := cfg.Warmup
		if n < 1 {
			n = 1
		}
		ms, out, order, err := c.run(n, true)
		if err != nil {
			if c.pr == nil {
				return nil, err
			}
			c.pr.Err = err.Error()
			c.run = nil
			continue
		}
		med := Summarize(ms).Median
		c.med = med
		c.burst = 1
		if med > 0 {
			c.burst = int(math.Ceil(float64(cfg.MinTurn) / 1e6 / med))
		}
		c.burst = max(1, min(c.burst, 1000))
		if c.pr == nil {
			wdcOut = out
			continue
		}
		c.pr.MaxAbsDiff, c.pr.MaxAbsRef, err = compareOutputs(g, wdcOut, out, order)
		if err != nil {
			c.pr.Err = err.Error()
			c.run = nil
			continue
		}
		c.pr.Agree = c.pr.MaxAbsDiff <= cfg.Tolerance*math.Max(1, c.pr.MaxAbsRef)
	}
	racing := live[:0:0]
	var est float64
	for _, c := range live {
		if c.run != nil {
			racing = append(racing, c)
			est += float64(c.burst)*c.med + float64(cfg.Gap)/1e6
		}
	}

	// The rounds: every contestant in turn, starting one later each round.
	var bar *progressbar.ProgressBar
	if cfg.Progress != nil && est*float64(cfg.Runs) > 2000 {
		bar = progressbar.NewOptions(cfg.Runs,
			progressbar.OptionSetWriter(cfg.Progress),
			progressbar.OptionSetDescription("bench "+filepath.Base(name)),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond))
		defer bar.Close()
	}
	for r := 0; r < cfg.Runs; r++ {
		for k := range racing {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			c := racing[(r+k)%len(racing)]
			if c.run == nil {
				continue
			}
			ms, _, _, err := c.run(c.burst, false)
			if err != nil {
				if c.pr == nil {
					return nil, err
				}
				c.pr.Err = err.Error()
				c.run = nil
				continue
			}
			c.ms = append(c.ms, ms...)
			if cfg.Gap > 0 {
				time.Sleep(cfg.Gap)
			}
		}
		if bar != nil {
			bar.Add(1)
		}
	}
	res.Rounds = cfg.Runs
	res.LoadAfter = loadAvg()
	res.WDC = Summarize(wdc.ms)
	for _, c := range racing {
		if c.pr == nil || c.pr.Err != "" {
			continue
		}
		c.pr.Stats = Summarize(c.ms)
		c.pr.Ratio = res.WDC.Median / c.pr.Stats.Median
	}
	if res.Runner == "" {
		res.Runner = cfg.Target
	}
	return res, nil
}

// RandomInputs makes a value for every graph input: uniform in [-1, 1)
// from seed, so wdc and every peer see the same numbers.
func RandomInputs(g *ir.Graph, seed int64) (map[string]*ir.Tensor, error) {
	rng := rand.New(rand.NewSource(seed))
	in := map[string]*ir.Tensor{}
	for _, v := range g.Inputs {
		if v.Type.Elem != ir.Float32 {
			return nil, fmt.Errorf("input %q is %v: the benchmark feeds float32 inputs only", v.Name, v.Type)
		}
		n := v.Type.Shape.Elements()
		if n < 0 {
			return nil, fmt.Errorf("input %q has no static shape (%v)", v.Name, v.Type)
		}
		f := make([]float32, n)
		for i := range f {
			f[i] = float32(rng.Float64()*2 - 1)
		}
		in[v.Name] = ir.FromFloats(v.Type.Shape, f)
	}
	return in, nil
}

// compareOutputs matches a peer's outputs to wdc's by name (or by position
// when the names differ) and returns max|peer−wdc| and max|wdc|.
func compareOutputs(g *ir.Graph, want, got map[string]*ir.Tensor, gotOrder []string) (float64, float64, error) {
	if len(got) != len(g.Outputs) {
		return 0, 0, fmt.Errorf("outputs: the peer gave %d output(s) %v, wdc %d", len(got), gotOrder, len(g.Outputs))
	}
	diff, ref := 0.0, 0.0
	for i, v := range g.Outputs {
		w := want[v.Name]
		if w == nil {
			return 0, 0, fmt.Errorf("outputs: wdc gave no output %q", v.Name)
		}
		p := got[v.Name]
		if p == nil && i < len(gotOrder) {
			p = got[gotOrder[i]]
		}
		if p == nil {
			return 0, 0, fmt.Errorf("outputs: the peer gave no output %q", v.Name)
		}
		if p.Len() != w.Len() {
			return 0, 0, fmt.Errorf("outputs: %q has %d values (shape %v) from the peer, %d (%v) from wdc", v.Name, p.Len(), p.Shape, w.Len(), w.Shape)
		}
		for j := 0; j < w.Len(); j++ {
			a, b := w.Float(j), p.Float(j)
			if math.IsNaN(a) != math.IsNaN(b) {
				return math.Inf(1), ref, nil
			}
			diff = math.Max(diff, math.Abs(a-b))
			ref = math.Max(ref, math.Abs(a))
		}
	}
	return diff, ref, nil
}

// CountFLOPs counts the floating-point operations of one inference in the
// ops that dominate it: conv, conv_transpose, dense and matmul, two per
// multiply-add. Other ops are not counted.
func CountFLOPs(g *ir.Graph) int64 {
	var total int64
	for _, n := range g.Nodes {
		out := int64(n.Out.Type.Shape.Elements())
		switch n.Op {
		case "conv":
			w := n.Inputs[1].Type.Shape
			k := int64(1)
			for _, d := range w[1:] {
				k *= int64(d)
			}
			total += 2 * out * k
		case "conv_transpose":
			x, w := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape
			k := int64(x.Elements())
			for _, d := range w[1:] {
				k *= int64(d)
			}
			total += 2 * k
		case "dense":
			a := n.Inputs[0].Type.Shape
			k := a[1]
			if n.Int("trans_a") != 0 {
				k = a[0]
			}
			total += 2 * out * int64(k)
		case "matmul":
			a := n.Inputs[0].Type.Shape
			if len(a) > 0 {
				total += 2 * out * int64(a[len(a)-1])
			}
		}
	}
	return total
}
