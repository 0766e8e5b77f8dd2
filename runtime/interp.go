// Package runtime holds the reference interpreter, the golden model every
// backend is checked against, and tensor I/O.
package runtime

import (
	"fmt"
	"sort"

	"wdc/ir"
)

// Kernel computes one node's result from its operand tensors. Kernels are
// simple and obviously correct: float32 data, float64 accumulation in
// reductions, deterministic results.
type Kernel func(n *ir.Node, in []*ir.Tensor) (*ir.Tensor, error)

var kernels = map[string]Kernel{}

// RegisterKernel installs the interpreter kernel of an op.
func RegisterKernel(op string, k Kernel) {
	if _, dup := kernels[op]; dup {
		panic("runtime: kernel " + op + " registered twice")
	}
	kernels[op] = k
}

// Unsupported lists the ops of g the interpreter has no kernel for.
func Unsupported(g *ir.Graph) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range g.Nodes {
		if _, ok := kernels[n.Op]; !ok && !seen[n.Op] {
			seen[n.Op] = true
			out = append(out, n.Op)
		}
	}
	sort.Strings(out)
	return out
}

// Run evaluates g on the given inputs (by input name) and returns every
// graph output by name. Inputs must match the declared types exactly.
func Run(g *ir.Graph, inputs map[string]*ir.Tensor) (map[string]*ir.Tensor, error) {
	return RunObserved(g, inputs, nil)
}

// RunObserved is Run that also calls observe after each node, e.g. to
// record ranges for calibration or to find the first divergent layer.
func RunObserved(g *ir.Graph, inputs map[string]*ir.Tensor, observe func(n *ir.Node, out *ir.Tensor)) (map[string]*ir.Tensor, error) {
	if ops := Unsupported(g); len(ops) > 0 {
		return nil, fmt.Errorf("the interpreter has no kernel for %v", ops)
	}
	env := make(map[*ir.Value]*ir.Tensor, len(g.Inputs)+len(g.Consts)+len(g.Nodes))
	for _, v := range g.Inputs {
		t, ok := inputs[v.Name]
		if !ok {
			return nil, fmt.Errorf("input %q (%v) was not given", v.Name, v.Type)
		}
		if !t.Type.Equal(v.Type) {
			return nil, fmt.Errorf("input %q must be %v, got %v", v.Name, v.Type, t.Type)
		}
		if t.Len() != v.Type.Shape.Elements() {
			return nil, fmt.Errorf("input %q: %v needs %d values, got %d", v.Name, v.Type, v.Type.Shape.Elements(), t.Len())
		}
		env[v] = t
	}
	for name := range inputs {
		if v := g.Lookup(name); v == nil || v.Producer != nil || v.Const != nil {
			return nil, fmt.Errorf("%q is not an input of graph %q", name, g.Name)
		}
	}
	for _, v := range g.Consts {
		env[v] = v.Const
	}
	// Free each intermediate after its last use so large models fit.
	lastUse := map[*ir.Value]int{}
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			lastUse[in] = i
		}
	}
	keep := map[*ir.Value]bool{}
	for _, v := range g.Outputs {
		keep[v] = true
	}
	for i, n := range g.Nodes {
		args := make([]*ir.Tensor, len(n.Inputs))
		for j, in := range n.Inputs {
			t, ok := env[in]
			if !ok {
				return nil, fmt.Errorf("%s: input %q has no value (graph not in topological order?)", n.Where(), in.Name)
			}
			args[j] = t
		}
		out, err := kernels[n.Op](n, args)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", n.Where(), err)
		}
		if !out.Type.Equal(n.Out.Type) || out.Len() != n.Out.Type.Shape.Elements() {
			return nil, fmt.Errorf("%s: kernel produced %v (%d values), the IR says %v", n.Where(), out.Type, out.Len(), n.Out.Type)
		}
		env[n.Out] = out
		if observe != nil {
			observe(n, out)
		}
		for _, in := range n.Inputs {
			if lastUse[in] == i && in.Producer != nil && !keep[in] {
				delete(env, in)
			}
		}
	}
	res := make(map[string]*ir.Tensor, len(g.Outputs))
	for _, v := range g.Outputs {
		res[v.Name] = env[v]
	}
	return res, nil
}
