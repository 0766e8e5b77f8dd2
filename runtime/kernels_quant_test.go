package runtime

import (
	"testing"

	"wdc/ir"
)

func quantGraph(t *testing.T, op string, attrs ir.Attrs, consts []*ir.Tensor, x *ir.Tensor) *ir.Tensor {
	t.Helper()
	g := ir.NewGraph("q")
	xv, err := g.AddInput("x", x.Type, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	ins := []*ir.Value{xv}
	for i, c := range consts {
		v, err := g.AddConst(string(rune('a'+i)), c, ir.Pos{})
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, v)
	}
	y, err := g.AddNode(op, "y", ins, attrs, ir.Pos{})
	if err != nil {
		t.Fatal(err)
	}
	g.Outputs = []*ir.Value{y}
	out, err := Run(g, map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return out["y"]
}

func TestQuantizeRoundsHalfToEvenAndSaturates(t *testing.T) {
	x := ir.FromFloats(ir.Shape{8}, []float32{0.5, 1.5, 2.5, -0.5, -1.5, 1000, -1000, 3.4})
	scale := ir.FromFloats(ir.Shape{}, []float32{1})
	// uint8 with zero point 10: round(x)+10 saturated to 0..255.
	y := quantGraph(t, "quantize_linear", nil, []*ir.Tensor{scale, ir.FromInts(ir.Uint8, ir.Shape{}, []int64{10})}, x)
	want := []int64{10, 12, 12, 10, 8, 255, 0, 13}
	for i := range want {
		if y.I[i] != want[i] {
			t.Fatalf("u8: got %v, want %v", y.I, want)
		}
	}
	// int8 without... with zero point 0 as int8.
	y = quantGraph(t, "quantize_linear", nil, []*ir.Tensor{scale, ir.FromInts(ir.Int8, ir.Shape{}, []int64{0})}, x)
	want = []int64{0, 2, 2, 0, -2, 127, -128, 3}
	for i := range want {
		if y.I[i] != want[i] || y.Elem != ir.Int8 {
			t.Fatalf("i8: got %v %v, want %v", y.Elem, y.I, want)
		}
	}
}

func TestQuantizePerAxisAndBlocked(t *testing.T) {
	x := ir.FromFloats(ir.Shape{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	// Per axis 0: scales 1 and 2.
	y := quantGraph(t, "quantize_linear", ir.Attrs{"axis": ir.IntAttr(0)},
		[]*ir.Tensor{ir.FromFloats(ir.Shape{2}, []float32{1, 2}), ir.FromInts(ir.Uint8, ir.Shape{2}, []int64{0, 1})}, x)
	// 5/2=2.5->2, 6/2=3, 7/2=3.5->4, 8/2=4; plus zero point 1.
	want := []int64{1, 2, 3, 4, 3, 4, 5, 5}
	for i := range want {
		if y.I[i] != want[i] {
			t.Fatalf("per-axis: got %v, want %v", y.I, want)
		}
	}
	// Blocked along axis 1 with block 2: scale shape [2,2].
	y = quantGraph(t, "quantize_linear", ir.Attrs{"axis": ir.IntAttr(1), "block_size": ir.IntAttr(2)},
		[]*ir.Tensor{ir.FromFloats(ir.Shape{2, 2}, []float32{1, 2, 4, 8})}, x)
	want = []int64{1, 2, 2, 2, 1, 2, 1, 1} // 3/2=1.5->2, 4/2=2; 5/4=1.25->1, 6/4=1.5->2, 7/8->1, 8/8=1
	for i := range want {
		if y.I[i] != want[i] || y.Elem != ir.Uint8 {
			t.Fatalf("blocked: got %v, want %v", y.I, want)
		}
	}
}

func TestDequantize(t *testing.T) {
	x := ir.FromInts(ir.Int8, ir.Shape{4}, []int64{-128, 0, 5, 127})
	y := quantGraph(t, "dequantize_linear", nil, []*ir.Tensor{ir.FromFloats(ir.Shape{}, []float32{0.5}), ir.FromInts(ir.Int8, ir.Shape{}, []int64{1})}, x)
	want := []float32{-64.5, -0.5, 2, 63}
	for i := range want {
		if y.F[i] != want[i] {
			t.Fatalf("got %v, want %v", y.F, want)
		}
	}
}

func TestMatMulIntegerAndQLinear(t *testing.T) {
	a := ir.FromInts(ir.Uint8, ir.Shape{2, 3}, []int64{1, 2, 3, 4, 5, 6})
	b := ir.FromInts(ir.Uint8, ir.Shape{3, 2}, []int64{1, 0, 0, 1, 2, 2})
	// (a-1)·(b-0): [[0,1,2],[3,4,5]]·b = [[4,5],[13,14]]
	y := quantGraph(t, "matmul_integer", nil, []*ir.Tensor{b, ir.FromInts(ir.Uint8, ir.Shape{}, []int64{1})}, a)
	want := []int64{4, 5, 13, 14}
	for i := range want {
		if y.I[i] != want[i] || y.Elem != ir.Int32 {
			t.Fatalf("matmul_integer: got %v %v, want %v", y.Elem, y.I, want)
		}
	}
	// qlinear: scale 0.5·0.5/0.25 = 1; zero points 1, 0, y_zp 250 saturates.
	f := func(v float32) *ir.Tensor { return ir.FromFloats(ir.Shape{}, []float32{v}) }
	u := func(v int64) *ir.Tensor { return ir.FromInts(ir.Uint8, ir.Shape{}, []int64{v}) }
	y = quantGraph(t, "qlinear_matmul", nil, []*ir.Tensor{f(0.5), u(1), b, f(0.5), u(0), f(0.25), u(250)}, a)
	want = []int64{254, 255, 255, 255}
	for i := range want {
		if y.I[i] != want[i] {
			t.Fatalf("qlinear_matmul: got %v, want %v", y.I, want)
		}
	}
}

func TestConvInteger(t *testing.T) {
	x := ir.FromInts(ir.Uint8, ir.Shape{1, 1, 3, 3}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9})
	w := ir.FromInts(ir.Uint8, ir.Shape{1, 1, 2, 2}, []int64{1, 1, 1, 1})
	// x_zp 1: windows of (x-1) summed: [0+1+3+4, 1+2+4+5, 3+4+6+7, 4+5+7+8]
	y := quantGraph(t, "conv_integer", nil, []*ir.Tensor{w, ir.FromInts(ir.Uint8, ir.Shape{}, []int64{1})}, x)
	want := []int64{8, 12, 20, 24}
	for i := range want {
		if y.I[i] != want[i] {
			t.Fatalf("got %v, want %v", y.I, want)
		}
	}
}
