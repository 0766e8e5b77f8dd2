package llvm

import (
	"wdc/ir"
	"wdc/ir/loop"
)

// fusePoolMin is the least conv result (floats) whose max pool the
// product applies itself (a variable so that tests can fuse small
// layers): below it the result stays in cache between the two kernels.
// ResNet-18's stem writes 3.2 MB that its max pool reads back.
var fusePoolMin = 1 << 18

// fusablePool returns the max pool that the conv product gm (lowered
// from a group with result out, at index at of groups) can apply itself
// (see gemm_pooled in the C driver), and the index of the pool's group;
// nil when there is none. The pool must be the result's only reader,
// alone in its group, 2-D, f32, without dilation; the product one whose
// output rows the driver computes in any order (the usual or the direct
// product: pack.A 0, 1 or 4; not Winograd, swapped or with B in place),
// ungrouped, with no bias per column, residual or epilogue loop.
func fusablePool(gm *loop.Gemm, pack gemmPacking, out *ir.Value, users map[*ir.Value][]*ir.Node, isOut map[*ir.Value]bool, groups []loop.Group, at int) (*loop.GemmPool, int) {
	c := gm.Conv
	if c == nil || c.Winograd > 0 || pack.A == 2 || pack.A == 3 || pack.A == 5 || gm.Batch[1] != 1 || gm.BiasN >= 0 || gm.Add >= 0 || len(gm.Epilogue) > 0 {
		return nil, -1
	}
	if isOut[out] || len(users[out]) != 1 || gm.M*gm.N*gm.Batch[0] < fusePoolMin {
		return nil, -1
	}
	u := users[out][0]
	if u.Op != "max_pool" || u.Out.Type.Elem.Kind != ir.F32 || len(u.Out.Type.Shape) != 4 {
		return nil, -1
	}
	w := ir.PoolWindow(u, 2)
	if w.Dilations[0] != 1 || w.Dilations[1] != 1 {
		return nil, -1
	}
	for j := at + 1; j < len(groups); j++ {
		if groups[j].Nodes[0] != u {
			continue
		}
		if len(groups[j].Nodes) != 1 {
			return nil, -1
		}
		s := u.Out.Type.Shape
		return &loop.GemmPool{KH: w.Kernel[0], KW: w.Kernel[1], SH: w.Strides[0], SW: w.Strides[1],
			PH: w.PadBegin[0], PW: w.PadBegin[1], OH: s[2], OW: s[3]}, j
	}
	return nil, -1
}
