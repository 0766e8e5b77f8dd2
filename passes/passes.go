// Package passes holds wdc's graph-to-graph transformations and the pass
// manager that runs them.
//
// Like the SSA back end of Go's compiler (cmd/compile/internal/ssa), the
// manager is a plain ordered table: a pass is a name, a line of
// documentation and a function over an *ir.Graph; a pipeline is a named
// list of pass names. After every pass the graph is verified, so a pass
// that leaves it malformed is named at once, and the IR can be handed to a
// hook (for printing) after any one pass.
package passes

import (
	"fmt"
	"sort"
	"strings"

	"wdc/ir"
)

// Pass is one transformation (or check) of a graph.
type Pass struct {
	Name string
	Doc  string
	Run  func(*ir.Graph) error
}

// Pipeline is a named, ordered list of passes.
type Pipeline struct {
	Name   string
	Doc    string
	Passes []string
}

var (
	passes    = map[string]*Pass{}
	passOrder []string // registration order, for listings
	pipelines = map[string]*Pipeline{}
)

// Register adds a pass to the registry. A duplicate or unnamed pass is a
// programming error and panics (any test catches it).
func Register(p Pass) {
	if p.Name == "" || p.Run == nil {
		panic("passes: a pass needs a name and a Run function")
	}
	if _, dup := passes[p.Name]; dup {
		panic("passes: pass " + p.Name + " registered twice")
	}
	passes[p.Name] = &p
	passOrder = append(passOrder, p.Name)
}

// RegisterPipeline adds a named pipeline. Every pass it names must already
// be registered; a duplicate or an unknown pass panics.
func RegisterPipeline(name, doc string, passNames ...string) {
	if _, dup := pipelines[name]; dup {
		panic("passes: pipeline " + name + " registered twice")
	}
	for _, p := range passNames {
		if _, ok := passes[p]; !ok {
			panic("passes: pipeline " + name + " names unknown pass " + p)
		}
	}
	pipelines[name] = &Pipeline{Name: name, Doc: doc, Passes: append([]string(nil), passNames...)}
}

// Lookup returns the pass called name, or an error listing the known passes.
func Lookup(name string) (*Pass, error) {
	if p, ok := passes[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("unknown pass %q (known passes: %s)", name, strings.Join(PassNames(), ", "))
}

// LookupPipeline returns the pipeline called name, or an error listing the
// known pipelines.
func LookupPipeline(name string) (*Pipeline, error) {
	if p, ok := pipelines[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("unknown pipeline %q (known pipelines: %s)", name, strings.Join(PipelineNames(), ", "))
}

// PassNames lists the registered passes in registration order.
func PassNames() []string { return append([]string(nil), passOrder...) }

// Passes returns the registered passes in registration order.
func Passes() []*Pass {
	out := make([]*Pass, len(passOrder))
	for i, n := range passOrder {
		out[i] = passes[n]
	}
	return out
}

// PipelineNames lists the registered pipelines in sorted order.
func PipelineNames() []string {
	names := make([]string, 0, len(pipelines))
	for n := range pipelines {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Options control a pipeline run.
type Options struct {
	// After names a pass of the run; Dump is called with the graph right
	// after that pass (and its verification). "*" dumps after every pass.
	// Empty: no dump.
	After string
	// Dump receives the graph after the pass named by After. It must not
	// keep g. When After is set and Dump is nil, the run is an error.
	Dump func(pass string, g *ir.Graph)
	// Log, if set, is called once per pass before it runs (e.g. for -v).
	Log func(pass string)
}

// RunPipeline runs the named pipeline over g.
func RunPipeline(g *ir.Graph, name string, opts Options) error {
	pl, err := LookupPipeline(name)
	if err != nil {
		return err
	}
	return RunPasses(g, pl.Passes, opts)
}

// RunPasses runs the named passes over g in order, verifying the graph
// after each one. Every name is checked before anything runs.
func RunPasses(g *ir.Graph, names []string, opts Options) error {
	if g == nil {
		return fmt.Errorf("no graph to run passes on")
	}
	list := make([]*Pass, len(names))
	for i, n := range names {
		p, err := Lookup(n)
		if err != nil {
			return err
		}
		list[i] = p
	}
	if opts.After != "" {
		if opts.Dump == nil {
			return fmt.Errorf("a dump after pass %q was asked for without a dump function", opts.After)
		}
		if opts.After != "*" && !contains(names, opts.After) {
			if _, err := Lookup(opts.After); err != nil {
				return err
			}
			return fmt.Errorf("pass %q is not part of this run (it runs: %s)", opts.After, strings.Join(names, ", "))
		}
	}
	for _, p := range list {
		if opts.Log != nil {
			opts.Log(p.Name)
		}
		if err := runOne(p, g); err != nil {
			return fmt.Errorf("pass %s: %w", p.Name, err)
		}
		if err := verifyAfter(g); err != nil {
			return fmt.Errorf("pass %s left an invalid graph: %w", p.Name, err)
		}
		if opts.After == "*" || opts.After == p.Name {
			opts.Dump(p.Name, g)
		}
	}
	return nil
}

// runOne runs a pass, turning a panic inside it into an error so that no
// panic reaches a user.
func runOne(p *Pass, g *ir.Graph) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error (panic): %v", r)
		}
	}()
	return p.Run(g)
}

func verifyAfter(g *ir.Graph) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("verifier failed (panic): %v", r)
		}
	}()
	return g.Verify()
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
