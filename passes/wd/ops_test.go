package wd

import (
	"sort"
	"strings"
	"testing"

	"wdc/ir"
)

// opCase is one node with its work and depth computed by hand from the
// formulas of docs/cost-models.md (Table 4, Table 6, §4.4) and the counting
// conventions of docs/work-depth.md: a multiply-add is one operation; a
// reduction over n inputs costs n operations (one per input folded into
// the accumulator) and ⌈log2 n⌉ steps; a bias add is one more operation per
// output and one more step; data movement is free.
type opCase struct {
	name  string
	build func(b *builder) *ir.Value
	work  int64
	depth int64
	macs  int64
}

func opCases() []opCase {
	pool2 := ir.Attrs{"kernel_shape": ints(2, 2), "strides": ints(2, 2)}
	return []opCase{
		{
			// Plain 2-d conv: out [1,4,6,6] = 144 outputs, each 3·3·3 = 27 MACs.
			// D = ⌈log2 3⌉ + ⌈log2 3⌉ + ⌈log2 3⌉ = 2+2+2.
			name: "conv", work: 144 * 27, depth: 6, macs: 3888,
			build: func(b *builder) *ir.Value {
				return b.node("conv", "y", nil, b.input("x", 1, 3, 8, 8), b.weight("w", 4, 3, 3, 3))
			},
		},
		{
			// Groups 2, stride 2, dilation 2, pads 1, bias: span 2·(3−1)+1 = 5,
			// H' = (9+2−5)/2+1 = 4, out [2,6,4,4] = 192; each output sums
			// C_in/g = 2 channels × 9 taps = 18 MACs; + 192 bias adds.
			// D = ⌈log2 2⌉ + 2 + 2 + 1 (bias) = 6.
			name: "conv/group-stride-dilation-bias", work: 192*18 + 192, depth: 6, macs: 3456,
			build: func(b *builder) *ir.Value {
				return b.node("conv", "y", ir.Attrs{"group": ir.IntAttr(2), "strides": ints(2, 2),
					"dilations": ints(2, 2), "pads": ints(1, 1, 1, 1)},
					b.input("x", 2, 4, 9, 9), b.weight("w", 6, 2, 3, 3), b.weight("b", 6))
			},
		},
		{
			// Depthwise 3x3, same padding: 8·5·5 = 200 outputs × 9 taps; D = 0+2+2.
			name: "conv/depthwise", work: 1800, depth: 4, macs: 1800,
			build: func(b *builder) *ir.Value {
				return b.node("conv", "y", ir.Attrs{"group": ir.IntAttr(8), "pads": ints(1, 1, 1, 1)},
					b.input("x", 1, 8, 5, 5), b.weight("w", 8, 1, 3, 3))
			},
		},
		{
			// 1-d conv: out [1,3,7] = 21 × (2 channels · 4 taps) = 168; D = 1 + 2.
			name: "conv/1d", work: 168, depth: 3, macs: 168,
			build: func(b *builder) *ir.Value {
				return b.node("conv", "y", nil, b.input("x", 1, 2, 10), b.weight("w", 3, 2, 4))
			},
		},
		{
			// Transposed conv, stride 2: out 2·(3−1)+3 = 7, [1,2,7,7]. Each of
			// the 1·4·3·3 = 36 inputs meets 2 output channels × 9 taps: 648.
			// D (Table 4, conv ∇x) = ⌈log2 C⌉ + 2 + 2 with C = 4 summed channels.
			name: "conv_transpose", work: 648, depth: 6, macs: 648,
			build: func(b *builder) *ir.Value {
				return b.node("conv_transpose", "y", ir.Attrs{"strides": ints(2, 2)},
					b.input("x", 1, 4, 3, 3), b.weight("w", 4, 2, 3, 3))
			},
		},
		{
			// FC without bias (Table 4): N·C_out·C_in = 3·7·5, D = ⌈log2 5⌉.
			name: "dense", work: 105, depth: 3, macs: 105,
			build: func(b *builder) *ir.Value {
				return b.node("dense", "y", nil, b.input("a", 3, 5), b.weight("w", 5, 7))
			},
		},
		{
			// FC with bias: 2·120·400 + 2·120, D = ⌈log2 400⌉ + 1 = 10.
			name: "dense/bias", work: 96000 + 240, depth: 10, macs: 96000,
			build: func(b *builder) *ir.Value {
				return b.node("dense", "y", nil, b.input("a", 2, 400), b.weight("w", 400, 120), b.weight("c", 120))
			},
		},
		{
			// trans_b: b is [N,K] = [4,6]; out [2,4] × 6 = 48, D = ⌈log2 6⌉.
			name: "dense/trans_b", work: 48, depth: 3, macs: 48,
			build: func(b *builder) *ir.Value {
				return b.node("dense", "y", ir.Attrs{"trans_b": ir.IntAttr(1)}, b.input("a", 2, 6), b.weight("w", 4, 6))
			},
		},
		{
			// trans_a: a is [K,M] = [9,2]; out [2,3] × 9 = 54, D = ⌈log2 9⌉ = 4.
			name: "dense/trans_a", work: 54, depth: 4, macs: 54,
			build: func(b *builder) *ir.Value {
				return b.node("dense", "y", ir.Attrs{"trans_a": ir.IntAttr(1)}, b.input("a", 9, 2), b.weight("w", 9, 3))
			},
		},
		{
			// Batched matmul [2,3,5]·[5,4] = [2,3,4]: 24 × 5 = 120, D = ⌈log2 5⌉.
			name: "matmul", work: 120, depth: 3, macs: 120,
			build: func(b *builder) *ir.Value {
				return b.node("matmul", "y", nil, b.input("a", 2, 3, 5), b.weight("b", 5, 4))
			},
		},
		{
			// Vector · matrix: [8]·[8,3] = [3]: 3 × 8 = 24, D = 3.
			name: "matmul/vector", work: 24, depth: 3, macs: 24,
			build: func(b *builder) *ir.Value {
				return b.node("matmul", "y", nil, b.input("a", 8), b.weight("b", 8, 3))
			},
		},
		{
			// Table 4 pooling: 1176 outputs × 4 inputs; D = ⌈log2 2⌉ + ⌈log2 2⌉.
			name: "max_pool", work: 4704, depth: 2,
			build: func(b *builder) *ir.Value {
				return b.node("max_pool", "y", pool2, b.input("x", 1, 6, 28, 28))
			},
		},
		{
			// 3x3 stride 2 on 7x7: 3·3 = 9 outputs × 9; D = 2 + 2.
			name: "max_pool/3x3s2", work: 81, depth: 4,
			build: func(b *builder) *ir.Value {
				return b.node("max_pool", "y", ir.Attrs{"kernel_shape": ints(3, 3), "strides": ints(2, 2)}, b.input("x", 1, 1, 7, 7))
			},
		},
		{
			// 8 outputs × (4 adds + 1 divide); D = 1 + 1 + 1.
			name: "avg_pool", work: 40, depth: 3,
			build: func(b *builder) *ir.Value {
				return b.node("avg_pool", "y", pool2, b.input("x", 1, 2, 4, 4))
			},
		},
		{
			// 2·3 channels × (20 adds + 1 divide) = 126; D = ⌈log2 20⌉ + 1 = 6.
			name: "global_avg_pool", work: 126, depth: 6,
			build: func(b *builder) *ir.Value {
				return b.node("global_avg_pool", "y", nil, b.input("x", 2, 3, 4, 5))
			},
		},
		{
			// §4.4: ≈4 operations per element (max, subtract+exp, sum, divide),
			// D = 2⌈log2 10⌉ + 3 = 11.
			name: "softmax", work: 80, depth: 11,
			build: func(b *builder) *ir.Value {
				return b.node("softmax", "y", nil, b.input("x", 2, 10))
			},
		},
		{
			// axis 1 of [2,5,3]: 30 elements × 4; D = 2⌈log2 5⌉ + 3 = 9.
			name: "softmax/axis1", work: 120, depth: 9,
			build: func(b *builder) *ir.Value {
				return b.node("softmax", "y", ir.Attrs{"axis": ir.IntAttr(1)}, b.input("x", 2, 5, 3))
			},
		},
		{
			// Inference batch norm, y = a·x + b with stored statistics: 2 per
			// element, D = 2 (no reduction; Table 4's O(log N) is training).
			name: "batch_norm", work: 96, depth: 2,
			build: func(b *builder) *ir.Value {
				return b.node("batch_norm", "y", nil, b.input("x", 1, 3, 4, 4),
					b.weight("s", 3), b.weight("b", 3), b.weight("m", 3), b.weight("v", 3))
			},
		},
		{
			// LRN size 5: per element 5 squares summed + 3; D = ⌈log2 5⌉ + 3.
			name: "lrn", work: 32 * 8, depth: 6,
			build: func(b *builder) *ir.Value {
				return b.node("lrn", "y", ir.Attrs{"size": ir.IntAttr(5)}, b.input("x", 1, 8, 2, 2))
			},
		},
		// Element-wise (Table 4 activation, §4.4 binary): one per output, D = 1.
		{name: "add", work: 6, depth: 1, build: binary("add", []int{2, 3}, []int{3})},
		{name: "sub", work: 12, depth: 1, build: binary("sub", []int{4, 1}, []int{1, 3})},
		{name: "mul", work: 5, depth: 1, build: binary("mul", []int{5}, []int{5})},
		{name: "div", work: 8, depth: 1, build: binary("div", []int{2, 2, 2}, []int{1})},
		{name: "relu", work: 4704, depth: 1, build: unary("relu", nil, 1, 6, 28, 28)},
		{name: "leaky_relu", work: 10, depth: 1, build: unary("leaky_relu", nil, 10)},
		{name: "sigmoid", work: 12, depth: 1, build: unary("sigmoid", nil, 3, 4)},
		{name: "tanh", work: 7, depth: 1, build: unary("tanh", nil, 7)},
		{name: "clip", work: 6, depth: 1, build: unary("clip", ir.Attrs{"min": ir.FloatAttr(0), "max": ir.FloatAttr(6)}, 2, 3)},
		// cast converts every element: one operation each.
		{name: "cast", work: 6, depth: 1, build: unary("cast", ir.Attrs{"to": ir.StringAttr("i32")}, 2, 3)},
		// Data movement: no arithmetic, zero work and depth.
		{name: "flatten", build: unary("flatten", nil, 2, 3, 4)},
		{name: "reshape", build: unary("reshape", ir.Attrs{"shape": ints(4, -1)}, 2, 3, 4)},
		{name: "transpose", build: unary("transpose", ir.Attrs{"perm": ints(1, 0, 2)}, 2, 3, 4)},
		{name: "pad", build: unary("pad", ir.Attrs{"pads": ints(1, 1, 1, 1)}, 2, 3)},
		{name: "concat", build: func(b *builder) *ir.Value {
			return b.node("concat", "y", ir.Attrs{"axis": ir.IntAttr(1)}, b.input("a", 2, 3), b.input("c", 2, 5))
		}},
	}
}

func unary(op string, attrs ir.Attrs, shape ...int) func(b *builder) *ir.Value {
	return func(b *builder) *ir.Value { return b.node(op, "y", attrs, b.input("x", shape...)) }
}

func binary(op string, a, c []int) func(b *builder) *ir.Value {
	return func(b *builder) *ir.Value { return b.node(op, "y", nil, b.input("a", a...), b.input("c", c...)) }
}

func TestOpWorkDepth(t *testing.T) {
	tested := map[string]bool{}
	for _, tc := range opCases() {
		t.Run(tc.name, func(t *testing.T) {
			b := newBuilder(t, tc.name)
			y := tc.build(b)
			g := b.output(y)
			n := y.Producer
			tested[n.Op] = true
			c := ir.NodeCost(n)
			if c.Work != tc.work || c.Depth != tc.depth {
				t.Errorf("%s %v: W = %d, D = %d; want W = %d, D = %d", n.Op, n.Out.Type, c.Work, c.Depth, tc.work, tc.depth)
			}
			if m := MACs(n); m != tc.macs {
				t.Errorf("%s: MACs = %d, want %d", n.Op, m, tc.macs)
			}
			// The report agrees with the op's own cost.
			r, err := Analyze(g)
			if err != nil {
				t.Fatal(err)
			}
			if r.Work != tc.work || r.Depth != tc.depth || r.FLOPs != tc.work+tc.macs {
				t.Errorf("report: W = %d, D = %d, FLOPs = %d; want %d, %d, %d", r.Work, r.Depth, r.FLOPs, tc.work, tc.depth, tc.work+tc.macs)
			}
			var in int64
			for _, v := range n.Inputs {
				in += v.Type.Bytes()
			}
			if want := in + n.Out.Type.Bytes(); r.Bytes != want {
				t.Errorf("bytes = %d, want %d (operands and result once)", r.Bytes, want)
			}
		})
	}
	var missing []string
	for _, op := range ir.OpNames() {
		if !tested[op] {
			missing = append(missing, op)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		// Ops added after this table was written: add a hand-computed case.
		t.Logf("ops without a hand-computed W-D case: %s", strings.Join(missing, ", "))
	}
}

func TestBrent(t *testing.T) {
	// W = 100, D = 10: p = 1 gives W; p = 2 gives 90/2 + 10 = 55, lower 50;
	// p = W/D = 10 gives 9 + 10 = 19, lower max(10, 10) = 10.
	for _, c := range []struct {
		p            float64
		upper, lower float64
	}{{1, 100, 100}, {2, 55, 50}, {10, 19, 10}, {1000, 10.09, 10}} {
		if got := BrentTime(100, 10, c.p); got != c.upper {
			t.Errorf("BrentTime(100, 10, %v) = %v, want %v", c.p, got, c.upper)
		}
		if got := LowerBound(100, 10, c.p); got != c.lower {
			t.Errorf("LowerBound(100, 10, %v) = %v, want %v", c.p, got, c.lower)
		}
	}
}
