package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// JSONPeer is one peer in the JSON report.
type JSONPeer struct {
	MedianMS   *float64 `json:"median_ms"`
	Ratio      *float64 `json:"ratio"` // wdc median / peer median
	P10MS      *float64 `json:"p10_ms,omitempty"`
	P90MS      *float64 `json:"p90_ms,omitempty"`
	Runs       int      `json:"runs,omitempty"`
	GFLOPS     *float64 `json:"gflops,omitempty"`
	MaxAbsDiff *float64 `json:"max_abs_diff,omitempty"`
	Agree      bool     `json:"outputs_agree"`
	Version    string   `json:"version,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// JSONResult is the JSON report: model, target, threads, median_ms and
// peers (name -> median_ms, ratio), with spread and checks beside them.
type JSONResult struct {
	Model    string              `json:"model"`
	Target   string              `json:"target"`
	Threads  int                 `json:"threads"`
	MedianMS *float64            `json:"median_ms"`
	Peers    map[string]JSONPeer `json:"peers"`
	P10MS    *float64            `json:"p10_ms,omitempty"`
	P90MS    *float64            `json:"p90_ms,omitempty"`
	Runs     int                 `json:"runs"`
	Rounds   int                 `json:"rounds"`
	Runner   string              `json:"runner,omitempty"`
	FLOPs    int64               `json:"flops,omitempty"`
	GFLOPS   *float64            `json:"gflops,omitempty"`
	CPUs     int                 `json:"cpus,omitempty"`
	Load     []*float64          `json:"load_avg,omitempty"` // 1-minute load average before and after
}

// num makes NaN and ±Inf null in JSON (which has no such numbers).
func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// JSON converts r to its JSON report.
func (r *Result) JSON() JSONResult {
	j := JSONResult{
		Model: r.Model, Target: r.Target, Threads: r.Threads,
		MedianMS: num(r.WDC.Median), P10MS: num(r.WDC.P10), P90MS: num(r.WDC.P90),
		Runs: r.WDC.N, Rounds: r.Rounds, Runner: r.Runner, FLOPs: r.FLOPs,
		Peers: map[string]JSONPeer{}, CPUs: r.CPUs,
	}
	if r.CPUs > 0 {
		j.Load = []*float64{num(r.LoadBefore), num(r.LoadAfter)}
	}
	if g := r.GFLOPS(r.WDC.Median); g > 0 {
		j.GFLOPS = num(g)
	}
	for _, p := range r.Peers {
		jp := JSONPeer{Version: p.Version, Error: p.Err}
		if p.Err == "" {
			jp.MedianMS, jp.Ratio = num(p.Stats.Median), num(p.Ratio)
			jp.P10MS, jp.P90MS, jp.Runs = num(p.Stats.P10), num(p.Stats.P90), p.Stats.N
			jp.MaxAbsDiff, jp.Agree = num(p.MaxAbsDiff), p.Agree
			if g := r.GFLOPS(p.Stats.Median); g > 0 {
				jp.GFLOPS = num(g)
			}
		}
		j.Peers[p.Name] = jp
	}
	return j
}

// WriteJSON writes r as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.JSON())
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if v >= 0.1 {
		return fmt.Sprintf("%.2fx", v)
	}
	return fmt.Sprintf("%.2gx", v)
}

func fmtMS(v float64) string {
	switch {
	case math.IsNaN(v):
		return "-"
	case v >= 100:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}

// WriteTable prints r for a person: one line for wdc and each peer, with
// median, p10 and p90 latency, throughput, the ratio wdc/peer and the
// output check.
func (r *Result) WriteTable(w io.Writer) error {
	runner := r.Runner
	if runner != "" && runner != r.Target {
		runner = " (" + runner + ")"
	} else {
		runner = ""
	}
	fmt.Fprintf(w, "%s  target %s%s  threads %d  %d interleaved rounds", r.Model, r.Target, runner, r.Threads, r.Rounds)
	if r.CPUs > 0 && !math.IsNaN(r.LoadBefore) && !math.IsNaN(r.LoadAfter) {
		fmt.Fprintf(w, "  load %.1f/%.1f on %d CPUs", r.LoadBefore, r.LoadAfter, r.CPUs)
		if math.Max(r.LoadBefore, r.LoadAfter) > float64(r.CPUs) {
			fmt.Fprint(w, " (busy machine: trust the ratios, not the times)")
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	gf := r.FLOPs > 0
	hdr := "\tmedian ms\tp10 ms\tp90 ms\truns\t"
	if gf {
		hdr += "GFLOP/s\t"
	}
	hdr += "wdc/peer\tmax|diff|\t"
	fmt.Fprintln(tw, hdr)
	line := func(name string, s Stats, ratio, diff string) {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%d\t", name, fmtMS(s.Median), fmtMS(s.P10), fmtMS(s.P90), s.N)
		if gf {
			row += fmt.Sprintf("%.1f\t", r.GFLOPS(s.Median))
		}
		row += ratio + "\t" + diff + "\t"
		fmt.Fprintln(tw, row)
	}
	line("wdc", r.WDC, "", "")
	var notes []string
	for _, p := range r.Peers {
		if p.Err != "" {
			notes = append(notes, fmt.Sprintf("%s: not measured: %s", p.Name, p.Err))
			continue
		}
		diff := fmt.Sprintf("%.2g", p.MaxAbsDiff)
		if !p.Agree {
			diff += " WRONG"
			notes = append(notes, fmt.Sprintf("%s: outputs differ from wdc's by up to %.3g (largest |wdc| %.3g): its figures compare different computations", p.Name, p.MaxAbsDiff, p.MaxAbsRef))
		}
		line(p.Name, p.Stats, fmtRatio(p.Ratio), diff)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range r.Peers {
		if p.Version != "" {
			fmt.Fprintf(w, "  %s: %s\n", p.Name, p.Version)
		}
	}
	for _, n := range notes {
		fmt.Fprintf(w, "  %s\n", strings.ReplaceAll(n, "\n", "\n    "))
	}
	return nil
}

// WriteSummary prints several results as one table: a row per model, with
// wdc's median and, per peer, its median and the ratio wdc/peer.
func WriteSummary(w io.Writer, rs []*Result) error {
	var peers []string
	seen := map[string]bool{}
	for _, r := range rs {
		for _, p := range r.Peers {
			if !seen[p.Name] {
				seen[p.Name] = true
				peers = append(peers, p.Name)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	hdr := "model\tthreads\twdc ms\t"
	for _, p := range peers {
		hdr += p + " ms\twdc/" + p + "\t"
	}
	hdr += "GFLOP/s wdc\t"
	fmt.Fprintln(tw, hdr)
	for _, r := range rs {
		row := fmt.Sprintf("%s\t%d\t%s\t", strings.TrimSuffix(filepath.Base(r.Model), ".onnx"), r.Threads, fmtMS(r.WDC.Median))
		for _, name := range peers {
			cell, ratio := "", ""
			for _, p := range r.Peers {
				if p.Name != name {
					continue
				}
				switch {
				case p.Err != "":
					cell, ratio = "n/a", "-"
				default:
					cell = fmtMS(p.Stats.Median)
					ratio = fmtRatio(p.Ratio)
					if !p.Agree {
						ratio += " WRONG"
					}
				}
			}
			row += cell + "\t" + ratio + "\t"
		}
		if g := r.GFLOPS(r.WDC.Median); g > 0 {
			row += fmt.Sprintf("%.1f\t", g)
		} else {
			row += "-\t"
		}
		fmt.Fprintln(tw, row)
	}
	return tw.Flush()
}
