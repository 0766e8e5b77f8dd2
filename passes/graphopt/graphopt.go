// Package graphopt holds the graph optimizations run before code
// generation: constant folding, batch-norm folding into the preceding
// conv/dense, bias fusion into conv/dense, pre-transposition of constant
// dense weights, dead-value elimination, and the activation memory plan.
// Each pass is registered in the passes registry, and the pipeline
// "cpu-opt" runs them in order. Passes never modify a constant tensor in
// place: they create new constants, so a graph cloned with Clone shares
// its weights safely.
package graphopt

import (
	"fmt"
	"math"
	"strconv"

	"wdc/ir"
	"wdc/passes"
	"wdc/runtime"
)

func init() {
	passes.Register(passes.Pass{Name: "fold-constants", Doc: "evaluate nodes whose operands are all constants (with the interpreter) into constants", Run: FoldConstants})
	passes.Register(passes.Pass{Name: "fold-batchnorm", Doc: "fold batch_norm into the preceding conv or dense (scaled weights, new bias)", Run: FoldBatchNorm})
	passes.Register(passes.Pass{Name: "fuse-bias", Doc: "turn conv/dense followed by the addition of a constant per-channel bias into conv/dense with that bias", Run: FuseBias})
	passes.Register(passes.Pass{Name: "pretranspose-weights", Doc: "store constant dense weights used with trans_b=1 transposed, so the GEMM reads them contiguously", Run: PretransposeWeights})
	passes.Register(passes.Pass{Name: "eliminate-dead", Doc: "remove nodes and constants that no graph output depends on", Run: EliminateDead})
	passes.RegisterPipeline("cpu-opt", "graph optimizations before CPU code generation",
		"verify", "fold-constants", "fuse-bias", "fold-batchnorm", "pretranspose-weights", "eliminate-dead")
}

// Optimize runs the cpu-opt pipeline.
func Optimize(g *ir.Graph) error { return passes.RunPipeline(g, "cpu-opt", passes.Options{}) }

// Clone copies g's structure; constant tensors are shared (passes never
// modify them in place).
func Clone(g *ir.Graph) (*ir.Graph, error) {
	c := ir.NewGraph(g.Name)
	m := map[*ir.Value]*ir.Value{}
	for _, v := range g.Inputs {
		nv, err := c.AddInput(v.Name, v.Type, v.Pos)
		if err != nil {
			return nil, err
		}
		m[v] = nv
	}
	for _, v := range g.Consts {
		nv, err := c.AddConst(v.Name, v.Const, v.Pos)
		if err != nil {
			return nil, err
		}
		m[v] = nv
	}
	for _, n := range g.Nodes {
		ins := make([]*ir.Value, len(n.Inputs))
		for i, v := range n.Inputs {
			if ins[i] = m[v]; ins[i] == nil {
				return nil, fmt.Errorf("%s: input %q is not defined before it", n.Where(), v.Name)
			}
		}
		attrs := ir.Attrs{}
		for k, a := range n.Attrs {
			attrs[k] = a
		}
		out, err := c.AddNode(n.Op, n.Name(), ins, attrs, n.Pos)
		if err != nil {
			return nil, err
		}
		out.Pos = n.Out.Pos
		m[n.Out] = out
	}
	for _, v := range g.Outputs {
		if m[v] == nil {
			return nil, fmt.Errorf("output %q is not defined", v.Name)
		}
		c.Outputs = append(c.Outputs, m[v])
	}
	return c, nil
}

func freshName(g *ir.Graph, base string) string {
	name := base
	for i := 1; g.Lookup(name) != nil; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	return name
}

func newConst(g *ir.Graph, base string, t *ir.Tensor) (*ir.Value, error) {
	return g.AddConst(freshName(g, base), t, ir.Pos{})
}

func isOutput(g *ir.Graph, v *ir.Value) bool {
	for _, o := range g.Outputs {
		if o == v {
			return true
		}
	}
	return false
}

func removeNodes(g *ir.Graph, dead map[*ir.Node]bool) {
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if !dead[n] {
			kept = append(kept, n)
		}
	}
	g.Nodes = kept
	g.Reindex()
}

// replaceValue makes every reader and output of old read nv instead.
func replaceValue(g *ir.Graph, old, nv *ir.Value) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == old {
				n.Inputs[i] = nv
			}
		}
	}
	for i, o := range g.Outputs {
		if o == old {
			g.Outputs[i] = nv
		}
	}
}

// maxFoldElements bounds the size of a folded constant.
const maxFoldElements = 1 << 22

// FoldConstants evaluates every node whose operands are all constants.
func FoldConstants(g *ir.Graph) error {
	dead := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		all := true
		for _, in := range n.Inputs {
			all = all && in.IsConst()
		}
		if !all || n.Out.Type.Shape.Elements() > maxFoldElements || len(runtime.Unsupported(&ir.Graph{Nodes: []*ir.Node{n}})) > 0 {
			continue
		}
		sub := ir.NewGraph("fold")
		var ins []*ir.Value
		for i, in := range n.Inputs {
			v, err := sub.AddConst("c"+strconv.Itoa(i), in.Const, ir.Pos{})
			if err != nil {
				return err
			}
			ins = append(ins, v)
		}
		attrs := ir.Attrs{}
		for k, a := range n.Attrs {
			attrs[k] = a
		}
		out, err := sub.AddNode(n.Op, "y", ins, attrs, n.Pos)
		if err != nil {
			return err
		}
		sub.Outputs = []*ir.Value{out}
		res, err := runtime.Run(sub, nil)
		if err != nil {
			return fmt.Errorf("%s: folding: %v", n.Where(), err)
		}
		// The node's result becomes a constant of the same name.
		v := n.Out
		v.Producer = nil
		v.Const = res["y"]
		g.Consts = append(g.Consts, v)
		dead[n] = true
	}
	if len(dead) > 0 {
		removeNodes(g, dead)
	}
	return nil
}

func allConst(vs ...*ir.Value) bool {
	for _, v := range vs {
		if !v.IsConst() || v.Type.Elem.Kind != ir.F32 {
			return false
		}
	}
	return true
}

// FoldBatchNorm folds batch_norm(conv(x, w, b)) into conv(x, w·a, (b−mean)·a + bias)
// with a = scale/sqrt(var+eps), and likewise for dense (per output column),
// when the weights and statistics are constants and the conv/dense result
// has no other reader.
func FoldBatchNorm(g *ir.Graph) error {
	users := g.Users()
	dead := map[*ir.Node]bool{}
	for _, bn := range g.Nodes {
		if bn.Op != "batch_norm" || !allConst(bn.Inputs[1:]...) {
			continue
		}
		p := bn.Inputs[0].Producer
		if p == nil || (p.Op != "conv" && p.Op != "dense") || len(users[p.Out]) != 1 || isOutput(g, p.Out) || dead[p] {
			continue
		}
		if !allConst(p.Inputs[1:]...) {
			continue
		}
		eps := bn.Float("epsilon")
		scale, bias, mean, vr := bn.Inputs[1].Const.F, bn.Inputs[2].Const.F, bn.Inputs[3].Const.F, bn.Inputs[4].Const.F
		C := len(scale)
		a := make([]float64, C)
		for c := range a {
			a[c] = float64(scale[c]) / math.Sqrt(float64(vr[c])+eps)
		}
		w := p.Inputs[1].Const
		nw := ir.NewTensor(ir.Float32, w.Shape)
		nb := ir.NewTensor(ir.Float32, ir.Shape{C})
		switch p.Op {
		case "conv":
			per := len(w.F) / C
			for m := 0; m < C; m++ {
				for i := 0; i < per; i++ {
					nw.F[m*per+i] = float32(float64(w.F[m*per+i]) * a[m])
				}
				b := 0.0
				if len(p.Inputs) == 3 {
					b = float64(p.Inputs[2].Const.F[m])
				}
				nb.F[m] = float32((b-float64(mean[m]))*a[m] + float64(bias[m]))
			}
		case "dense":
			var cb []float32
			if len(p.Inputs) == 3 {
				ct := p.Inputs[2].Const
				if ct.Shape.Elements() != C && ct.Shape.Elements() != 1 {
					continue // a full [M,N] c: leave it
				}
				cb = ct.F
			}
			tb := p.Int("trans_b") != 0
			rows, cols := w.Shape[0], w.Shape[1]
			for r := 0; r < rows; r++ {
				for c := 0; c < cols; c++ {
					col := c
					if tb {
						col = r
					}
					nw.F[r*cols+c] = float32(float64(w.F[r*cols+c]) * a[col])
				}
			}
			beta := p.Float("beta")
			for m := 0; m < C; m++ {
				b := 0.0
				if cb != nil {
					b = beta * float64(cb[m%len(cb)])
				}
				nb.F[m] = float32((b-float64(mean[m]))*a[m] + float64(bias[m]))
			}
			p.Attrs["beta"] = ir.FloatAttr(1)
		}
		wv, err := newConst(g, p.Inputs[1].Name+"_bn", nw)
		if err != nil {
			return err
		}
		bv, err := newConst(g, bn.Name()+"_bias", nb)
		if err != nil {
			return err
		}
		p.Inputs = []*ir.Value{p.Inputs[0], wv, bv}
		// The producer now computes the batch norm's result.
		old := p.Out
		p.Out = bn.Out
		bn.Out.Producer = p
		_ = old
		dead[bn] = true
	}
	if len(dead) > 0 {
		removeNodes(g, dead)
	}
	return nil
}

// FuseBias turns add(conv(x, w), c) with a constant c that only varies
// along the channel axis ([M,1,...] or [1,M,1,...]) into conv(x, w, c'),
// and add(dense(a, b), c) with c broadcasting to the result into
// dense(a, b, c) (when dense had no c).
func FuseBias(g *ir.Graph) error {
	users := g.Users()
	dead := map[*ir.Node]bool{}
	for _, add := range g.Nodes {
		if add.Op != "add" {
			continue
		}
		for j := 0; j < 2; j++ {
			pv, cv := add.Inputs[j], add.Inputs[1-j]
			p := pv.Producer
			if p == nil || dead[p] || len(users[pv]) != 1 || isOutput(g, pv) || !allConst(cv) || len(p.Inputs) != 2 {
				continue
			}
			if !add.Out.Type.Shape.Equal(pv.Type.Shape) {
				continue
			}
			var bias *ir.Tensor
			switch p.Op {
			case "conv":
				M := pv.Type.Shape[1]
				cs := cv.Type.Shape
				r := len(pv.Type.Shape)
				ok := len(cs) >= r-1 && cs.Elements() == M
				for d := range cs {
					od := r - len(cs) + d
					if cs[d] != 1 && od != 1 {
						ok = false
					}
				}
				if !ok {
					continue
				}
				bias = cv.Const.Reshaped(ir.Shape{M})
			case "dense":
				bias = cv.Const
			default:
				continue
			}
			bv, err := newConst(g, cv.Name+"_bias", bias.Clone())
			if err != nil {
				return err
			}
			p.Inputs = append(p.Inputs, bv)
			if p.Op == "dense" {
				p.Attrs["beta"] = ir.FloatAttr(1)
			}
			p.Out = add.Out
			add.Out.Producer = p
			dead[add] = true
			break
		}
	}
	if len(dead) > 0 {
		removeNodes(g, dead)
	}
	return nil
}

// PretransposeWeights rewrites dense(a, B, trans_b=1) with a constant B
// into dense(a, Bᵀ) with the transposed constant.
func PretransposeWeights(g *ir.Graph) error {
	for _, n := range g.Nodes {
		if n.Op != "dense" || n.Int("trans_b") == 0 || !allConst(n.Inputs[1]) {
			continue
		}
		b := n.Inputs[1].Const
		r, c := b.Shape[0], b.Shape[1]
		t := ir.NewTensor(ir.Float32, ir.Shape{c, r})
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				t.F[j*r+i] = b.F[i*c+j]
			}
		}
		v, err := newConst(g, n.Inputs[1].Name+"_t", t)
		if err != nil {
			return err
		}
		n.Inputs[1] = v
		n.Attrs["trans_b"] = ir.IntAttr(0)
	}
	return nil
}

// EliminateDead removes nodes no output depends on and unused constants.
func EliminateDead(g *ir.Graph) error {
	live := map[*ir.Value]bool{}
	for _, v := range g.Outputs {
		live[v] = true
	}
	dead := map[*ir.Node]bool{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if !live[n.Out] {
			dead[n] = true
			continue
		}
		for _, in := range n.Inputs {
			live[in] = true
		}
	}
	kept := g.Consts[:0]
	for _, c := range g.Consts {
		if live[c] {
			kept = append(kept, c)
		}
	}
	g.Consts = kept
	removeNodes(g, dead)
	return nil
}
