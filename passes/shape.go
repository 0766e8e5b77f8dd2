package passes

import (
	"fmt"

	"wdc/ir"
)

// InferShapes recomputes every node's result type from its op's shape rule
// (ir.InferNode), in topological order, so that a graph edited by a pass
// or read from text with stale types is consistent again. The nodes are
// first sorted topologically (a cycle is an error naming its nodes).
// Errors name the node whose shape rule failed.
func InferShapes(g *ir.Graph) error {
	if err := g.SortTopologically(); err != nil {
		return err
	}
	for _, n := range g.Nodes {
		if n.Out == nil {
			return fmt.Errorf("node of op %q has no result value", n.Op)
		}
		t, err := inferNode(n)
		if err != nil {
			return err
		}
		n.Out.Type = t
	}
	return nil
}

// inferNode is ir.InferNode with any panic in a shape rule turned into an
// error naming the node.
func inferNode(n *ir.Node) (t ir.Type, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: shape rule failed: %v", n.Where(), r)
		}
	}()
	return ir.InferNode(n)
}
