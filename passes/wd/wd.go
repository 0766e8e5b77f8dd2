// Package wd is wdc's Work-Depth analysis (docs/work-depth.md,
// docs/cost-models.md §2, §4, §8.1): the work W and depth D of every node
// from its op's formula (ir.NodeCost), the network's total work, its depth
// as the critical path through the graph, the average parallelism W/D,
// Brent's bound, and the Table 6 figures of each convolution algorithm.
package wd

import (
	"fmt"
	"math"

	"wdc/ir"
)

// OpCost is the Work-Depth figure of one node.
type OpCost struct {
	Node  string `json:"node"`
	Op    string `json:"op"`
	Type  string `json:"type"`  // result type, e.g. f32[1,6,28,28]
	Shape []int  `json:"shape"` // result shape
	// Work counts operations, a multiply-add as one; Depth is the longest
	// chain of dependent operations inside the node.
	Work  int64 `json:"work"`
	Depth int64 `json:"depth"`
	// MACs are the multiply-adds of dot-product ops (conv, conv_transpose,
	// dense, matmul), 0 for other ops. FLOPs = Work + MACs: a multiply-add
	// is two floating-point operations, every other operation one.
	MACs  int64 `json:"macs"`
	FLOPs int64 `json:"flops"`
	// Bytes is the least memory traffic: operands read once, result
	// written once.
	Bytes int64 `json:"bytes"`
	// Parallelism is Work/Depth (0 when Depth is 0).
	Parallelism float64 `json:"parallelism"`
	// Finish is the length of the longest dependency chain through the
	// graph that ends with this node (its earliest finishing step with
	// unbounded processors).
	Finish int64 `json:"finish"`
	// Critical marks the nodes on the reported critical path.
	Critical bool `json:"critical"`
}

// BrentRow bounds the time on p processors, in unit-time operations:
// Lower = max(W/p, D) ≤ T_p ≤ Upper = (W − D)/p + D (Brent).
type BrentRow struct {
	P     float64 `json:"p"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// ConvCosts holds the convolution-algorithm figures of one conv node.
type ConvCosts struct {
	Node       string     `json:"node"`
	Algorithms []AlgoCost `json:"algorithms"`
}

// Report is the Work-Depth analysis of a graph.
type Report struct {
	Graph string   `json:"graph"`
	Ops   []OpCost `json:"ops"`
	// Work is the sum of the nodes' work; Depth the critical path, the
	// longest path through the graph where each node weighs its depth.
	Work        int64   `json:"work"`
	Depth       int64   `json:"depth"`
	Parallelism float64 `json:"parallelism"`
	MACs        int64   `json:"macs"`
	FLOPs       int64   `json:"flops"`
	Bytes       int64   `json:"bytes"`
	// CriticalPath names the nodes of one longest path, first to last.
	CriticalPath []string `json:"critical_path"`
	// Brent gives the bounds for p = 1, 2 and W/D processors.
	Brent []BrentRow `json:"brent"`
	// Convs lists the convolution-algorithm figures (Table 6) of every
	// conv node, in graph order.
	Convs []ConvCosts `json:"conv_algorithms,omitempty"`
}

// BrentTime is Brent's bound on the time with p processors, in unit-time
// operations: T_p ≤ (W − D)/p + D.
func BrentTime(W, D int64, p float64) float64 {
	return float64(W-D)/p + float64(D)
}

// LowerBound is the classical lower bound T_p ≥ max(W/p, D).
func LowerBound(W, D int64, p float64) float64 {
	return math.Max(float64(W)/p, float64(D))
}

// MACs returns the multiply-adds of a dot-product node (conv,
// conv_transpose, dense, matmul) and 0 for any other op. The graph must be
// verified (types consistent with the shape rules).
func MACs(n *ir.Node) int64 {
	if n == nil || n.Out == nil || len(n.Inputs) < 2 || n.Inputs[0] == nil || n.Inputs[1] == nil {
		return 0
	}
	a, b := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	out := int64(n.Out.Type.Shape.Elements())
	switch n.Op {
	case "conv":
		if len(b) < 2 {
			return 0
		}
		return out * int64(b[1]) * prodInt(b[2:])
	case "conv_transpose":
		if len(b) < 2 {
			return 0
		}
		return int64(a.Elements()) * int64(b[1]) * prodInt(b[2:])
	case "dense":
		if len(a) != 2 {
			return 0
		}
		k := a[1]
		if n.Int("trans_a") != 0 {
			k = a[0]
		}
		return out * int64(k)
	case "matmul":
		return out * int64(a[len(a)-1])
	}
	return 0
}

func prodInt(xs []int) int64 {
	p := int64(1)
	for _, x := range xs {
		p *= int64(x)
	}
	return p
}

// Analyze computes the Work-Depth report of g. The graph is verified first;
// a node whose cost formula fails is named in the error.
func Analyze(g *ir.Graph) (*Report, error) {
	if g == nil {
		return nil, fmt.Errorf("no graph to analyze")
	}
	if err := g.Verify(); err != nil {
		return nil, err
	}
	r := &Report{Graph: g.Name, Ops: make([]OpCost, len(g.Nodes)), CriticalPath: []string{}}
	index := make(map[*ir.Node]int, len(g.Nodes))
	pred := make([]int, len(g.Nodes)) // predecessor on the longest path, -1 for none
	last := -1
	for i, n := range g.Nodes {
		index[n] = i
		c, err := nodeCost(n)
		if err != nil {
			return nil, err
		}
		oc := OpCost{
			Node: n.Name(), Op: n.Op, Type: n.Out.Type.String(), Shape: append([]int{}, n.Out.Type.Shape...),
			Work: c.Work, Depth: c.Depth, Bytes: c.Bytes,
		}
		if oc.Work < 0 || oc.Depth < 0 {
			return nil, fmt.Errorf("%s: cost formula gave negative work %d or depth %d", n.Where(), oc.Work, oc.Depth)
		}
		oc.MACs = MACs(n)
		oc.FLOPs = oc.Work + oc.MACs
		if oc.Depth > 0 {
			oc.Parallelism = float64(oc.Work) / float64(oc.Depth)
		}
		// Longest path: the node starts when its latest operand is ready.
		pred[i] = -1
		var start int64
		for _, in := range n.Inputs {
			if in.Producer == nil {
				continue
			}
			j := index[in.Producer] // verified: producers come first
			if f := r.Ops[j].Finish; pred[i] < 0 || f > start {
				start, pred[i] = f, j
			}
		}
		oc.Finish = start + oc.Depth
		r.Ops[i] = oc
		r.Work += oc.Work
		r.MACs += oc.MACs
		r.FLOPs += oc.FLOPs
		r.Bytes += oc.Bytes
		if last < 0 || oc.Finish > r.Ops[last].Finish {
			last = i
		}
		if n.Op == "conv" {
			algos, err := ConvAlgorithms(n)
			if err != nil {
				return nil, err
			}
			r.Convs = append(r.Convs, ConvCosts{Node: n.Name(), Algorithms: algos})
		}
	}
	if last >= 0 {
		r.Depth = r.Ops[last].Finish
		var path []string
		for i := last; i >= 0; i = pred[i] {
			r.Ops[i].Critical = true
			path = append(path, r.Ops[i].Node)
		}
		for a, b := 0, len(path)-1; a < b; a, b = a+1, b-1 {
			path[a], path[b] = path[b], path[a]
		}
		r.CriticalPath = path
	}
	if r.Depth > 0 {
		r.Parallelism = float64(r.Work) / float64(r.Depth)
	}
	for i, p := range []float64{1, 2, r.Parallelism} {
		if p <= 0 || (i == 2 && (p == 1 || p == 2)) {
			continue
		}
		r.Brent = append(r.Brent, BrentRow{P: p, Lower: LowerBound(r.Work, r.Depth, p), Upper: BrentTime(r.Work, r.Depth, p)})
	}
	return r, nil
}

// nodeCost is ir.NodeCost with a panic in a formula turned into an error.
func nodeCost(n *ir.Node) (c ir.Cost, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: cost formula failed: %v", n.Where(), r)
		}
	}()
	if _, ok := ir.Ops[n.Op]; !ok {
		return c, fmt.Errorf("%s: unknown op", n.Where())
	}
	return ir.NodeCost(n), nil
}
