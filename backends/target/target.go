// Package target knows every float target a model can run on (the
// reference interpreter, compiled CPU code) and opens a runner for one by
// name. It registers them with the conformance runner (wdc check) and the
// benchmark (wdc bench), so a new target is added in one place.
package target

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"wdc/backends/llvm"
	"wdc/ir"
	"wdc/passes/convalgo"
	"wdc/passes/roofline"
	"wdc/runtime"
	"wdc/runtime/native"
	"wdc/testbench/bench"
	"wdc/testbench/check"
)

// Runner evaluates a compiled model on named inputs.
type Runner interface {
	Run(inputs map[string]*ir.Tensor) (map[string]*ir.Tensor, error)
	Close() error
}

// Options control how a target builds a model.
type Options struct {
	// Threads is the thread count of compiled code (0: all CPUs).
	Threads int
	// BuildDir keeps the build; empty builds in a temporary folder that
	// Close removes.
	BuildDir string
	// ConvAlgo forces a convolution algorithm on every layer it applies
	// to ("" or "auto": the cost model chooses per layer).
	ConvAlgo string
	// Explain, if set, receives each conv layer's candidates with their
	// predicted times.
	Explain io.Writer
	// CPU passes options to the LLVM backend (Threads is set from above).
	CPU llvm.Options
}

// Opener builds g for a target.
type Opener func(g *ir.Graph, opts Options) (Runner, error)

var openers = map[string]Opener{
	"interpreter": func(g *ir.Graph, _ Options) (Runner, error) {
		if ops := runtime.Unsupported(g); len(ops) > 0 {
			return nil, fmt.Errorf("the interpreter has no kernel for %v", ops)
		}
		return interp{g}, nil
	},
	"cpu": openCPU,
}

// Names lists the targets.
func Names() []string {
	var s []string
	for k := range openers {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Open builds g for the named target and returns its runner.
func Open(name string, g *ir.Graph, opts Options) (Runner, error) {
	o, ok := openers[name]
	if !ok {
		return nil, fmt.Errorf("unknown target %q (float targets: %s)", name, strings.Join(Names(), ", "))
	}
	return o(g, opts)
}

type interp struct{ g *ir.Graph }

func (r interp) Run(in map[string]*ir.Tensor) (map[string]*ir.Tensor, error) {
	return runtime.Run(r.g, in)
}
func (r interp) Close() error { return nil }

type cpuRunner struct {
	*native.Model
	tmp string
}

func (r cpuRunner) Close() error {
	err := r.Model.Close()
	if r.tmp != "" {
		os.RemoveAll(r.tmp)
	}
	return err
}

func openCPU(g *ir.Graph, opts Options) (Runner, error) {
	dir, tmp := opts.BuildDir, ""
	if dir == "" {
		var err error
		if tmp, err = os.MkdirTemp("", "wdc-cpu-"); err != nil {
			return nil, err
		}
		dir = tmp
	}
	fail := func(err error) (Runner, error) {
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		return nil, err
	}
	copts := opts.CPU
	copts.Threads = opts.Threads
	plan, err := ConvPlan(g, opts)
	if err != nil {
		return fail(err)
	}
	copts.Lower = plan.Lower
	if _, err := llvm.Compile(g, dir, copts); err != nil {
		return fail(err)
	}
	m, err := native.Load(dir)
	if err != nil {
		return fail(err)
	}
	return cpuRunner{Model: m, tmp: tmp}, nil
}

// ConvPlan chooses each conv layer's algorithm from the cost model and the
// measured roofline of this machine (measured once, then cached).
func ConvPlan(g *ir.Graph, opts Options) (*convalgo.Plan, error) {
	algo, err := convalgo.ParseAlgo(opts.ConvAlgo)
	if err != nil {
		return nil, err
	}
	mach, err := roofline.Load(roofline.Options{})
	if err != nil {
		mach = roofline.Default()
	}
	plan, err := convalgo.Select(g, convalgo.Options{Machine: mach, Threads: opts.Threads, Force: algo})
	if err != nil {
		return nil, err
	}
	if opts.Explain != nil {
		if err := plan.Explain(opts.Explain); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

func init() {
	for name := range openers {
		name := name
		check.RegisterTarget(name, func(g *ir.Graph) (check.Runner, error) {
			return Open(name, g, Options{})
		})
		bench.RegisterTarget(name, func(g *ir.Graph, threads int) (bench.Runner, error) {
			return Open(name, g, Options{Threads: threads})
		})
	}
}
