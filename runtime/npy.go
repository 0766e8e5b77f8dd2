package runtime

// NumPy .npy and .npz tensor I/O, written by hand (the format is a short
// text header followed by raw little- or big-endian data; see
// numpy.lib.format). Floats read into f32 tensors (f16 into f16, held as
// float32 like every float kind of ir.Tensor); integers into the matching
// integer element type with the data in Tensor.I.

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"wdc/ir"
)

const npyMagic = "\x93NUMPY"

// maxNPYHeader bounds the header text; numpy's own limit is 10,000 bytes
// for ordinary files, and anything much longer is corrupt.
const maxNPYHeader = 1 << 20

// npyDtype is a supported dtype descriptor: element size, byte order and
// the element type it reads into.
type npyDtype struct {
	elem  ir.Elem
	size  int
	kind  byte // 'f', 'i', 'u', 'b'
	order binary.ByteOrder
}

func parseDescr(descr string) (npyDtype, error) {
	if len(descr) < 3 {
		return npyDtype{}, fmt.Errorf("unsupported dtype %q", descr)
	}
	var order binary.ByteOrder = binary.LittleEndian
	switch descr[0] {
	case '<', '|', '=':
	case '>':
		order = binary.BigEndian
	default:
		return npyDtype{}, fmt.Errorf("unsupported dtype %q (want a byte-order mark <, > or |)", descr)
	}
	kind := descr[1]
	size, err := strconv.Atoi(descr[2:])
	if err != nil {
		return npyDtype{}, fmt.Errorf("unsupported dtype %q", descr)
	}
	d := npyDtype{size: size, kind: kind, order: order}
	switch {
	case kind == 'f' && size == 4, kind == 'f' && size == 8:
		d.elem = ir.Float32
	case kind == 'f' && size == 2:
		d.elem = ir.Elem{Kind: ir.F16}
	case kind == 'i' && size == 1:
		d.elem = ir.Int8
	case kind == 'u' && size == 1:
		d.elem = ir.Uint8
	case kind == 'i' && size == 2:
		d.elem = ir.Elem{Kind: ir.I16}
	case kind == 'u' && size == 2:
		d.elem = ir.Elem{Kind: ir.U16}
	case kind == 'i' && size == 4:
		d.elem = ir.Int32
	case kind == 'i' && size == 8:
		d.elem = ir.Int64
	case kind == 'b' && size == 1:
		d.elem = ir.Elem{Kind: ir.Bool}
	default:
		return npyDtype{}, fmt.Errorf("unsupported dtype %q (supported: f2 f4 f8 i1 u1 i2 u2 i4 i8 b1)", descr)
	}
	return d, nil
}

// ReadNPY reads one array in .npy format.
func ReadNPY(r io.Reader) (*ir.Tensor, error) {
	br := bufio.NewReader(r)
	pre := make([]byte, 8)
	if _, err := io.ReadFull(br, pre); err != nil {
		return nil, fmt.Errorf("not a .npy file: %v", eofIsTruncated(err))
	}
	if string(pre[:6]) != npyMagic {
		return nil, errors.New("not a .npy file (bad magic; want \\x93NUMPY)")
	}
	major := pre[6]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("header: %v", eofIsTruncated(err))
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return nil, fmt.Errorf("header: %v", eofIsTruncated(err))
		}
		n := binary.LittleEndian.Uint32(b[:])
		if n > maxNPYHeader {
			return nil, fmt.Errorf("header length %d is implausibly large", n)
		}
		hlen = int(n)
	default:
		return nil, fmt.Errorf("unsupported .npy format version %d.%d", pre[6], pre[7])
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("header: %v", eofIsTruncated(err))
	}
	descr, fortran, shape, err := parseNPYHeader(string(hdr))
	if err != nil {
		return nil, err
	}
	if fortran {
		return nil, errors.New("fortran_order arrays are not supported; save a C-ordered array (numpy.ascontiguousarray)")
	}
	dt, err := parseDescr(descr)
	if err != nil {
		return nil, err
	}
	n := shape.Elements()
	if n < 0 || n > ir.MaxElements {
		return nil, fmt.Errorf("shape %v is too large", shape)
	}
	raw, err := readAtMost(br, int64(n)*int64(dt.size))
	if err != nil {
		return nil, fmt.Errorf("data of %s%v: %v", descr, shape, err)
	}
	t := &ir.Tensor{Type: ir.Type{Elem: dt.elem, Shape: shape}}
	if dt.kind == 'f' {
		t.F = make([]float32, n)
		for i := range t.F {
			b := raw[i*dt.size:]
			switch dt.size {
			case 2:
				t.F[i] = HalfToFloat(dt.order.Uint16(b))
			case 4:
				t.F[i] = math.Float32frombits(dt.order.Uint32(b))
			case 8:
				t.F[i] = float32(math.Float64frombits(dt.order.Uint64(b)))
			}
		}
		return t, nil
	}
	t.I = make([]int64, n)
	for i := range t.I {
		b := raw[i*dt.size:]
		switch {
		case dt.kind == 'b':
			if b[0] != 0 {
				t.I[i] = 1
			}
		case dt.size == 1 && dt.kind == 'i':
			t.I[i] = int64(int8(b[0]))
		case dt.size == 1:
			t.I[i] = int64(b[0])
		case dt.size == 2 && dt.kind == 'i':
			t.I[i] = int64(int16(dt.order.Uint16(b)))
		case dt.size == 2:
			t.I[i] = int64(dt.order.Uint16(b))
		case dt.size == 4:
			t.I[i] = int64(int32(dt.order.Uint32(b)))
		case dt.size == 8:
			t.I[i] = int64(dt.order.Uint64(b))
		}
	}
	return t, nil
}

func eofIsTruncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("file is truncated")
	}
	return err
}

// readAtMost reads exactly n bytes, growing the buffer as data arrives so
// that a corrupt header claiming a huge shape cannot force a huge
// allocation before the data runs out.
func readAtMost(r io.Reader, n int64) ([]byte, error) {
	const chunk = 1 << 20
	if n <= chunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, eofIsTruncated(err)
		}
		return b, nil
	}
	var buf bytes.Buffer
	got, err := io.Copy(&buf, io.LimitReader(r, n))
	if err != nil {
		return nil, err
	}
	if got != n {
		return nil, fmt.Errorf("file is truncated (%d of %d data bytes)", got, n)
	}
	return buf.Bytes(), nil
}

// parseNPYHeader reads the Python dict literal of a .npy header, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
func parseNPYHeader(h string) (descr string, fortran bool, shape ir.Shape, err error) {
	p := &pyLit{s: strings.TrimRight(h, " \n\x00")}
	bad := func(msg string) error {
		return fmt.Errorf("malformed header %q: %s", truncate(h, 120), msg)
	}
	if !p.eat('{') {
		return "", false, nil, bad("want '{'")
	}
	var haveDescr, haveFortran, haveShape bool
	for {
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return "", false, nil, bad("want a quoted key")
		}
		if !p.eat(':') {
			return "", false, nil, bad("want ':' after key " + key)
		}
		switch key {
		case "descr":
			descr, ok = p.str()
			if !ok {
				return "", false, nil, bad("descr must be a string (structured dtypes are not supported)")
			}
			haveDescr = true
		case "fortran_order":
			switch {
			case p.word("True"):
				fortran = true
			case p.word("False"):
				fortran = false
			default:
				return "", false, nil, bad("fortran_order must be True or False")
			}
			haveFortran = true
		case "shape":
			shape, ok = p.tuple()
			if !ok {
				return "", false, nil, bad("shape must be a tuple of non-negative integers")
			}
			haveShape = true
		default:
			return "", false, nil, bad("unknown key " + strconv.Quote(key))
		}
		if !p.eat(',') {
			if !p.eat('}') {
				return "", false, nil, bad("want ',' or '}'")
			}
			break
		}
	}
	if !haveDescr || !haveFortran || !haveShape {
		return "", false, nil, bad("want the keys descr, fortran_order and shape")
	}
	return descr, fortran, shape, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// pyLit is a tiny scanner for the literals numpy writes in a header.
type pyLit struct {
	s string
	i int
}

func (p *pyLit) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *pyLit) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyLit) word(w string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

func (p *pyLit) str() (string, bool) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

func (p *pyLit) tuple() (ir.Shape, bool) {
	if !p.eat('(') {
		return nil, false
	}
	shape := ir.Shape{}
	for {
		if p.eat(')') {
			return shape, true
		}
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i {
			return nil, false
		}
		d, err := strconv.Atoi(strings.TrimRight(p.s[p.i:j], "L"))
		if err != nil || d < 0 || d > ir.MaxElements {
			return nil, false
		}
		p.i = j
		p.word("L") // Python 2 longs
		shape = append(shape, d)
		if !p.eat(',') {
			if p.eat(')') {
				return shape, true
			}
			return nil, false
		}
	}
}

// npyDescr gives the dtype descriptor a tensor is written with.
func npyDescr(e ir.Elem) (string, int, error) {
	switch e.Kind {
	case ir.F32:
		return "<f4", 4, nil
	case ir.F64:
		return "<f8", 8, nil
	case ir.F16:
		return "<f2", 2, nil
	case ir.I8:
		return "|i1", 1, nil
	case ir.U8:
		return "|u1", 1, nil
	case ir.I16:
		return "<i2", 2, nil
	case ir.U16:
		return "<u2", 2, nil
	case ir.I32:
		return "<i4", 4, nil
	case ir.I64:
		return "<i8", 8, nil
	case ir.Bool:
		return "|b1", 1, nil
	}
	return "", 0, fmt.Errorf("element type %v has no .npy dtype (cast it to an integer or float type first)", e)
}

// WriteNPY writes t in .npy format version 1.0, C order.
func WriteNPY(w io.Writer, t *ir.Tensor) error {
	descr, size, err := npyDescr(t.Elem)
	if err != nil {
		return err
	}
	n := t.Shape.Elements()
	if n < 0 || t.Len() != n {
		return fmt.Errorf("tensor %v holds %d values, its shape needs %d", t.Type, t.Len(), n)
	}
	dims := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := "(" + strings.Join(dims, ", ")
	if len(dims) == 1 {
		shape += ","
	}
	shape += ")"
	hdr := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	// Pad with spaces and a newline so the data starts on a 64-byte boundary.
	total := len(npyMagic) + 2 + 2 + len(hdr) + 1
	hdr += strings.Repeat(" ", (64-total%64)%64) + "\n"
	if len(hdr) > math.MaxUint16 {
		return fmt.Errorf("shape %v makes a header too long for .npy version 1.0", t.Shape)
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(npyMagic)
	bw.Write([]byte{1, 0})
	var b [8]byte
	binary.LittleEndian.PutUint16(b[:], uint16(len(hdr)))
	bw.Write(b[:2])
	bw.WriteString(hdr)
	le := binary.LittleEndian
	for i := 0; i < n; i++ {
		switch t.Elem.Kind {
		case ir.F32:
			le.PutUint32(b[:], math.Float32bits(t.F[i]))
		case ir.F64:
			le.PutUint64(b[:], math.Float64bits(float64(t.F[i])))
		case ir.F16:
			le.PutUint16(b[:], FloatToHalf(t.F[i]))
		case ir.Bool:
			b[0] = 0
			if t.I[i] != 0 {
				b[0] = 1
			}
		default:
			le.PutUint64(b[:], uint64(t.I[i]))
		}
		bw.Write(b[:size])
	}
	return bw.Flush()
}

// LoadNPY reads a .npy file; errors name the file.
func LoadNPY(path string) (*ir.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ReadNPY(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return t, nil
}

// SaveNPY writes t to a .npy file.
func SaveNPY(path string, t *ir.Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteNPY(f, t); err != nil {
		f.Close()
		return fmt.Errorf("%s: %v", path, err)
	}
	return f.Close()
}

// LoadNPZ reads every array of an .npz archive (numpy.savez or
// savez_compressed), keyed by member name without the .npy suffix.
func LoadNPZ(path string) (map[string]*ir.Tensor, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		if errors.Is(err, zip.ErrFormat) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: not an .npz archive (%v)", path, err)
		}
		return nil, err
	}
	defer z.Close()
	out := map[string]*ir.Tensor{}
	for _, f := range z.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		key := strings.TrimSuffix(f.Name, ".npy")
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("%s: member %q: %v", path, f.Name, err)
		}
		t, err := ReadNPY(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: member %q: %v", path, f.Name, err)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%s: key %q appears twice", path, key)
		}
		out[key] = t
	}
	return out, nil
}

// SaveNPZ writes tensors as an uncompressed .npz archive (numpy.savez),
// members in sorted key order so the output is deterministic.
func SaveNPZ(path string, ts map[string]*ir.Tensor) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	keys := make([]string, 0, len(ts))
	for k := range ts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: k + ".npy", Method: zip.Store})
		if err == nil {
			err = WriteNPY(w, ts[k])
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: key %q: %v", path, k, err)
		}
	}
	if err := zw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %v", path, err)
	}
	return f.Close()
}
