package hls

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"wdc/ir"
)

// TestHeaderMatchesIR compiles wdc_fixed.h into a small driver and checks
// wdc_quantize, wdc_requant and wdc_lut_index against ir.QuantizeFloat,
// ir.Requantize and ir.LutIndex on edge cases and random values.
func TestHeaderMatchesIR(t *testing.T) {
	needGxx(t)
	dir := t.TempDir()
	driver := `#include <cstdio>
#include <cinttypes>
#include <cstring>
#include "wdc_fixed.h"
int main() {
  char op[8];
  while (std::scanf("%7s", op) == 1) {
    if (!std::strcmp(op, "q")) {
      double x; int w, f, r, s;
      std::scanf("%la %d %d %d %d", &x, &w, &f, &r, &s);
      std::printf("%" PRId64 "\n", wdc_quantize(x, w, f, r, s));
    } else if (!std::strcmp(op, "r")) {
      int64_t q; int ff, w, f, r, s;
      std::scanf("%" SCNd64 " %d %d %d %d %d", &q, &ff, &w, &f, &r, &s);
      std::printf("%" PRId64 "\n", wdc_requant(q, ff, w, f, r, s));
    } else {
      int64_t q, off, n; int sh;
      std::scanf("%" SCNd64 " %d %" SCNd64 " %" SCNd64, &q, &sh, &off, &n);
      std::printf("%" PRId64 "\n", wdc_lut_index(q, sh, off, n));
    }
  }
}
`
	os.WriteFile(filepath.Join(dir, "wdc_fixed.h"), []byte(fixedHeader), 0o644)
	os.WriteFile(filepath.Join(dir, "d.cpp"), []byte(driver), 0o644)
	if out, err := exec.Command("g++", "-O2", "-std=c++17", "-ffp-contract=off", "-o", filepath.Join(dir, "d"), filepath.Join(dir, "d.cpp")).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rng := rand.New(rand.NewPCG(4, 2))
	var in strings.Builder
	var want []int64
	randElem := func() ir.Elem {
		w := 2 + rng.IntN(61)
		return ir.Elem{Kind: ir.Fixed, W: w, I: 1 + rng.IntN(w), Round: ir.Rounding(rng.IntN(2)), Ovf: ir.Overflow(rng.IntN(2))}
	}
	for i := 0; i < 20000; i++ {
		e := randElem()
		var x float64
		switch i % 5 {
		case 0: // ties: odd multiples of half an LSB
			x = math.Ldexp(float64(2*rng.Int64N(1<<20)-(1<<20)+1), -e.Frac()-1)
		case 1:
			x = math.Ldexp(rng.NormFloat64(), rng.IntN(90)-30)
		case 2:
			x = []float64{math.Inf(1), math.Inf(-1), math.NaN(), 0, math.Copysign(0, -1), 1e300, -1e300, math.Ldexp(1, 62), -math.Ldexp(1, 62), math.Ldexp(1, 70) + math.Ldexp(5, 18)}[rng.IntN(10)]
		default:
			x = float64(float32(rng.NormFloat64() * math.Ldexp(1, e.I)))
		}
		fmt.Fprintf(&in, "q %s %d %d %d %d\n", strconv.FormatFloat(x, 'x', -1, 64), e.W, e.Frac(), e.Round, e.Ovf)
		want = append(want, ir.QuantizeFloat(x, e))
	}
	for i := 0; i < 20000; i++ {
		from, to := randElem(), randElem()
		lo, hi := ir.FixedRange(from)
		q := lo + rng.Int64N(hi-lo+1)
		if i%5 == 0 {
			q = []int64{lo, hi, 0, -1, 1}[rng.IntN(5)]
		}
		fmt.Fprintf(&in, "r %d %d %d %d %d %d\n", q, from.Frac(), to.W, to.Frac(), to.Round, to.Ovf)
		want = append(want, ir.Requantize(q, from, to))
	}
	for i := 0; i < 5000; i++ {
		q := rng.Int64N(1<<40) - 1<<39
		if i%2 == 0 {
			q = rng.Int64N(1<<12) - 1<<11
		}
		sh, off, n := rng.IntN(125)-62, rng.Int64N(2048)-1024, 1+rng.IntN(1024)
		fmt.Fprintf(&in, "l %d %d %d %d\n", q, sh, off, n)
		want = append(want, int64(ir.LutIndex(q, sh, int(off), n)))
	}
	cmd := exec.Command(filepath.Join(dir, "d"))
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(string(out))
	lines := strings.Split(in.String(), "\n")
	if len(got) != len(want) {
		t.Fatalf("%d results for %d cases", len(got), len(want))
	}
	bad := 0
	for i, s := range got {
		v, _ := strconv.ParseInt(s, 10, 64)
		if v != want[i] {
			if bad < 10 {
				t.Errorf("%s: C++ %d, Go %d", lines[i], v, want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d cases differ", bad, len(want))
	}
}
