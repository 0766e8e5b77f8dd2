package loop

import "wdc/ir"

// Group is one kernel: a producer and the element-wise chain fused after
// it, with the kernel's arguments (the producer's operands, each chained
// op's other operand, then the last result).
type Group struct {
	Nodes []*ir.Node
	Args  []*ir.Value
}

// Out is the group's result.
func (gr Group) Out() *ir.Value { return gr.Nodes[len(gr.Nodes)-1].Out }

// FusionGroups splits g's nodes, in order, into kernels: a fusable
// producer takes the chain of element-wise readers that follow it, each
// the only reader of the previous result, which is not a graph output,
// and whose other operands are ready when the producer runs. With fuse
// false every node is its own kernel. Every code-emitting backend groups
// this way, so their kernels correspond.
func FusionGroups(g *ir.Graph, fuse bool) []Group {
	users := g.Users()
	index := map[*ir.Node]int{}
	for i, n := range g.Nodes {
		index[n] = i
	}
	isOut := map[*ir.Value]bool{}
	for _, v := range g.Outputs {
		isOut[v] = true
	}
	ready := func(c *ir.Node, prev *ir.Value, at int) bool {
		for _, in := range c.Inputs {
			if in != prev && in.Producer != nil && index[in.Producer] >= at {
				return false
			}
		}
		return true
	}
	done := map[*ir.Node]bool{}
	var groups []Group
	for _, n := range g.Nodes {
		if done[n] {
			continue
		}
		nodes := []*ir.Node{n}
		if fuse && Fusable(n.Op) {
			cur := n.Out
			for !isOut[cur] && len(users[cur]) == 1 {
				c := users[cur][0]
				if CanFuse(cur, c) != nil || done[c] || !ready(c, cur, index[n]) {
					break
				}
				nodes = append(nodes, c)
				cur = c.Out
			}
		}
		for _, m := range nodes {
			done[m] = true
		}
		args := append([]*ir.Value(nil), n.Inputs...)
		prev := n.Out
		for _, c := range nodes[1:] {
			if len(c.Inputs) == 2 {
				if c.Inputs[0] == prev {
					args = append(args, c.Inputs[1])
				} else {
					args = append(args, c.Inputs[0])
				}
			}
			prev = c.Out
		}
		groups = append(groups, Group{Nodes: nodes, Args: append(args, nodes[len(nodes)-1].Out)})
	}
	return groups
}
