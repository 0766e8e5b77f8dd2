package dsl

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wdc/ir"
	"wdc/runtime"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWeightFiles(t *testing.T) {
	dir := t.TempDir()
	w := ir.FromFloats(ir.Shape{4, 3}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	b := ir.FromFloats(ir.Shape{3}, []float32{-1, 0, 1})
	if err := runtime.SaveNPY(filepath.Join(dir, "w.npy"), w); err != nil {
		t.Fatal(err)
	}
	if err := runtime.SaveNPY(filepath.Join(dir, "b.npy"), b); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o755)
	if err := runtime.SaveNPZ(filepath.Join(dir, "sub", "all.npz"), map[string]*ir.Tensor{
		"fc.w": w, "fc.b": b, "other": b,
		"bn.scale": b, "bn.bias": b, "bn.mean": b, "bn.var": b,
	}); err != nil {
		t.Fatal(err)
	}
	parse := func(src string) (*ir.Graph, error) {
		path := filepath.Join(dir, "net.wdc")
		writeFile(t, path, src)
		return ParseFile(path)
	}
	check := func(g *ir.Graph, err error, name string, want *ir.Tensor) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		v := g.Lookup(name)
		if v == nil || !v.Const.Equal(want) {
			t.Errorf("%s: got %v, want %v", name, v, want.F)
		}
	}

	// .npy per tensor, relative to the .wdc file's directory.
	g, err := parse(`input x: f32[1,4]
output y = x -> fc: dense(out=3, w="w.npy", b="b.npy")`)
	check(g, err, "fc.w", w)
	check(g, err, "fc.b", b)

	// .npz by explicit key and by the default key (the constant's name).
	g, err = parse(`input x: f32[1,4]
output y = x -> fc: dense(out=3, w="sub/all.npz:fc.w", b="sub/all.npz")`)
	check(g, err, "fc.w", w)
	check(g, err, "fc.b", b)

	// The network-wide archive supplies every layer's weights.
	g, err = parse(`weights "sub/all.npz"
input x: f32[1,4]
h = x -> fc: dense(out=3)
output y = h -> bn: batch_norm
`)
	check(g, err, "fc.w", w)
	check(g, err, "bn.var", b)

	// A param from a file, a list, a fill value and an initialiser.
	g, err = parse(`weights "sub/all.npz"
input x: f32[1,3]
param o: f32[3] = "sub/all.npz:other"
param l: f32[3] = [1, 2.5, -3]
param f: f32[2,3] = 0.25
param z: f32[3] = zeros
output y = x * o + l + z
`)
	check(g, err, "o", b)
	check(g, err, "l", ir.FromFloats(ir.Shape{3}, []float32{1, 2.5, -3}))
	check(g, err, "f", ir.FromFloats(ir.Shape{2, 3}, []float32{0.25, 0.25, 0.25, 0.25, 0.25, 0.25}))

	errCases := []struct{ src, want string }{
		{`input x: f32[1,5]
output y = x -> fc: dense(out=3, w="w.npy")`,
			`net.wdc:2:34: layer fc (dense): w.npy holds f32[4,3], but weight fc.w must be f32[5,3]`},
		{`input x: f32[1,4]
output y = x -> fc: dense(out=3, w="missing.npy")`,
			`net.wdc:2:34: weight file ` + filepath.Join(dir, "missing.npy") + ` does not exist (layer fc (dense) needs fc.w as f32[4,3])`},
		{`input x: f32[1,4]
output y = x -> fc: dense(out=3, w="sub/all.npz:fc.ww")`,
			`net.wdc:2:34: sub/all.npz has no key "fc.ww" (did you mean fc.w, fc.b?) (layer fc (dense) needs fc.w as f32[4,3])`},
		{`weights "sub/all.npz"
input x: f32[1,4]
output y = x -> fc2: dense(out=3)`,
			`net.wdc:3:17: layer fc2 (dense): weight fc2.w f32[4,3] is not in sub/all.npz (declared at ` + filepath.Join(dir, "net.wdc") + `:1:1) (did you mean fc.w, fc.b?)`},
		{`weights "nothere.npz"
input x: f32[1,4]
output y = relu(x)`,
			`net.wdc:1:1: weight file ` + filepath.Join(dir, "nothere.npz") + ` does not exist`},
		{`input x: f32[1,4]
output y = x -> fc: dense(out=3, w="net.wdc.npy")`,
			`does not exist`},
		{`input x: f32[1,4]
output y = x -> fc: dense(out=3, w="w.npy", bias=false, b="b.npy")`,
			`argument b names a bias file but bias=false`},
		{`input x: f32[1,3]
param l: f32[4] = [1, 2, 3]
output y = x`,
			`param l: f32[4] needs 4 values, the list has 3`},
	}
	for _, tc := range errCases {
		_, err := parse(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n got: %v\nwant: ...%s", tc.src, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), filepath.Join(dir, "net.wdc")+":") {
			t.Errorf("error does not start with file:line:col: %v", err)
		}
	}

	// A garbage .npy is reported with the file's name.
	writeFile(t, filepath.Join(dir, "junk.npy"), "not numpy")
	_, err = parse(`input x: f32[1,4]
output y = x -> fc: dense(out=3, w="junk.npy")`)
	if err == nil || !strings.Contains(err.Error(), "junk.npy: not a .npy file") || !strings.Contains(err.Error(), "net.wdc:2:34") {
		t.Errorf("junk file: %v", err)
	}
}

func TestSeededInit(t *testing.T) {
	src := func(seed string, extra string) string {
		return seed + `
input x: f32[1,3,16,16]
h = x -> c1: conv2d(out=8, kernel=3)` + extra + ` -> bn: batch_norm -> relu -> flatten
output y = h -> fc: dense(out=10)
`
	}
	a := mustParse(t, src("seed 7", ""))
	b := mustParse(t, src("seed 7", ""))
	c := mustParse(t, src("seed 8", ""))
	d := mustParse(t, src("seed 7", " -> c2: conv2d(out=8, kernel=1)"))
	for _, v := range a.Consts {
		if !v.Const.Equal(b.Lookup(v.Name).Const) {
			t.Errorf("%s differs between two parses with the same seed", v.Name)
		}
		// Weights depend on the seed and their own name only: adding a
		// layer leaves the others unchanged.
		if w := d.Lookup(v.Name); v.Name != "fc.w" && (w == nil || !v.Const.Equal(w.Const)) {
			t.Errorf("%s changed when another layer was added", v.Name)
		}
	}
	if a.Lookup("c1.w").Const.Equal(c.Lookup("c1.w").Const) {
		t.Errorf("c1.w is the same for seeds 7 and 8")
	}
	if a.Lookup("c1.w").Const.Equal(a.Lookup("fc.w").Const) {
		t.Errorf("c1.w and fc.w are equal")
	}
	// He-uniform bounds, zero biases, identity batch norm.
	bound := func(fanIn int) float32 { return float32(math.Sqrt(6 / float64(fanIn))) }
	for name, lim := range map[string]float32{"c1.w": bound(3 * 9), "fc.w": bound(8 * 14 * 14)} {
		x := a.Lookup(name).Const
		var maxAbs float32
		for _, f := range x.F {
			maxAbs = max(maxAbs, float32(math.Abs(float64(f))))
		}
		if maxAbs > lim || maxAbs < lim*0.8 {
			t.Errorf("%s: max |w| = %g, want close to and at most %g", name, maxAbs, lim)
		}
	}
	for name, want := range map[string]float32{"c1.b": 0, "fc.b": 0, "bn.scale": 1, "bn.bias": 0, "bn.mean": 0, "bn.var": 1} {
		for _, f := range a.Lookup(name).Const.F {
			if f != want {
				t.Errorf("%s holds %g, want all %g", name, f, want)
				break
			}
		}
	}
	// Without a seed declaration the seed is 0.
	if !mustParse(t, src("", "")).Lookup("c1.w").Const.Equal(mustParse(t, src("seed 0", "")).Lookup("c1.w").Const) {
		t.Errorf("the default seed is not 0")
	}
	// Param initialisers.
	g := mustParse(t, `seed 3
param u: f32[1000] = uniform(-0.5, 0.25)
param n: f32[1000] = normal(1, 0.1)
param h: f32[50,20] = he(fan_in=6)
param h2: f32[50,20]
param k: i8[4] = 7
input x: f32[1000]
output y = x + u + n
`)
	var mean float64
	for i, f := range g.Lookup("u").Const.F {
		if f < -0.5 || f > 0.25 {
			t.Fatalf("u[%d] = %g outside [-0.5, 0.25]", i, f)
		}
	}
	for _, f := range g.Lookup("n").Const.F {
		mean += float64(f) / 1000
	}
	if math.Abs(mean-1) > 0.02 {
		t.Errorf("normal(1, 0.1) has mean %g", mean)
	}
	for _, f := range g.Lookup("h").Const.F {
		if math.Abs(float64(f)) > 1 {
			t.Fatalf("he(fan_in=6) gave %g", f)
		}
	}
	if !g.Lookup("k").Const.Equal(ir.FromInts(ir.Int8, ir.Shape{4}, []int64{7, 7, 7, 7})) {
		t.Errorf("k = %v", g.Lookup("k").Const)
	}
}
