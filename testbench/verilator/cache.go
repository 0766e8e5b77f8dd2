package verilator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"wdc/backends/verilog"
)

// The build cache keeps the simulators Build compiled, by the hash of
// everything that goes into one (the Verilog sources, the harness, the
// design description, the Verilator version and the build flags), so a
// design that has not changed is not compiled again in another directory:
// repeated test runs and `wdc sim` on a fresh copy of a design start at
// once. WDC_VERILATOR_CACHE names the cache folder, or "off" disables it;
// the default is wdc/verilator under the user's cache folder
// (os.UserCacheDir, e.g. ~/.cache). It holds at most cacheEntries
// simulators, the least recently used are removed.
const cacheEntries = 24

var versions sync.Map // verilator path -> its --version and the C++ compiler's

func verilatorVersion(vl string) string {
	if v, ok := versions.Load(vl); ok {
		return v.(string)
	}
	out, err := exec.Command(vl, "--version").Output()
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(string(out))
	// the C++ compiler verilated.mk uses (CXX, else g++) builds the simulator too
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	if cv, err := exec.Command(cxx, "--version").Output(); err == nil {
		v += "\n" + strings.SplitN(string(cv), "\n", 2)[0]
	}
	versions.Store(vl, v)
	return v
}

func cacheDir() string {
	v := strings.TrimSpace(os.Getenv("WDC_VERILATOR_CACHE"))
	switch strings.ToLower(v) {
	case "off", "0", "false", "no", "none":
		return ""
	case "":
		d, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(d, "wdc", "verilator")
	}
	return v
}

// cacheKey is the cache entry of a build, "" when there is no cache.
func cacheKey(vl, sum string, flags []string) string {
	return toolKey(vl, 32, strings.Join(flags, " "), sum)
}

// toolKey hashes Verilator's path and version with parts into n hex
// digits, "" when there is no cache or no version.
func toolKey(vl string, n int, parts ...string) string {
	if cacheDir() == "" {
		return ""
	}
	ver := verilatorVersion(vl)
	if ver == "" {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", vl, ver, strings.Join(parts, "\n"))
	return hex.EncodeToString(h.Sum(nil))[:n]
}

// fromCache copies a cached simulator to bin; false when there is none.
func fromCache(key, bin string) bool {
	if key == "" {
		return false
	}
	src := filepath.Join(cacheDir(), key, "vsim")
	if _, err := os.Stat(src); err != nil {
		return false
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return false
	}
	if err := copyFile(src, bin); err != nil {
		os.Remove(bin)
		return false
	}
	now := time.Now()
	os.Chtimes(filepath.Join(cacheDir(), key), now, now) // recently used
	return true
}

// toCache stores a freshly built simulator (errors only cost a rebuild later).
func toCache(key, bin string) {
	if key == "" {
		return
	}
	dir := filepath.Join(cacheDir(), key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	f, err := os.CreateTemp(dir, "vsim.*.tmp")
	if err != nil {
		return
	}
	tmp := f.Name()
	f.Close()
	if err := copyFile(bin, tmp); err != nil {
		os.Remove(tmp)
		return
	}
	if err := os.Rename(tmp, filepath.Join(dir, "vsim")); err != nil {
		os.Remove(tmp)
		return
	}
	pruneCache()
}

func pruneCache() {
	root := cacheDir()
	ents, err := os.ReadDir(root)
	if err != nil || len(ents) <= cacheEntries {
		return
	}
	type ent struct {
		name string
		t    int64
	}
	var es []ent
	for _, e := range ents {
		if info, err := e.Info(); err == nil && e.IsDir() {
			es = append(es, ent{e.Name(), info.ModTime().UnixNano()})
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].t > es[j].t })
	for _, e := range es[min(len(es), cacheEntries):] {
		os.RemoveAll(filepath.Join(root, e.name))
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// runtimeKey names the cached objects of Verilator's run-time library
// (verilated.o and the like, the same for every design: about 10 s of g++
// per build otherwise), "" when there is no cache.
func runtimeKey(vl, opt string) string {
	k := toolKey(vl, 24, opt, os.Getenv("CXX"))
	if k == "" {
		return ""
	}
	return "runtime-" + k
}

func runtimeFiles(dir string) []string {
	var fs []string
	for _, pat := range []string{"verilated*.o", "verilated*.d"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		fs = append(fs, m...)
	}
	return fs
}

// runtimeFromCache copies the cached run-time objects into a freshly
// verilated obj_dir (newer than its makefile, so make keeps them).
func runtimeFromCache(key, objDir string) bool {
	if key == "" {
		return false
	}
	src := filepath.Join(cacheDir(), key)
	fs := runtimeFiles(src)
	if len(fs) == 0 {
		return false
	}
	for _, f := range fs {
		if err := copyFile(f, filepath.Join(objDir, filepath.Base(f))); err != nil {
			for _, g := range fs {
				os.Remove(filepath.Join(objDir, filepath.Base(g)))
			}
			return false
		}
	}
	now := time.Now()
	os.Chtimes(src, now, now)
	return true
}

func runtimeToCache(key, objDir string) {
	if key == "" {
		return
	}
	fs := runtimeFiles(objDir)
	if len(fs) == 0 {
		return
	}
	tmp, err := os.MkdirTemp(cacheDir(), key+".tmp")
	if err != nil {
		if os.MkdirAll(cacheDir(), 0o755) != nil {
			return
		}
		if tmp, err = os.MkdirTemp(cacheDir(), key+".tmp"); err != nil {
			return
		}
	}
	for _, f := range fs {
		if err := copyFile(f, filepath.Join(tmp, filepath.Base(f))); err != nil {
			os.RemoveAll(tmp)
			return
		}
	}
	if err := os.Rename(tmp, filepath.Join(cacheDir(), key)); err != nil {
		os.RemoveAll(tmp) // another build stored it first
	}
}

// lintKey names the lint result of the design's Verilog sources.
func lintKey(vl, dir string, d *verilog.Design) string {
	if cacheDir() == "" {
		return "" // no cache: do not read the sources for nothing
	}
	h := sha256.New()
	for _, f := range d.Files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	k := toolKey(vl, 32, "lint -Wall", "top "+d.Top, hex.EncodeToString(h.Sum(nil)))
	if k == "" {
		return ""
	}
	return "lint-" + k
}

// lintCached tells whether the sources were found clean before.
func lintCached(key string) bool {
	if key == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(cacheDir(), "lint", key))
	return err == nil
}

func lintClean(key string) {
	if key == "" {
		return
	}
	dir := filepath.Join(cacheDir(), "lint")
	if os.MkdirAll(dir, 0o755) == nil {
		os.WriteFile(filepath.Join(dir, key), nil, 0o644)
	}
}
