package bench

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestSummarize(t *testing.T) {
	// numpy: percentile([1..10], 10) = 1.9, 50 = 5.5, 90 = 9.1.
	ms := []float64{10, 2, 9, 3, 8, 4, 7, 5, 6, 1}
	s := Summarize(ms)
	if s.N != 10 || !near(s.Median, 5.5) || !near(s.P10, 1.9) || !near(s.P90, 9.1) || !near(s.Min, 1) || !near(s.Mean, 5.5) {
		t.Errorf("Summarize = %+v", s)
	}
	// |x - 5.5| = 4.5 3.5 2.5 1.5 0.5 0.5 1.5 2.5 3.5 4.5: median 2.5.
	if !near(s.MAD, 2.5) {
		t.Errorf("MAD = %v, want 2.5", s.MAD)
	}
	if ms[0] != 10 {
		t.Error("Summarize sorted its argument in place")
	}
}

func TestSummarizeOddAndOne(t *testing.T) {
	s := Summarize([]float64{3, 1, 100})
	if s.Median != 3 || s.MAD != 2 {
		t.Errorf("odd sample: %+v", s)
	}
	s = Summarize([]float64{7})
	if s.Median != 7 || s.P10 != 7 || s.P90 != 7 || s.MAD != 0 {
		t.Errorf("one value: %+v", s)
	}
	s = Summarize(nil)
	if s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("empty sample: %+v", s)
	}
}

func TestPercentileEnds(t *testing.T) {
	s := []float64{1, 2, 3, 4}
	for _, c := range []struct{ p, want float64 }{{0, 1}, {-5, 1}, {100, 4}, {150, 4}, {50, 2.5}, {25, 1.75}} {
		if got := Percentile(s, c.p); !near(got, c.want) {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
}
