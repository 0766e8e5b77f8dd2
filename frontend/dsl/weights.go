package dsl

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strings"

	"wdc/ir"
	"wdc/runtime"
)

// initKind says how a seeded weight is filled.
type initKind uint8

const (
	initZeros   initKind = iota
	initOnes             // batch_norm scale and var
	initFill             // every element = a
	initHe               // uniform(-b, b), b = sqrt(6 / fan_in) (He/Kaiming uniform)
	initUniform          // uniform(a, b)
	initNormal           // normal(mean a, std b)
)

type initSpec struct {
	kind  initKind
	a, b  float64
	fanIn int
	// explicit: written in a param declaration, so it wins over the
	// network's weights archive.
	explicit bool
}

func (s initSpec) String() string {
	switch s.kind {
	case initZeros:
		return "zeros"
	case initOnes:
		return "ones"
	case initFill:
		return fmt.Sprintf("fill(%g)", s.a)
	case initHe:
		return fmt.Sprintf("he_uniform(fan_in=%d)", s.fanIn)
	case initUniform:
		return fmt.Sprintf("uniform(%g, %g)", s.a, s.b)
	}
	return fmt.Sprintf("normal(%g, %g)", s.a, s.b)
}

// rng returns the random stream of one constant: it depends only on the
// network's seed and the constant's name, so adding or removing a layer
// leaves every other layer's weights unchanged.
func (e *elab) rng(name string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(name))
	return rand.New(rand.NewPCG(e.seed, h.Sum64()))
}

// seeded makes a tensor filled by the initialiser.
func (e *elab) seeded(name string, t ir.Type, s initSpec) (*ir.Tensor, error) {
	x := ir.NewTensor(t.Elem, t.Shape)
	if !t.Elem.IsFloat() {
		var v int64
		switch s.kind {
		case initZeros:
		case initOnes:
			v = 1
		case initFill:
			if s.a != math.Trunc(s.a) {
				return nil, fmt.Errorf("cannot fill an integer tensor %v with %g", t, s.a)
			}
			v = int64(s.a)
			if lo, hi := t.Elem.IntRange(); v < lo || v > hi {
				return nil, fmt.Errorf("%d is out of range for %v", v, t.Elem)
			}
		default:
			return nil, fmt.Errorf("%s initialisation needs a float tensor, not %v; load integer weights from a file", s, t)
		}
		for i := range x.I {
			x.I[i] = v
		}
		return x, nil
	}
	switch s.kind {
	case initZeros:
	case initOnes, initFill:
		v := float32(1)
		if s.kind == initFill {
			v = float32(s.a)
		}
		for i := range x.F {
			x.F[i] = v
		}
	case initHe, initUniform:
		lo, hi := s.a, s.b
		if s.kind == initHe {
			hi = math.Sqrt(6 / float64(max(s.fanIn, 1)))
			lo = -hi
		}
		r := e.rng(name)
		for i := range x.F {
			x.F[i] = float32(lo + (hi-lo)*r.Float64())
		}
	case initNormal:
		r := e.rng(name)
		for i := range x.F {
			x.F[i] = float32(s.a + s.b*r.NormFloat64())
		}
	}
	return x, nil
}

// weightSource is where a constant's data comes from: a file (a .npy, or
// a key of an .npz) or, with file empty, the seeded initialiser.
type weightSource struct {
	file string // as written
	key  string // .npz key
	pos  ir.Pos // where the source was named
}

// parseSource reads "w.npy", "w.npz" (key defaults to the constant's name)
// or "w.npz:key".
func parseSource(s string, defKey string, p ir.Pos) (weightSource, error) {
	src := weightSource{file: s, pos: p}
	if i := strings.LastIndex(s, ".npz:"); i >= 0 {
		src.file, src.key = s[:i+4], s[i+5:]
		if src.key == "" {
			return src, errAt(p, "empty key after %s: (write \"%s:KEY\" or just \"%s\" for the key %s)", src.file, src.file, src.file, defKey)
		}
		return src, nil
	}
	switch strings.ToLower(filepath.Ext(s)) {
	case ".npz":
		src.key = defKey
	case ".npy":
	default:
		return src, errAt(p, "weight file %q must end in .npy, .npz or .npz:KEY", s)
	}
	return src, nil
}

func (e *elab) resolve(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(e.dir, path)
}

func (e *elab) loadArchive(path string, p ir.Pos) (map[string]*ir.Tensor, error) {
	full := e.resolve(path)
	if z, ok := e.npz[full]; ok {
		return z, nil
	}
	z, err := runtime.LoadNPZ(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errAt(p, "weight file %s does not exist", full)
		}
		return nil, errAt(p, "%v", err)
	}
	e.npz[full] = z
	return z, nil
}

// constant creates a graph constant named name of type want, from src when
// it names a file, else from the network-wide archive when one is
// declared, else from the seeded initialiser. layer describes the owner
// for error messages.
func (e *elab) constant(name string, want ir.Type, src *weightSource, init initSpec, layer string, p ir.Pos) (*ir.Value, error) {
	n := want.Shape.Elements()
	if n < 0 || int64(n) > maxParamElements-e.params {
		return nil, errAt(p, "%s: weight %s %v would take the network past %d weight elements", layer, name, want, maxParamElements)
	}
	var t *ir.Tensor
	var from string
	switch {
	case src != nil:
		var err error
		if t, from, err = e.load(*src); err != nil {
			return nil, fmt.Errorf("%v (%s needs %s as %v)", err, layer, name, want)
		}
	case e.archive != "" && !init.explicit:
		z, err := e.loadArchive(e.archive, e.archPos)
		if err != nil {
			return nil, err
		}
		from = fmt.Sprintf("%s:%s", e.archive, name)
		t = z[name]
		if t == nil {
			return nil, errAt(p, "%s: weight %s %v is not in %s (declared at %s)%s", layer, name, want, e.archive, e.archPos, keyHint(name, z))
		}
	default:
		var err error
		if t, err = e.seeded(name, want, init); err != nil {
			return nil, errAt(p, "%s: weight %s: %v", layer, name, err)
		}
	}
	if src != nil || (e.archive != "" && !init.explicit) {
		// Float data loads into whatever float type the layer computes in.
		if t.Elem.IsFloat() && want.Elem.IsFloat() && t.Elem != want.Elem {
			c := t.Clone()
			c.Elem = want.Elem
			t = c
		}
		if !t.Type.Equal(want) {
			at := p
			if src != nil {
				at = src.pos
			}
			return nil, errAt(at, "%s: %s holds %v, but weight %s must be %v", layer, from, t.Type, name, want)
		}
	}
	e.params += int64(n)
	v, err := e.g.AddConst(name, t, p)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (e *elab) load(src weightSource) (*ir.Tensor, string, error) {
	if src.key != "" {
		z, err := e.loadArchive(src.file, src.pos)
		if err != nil {
			return nil, "", err
		}
		t := z[src.key]
		if t == nil {
			return nil, "", errAt(src.pos, "%s has no key %q%s", src.file, src.key, keyHint(src.key, z))
		}
		return t, src.file + ":" + src.key, nil
	}
	full := e.resolve(src.file)
	t, err := runtime.LoadNPY(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", errAt(src.pos, "weight file %s does not exist", full)
		}
		return nil, "", errAt(src.pos, "%v", err)
	}
	return t, src.file, nil
}

func keyHint(key string, z map[string]*ir.Tensor) string {
	keys := make([]string, 0, len(z))
	for k := range z {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if s := suggestion(key, keys); s != "" {
		return s
	}
	if len(keys) > 8 {
		keys = append(keys[:8], "...")
	}
	return " (it has " + strings.Join(keys, ", ") + ")"
}
