package runtime

import (
	"math"
	"strings"
	"testing"

	"wdc/ir"
)

func TestFlattenReshape(t *testing.T) {
	x := arange(ir.Shape{2, 3, 4}, 0, 1)
	y := mustRun(t, "flatten", nil, x)
	wantShape(t, y, ir.Shape{2, 12})
	wantF(t, y, 0, x.F...)
	wantShape(t, mustRun(t, "flatten", ir.Attrs{"axis": ir.IntAttr(0)}, x), ir.Shape{1, 24})
	wantShape(t, mustRun(t, "flatten", ir.Attrs{"axis": ir.IntAttr(-1)}, x), ir.Shape{6, 4})
	wantShape(t, mustRun(t, "flatten", ir.Attrs{"axis": ir.IntAttr(3)}, x), ir.Shape{24, 1})
	y = mustRun(t, "reshape", ir.Attrs{"shape": ints(0, -1)}, x)
	wantShape(t, y, ir.Shape{2, 12})
	wantF(t, y, 0, x.F...)
	// The result does not alias the operand.
	y.F[0] = 99
	if x.F[0] != 0 {
		t.Fatal("reshape result aliases its input")
	}
	yi := mustRun(t, "reshape", ir.Attrs{"shape": ints(2, 2)}, i64s(ir.Int8, ir.Shape{4}, 1, -2, 3, -4))
	wantShape(t, yi, ir.Shape{2, 2})
	wantI(t, yi, 1, -2, 3, -4)
}

func TestTranspose(t *testing.T) {
	x := arange(ir.Shape{2, 3}, 0, 1)
	y := mustRun(t, "transpose", nil, x)
	wantShape(t, y, ir.Shape{3, 2})
	wantF(t, y, 0, 0, 3, 1, 4, 2, 5)
	x = arange(ir.Shape{2, 3, 4}, 0, 1)
	y = mustRun(t, "transpose", ir.Attrs{"perm": ints(1, 2, 0)}, x)
	wantShape(t, y, ir.Shape{3, 4, 2})
	for i := 0; i < 3; i++ {
		for j := 0; j < 4; j++ {
			for k := 0; k < 2; k++ {
				if got, want := y.F[(i*4+j)*2+k], x.F[(k*3+i)*4+j]; got != want {
					t.Fatalf("y[%d,%d,%d] = %v, want %v", i, j, k, got, want)
				}
			}
		}
	}
	// Transposing back restores x; integer tensors work the same way.
	back := mustRun(t, "transpose", ir.Attrs{"perm": ints(2, 0, 1)}, y)
	if !back.Equal(x) {
		t.Fatal("transpose round trip changed the data")
	}
	wantI(t, mustRun(t, "transpose", nil, i64s(ir.Uint8, ir.Shape{2, 2}, 1, 2, 3, 4)), 1, 3, 2, 4)
}

func TestConcat(t *testing.T) {
	a := arange(ir.Shape{2, 2}, 0, 1)
	b := arange(ir.Shape{2, 1}, 10, 1)
	y := mustRun(t, "concat", ir.Attrs{"axis": ir.IntAttr(1)}, a, b, a)
	wantShape(t, y, ir.Shape{2, 5})
	wantF(t, y, 0, 0, 1, 10, 0, 1, 2, 3, 11, 2, 3)
	y = mustRun(t, "concat", ir.Attrs{"axis": ir.IntAttr(-2)}, a, a)
	wantShape(t, y, ir.Shape{4, 2})
	wantF(t, y, 0, 0, 1, 2, 3, 0, 1, 2, 3)
	wantI(t, mustRun(t, "concat", ir.Attrs{"axis": ir.IntAttr(0)}, i64s(ir.Int8, ir.Shape{1}, -1), i64s(ir.Int8, ir.Shape{2}, 2, 3)), -1, 2, 3)
}

func TestPad(t *testing.T) {
	x := f32(ir.Shape{2, 3}, 1, 2, 3, 4, 5, 6)
	cases := []struct {
		name  string
		attrs ir.Attrs
		shape ir.Shape
		want  []float32
	}{
		{"constant", ir.Attrs{"pads": ints(1, 0, 0, 1), "value": ir.FloatAttr(-1)}, ir.Shape{3, 4}, []float32{-1, -1, -1, -1, 1, 2, 3, -1, 4, 5, 6, -1}},
		// Expected values below are numpy.pad's.
		{"reflect", ir.Attrs{"pads": ints(1, 2, 1, 2), "mode": ir.StringAttr("reflect")}, ir.Shape{4, 7}, []float32{6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1}},
		{"edge", ir.Attrs{"pads": ints(1, 0, 0, 2), "mode": ir.StringAttr("edge")}, ir.Shape{3, 5}, []float32{1, 2, 3, 3, 3, 1, 2, 3, 3, 3, 4, 5, 6, 6, 6}},
		{"wrap", ir.Attrs{"pads": ints(0, 2, 1, 1), "mode": ir.StringAttr("wrap")}, ir.Shape{3, 6}, []float32{2, 3, 1, 2, 3, 1, 5, 6, 4, 5, 6, 4, 2, 3, 1, 2, 3, 1}},
		// A pad wider than the dimension keeps wrapping around the torus
		// (numpy.pad's iterative wrap differs here when both sides pad).
		{"wrap wide", ir.Attrs{"pads": ints(0, 4, 0, 1), "mode": ir.StringAttr("wrap")}, ir.Shape{2, 8}, []float32{3, 1, 2, 3, 1, 2, 3, 1, 6, 4, 5, 6, 4, 5, 6, 4}},
		{"crop", ir.Attrs{"pads": ints(0, -1, -1, 0)}, ir.Shape{1, 2}, []float32{2, 3}},
		{"crop and pad", ir.Attrs{"pads": ints(0, -2, 0, 1), "mode": ir.StringAttr("reflect")}, ir.Shape{2, 2}, []float32{3, 2, 6, 5}},
		{"crop and edge", ir.Attrs{"pads": ints(-1, 1, 1, -1), "mode": ir.StringAttr("edge")}, ir.Shape{2, 3}, []float32{4, 4, 5, 4, 4, 5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y := mustRun(t, "pad", c.attrs, x)
			wantShape(t, y, c.shape)
			wantF(t, y, 0, c.want...)
		})
	}
	// Integer tensors, including a constant that saturates to the range.
	xi := i64s(ir.Uint8, ir.Shape{3}, 1, 2, 3)
	wantI(t, mustRun(t, "pad", ir.Attrs{"pads": ints(1, 2), "value": ir.FloatAttr(300)}, xi), 255, 1, 2, 3, 255, 255)
	wantI(t, mustRun(t, "pad", ir.Attrs{"pads": ints(2, 1), "mode": ir.StringAttr("reflect")}, xi), 3, 2, 1, 2, 3, 2)
	wantI(t, mustRun(t, "pad", ir.Attrs{"pads": ints(0, 2), "mode": ir.StringAttr("wrap")}, i64s(ir.Int8, ir.Shape{2}, -1, 5)), -1, 5, -1, 5)
}

func TestCast(t *testing.T) {
	x := f32(ir.Shape{8}, -1.7, 1.7, 300, -300, float32(math.NaN()), float32(math.Inf(1)), -0.5, 127.9)
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("i8")}, x), -1, 1, 127, -128, 0, 127, 0, 127)
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("u8")}, x), 0, 1, 255, 0, 0, 255, 0, 127)
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("i64")}, f32(ir.Shape{3}, 1e30, -1e30, -3.99)), math.MaxInt64, math.MinInt64, -3)
	y := mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("f32")}, i64s(ir.Int32, ir.Shape{3}, -5, 0, 1<<24))
	wantF(t, y, 0, -5, 0, 1<<24)
	// Integer to integer wraps; to bool tests for non-zero.
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("i8")}, i64s(ir.Int32, ir.Shape{3}, 200, -129, 5)), -56, 127, 5)
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("bool")}, f32(ir.Shape{3}, 0, 0.1, -2)), 0, 1, 1)
	// Fixed point: fixed<8,4> (4 fraction bits) truncates toward −∞ and
	// wraps by default; rne and sat round to nearest even and saturate.
	v := f32(ir.Shape{5}, 1.03125, -1.03125, 1.09375, 100, -0.5)
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("fixed<8,4>")}, v), 16, -17, 17, 64, -8)
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("fixed<8,4,rne,sat>")}, v), 16, -16, 18, 127, -8)
	back := mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("f32")}, i64s(ir.FixedType(8, 4), ir.Shape{2}, 17, -8))
	wantF(t, back, 0, 1.0625, -0.5)
	// Fixed to fixed: fewer fraction bits round, more shift exactly.
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("fixed<6,4,rne,wrap>")}, i64s(ir.FixedType(8, 4), ir.Shape{3}, 17, 18, 22)), 4, 4, 6)
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("fixed<12,4>")}, i64s(ir.FixedType(8, 4), ir.Shape{2}, 17, -8)), 272, -128)
	// Fixed to integer truncates the value toward zero.
	wantI(t, mustRun(t, "cast", ir.Attrs{"to": ir.StringAttr("i32")}, i64s(ir.FixedType(8, 4), ir.Shape{2}, 40, -40)), 2, -2)
}

func TestF16Results(t *testing.T) {
	h := ir.Elem{Kind: ir.F16}
	x := &ir.Tensor{Type: ir.Type{Elem: h, Shape: ir.Shape{4}}, F: []float32{1, 1e-3, 60000, 0.1}}
	y := mustRun(t, "add", nil, x, x)
	// 2e-3 and 0.2 round to the nearest half; 120000 overflows to +Inf.
	wantF(t, y, 0, 2, 0.0020008087158203125, float32(math.Inf(1)), 0.199951171875)
	for _, c := range []struct{ in, want float32 }{
		{1 + 1.0/2048, 1},            // tie, rounds to even
		{1 + 3.0/2048, 1 + 2.0/1024}, // tie, rounds to even (up)
		{65504, 65504}, {65519, 65504}, {65520, float32(math.Inf(1))},
		{1e-8, 0}, {3e-8, 5.960464477539063e-08}, {-2.5, -2},
	} {
		if c.in == -2.5 {
			c.want = -2.5
		}
		if got := roundF16(c.in); got != c.want {
			t.Errorf("roundF16(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestKernelsRegistered checks that every op of the tensor IR defined
// alongside these kernels has one.
func TestKernelsRegistered(t *testing.T) {
	for _, op := range []string{
		"conv", "conv_transpose", "max_pool", "avg_pool", "global_avg_pool", "batch_norm", "lrn",
		"dense", "matmul", "add", "sub", "mul", "div", "relu", "leaky_relu", "sigmoid", "tanh",
		"clip", "softmax", "flatten", "reshape", "transpose", "concat", "pad", "cast",
	} {
		if ir.Ops[op] == nil {
			t.Errorf("op %s is no longer in ir.Ops", op)
		}
		if kernels[op] == nil {
			t.Errorf("no kernel for %s", op)
		}
	}
}

// TestMalformedOperands calls kernels directly with storage that does
// not match the type: an error, never a panic.
func TestMalformedOperands(t *testing.T) {
	n := &ir.Node{Op: "relu", Attrs: ir.Attrs{}, Out: &ir.Value{Name: "y"}}
	bad := &ir.Tensor{Type: ir.Type{Elem: ir.Float32, Shape: ir.Shape{4}}, F: []float32{1}}
	if _, err := kernels["relu"](n, []*ir.Tensor{bad}); err == nil || !strings.Contains(err.Error(), "needs 4") {
		t.Fatalf("want a storage error, got %v", err)
	}
	if _, err := kernels["relu"](n, []*ir.Tensor{nil}); err == nil {
		t.Fatal("want an error for a missing operand")
	}
	// Attributes that the shape rule would reject reach the kernel directly.
	c := &ir.Node{Op: "conv", Attrs: ir.Attrs{"strides": ints(0, 1)}, Out: &ir.Value{Name: "y"}}
	if _, err := kernels["conv"](c, []*ir.Tensor{randT(1, ir.Shape{1, 1, 3, 3}), randT(2, ir.Shape{1, 1, 2, 2})}); err == nil {
		t.Fatal("want an error for stride 0")
	}
	c.Attrs = ir.Attrs{"pads": ints(1, 1)}
	if _, err := kernels["conv"](c, []*ir.Tensor{randT(1, ir.Shape{1, 1, 3, 3}), randT(2, ir.Shape{1, 1, 2, 2})}); err == nil {
		t.Fatal("want an error for a short pads list")
	}
	m := &ir.Node{Op: "matmul", Attrs: ir.Attrs{}, Out: &ir.Value{Name: "y"}}
	if _, err := kernels["matmul"](m, []*ir.Tensor{randT(1, ir.Shape{2, 3}), randT(2, ir.Shape{2, 3})}); err == nil {
		t.Fatal("want an error for mismatched matmul operands")
	}
}
