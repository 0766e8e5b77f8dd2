package runtime

// ONNX TensorProto (.pb) tensor files, as used by the ONNX backend test
// suite (test_data_set_N/input_K.pb, output_K.pb) and for initializers.

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"google.golang.org/protobuf/proto"

	"wdc/frontend/onnx/onnxpb"
	"wdc/ir"
)

// DefaultMaxTensorBytes bounds one decoded tensor unless a caller asks for
// another budget.
const DefaultMaxTensorBytes int64 = 4 << 30

// ElemFromONNX maps an ONNX TensorProto data type to an IR element type.
// Doubles become f32 (the IR computes in float32); float16 stays f16
// (held as float32). Other types (strings, complex, uint32/64, fp8, ...)
// are not supported.
func ElemFromONNX(dt int32) (ir.Elem, error) {
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE:
		return ir.Float32, nil
	case onnxpb.TensorProto_FLOAT16:
		return ir.Elem{Kind: ir.F16}, nil
	case onnxpb.TensorProto_UINT8:
		return ir.Uint8, nil
	case onnxpb.TensorProto_INT8:
		return ir.Int8, nil
	case onnxpb.TensorProto_UINT16:
		return ir.Elem{Kind: ir.U16}, nil
	case onnxpb.TensorProto_INT16:
		return ir.Elem{Kind: ir.I16}, nil
	case onnxpb.TensorProto_INT32:
		return ir.Int32, nil
	case onnxpb.TensorProto_INT64:
		return ir.Int64, nil
	case onnxpb.TensorProto_BOOL:
		return ir.Elem{Kind: ir.Bool}, nil
	}
	return ir.Elem{}, fmt.Errorf("ONNX data type %s is not supported (supported: float, double, float16, uint8, int8, uint16, int16, int32, int64, bool)", DataTypeName(dt))
}

// DataTypeName names an ONNX data type code.
func DataTypeName(dt int32) string {
	if s, ok := onnxpb.TensorProto_DataType_name[dt]; ok {
		return s
	}
	return fmt.Sprintf("type %d", dt)
}

// ElemToONNX maps an IR element type to the ONNX data type written for it.
func ElemToONNX(e ir.Elem) (int32, error) {
	var dt onnxpb.TensorProto_DataType
	switch e.Kind {
	case ir.F32:
		dt = onnxpb.TensorProto_FLOAT
	case ir.F16:
		dt = onnxpb.TensorProto_FLOAT16
	case ir.F64:
		dt = onnxpb.TensorProto_DOUBLE
	case ir.U8:
		dt = onnxpb.TensorProto_UINT8
	case ir.I8:
		dt = onnxpb.TensorProto_INT8
	case ir.U16:
		dt = onnxpb.TensorProto_UINT16
	case ir.I16:
		dt = onnxpb.TensorProto_INT16
	case ir.I32:
		dt = onnxpb.TensorProto_INT32
	case ir.I64:
		dt = onnxpb.TensorProto_INT64
	case ir.Bool:
		dt = onnxpb.TensorProto_BOOL
	default:
		return 0, fmt.Errorf("element type %v has no ONNX tensor type", e)
	}
	return int32(dt), nil
}

// ReadTensorPB reads a serialized ONNX TensorProto file and returns the
// tensor and its name (may be empty).
func ReadTensorPB(path string) (*ir.Tensor, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", err
	}
	if st.Size() > 2*DefaultMaxTensorBytes {
		return nil, "", fmt.Errorf("%s: file of %d bytes is larger than the tensor budget", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(data, &tp); err != nil {
		return nil, "", fmt.Errorf("%s: not a serialized ONNX TensorProto: %v", path, err)
	}
	t, err := DecodeTensorProto(&tp, DefaultMaxTensorBytes)
	if err != nil {
		return nil, tp.GetName(), fmt.Errorf("%s: %v", path, err)
	}
	return t, tp.GetName(), nil
}

// TensorShape checks a TensorProto's dims and returns them as an IR shape
// whose data fits maxBytes (0: DefaultMaxTensorBytes), without decoding data.
func TensorShape(tp *onnxpb.TensorProto, e ir.Elem, maxBytes int64) (ir.Shape, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTensorBytes
	}
	shape := make(ir.Shape, len(tp.Dims))
	n := int64(1)
	for i, d := range tp.Dims {
		if d < 0 {
			return nil, fmt.Errorf("dimension %d is negative (%d)", i, d)
		}
		if d > 0 && n > math.MaxInt64/8/d {
			return nil, fmt.Errorf("dims %v: the element count overflows", tp.Dims)
		}
		n *= d
		shape[i] = int(d)
	}
	if n > ir.MaxElements || n*int64(max(e.Bytes(), 4)) > maxBytes {
		return nil, fmt.Errorf("dims %v: %d elements exceed the memory budget of %d bytes", tp.Dims, n, maxBytes)
	}
	return shape, nil
}

// DecodeTensorProto converts a TensorProto into an IR tensor. The data may
// be in raw_data (little endian) or in the typed fields; it must hold
// exactly as many values as the dims say. maxBytes (0: default) bounds
// the tensor's size. External data is refused.
func DecodeTensorProto(tp *onnxpb.TensorProto, maxBytes int64) (*ir.Tensor, error) {
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(tp.ExternalData) > 0 {
		return nil, fmt.Errorf("tensor %q keeps its data in an external file; external data is not supported (save the model with all tensors inside it)", tp.GetName())
	}
	if tp.Segment != nil {
		return nil, fmt.Errorf("tensor %q is segmented; segments are not supported", tp.GetName())
	}
	dt := tp.GetDataType()
	e, err := ElemFromONNX(dt)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v", tp.GetName(), err)
	}
	shape, err := TensorShape(tp, e, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %v", tp.GetName(), err)
	}
	n := shape.Elements()
	t := &ir.Tensor{Type: ir.Type{Elem: e, Shape: shape}}
	wrong := func(have int, field string) error {
		return fmt.Errorf("tensor %q: dims %v need %d values, %s holds %d", tp.GetName(), shape, n, field, have)
	}
	if tp.RawData != nil {
		size := onnxSize(dt)
		if len(tp.RawData) != n*size {
			if len(tp.RawData)%size == 0 {
				return nil, wrong(len(tp.RawData)/size, "raw_data")
			}
			return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, dims %v need %d", tp.GetName(), len(tp.RawData), shape, n*size)
		}
		raw := tp.RawData
		if e.IsFloat() {
			t.F = make([]float32, n)
		} else {
			t.I = make([]int64, n)
		}
		for i := 0; i < n; i++ {
			switch onnxpb.TensorProto_DataType(dt) {
			case onnxpb.TensorProto_FLOAT:
				t.F[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			case onnxpb.TensorProto_DOUBLE:
				t.F[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			case onnxpb.TensorProto_FLOAT16:
				t.F[i] = HalfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
			case onnxpb.TensorProto_UINT8:
				t.I[i] = int64(raw[i])
			case onnxpb.TensorProto_INT8:
				t.I[i] = int64(int8(raw[i]))
			case onnxpb.TensorProto_BOOL:
				if raw[i] != 0 {
					t.I[i] = 1
				}
			case onnxpb.TensorProto_UINT16:
				t.I[i] = int64(binary.LittleEndian.Uint16(raw[2*i:]))
			case onnxpb.TensorProto_INT16:
				t.I[i] = int64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
			case onnxpb.TensorProto_INT32:
				t.I[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			case onnxpb.TensorProto_INT64:
				t.I[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		return t, nil
	}
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_FLOAT:
		if len(tp.FloatData) != n {
			return nil, wrong(len(tp.FloatData), "float_data")
		}
		t.F = append([]float32(nil), tp.FloatData...)
	case onnxpb.TensorProto_DOUBLE:
		if len(tp.DoubleData) != n {
			return nil, wrong(len(tp.DoubleData), "double_data")
		}
		t.F = make([]float32, n)
		for i, v := range tp.DoubleData {
			t.F[i] = float32(v)
		}
	case onnxpb.TensorProto_FLOAT16:
		if len(tp.Int32Data) != n {
			return nil, wrong(len(tp.Int32Data), "int32_data")
		}
		t.F = make([]float32, n)
		for i, v := range tp.Int32Data {
			t.F[i] = HalfToFloat(uint16(v))
		}
	case onnxpb.TensorProto_INT64:
		if len(tp.Int64Data) != n {
			return nil, wrong(len(tp.Int64Data), "int64_data")
		}
		t.I = append([]int64(nil), tp.Int64Data...)
	default: // the integer types narrower than 64 bits live in int32_data
		if len(tp.Int32Data) != n {
			return nil, wrong(len(tp.Int32Data), "int32_data")
		}
		t.I = make([]int64, n)
		lo, hi := e.IntRange()
		for i, v := range tp.Int32Data {
			x := int64(v)
			if e.Kind == ir.Bool && x != 0 {
				x = 1
			}
			if x < lo || x > hi {
				return nil, fmt.Errorf("tensor %q: value %d is out of range for %v", tp.GetName(), v, e)
			}
			t.I[i] = x
		}
	}
	return t, nil
}

func onnxSize(dt int32) int {
	switch onnxpb.TensorProto_DataType(dt) {
	case onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_INT64:
		return 8
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT32:
		return 4
	case onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_INT16, onnxpb.TensorProto_UINT16:
		return 2
	}
	return 1
}

// EncodeTensorProto converts an IR tensor into a TensorProto with raw_data.
func EncodeTensorProto(name string, t *ir.Tensor) (*onnxpb.TensorProto, error) {
	dt, err := ElemToONNX(t.Elem)
	if err != nil {
		return nil, err
	}
	n := t.Shape.Elements()
	if n < 0 || t.Len() != n {
		return nil, fmt.Errorf("tensor %q: shape %v needs %d values, has %d", name, t.Shape, n, t.Len())
	}
	size := onnxSize(dt)
	raw := make([]byte, n*size)
	for i := 0; i < n; i++ {
		switch t.Elem.Kind {
		case ir.F32:
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(t.F[i]))
		case ir.F64:
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(float64(t.F[i])))
		case ir.F16:
			binary.LittleEndian.PutUint16(raw[2*i:], FloatToHalf(t.F[i]))
		case ir.U8, ir.I8, ir.Bool:
			raw[i] = byte(t.I[i])
		case ir.U16, ir.I16:
			binary.LittleEndian.PutUint16(raw[2*i:], uint16(t.I[i]))
		case ir.I32:
			binary.LittleEndian.PutUint32(raw[4*i:], uint32(t.I[i]))
		case ir.I64:
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(t.I[i]))
		}
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	tp := &onnxpb.TensorProto{Dims: dims, DataType: proto.Int32(dt), RawData: raw}
	if name != "" {
		tp.Name = proto.String(name)
	}
	return tp, nil
}

// WriteTensorPB writes t as a serialized ONNX TensorProto file.
func WriteTensorPB(path, name string, t *ir.Tensor) error {
	tp, err := EncodeTensorProto(name, t)
	if err != nil {
		return err
	}
	data, err := proto.Marshal(tp)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// HalfToFloat converts IEEE 754 binary16 bits to float32.
func HalfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or nan
		return math.Float32frombits(sign | 0xff<<23 | man<<13)
	case exp == 0:
		if man == 0 {
			return math.Float32frombits(sign)
		}
		f := float32(man) / (1 << 24) // subnormal: man · 2^-24
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// FloatToHalf converts a float32 to binary16 bits, rounding to nearest even.
func FloatToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	man := b & 0x7fffff
	if exp == 0xff {
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		m := man | 0x800000
		shift := uint(14 - e)
		half := uint32(1) << (shift - 1)
		r := m >> shift
		rem := m & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | man>>13
	rem := man & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}
