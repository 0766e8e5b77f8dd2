// Package check runs ONNX-style conformance tests (the engine behind
// `wdc check`): a test is a model plus reference inputs and outputs as
// TensorProto .pb files; each model is imported, run on a target, and
// every output is compared with the reference within a tolerance.
package check

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"wdc/frontend/onnx"
	"wdc/ir"
	"wdc/runtime"
)

// Runner evaluates one compiled graph on named inputs.
type Runner interface {
	Run(inputs map[string]*ir.Tensor) (map[string]*ir.Tensor, error)
}

// Target compiles a graph for some backend and returns its runner.
type Target func(g *ir.Graph) (Runner, error)

var (
	targetsMu sync.Mutex
	targets   = map[string]Target{"interpreter": interpreter}
)

// RegisterTarget makes a target available by name (backends call it).
func RegisterTarget(name string, t Target) {
	targetsMu.Lock()
	defer targetsMu.Unlock()
	targets[name] = t
}

// Targets lists the registered target names.
func Targets() []string {
	targetsMu.Lock()
	defer targetsMu.Unlock()
	var s []string
	for k := range targets {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

type interpRunner struct{ g *ir.Graph }

func (r interpRunner) Run(in map[string]*ir.Tensor) (map[string]*ir.Tensor, error) {
	return runtime.Run(r.g, in)
}

func interpreter(g *ir.Graph) (Runner, error) {
	if ops := runtime.Unsupported(g); len(ops) > 0 {
		return nil, fmt.Errorf("the interpreter has no kernel for %v", ops)
	}
	return interpRunner{g}, nil
}

// Default tolerances: onnxruntime's float32 convention.
const (
	DefaultRTol = 1e-4
	DefaultATol = 1e-5
)

// Tolerance is a per-test tolerance with its reason.
type Tolerance struct {
	RTol, ATol float64
	Why        string
}

// KnownTolerances loosens the tolerance of tests whose reference outputs
// are less precise than float32 (printed on the result line).
var KnownTolerances = map[string]Tolerance{
	"test_averagepool_2d_ceil_last_window_starts_on_pad": {RTol: 1e-3, ATol: 1e-5,
		Why: "its reference output is written with 4 significant digits (0.1511 for 0.151056)"},
}

// Options controls a check run.
type Options struct {
	// Target names a registered target ("interpreter" when empty);
	// TargetFunc, when set, is used instead.
	Target     string
	TargetFunc Target
	// RTol and ATol: a float output passes when |got−want| <= ATol +
	// RTol·|want| element by element (0: the defaults; negative: 0).
	// Integer outputs must match exactly.
	RTol, ATol float64
	// Strict ignores KnownTolerances.
	Strict bool
	// Jobs is how many tests run at once (0 or 1: one at a time).
	Jobs int
	// Import passes options to the ONNX importer (input shapes are taken
	// from the first test data set unless given).
	Import onnx.Options
}

func (o Options) tolFor(test string) (rtol, atol float64, why string) {
	if t, ok := KnownTolerances[test]; ok && !o.Strict {
		return t.RTol, t.ATol, t.Why
	}
	rtol, atol = o.tol()
	return rtol, atol, ""
}

func (o Options) tol() (rtol, atol float64) {
	rtol, atol = o.RTol, o.ATol
	if rtol == 0 {
		rtol = DefaultRTol
	}
	if atol == 0 {
		atol = DefaultATol
	}
	return max(rtol, 0), max(atol, 0)
}

// Result is the outcome of one test data set (or of a whole test whose
// model could not be imported or has nothing to check).
type Result struct {
	Test, Set      string
	Pass, Skipped  bool
	MaxAbs, MaxRel float64
	Integer        bool // every output is an integer tensor (compared exactly)
	Compared       bool // outputs were computed and compared
	Err            string
}

// Summary counts results.
type Summary struct {
	Passed, Failed, Skipped int
	Results                 []Result
}

// Case is one test: a model and its data sets.
type Case struct {
	Name  string
	Model string
	Sets  []DataSet
}

// DataSet is one set of reference inputs and outputs.
type DataSet struct {
	Name            string
	Inputs, Outputs []string // .pb files in order
}

func numbered(dir, prefix string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, prefix+"_*.pb"))
	type f struct {
		n    int
		path string
	}
	var fs []f
	for _, p := range m {
		base := filepath.Base(p)
		rest := strings.TrimPrefix(base, prefix+"_")
		n, err := strconv.Atoi(strings.TrimSuffix(rest, ".pb"))
		if err != nil {
			continue
		}
		fs = append(fs, f{n, p})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].n < fs[j].n })
	var out []string
	for _, x := range fs {
		out = append(out, x.path)
	}
	return out
}

// Discover turns a path into test cases. A path may be
//   - a test folder: model.onnx with test_data_set_N/{input,output}_K.pb;
//   - a folder holding such a folder as onnx/ (as models/jet-tagger does);
//   - a model file X.onnx: its sibling test_data_set_N folders when it is
//     model.onnx, else the files X_input_K.pb and X_output_K.pb beside it
//     (the suite's light/ models);
//   - a folder of such X.onnx files (light/), each one a test.
func Discover(path string) ([]Case, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if !strings.HasSuffix(path, ".onnx") {
			return nil, fmt.Errorf("%s: not a test folder or .onnx model", path)
		}
		return []Case{modelCase(path)}, nil
	}
	if _, err := os.Stat(filepath.Join(path, "model.onnx")); err == nil {
		return []Case{modelCase(filepath.Join(path, "model.onnx"))}, nil
	}
	if _, err := os.Stat(filepath.Join(path, "onnx", "model.onnx")); err == nil {
		c := modelCase(filepath.Join(path, "onnx", "model.onnx"))
		c.Name = filepath.Base(filepath.Clean(path))
		return []Case{c}, nil
	}
	models, _ := filepath.Glob(filepath.Join(path, "*.onnx"))
	sort.Strings(models)
	if len(models) == 0 {
		return nil, fmt.Errorf("%s: no model.onnx, onnx/model.onnx or *.onnx in this folder", path)
	}
	var cs []Case
	for _, m := range models {
		cs = append(cs, modelCase(m))
	}
	return cs, nil
}

func modelCase(model string) Case {
	dir := filepath.Dir(model)
	base := filepath.Base(model)
	c := Case{Model: model}
	if base == "model.onnx" {
		c.Name = filepath.Base(dir)
		if c.Name == "onnx" {
			c.Name = filepath.Base(filepath.Dir(dir))
		}
		sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
		sort.Slice(sets, func(i, j int) bool { return setNum(sets[i]) < setNum(sets[j]) })
		for _, s := range sets {
			c.Sets = append(c.Sets, DataSet{Name: filepath.Base(s), Inputs: numbered(s, "input"), Outputs: numbered(s, "output")})
		}
		return c
	}
	stem := strings.TrimSuffix(base, ".onnx")
	c.Name = stem
	ins, outs := numbered(dir, stem+"_input"), numbered(dir, stem+"_output")
	if len(outs) > 0 {
		c.Sets = []DataSet{{Name: "data", Inputs: ins, Outputs: outs}}
	}
	return c
}

func setNum(p string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(p), "test_data_set_"))
	return n
}

// Run checks every test found under dirs, printing one line per data set
// and a closing "N passed, M failed" line to w.
func Run(dirs []string, opts Options, w io.Writer) (Summary, error) {
	var cases []Case
	for _, d := range dirs {
		cs, err := Discover(d)
		if err != nil {
			return Summary{}, err
		}
		cases = append(cases, cs...)
	}
	target := opts.TargetFunc
	if target == nil {
		name := opts.Target
		if name == "" {
			name = "interpreter"
		}
		targetsMu.Lock()
		target = targets[name]
		targetsMu.Unlock()
		if target == nil {
			return Summary{}, fmt.Errorf("unknown target %q (known: %s)", name, strings.Join(Targets(), ", "))
		}
	}
	results := make([][]Result, len(cases))
	jobs := max(opts.Jobs, 1)
	var mu sync.Mutex
	next := 0
	printed := 0
	done := make([]bool, len(cases))
	var sum Summary
	flush := func() { // print finished cases in order
		for printed < len(cases) && done[printed] {
			for _, r := range results[printed] {
				fmt.Fprintln(w, r.line(opts))
				sum.add(r)
			}
			printed++
		}
	}
	var wg sync.WaitGroup
	for j := 0; j < jobs; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(cases) {
					return
				}
				rs := RunCase(cases[i], target, opts)
				mu.Lock()
				results[i], done[i] = rs, true
				flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	line := fmt.Sprintf("%d passed, %d failed", sum.Passed, sum.Failed)
	if sum.Skipped > 0 {
		line += fmt.Sprintf(", %d skipped", sum.Skipped)
	}
	fmt.Fprintln(w, line)
	return sum, nil
}

func (s *Summary) add(r Result) {
	s.Results = append(s.Results, r)
	switch {
	case r.Skipped:
		s.Skipped++
	case r.Pass:
		s.Passed++
	default:
		s.Failed++
	}
}

func (r Result) line(opts Options) string {
	name := r.Test
	if r.Set != "" {
		name += " [" + r.Set + "]"
	}
	switch {
	case r.Skipped:
		return fmt.Sprintf("SKIP %s: %s", name, r.Err)
	case !r.Compared:
		return fmt.Sprintf("FAIL %s: %s", name, oneLine(r.Err))
	}
	rtol, atol, why := opts.tolFor(r.Test)
	tol := fmt.Sprintf("tolerance atol=%g rtol=%g", atol, rtol)
	if why != "" {
		tol += " (" + why + ")"
	}
	if r.Integer {
		tol = "exact (integers)"
	}
	s := fmt.Sprintf("%s %s max_abs_err=%.3g max_rel_err=%.3g %s", map[bool]string{true: "PASS", false: "FAIL"}[r.Pass], name, r.MaxAbs, r.MaxRel, tol)
	if r.Err != "" {
		s += ": " + oneLine(r.Err)
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, ":\n  ", ": ")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	return strings.ReplaceAll(s, "\n", "; ")
}

// Diff is how far a result is from the expected one.
type Diff struct {
	MaxAbs, MaxRel float64
	Bad            int // elements outside the tolerance
	First          int // index of the first of them, -1 if none
}

// Compare checks got against want (same number of elements) element by
// element: a float passes when |got−want| <= atol + rtol·|want| (NaN
// matches NaN), an integer when it is equal.
func Compare(got, want *ir.Tensor, rtol, atol float64) Diff {
	d := Diff{First: -1}
	float := want.Elem.IsFloat()
	for i := 0; i < want.Len(); i++ {
		var g, w float64
		if float {
			g, w = float64(got.F[i]), float64(want.F[i])
			if math.IsNaN(g) && math.IsNaN(w) || g == w {
				continue
			}
		} else {
			if got.I[i] == want.I[i] {
				continue
			}
			g, w = float64(got.I[i]), float64(want.I[i])
		}
		e := math.Abs(g - w)
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		d.MaxAbs = math.Max(d.MaxAbs, e)
		if w != 0 {
			d.MaxRel = math.Max(d.MaxRel, e/math.Abs(w))
		}
		if !float || !(e <= atol+rtol*math.Abs(w)) {
			d.Bad++
			if d.First < 0 {
				d.First = i
			}
		}
	}
	return d
}

// closeRunner releases a compiled runner's resources (loaded libraries,
// build folders) when it has any.
func closeRunner(r Runner) {
	if c, ok := r.(io.Closer); ok && c != nil {
		c.Close()
	}
}

// RunCase imports a case's model, runs each data set on target and
// compares the outputs. Graph inputs the importer needs as constants
// (such as Clip's bounds) are bound to each data set's values.
func RunCase(c Case, target Target, opts Options) []Result {
	fail := func(set, msg string) []Result { return []Result{{Test: c.Name, Set: set, Err: msg}} }
	if len(c.Sets) == 0 {
		return []Result{{Test: c.Name, Skipped: true, Err: "no reference data (test_data_set_N/ or NAME_output_K.pb) next to " + c.Model}}
	}
	m, err := onnx.ReadModel(c.Model)
	if err != nil {
		return fail("", err.Error())
	}
	realIn := onnx.RealInputs(m)
	bound := map[string]bool{}
	compile := func(ins []*ir.Tensor) (*ir.Graph, Runner, error) {
		for {
			iopts := opts.Import
			if iopts.InputShapeList == nil {
				for _, t := range ins {
					iopts.InputShapeList = append(iopts.InputShapeList, t.Shape)
				}
			}
			iopts.Bind = map[string]*ir.Tensor{}
			for k, name := range realIn {
				if bound[name] && k < len(ins) {
					iopts.Bind[name] = ins[k]
				}
			}
			g, err := onnx.Import(m, c.Model, iopts)
			var nc *onnx.NotConstError
			if errors.As(err, &nc) && nc.Input && !bound[nc.Value] && slices.Index(realIn, nc.Value) < len(ins) {
				bound[nc.Value] = true
				continue
			}
			if err != nil {
				return nil, nil, err
			}
			run, err := target(g)
			return g, run, err
		}
	}
	var g *ir.Graph
	var run Runner
	defer func() { closeRunner(run) }()
	var out []Result
	for si, set := range c.Sets {
		r := Result{Test: c.Name, Set: set.Name}
		ins, err := readInputs(set, realIn)
		if err == nil && (si == 0 || len(bound) > 0) {
			closeRunner(run)
			g, run, err = compile(ins)
			if err != nil && si == 0 {
				return fail("", err.Error())
			}
		}
		if err == nil {
			err = runSet(g, run, set, ins, realIn, bound, opts, &r)
		}
		if err != nil {
			r.Pass = false
			r.Err = err.Error()
		}
		out = append(out, r)
	}
	return out
}

// readInputs reads a data set's inputs, ordered as the model's real
// inputs (by the tensors' names when they match, else by position).
func readInputs(set DataSet, realIn []string) ([]*ir.Tensor, error) {
	ins := make([]*ir.Tensor, len(set.Inputs))
	byName := map[string]*ir.Tensor{}
	allNamed := true
	for k, p := range set.Inputs {
		t, name, err := runtime.ReadTensorPB(p)
		if err != nil {
			return nil, err
		}
		ins[k] = t
		if slices.Contains(realIn, name) && byName[name] == nil {
			byName[name] = t
		} else {
			allNamed = false
		}
	}
	if allNamed && len(byName) == len(realIn) {
		for k, name := range realIn {
			ins[k] = byName[name]
		}
	}
	return ins, nil
}

func runSet(g *ir.Graph, run Runner, set DataSet, ins []*ir.Tensor, realIn []string, bound map[string]bool, opts Options, r *Result) error {
	if len(ins) != len(realIn) {
		return fmt.Errorf("the model has %d inputs, the data set gives %d", len(realIn), len(ins))
	}
	feed := map[string]*ir.Tensor{}
	for k, t := range ins {
		name := realIn[k]
		if bound[name] {
			continue
		}
		v := g.Lookup(name)
		if v == nil {
			continue // an input nothing uses
		}
		if !t.Type.Equal(v.Type) {
			return fmt.Errorf("input %q: the data set gives %v, the model wants %v", name, t.Type, v.Type)
		}
		feed[name] = t
	}
	got, err := run.Run(feed)
	if err != nil {
		return err
	}
	if len(set.Outputs) != len(g.Outputs) {
		return fmt.Errorf("the model has %d outputs, the data set gives %d", len(g.Outputs), len(set.Outputs))
	}
	rtol, atol, _ := opts.tolFor(r.Test)
	r.Pass, r.Integer, r.Compared = true, true, true
	var msgs []string
	for k, p := range set.Outputs {
		want, _, err := runtime.ReadTensorPB(p)
		if err != nil {
			return err
		}
		name := g.Outputs[k].Name
		t := got[name]
		if t == nil {
			return fmt.Errorf("output %q was not produced", name)
		}
		if !t.Shape.Equal(want.Shape) && t.Shape.Elements() != want.Shape.Elements() {
			return fmt.Errorf("output %q: shape %v, want %v", name, t.Shape, want.Shape)
		}
		if !t.Shape.Equal(want.Shape) {
			// Same data, different dims (e.g. a folded trailing 1): compare
			// values but say so.
			msgs = append(msgs, fmt.Sprintf("output %q has shape %v, want %v", name, t.Shape, want.Shape))
			r.Pass = false
		}
		if t.Elem.IsFloat() != want.Elem.IsFloat() {
			return fmt.Errorf("output %q: element type %v, want %v", name, t.Elem, want.Elem)
		}
		if want.Elem.IsFloat() {
			r.Integer = false
		}
		d := Compare(t, want, rtol, atol)
		r.MaxAbs, r.MaxRel = math.Max(r.MaxAbs, d.MaxAbs), math.Max(r.MaxRel, d.MaxRel)
		bad, worst := d.Bad, d.First
		if bad > 0 {
			r.Pass = false
			msgs = append(msgs, fmt.Sprintf("output %q: %d of %d values differ (first at %d: got %g, want %g)", name, bad, want.Len(), worst, t.Float(worst), want.Float(worst)))
		}
	}
	if len(msgs) > 0 {
		r.Err = strings.Join(msgs, "; ")
	}
	return nil
}
