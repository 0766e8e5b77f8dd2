package cuda

import (
	"fmt"
	"strings"

	"wdc/ir"
	"wdc/ir/loop"
)

// MergeInto copies graph src into dst with every name prefixed, so that
// many small test graphs compile as one model (one toolchain run). Feeds
// of src are copied into dstFeeds under the new input names.
func MergeInto(dst, src *ir.Graph, prefix string, srcFeeds, dstFeeds map[string]*ir.Tensor) error {
	m := map[*ir.Value]*ir.Value{}
	for _, v := range src.Inputs {
		nv, err := dst.AddInput(prefix+v.Name, v.Type, ir.Pos{})
		if err != nil {
			return err
		}
		m[v] = nv
		if t, ok := srcFeeds[v.Name]; ok {
			dstFeeds[nv.Name] = t
		}
	}
	for _, v := range src.Consts {
		nv, err := dst.AddConst(prefix+v.Name, v.Const, ir.Pos{})
		if err != nil {
			return err
		}
		m[v] = nv
	}
	for _, n := range src.Nodes {
		var ins []*ir.Value
		for _, in := range n.Inputs {
			nv, ok := m[in]
			if !ok {
				return fmt.Errorf("%s: input %q is not defined before it", n.Where(), in.Name)
			}
			ins = append(ins, nv)
		}
		out, err := dst.AddNode(n.Op, prefix+n.Out.Name, ins, n.Attrs, ir.Pos{})
		if err != nil {
			return err
		}
		m[n.Out] = out
	}
	for _, v := range src.Outputs {
		nv, ok := m[v]
		if !ok {
			return fmt.Errorf("output %q is not defined", v.Name)
		}
		dst.Outputs = append(dst.Outputs, nv)
	}
	return nil
}

// TierAConvGemmPool returns the tier-A tests of the ONNX backend suite's
// RECOMMENDED-SUBSET.txt whose names say conv, gemm, matmul or pool.
func TierAConvGemmPool(subset string) []string {
	var out []string
	tierA := false
	for _, line := range strings.Split(subset, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			tierA = strings.Contains(line, "tier A")
			continue
		}
		if !tierA || line == "" {
			continue
		}
		l := strings.ToLower(line)
		if strings.Contains(l, "conv") || strings.Contains(l, "gemm") || strings.Contains(l, "matmul") || strings.Contains(l, "pool") {
			out = append(out, line)
		}
	}
	return out
}

// Compilable reports (as an error saying why not) whether the backend can
// compile g: every op lowered, every input and output float32.
func Compilable(g *ir.Graph) error {
	if u := loop.Unsupported(g); len(u) > 0 {
		return fmt.Errorf("graph %q: the CUDA backend cannot compile op(s) %s", g.Name, strings.Join(u, ", "))
	}
	for _, v := range append(append([]*ir.Value{}, g.Inputs...), g.Outputs...) {
		if v.Type.Elem.Kind != ir.F32 {
			return fmt.Errorf("graph %q: %q is %v; the CUDA backend compiles f32 models only", g.Name, v.Name, v.Type)
		}
	}
	return nil
}
