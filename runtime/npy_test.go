package runtime

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wdc/ir"
)

func TestNPYRoundTrip(t *testing.T) {
	ints := []int64{-3, 0, 1, 2, 100, -100}
	cases := []*ir.Tensor{
		ir.FromFloats(ir.Shape{2, 3}, []float32{0, 1.5, -2, float32(math.Inf(1)), 1e-30, 3.25}),
		{Type: ir.Type{Elem: ir.Elem{Kind: ir.F64}, Shape: ir.Shape{3}}, F: []float32{1, -0.5, 7}},
		{Type: ir.Type{Elem: ir.Elem{Kind: ir.F16}, Shape: ir.Shape{4}}, F: []float32{1, -0.5, 65504, 6.103515625e-05}},
		ir.FromInts(ir.Int8, ir.Shape{6}, []int64{-128, -1, 0, 1, 2, 127}),
		ir.FromInts(ir.Uint8, ir.Shape{2, 3}, []int64{0, 1, 2, 3, 254, 255}),
		ir.FromInts(ir.Elem{Kind: ir.I16}, ir.Shape{6}, []int64{-32768, -1, 0, 1, 2, 32767}),
		ir.FromInts(ir.Elem{Kind: ir.U16}, ir.Shape{1, 6}, []int64{0, 1, 2, 300, 65534, 65535}),
		ir.FromInts(ir.Int32, ir.Shape{3, 2}, ints),
		ir.FromInts(ir.Int64, ir.Shape{3, 1, 2}, []int64{math.MinInt64, math.MaxInt64, 0, 1, -1, 5}),
		ir.FromInts(ir.Elem{Kind: ir.Bool}, ir.Shape{3}, []int64{0, 1, 1}),
		ir.FromFloats(ir.Shape{}, []float32{42}),            // scalar
		ir.FromFloats(ir.Shape{0, 4}, []float32{}),          // empty
		ir.FromInts(ir.Int32, ir.Shape{2, 0, 1}, []int64{}), // empty
	}
	for _, want := range cases {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, want); err != nil {
			t.Fatalf("%v: write: %v", want.Type, err)
		}
		if off := bytes.IndexByte(buf.Bytes(), '\n'); (off+1)%64 != 0 {
			t.Errorf("%v: data starts at %d, not 64-byte aligned", want.Type, off+1)
		}
		got, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("%v: read: %v", want.Type, err)
		}
		if want.Elem.Kind == ir.F64 { // f8 reads back into f32
			want = ir.FromFloats(want.Shape, want.F)
		}
		if !got.Equal(want) {
			t.Errorf("round trip of %v gave %v %v %v", want.Type, got.Type, got.F, got.I)
		}
	}
}

func TestNPYFixedRejected(t *testing.T) {
	x := ir.FromInts(ir.FixedType(16, 6), ir.Shape{1}, []int64{1})
	if err := WriteNPY(&bytes.Buffer{}, x); err == nil || !strings.Contains(err.Error(), "no .npy dtype") {
		t.Fatalf("want an error for fixed point, got %v", err)
	}
}

// The fixtures were written by numpy 1.24 (see testdata/np_fixtures.txt).
func TestNPYFromNumpy(t *testing.T) {
	x, err := LoadNPY("testdata/np_f32_2x3.npy")
	if err != nil {
		t.Fatal(err)
	}
	want := ir.FromFloats(ir.Shape{2, 3}, []float32{0, 0.25, 0.5, 0.75, 1, 1.25})
	if !x.Equal(want) {
		t.Errorf("f32: got %v %v", x.Type, x.F)
	}
	// Our writer produces the same bytes as numpy for this file.
	var buf bytes.Buffer
	if err := WriteNPY(&buf, want); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile("testdata/np_f32_2x3.npy")
	if !bytes.Equal(raw, buf.Bytes()) {
		t.Errorf("WriteNPY differs from numpy's bytes:\n%q\n%q", raw, buf.Bytes())
	}

	i8, err := LoadNPY("testdata/np_i8_4.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !i8.Equal(ir.FromInts(ir.Int8, ir.Shape{4}, []int64{-128, -1, 0, 127})) {
		t.Errorf("i8: got %v %v", i8.Type, i8.I)
	}
	s, err := LoadNPY("testdata/np_f8_scalar.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(ir.FromFloats(ir.Shape{}, []float32{2.5})) {
		t.Errorf("f8 scalar: got %v %v", s.Type, s.F)
	}
	e, err := LoadNPY("testdata/np_i64_0x3.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !e.Type.Equal(ir.Type{Elem: ir.Int64, Shape: ir.Shape{0, 3}}) || len(e.I) != 0 {
		t.Errorf("empty i64: got %v", e.Type)
	}
	u2, err := LoadNPY("testdata/np_u2_big.npy")
	if err != nil {
		t.Fatal(err)
	}
	if !u2.Equal(ir.FromInts(ir.Elem{Kind: ir.U16}, ir.Shape{3}, []int64{1, 258, 65535})) {
		t.Errorf("big-endian u2: got %v %v", u2.Type, u2.I)
	}
	_, err = LoadNPY("testdata/np_fortran.npy")
	if err == nil || !strings.Contains(err.Error(), "fortran_order") || !strings.Contains(err.Error(), "np_fortran.npy") {
		t.Errorf("fortran order: want a clear error naming the file, got %v", err)
	}

	z, err := LoadNPZ("testdata/np_arrays.npz")
	if err != nil {
		t.Fatal(err)
	}
	if len(z) != 2 || !z["w"].Equal(ir.FromFloats(ir.Shape{2, 2}, []float32{0, 1, 2, 3})) ||
		!z["b"].Equal(ir.FromInts(ir.Int32, ir.Shape{2}, []int64{1, 2})) {
		t.Errorf("npz: got %v", z)
	}
}

func TestNPZRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.npz")
	in := map[string]*ir.Tensor{
		"fc1.w": ir.FromFloats(ir.Shape{2, 2}, []float32{1, 2, 3, 4}),
		"idx":   ir.FromInts(ir.Int64, ir.Shape{1}, []int64{7}),
	}
	if err := SaveNPZ(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := LoadNPZ(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range in {
		if !out[k].Equal(v) {
			t.Errorf("key %s: got %v", k, out[k])
		}
	}
	one := filepath.Join(t.TempDir(), "x.npy")
	if err := SaveNPY(one, in["fc1.w"]); err != nil {
		t.Fatal(err)
	}
	if x, err := LoadNPY(one); err != nil || !x.Equal(in["fc1.w"]) {
		t.Fatalf("SaveNPY/LoadNPY: %v %v", x, err)
	}
}

func TestNPYBadInput(t *testing.T) {
	good := func() []byte {
		var buf bytes.Buffer
		WriteNPY(&buf, ir.FromFloats(ir.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6}))
		return buf.Bytes()
	}()
	hdr := func(h string) []byte {
		b := []byte("\x93NUMPY\x01\x00")
		b = append(b, byte(len(h)), byte(len(h)>>8))
		return append(b, h...)
	}
	cases := map[string][]byte{
		"empty":          {},
		"magic":          []byte("PK\x03\x04 not numpy at all"),
		"short header":   good[:20],
		"truncated data": good[:len(good)-3],
		"version":        []byte("\x93NUMPY\x09\x00\x10\x00{}"),
		"garbage header": hdr("this is not a dict"),
		"no shape":       hdr("{'descr': '<f4', 'fortran_order': False, }"),
		"bad dtype":      hdr("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }"),
		"struct dtype":   hdr("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"),
		"object dtype":   hdr("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"),
		"neg dim":        hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }"),
		"huge shape":     hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }"),
		"big no data":    hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000,), }"),
		"unclosed":       hdr("{'descr': '<f4', 'fortran_order': False, 'shape': (1,"),
		"v2 huge header": []byte("\x93NUMPY\x02\x00\xff\xff\xff\x7f{"),
	}
	for name, b := range cases {
		if _, err := ReadNPY(bytes.NewReader(b)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Every prefix of a valid file fails cleanly.
	for i := 0; i < len(good); i++ {
		if _, err := ReadNPY(bytes.NewReader(good[:i])); err == nil {
			t.Errorf("prefix of %d bytes: no error", i)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.npy")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if _, err := LoadNPY(bad); err == nil || !strings.Contains(err.Error(), "bad.npy") {
		t.Errorf("LoadNPY error must name the file: %v", err)
	}
	if _, err := LoadNPZ(bad); err == nil || !strings.Contains(err.Error(), "bad.npy") {
		t.Errorf("LoadNPZ error must name the file: %v", err)
	}
	if _, err := LoadNPZ(filepath.Join(dir, "missing.npz")); err == nil || !strings.Contains(err.Error(), "missing.npz") {
		t.Errorf("LoadNPZ of a missing file: %v", err)
	}
}

func FuzzReadNPY(f *testing.F) {
	for _, name := range []string{"np_f32_2x3.npy", "np_i8_4.npy", "np_f8_scalar.npy", "np_u2_big.npy"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := ReadNPY(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, x); err != nil {
			t.Fatalf("read %v but cannot write it: %v", x.Type, err)
		}
	})
}
