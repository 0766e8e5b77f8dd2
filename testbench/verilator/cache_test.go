package verilator

import (
	"os"
	"path/filepath"
	"testing"
)

// The build cache: a simulator stored under one key comes back for the
// same key only; "off" disables it; entries beyond cacheEntries are
// pruned, least recently used first.
func TestBuildCache(t *testing.T) {
	root := t.TempDir()
	t.Setenv("WDC_VERILATOR_CACHE", root)
	vl := "/nonexistent/verilator"
	versions.Store(vl, "Verilator test")
	defer versions.Delete(vl)
	k1 := cacheKey(vl, "sum1", []string{"-O0"})
	k2 := cacheKey(vl, "sum2", []string{"-O0"})
	k3 := cacheKey(vl, "sum1", []string{"-O2"})
	if k1 == "" || k1 == k2 || k1 == k3 {
		t.Fatalf("keys %q %q %q", k1, k2, k3)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "obj_dir", "vsim")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("simulator 1"), 0o755); err != nil {
		t.Fatal(err)
	}
	toCache(k1, bin)
	other := filepath.Join(t.TempDir(), "obj_dir", "vsim")
	if fromCache(k2, other) {
		t.Error("a different design came from the cache")
	}
	if !fromCache(k1, other) {
		t.Fatal("the stored simulator is not in the cache")
	}
	if b, err := os.ReadFile(other); err != nil || string(b) != "simulator 1" {
		t.Fatalf("cached simulator: %q %v", b, err)
	}
	if info, err := os.Stat(other); err != nil || info.Mode()&0o100 == 0 {
		t.Errorf("cached simulator not executable: %v %v", info.Mode(), err)
	}
	// lint results
	if lintCached("lint-x") {
		t.Error("unknown lint result cached")
	}
	lintClean("lint-x")
	if !lintCached("lint-x") {
		t.Error("clean lint not recorded")
	}
	// pruning keeps the newest cacheEntries entries
	for i := 0; i < cacheEntries+5; i++ {
		toCache(cacheKey(vl, string(rune('a'+i)), nil), bin)
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > cacheEntries {
		t.Errorf("%d cache entries, at most %d kept", len(ents), cacheEntries)
	}
	t.Setenv("WDC_VERILATOR_CACHE", "off")
	if cacheKey(vl, "sum1", []string{"-O0"}) != "" || fromCache(k1, other) {
		t.Error("the cache is used although WDC_VERILATOR_CACHE=off")
	}
}
