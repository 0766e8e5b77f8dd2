package bench

import (
	"math"
	"sort"
)

// Stats summarises a sample of latencies in milliseconds.
type Stats struct {
	N      int     `json:"runs"`
	Median float64 `json:"median_ms"`
	P10    float64 `json:"p10_ms"`
	P90    float64 `json:"p90_ms"`
	// MAD is the median absolute deviation from the median.
	MAD  float64 `json:"mad_ms"`
	Min  float64 `json:"min_ms"`
	Mean float64 `json:"mean_ms"`
}

// Summarize computes the statistics of a sample (ms). An empty sample
// gives NaN figures and N = 0.
func Summarize(ms []float64) Stats {
	if len(ms) == 0 {
		nan := math.NaN()
		return Stats{Median: nan, P10: nan, P90: nan, MAD: nan, Min: nan, Mean: nan}
	}
	s := append([]float64(nil), ms...)
	sort.Float64s(s)
	sum := 0.0
	for _, v := range s {
		sum += v
	}
	med := Percentile(s, 50)
	dev := make([]float64, len(s))
	for i, v := range s {
		dev[i] = math.Abs(v - med)
	}
	sort.Float64s(dev)
	return Stats{
		N:      len(s),
		Median: med,
		P10:    Percentile(s, 10),
		P90:    Percentile(s, 90),
		MAD:    Percentile(dev, 50),
		Min:    s[0],
		Mean:   sum / float64(len(s)),
	}
}

// Percentile returns the p-th percentile (0..100) of sorted, by linear
// interpolation between closest ranks (numpy's default).
func Percentile(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if p <= 0 {
		return sorted[0]
	}
	if p >= 100 {
		return sorted[n-1]
	}
	r := p / 100 * float64(n-1)
	lo := int(math.Floor(r))
	hi := lo + 1
	if hi >= n {
		return sorted[n-1]
	}
	f := r - float64(lo)
	return sorted[lo] + f*(sorted[hi]-sorted[lo])
}
