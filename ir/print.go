package ir

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// The textual form of a graph, one definition per line:
//
//	graph "lenet5" {
//	  input %x : f32[1,1,32,32] loc("lenet5.wdc":4:1)
//	  const %conv1.w : f32[6,1,5,5] = base64 "AACAPw..."
//	  %conv1 = conv(%x, %conv1.w) {pads = [2, 2, 2, 2]} : f32[1,6,32,32]
//	  output %conv1
//	}
//
// Constants carry their exact bytes (little endian, base64), so a printed
// graph parses back to an equal one. Elided constants (for reading only)
// print a digest instead and cannot be parsed back.

// PrintOptions controls Print.
type PrintOptions struct {
	// ElideConsts prints constants with more than ElideAbove values as a
	// digest instead of their data.
	ElideConsts bool
	ElideAbove  int
	// NoLoc leaves out source positions.
	NoLoc bool
}

// Print writes g in the textual form with all data, so it parses back.
func Print(w io.Writer, g *Graph) error { return PrintWith(w, g, PrintOptions{}) }

// String returns the full textual form of g.
func (g *Graph) String() string {
	var b strings.Builder
	_ = Print(&b, g)
	return b.String()
}

// PrintWith writes g in the textual form.
func PrintWith(w io.Writer, g *Graph, o PrintOptions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "graph %s {\n", strconv.Quote(g.Name))
	loc := func(p Pos) string {
		if o.NoLoc || !p.IsValid() {
			return ""
		}
		return fmt.Sprintf(" loc(%s:%d:%d)", strconv.Quote(p.File), p.Line, p.Col)
	}
	for _, v := range g.Inputs {
		fmt.Fprintf(&b, "  input %s : %v%s\n", ValueRef(v.Name), v.Type, loc(v.Pos))
	}
	for _, v := range g.Consts {
		fmt.Fprintf(&b, "  const %s : %v = ", ValueRef(v.Name), v.Type)
		if o.ElideConsts && v.Const.Len() > o.ElideAbove {
			data := encodeData(v.Const)
			fmt.Fprintf(&b, "elided %q", fmt.Sprintf("%d values, sha256 %x", v.Const.Len(), sha256.Sum256(data)))
		} else {
			fmt.Fprintf(&b, "base64 %q", base64.StdEncoding.EncodeToString(encodeData(v.Const)))
		}
		fmt.Fprintf(&b, "%s\n", loc(v.Pos))
	}
	for _, n := range g.Nodes {
		args := make([]string, len(n.Inputs))
		for i, in := range n.Inputs {
			args[i] = ValueRef(in.Name)
		}
		fmt.Fprintf(&b, "  %s = %s(%s)", ValueRef(n.Out.Name), n.Op, strings.Join(args, ", "))
		if len(n.Attrs) > 0 {
			var as []string
			for _, k := range n.Attrs.Names() {
				as = append(as, k+" = "+n.Attrs[k].String())
			}
			fmt.Fprintf(&b, " {%s}", strings.Join(as, ", "))
		}
		fmt.Fprintf(&b, " : %v%s\n", n.Out.Type, loc(n.Pos))
	}
	if len(g.Outputs) > 0 {
		outs := make([]string, len(g.Outputs))
		for i, v := range g.Outputs {
			outs[i] = ValueRef(v.Name)
		}
		fmt.Fprintf(&b, "  output %s\n", strings.Join(outs, ", "))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

var plainName = regexp.MustCompile(`^[A-Za-z0-9_.\-/:]+$`)

// ValueRef prints a value reference: %name, or %"name" when the name has
// characters outside [A-Za-z0-9_.-/:].
func ValueRef(name string) string {
	if plainName.MatchString(name) {
		return "%" + name
	}
	return "%" + strconv.Quote(name)
}

// encodeData stores elements little endian: floats as float32 bits,
// integers (and fixed-point words) in Elem.Bytes() bytes, two's complement.
func encodeData(t *Tensor) []byte {
	if t.Elem.IsFloat() {
		out := make([]byte, 4*len(t.F))
		for i, f := range t.F {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
		}
		return out
	}
	w := t.Elem.Bytes()
	out := make([]byte, w*len(t.I))
	for i, v := range t.I {
		for j := 0; j < w; j++ {
			out[w*i+j] = byte(uint64(v) >> (8 * j))
		}
	}
	return out
}

func decodeData(e Elem, shape Shape, data []byte) (*Tensor, error) {
	n := shape.Elements()
	t := &Tensor{Type: Type{Elem: e, Shape: shape.Clone()}}
	if e.IsFloat() {
		if len(data) != 4*n {
			return nil, fmt.Errorf("%v needs %d bytes of data, got %d", t.Type, 4*n, len(data))
		}
		t.F = make([]float32, n)
		for i := range t.F {
			t.F[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		return t, nil
	}
	w := e.Bytes()
	if w == 0 || len(data) != w*n {
		return nil, fmt.Errorf("%v needs %d bytes of data, got %d", t.Type, w*n, len(data))
	}
	unsigned := e.Kind == U8 || e.Kind == U16 || e.Kind == Bool
	t.I = make([]int64, n)
	for i := range t.I {
		var u uint64
		for j := 0; j < w; j++ {
			u |= uint64(data[w*i+j]) << (8 * j)
		}
		if !unsigned && w < 8 && u&(1<<(8*w-1)) != 0 {
			u |= ^uint64(0) << (8 * w)
		}
		t.I[i] = int64(u)
	}
	return t, nil
}
