package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"wdc/frontend/onnx/onnxpb"
	"wdc/ir"
)

func TestTensorPBRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cases := []*ir.Tensor{
		ir.FromFloats(ir.Shape{2, 3}, []float32{1, -2.5, 3e-8, 0, 1e30, -7}),
		ir.FromInts(ir.Uint8, ir.Shape{3}, []int64{0, 128, 255}),
		ir.FromInts(ir.Int8, ir.Shape{3}, []int64{-128, 0, 127}),
		ir.FromInts(ir.Elem{Kind: ir.U16}, ir.Shape{2}, []int64{0, 65535}),
		ir.FromInts(ir.Elem{Kind: ir.I16}, ir.Shape{2}, []int64{-32768, 32767}),
		ir.FromInts(ir.Int32, ir.Shape{2}, []int64{-1 << 31, 1<<31 - 1}),
		ir.FromInts(ir.Int64, ir.Shape{1, 2}, []int64{-1 << 63, 1<<63 - 1}),
		ir.FromInts(ir.Elem{Kind: ir.Bool}, ir.Shape{2}, []int64{0, 1}),
		ir.FromFloats(ir.Shape{}, []float32{42}),
	}
	for i, want := range cases {
		p := filepath.Join(dir, "t.pb")
		if err := WriteTensorPB(p, "x", want); err != nil {
			t.Fatal(err)
		}
		got, name, err := ReadTensorPB(p)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if name != "x" || !got.Equal(want) {
			t.Errorf("case %d: got %v %v %v, want %v", i, name, got.Type, got, want.Type)
		}
	}
}

func TestTensorPBTypedFields(t *testing.T) {
	dt := func(d onnxpb.TensorProto_DataType) *int32 { return proto.Int32(int32(d)) }
	got, err := DecodeTensorProto(&onnxpb.TensorProto{Dims: []int64{2}, DataType: dt(onnxpb.TensorProto_DOUBLE), DoubleData: []float64{0.5, -1}}, 0)
	if err != nil || got.Elem != ir.Float32 || got.F[0] != 0.5 || got.F[1] != -1 {
		t.Errorf("double: %v %v", got, err)
	}
	got, err = DecodeTensorProto(&onnxpb.TensorProto{Dims: []int64{3}, DataType: dt(onnxpb.TensorProto_INT8), Int32Data: []int32{-5, 0, 7}}, 0)
	if err != nil || got.I[0] != -5 || got.I[2] != 7 {
		t.Errorf("int8: %v %v", got, err)
	}
	got, err = DecodeTensorProto(&onnxpb.TensorProto{Dims: []int64{2}, DataType: dt(onnxpb.TensorProto_INT64), Int64Data: []int64{-5, 1 << 40}}, 0)
	if err != nil || got.I[1] != 1<<40 {
		t.Errorf("int64: %v %v", got, err)
	}
	got, err = DecodeTensorProto(&onnxpb.TensorProto{Dims: []int64{2}, DataType: dt(onnxpb.TensorProto_FLOAT16), Int32Data: []int32{0x3c00, 0xc000}}, 0)
	if err != nil || got.F[0] != 1 || got.F[1] != -2 {
		t.Errorf("float16: %v %v", got, err)
	}

	bad := []struct {
		tp   *onnxpb.TensorProto
		want string
	}{
		{&onnxpb.TensorProto{Dims: []int64{3}, DataType: dt(onnxpb.TensorProto_FLOAT), FloatData: []float32{1, 2}}, "need 3 values, float_data holds 2"},
		{&onnxpb.TensorProto{Dims: []int64{1}, DataType: dt(onnxpb.TensorProto_FLOAT), FloatData: []float32{1, 2}}, "need 1 values"},
		{&onnxpb.TensorProto{Dims: []int64{2}, DataType: dt(onnxpb.TensorProto_FLOAT), RawData: make([]byte, 12)}, "raw_data holds 3"},
		{&onnxpb.TensorProto{Dims: []int64{2}, DataType: dt(onnxpb.TensorProto_FLOAT), RawData: make([]byte, 7)}, "raw_data has 7 bytes"},
		{&onnxpb.TensorProto{Dims: []int64{-1}, DataType: dt(onnxpb.TensorProto_FLOAT)}, "negative"},
		{&onnxpb.TensorProto{Dims: []int64{1 << 40, 1 << 40}, DataType: dt(onnxpb.TensorProto_FLOAT)}, "overflows"},
		{&onnxpb.TensorProto{Dims: []int64{1 << 20, 1 << 20}, DataType: dt(onnxpb.TensorProto_FLOAT)}, "memory budget"},
		{&onnxpb.TensorProto{Dims: []int64{1}, DataType: dt(onnxpb.TensorProto_STRING)}, "not supported"},
		{&onnxpb.TensorProto{Dims: []int64{1}, DataType: dt(onnxpb.TensorProto_FLOAT), DataLocation: onnxpb.TensorProto_EXTERNAL.Enum()}, "external"},
		{&onnxpb.TensorProto{Dims: []int64{1}, DataType: dt(onnxpb.TensorProto_UINT8), Int32Data: []int32{300}}, "out of range"},
	}
	for _, b := range bad {
		_, err := DecodeTensorProto(b.tp, 0)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("dims %v: got error %v, want one containing %q", b.tp.Dims, err, b.want)
		}
	}
}

func TestReadTensorPBGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.pb")
	os.WriteFile(p, []byte{0xff, 0xff, 0xff, 0x01, 0x02}, 0o644)
	if _, _, err := ReadTensorPB(p); err == nil {
		t.Error("garbage was accepted")
	}
}

func TestReadTensorPBSuite(t *testing.T) {
	p := "../../shared/testdata/onnx-backend/node/test_quantizelinear/test_data_set_0/output_0.pb"
	if _, err := os.Stat(p); err != nil {
		t.Skip("shared test data is absent (../../shared/testdata): skipping")
	}
	got, _, err := ReadTensorPB(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Elem != ir.Uint8 || got.Len() == 0 {
		t.Errorf("got %v", got.Type)
	}
}

func TestHalf(t *testing.T) {
	for _, f := range []float32{0, 1, -2, 0.5, 65504, 6.103515625e-05, 5.960464477539063e-08} {
		if g := HalfToFloat(FloatToHalf(f)); g != f {
			t.Errorf("%g -> %g", f, g)
		}
	}
}
