// Package roofline measures this machine's roofline (docs/cost-models.md
// §8.1): the peak float32 arithmetic throughput (an FMA loop compiled with
// clang-14 -O3 -march=native, 12 independent accumulator chains of the widest vectors (16 floats with AVX-512, else 8)
// per thread, on one core and on all cores) and the memory bandwidth (a
// STREAM-like triad a = b + s·c over arrays far larger than the caches,
// one thread and all cores). The result is cached as JSON in the user
// cache directory ($XDG_CACHE_HOME/wdc/machine-v2.json, else
// ~/.cache/wdc/machine-v2.json); WDC_MACHINE names another file to read (it
// is not written), and Options.Force measures again.
package roofline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"
)

// Machine is this machine's roofline.
type Machine struct {
	// PeakFLOPS is the float32 FLOP/s of all cores together (an FMA
	// counts as 2 FLOPs); PeakFLOPSPerCore that of one core.
	PeakFLOPS        float64 `json:"peak_flops"`
	PeakFLOPSPerCore float64 `json:"peak_flops_per_core"`
	// BandwidthBytes is the memory bandwidth in bytes/s with all cores;
	// BandwidthPerCore with one thread.
	BandwidthBytes   float64 `json:"bandwidth_bytes"`
	BandwidthPerCore float64 `json:"bandwidth_bytes_per_core"`
	Cores            int     `json:"cores"`
	// Source is "measured" or "default" (clang missing: nominal figures).
	Source   string `json:"source"`
	CPU      string `json:"cpu,omitempty"`
	Measured string `json:"measured,omitempty"` // RFC 3339 time of the measurement
}

// Peak is the FLOP/s with p threads (p ≤ 0 or ≥ Cores: all cores).
func (m *Machine) Peak(p int) float64 {
	if p <= 0 || p >= m.Cores {
		return m.PeakFLOPS
	}
	return m.PeakFLOPSPerCore * float64(p)
}

// Bandwidth is the memory bandwidth with p threads.
func (m *Machine) Bandwidth(p int) float64 {
	if p <= 0 || p >= m.Cores || m.Cores <= 1 {
		return m.BandwidthBytes
	}
	// Between one thread's and all cores' figures, linearly.
	f := float64(p-1) / float64(m.Cores-1)
	return m.BandwidthPerCore + f*(m.BandwidthBytes-m.BandwidthPerCore)
}

// Ridge is the arithmetic intensity (FLOP/byte) where the roofline turns
// from memory-bound to compute-bound.
func (m *Machine) Ridge() float64 { return m.PeakFLOPS / m.BandwidthBytes }

func (m *Machine) String() string {
	return fmt.Sprintf("%d cores, peak %.1f GFLOP/s (%.1f per core), bandwidth %.1f GB/s (%.1f one thread), ridge %.1f FLOP/B [%s]",
		m.Cores, m.PeakFLOPS/1e9, m.PeakFLOPSPerCore/1e9, m.BandwidthBytes/1e9, m.BandwidthPerCore/1e9, m.Ridge(), m.Source)
}

// Default is a nominal machine (an AVX2/FMA core at 3 GHz: 2 FMA units ×
// 8 lanes × 2 FLOPs × 3e9 = 96 GFLOP/s per core; 10 GB/s per core),
// used when nothing can be measured.
func Default() *Machine {
	c := goruntime.NumCPU()
	return &Machine{PeakFLOPS: 96e9 * float64(c), PeakFLOPSPerCore: 96e9, BandwidthBytes: 10e9 * float64(c), BandwidthPerCore: 10e9, Cores: c, Source: "default"}
}

// Options control Load and Measure.
type Options struct {
	Force     bool   // measure even if a cached result exists
	CachePath string // default: CachePath()
	Clang     string // default clang-14
	// Quick shortens the measurement (tests): fewer repetitions, smaller
	// arrays (still beyond the last-level cache of common CPUs).
	Quick bool
}

// CachePath is where the measurement is cached.
func CachePath() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "wdc", "machine-v2.json"), nil // v2: AVX-512 FMA loop where available
}

// Load returns the machine's roofline: the file named by $WDC_MACHINE if
// set, else the cache if present (and not Force), else a fresh
// measurement, which is then cached.
func Load(opts Options) (*Machine, error) {
	if p := os.Getenv("WDC_MACHINE"); p != "" && !opts.Force {
		return ReadFile(p)
	}
	path := opts.CachePath
	if path == "" {
		var err error
		if path, err = CachePath(); err != nil {
			return nil, err
		}
	}
	if !opts.Force {
		if m, err := ReadFile(path); err == nil {
			return m, nil
		}
	}
	m, err := Measure(opts)
	if err != nil {
		return nil, err
	}
	if err := m.WriteFile(path); err != nil {
		return m, fmt.Errorf("roofline: measured, but could not cache it: %v", err)
	}
	return m, nil
}

// ReadFile reads a Machine from JSON.
func ReadFile(path string) (*Machine, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Machine
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if m.PeakFLOPS <= 0 || m.BandwidthBytes <= 0 || m.Cores <= 0 {
		return nil, fmt.Errorf("%s: peak_flops, bandwidth_bytes and cores must be positive", path)
	}
	if m.PeakFLOPSPerCore <= 0 {
		m.PeakFLOPSPerCore = m.PeakFLOPS / float64(m.Cores)
	}
	if m.BandwidthPerCore <= 0 {
		m.BandwidthPerCore = m.BandwidthBytes
	}
	return &m, nil
}

// WriteFile writes m as JSON, creating the directory.
func (m *Machine) WriteFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Measure compiles and runs the micro-benchmarks. Without clang it
// returns an error naming the package.
func Measure(opts Options) (*Machine, error) {
	clang := opts.Clang
	if clang == "" {
		clang = "clang-14"
	}
	cc, err := exec.LookPath(clang)
	if err != nil {
		return nil, fmt.Errorf("roofline: measuring the machine needs %s (Debian package clang-14): %v", clang, err)
	}
	dir, err := os.MkdirTemp("", "wdc-roofline-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "roofline.c")
	bin := filepath.Join(dir, "roofline")
	if err := os.WriteFile(src, []byte(benchC), 0o644); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(cc, "-O3", "-march=native", "-ffp-contract=fast", "-o", bin, src, "-lpthread")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("roofline: %s failed: %v\n%s", clang, err, stderr.String())
	}
	cores := goruntime.NumCPU()
	reps, mb := "7", "64"
	if opts.Quick {
		reps, mb = "3", "32"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, bin, fmt.Sprint(cores), reps, mb)
	stderr.Reset()
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil {
		return nil, fmt.Errorf("roofline: benchmark failed: %v\n%s", err, stderr.String())
	}
	var r struct {
		Flops1, FlopsAll, Bw1, BwAll float64
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("roofline: bad benchmark output %q: %v", out, err)
	}
	m := &Machine{PeakFLOPS: r.FlopsAll, PeakFLOPSPerCore: r.Flops1, BandwidthBytes: r.BwAll, BandwidthPerCore: r.Bw1,
		Cores: cores, Source: "measured", CPU: cpuModel(), Measured: time.Now().UTC().Format(time.RFC3339)}
	// All cores never do worse than one, whatever the load was.
	m.PeakFLOPS = max(m.PeakFLOPS, m.PeakFLOPSPerCore)
	m.BandwidthBytes = max(m.BandwidthBytes, m.BandwidthPerCore)
	return m, nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// benchC: argv = threads, repetitions, MiB per array. Prints JSON with the
// best (highest) rate over the repetitions of each figure.
const benchC = `#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* the widest vectors the compiler targets: 16 floats with AVX-512 */
#if defined(__AVX512F__)
#define VW 16
#else
#define VW 8
#endif
typedef float v8 __attribute__((vector_size(4 * VW)));
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

#define ITERS 50000000L
static volatile float sink;
static void *fma_loop(void *arg) {
	(void)arg;
	v8 z = {0};
	v8 b = z + 1.0000001f, c = z + 1e-7f;
	v8 a0=c,a1=c+1,a2=c+2,a3=c+3,a4=c+4,a5=c+5,a6=c+6,a7=c+7,a8=c+8,a9=c+9,a10=c+10,a11=c+11;
	for (long i = 0; i < ITERS / 10; i++) {
		a0=a0*b+c; a1=a1*b+c; a2=a2*b+c; a3=a3*b+c; a4=a4*b+c; a5=a5*b+c;
		a6=a6*b+c; a7=a7*b+c; a8=a8*b+c; a9=a9*b+c; a10=a10*b+c; a11=a11*b+c;
		__asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5));
		__asm__ volatile("" : "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
	}
	v8 s = a0+a1+a2+a3+a4+a5+a6+a7+a8+a9+a10+a11;
	sink = s[0] + s[VW - 1];
	return 0;
}
static const double FMA_FLOPS = (double)(ITERS / 10) * 12 * VW * 2;

static long n_elems;
static float *A, *B, *C;
struct range { long lo, hi; };
static void *triad(void *arg) {
	struct range *r = arg;
	float s = 3.0f;
	for (long i = r->lo; i < r->hi; i++) A[i] = B[i] + s * C[i];
	return 0;
}
static void *touch(void *arg) {
	struct range *r = arg;
	for (long i = r->lo; i < r->hi; i++) { A[i] = 0; B[i] = 1; C[i] = 2; }
	return 0;
}

static double run(int threads, void *(*fn)(void *), int chunked) {
	pthread_t th[64];
	struct range rg[64];
	double t0 = now();
	for (int i = 0; i < threads; i++) {
		rg[i].lo = chunked ? n_elems * i / threads : 0;
		rg[i].hi = chunked ? n_elems * (i + 1) / threads : 0;
		pthread_create(&th[i], 0, fn, &rg[i]);
	}
	for (int i = 0; i < threads; i++) pthread_join(th[i], 0);
	return now() - t0;
}

int main(int argc, char **argv) {
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	int reps = argc > 2 ? atoi(argv[2]) : 5;
	long mb = argc > 3 ? atol(argv[3]) : 64;
	if (threads < 1) threads = 1;
	if (threads > 64) threads = 64;
	n_elems = mb * 1024 * 1024 / 4;
	A = aligned_alloc(64, n_elems * 4); B = aligned_alloc(64, n_elems * 4); C = aligned_alloc(64, n_elems * 4);
	if (!A || !B || !C) { fprintf(stderr, "out of memory\n"); return 1; }
	run(threads, touch, 1);
	double f1 = 0, fa = 0, b1 = 0, ba = 0;
	for (int r = 0; r < reps; r++) {
		double t = run(1, fma_loop, 0);
		if (FMA_FLOPS / t > f1) f1 = FMA_FLOPS / t;
		t = run(threads, fma_loop, 0);
		if (threads * FMA_FLOPS / t > fa) fa = threads * FMA_FLOPS / t;
		double bytes = 3.0 * 4 * n_elems;
		t = run(1, triad, 1);
		if (bytes / t > b1) b1 = bytes / t;
		t = run(threads, triad, 1);
		if (bytes / t > ba) ba = bytes / t;
	}
	printf("{\"Flops1\": %.6g, \"FlopsAll\": %.6g, \"Bw1\": %.6g, \"BwAll\": %.6g}\n", f1, fa, b1, ba);
	return 0;
}
`
