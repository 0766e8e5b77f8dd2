package wd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteTable prints the report as an aligned table: one row per node
// (a '*' marks the critical path) with its output type, W, D, W/D and
// bytes, then the totals, the critical path and Brent's bounds.
func (r *Report) WriteTable(w io.Writer) error {
	rows := [][]string{{"", "node", "op", "output", "W", "D", "W/D", "bytes"}}
	for _, o := range r.Ops {
		mark := ""
		if o.Critical {
			mark = "*"
		}
		rows = append(rows, []string{mark, o.Node, o.Op, o.Type,
			itoa(o.Work), itoa(o.Depth), ratio(o.Parallelism, o.Depth), itoa(o.Bytes)})
	}
	rows = append(rows, []string{"", "total", "", "", itoa(r.Work), itoa(r.Depth), ratio(r.Parallelism, r.Depth), itoa(r.Bytes)})
	var b strings.Builder
	fmt.Fprintf(&b, "Work-Depth analysis of %s (* marks the critical path)\n\n", quoteName(r.Graph))
	writeAligned(&b, rows, []bool{false, false, false, false, true, true, true, true}, len(rows)-1)
	fmt.Fprintf(&b, "\nwork W       %d operations (a multiply-add counts as one)\n", r.Work)
	fmt.Fprintf(&b, "depth D      %d steps (critical path)\n", r.Depth)
	fmt.Fprintf(&b, "parallelism  W/D = %s\n", ratio(r.Parallelism, r.Depth))
	fmt.Fprintf(&b, "MACs         %d\n", r.MACs)
	fmt.Fprintf(&b, "FLOPs        %d (2 per multiply-add, 1 per other operation)\n", r.FLOPs)
	fmt.Fprintf(&b, "bytes        %d (each node's operands and result, once)\n", r.Bytes)
	fmt.Fprintf(&b, "critical     %s\n", strings.Join(r.CriticalPath, " -> "))
	if len(r.Brent) > 0 {
		b.WriteString("\ntime on p processors, in unit operations: max(W/p, D) <= T_p <= (W-D)/p + D\n\n")
		brows := [][]string{{"p", "lower", "upper (Brent)"}}
		for _, br := range r.Brent {
			brows = append(brows, []string{ftoa(br.P), ftoa(br.Lower), ftoa(br.Upper)})
		}
		writeAligned(&b, brows, []bool{true, true, true}, -1)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteAlgorithms prints, for every conv node, the work, depth, memory
// traffic and workspace of each convolution algorithm (Table 6).
func (r *Report) WriteAlgorithms(w io.Writer) error {
	var b strings.Builder
	if len(r.Convs) == 0 {
		b.WriteString("no convolutions\n")
	}
	for i, c := range r.Convs {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "convolution algorithms for %s:\n", c.Node)
		rows := [][]string{{"algorithm", "W", "D", "W/D", "Q bytes", "workspace"}}
		var notes []string
		for _, a := range c.Algorithms {
			if !a.Applicable {
				rows = append(rows, []string{a.Name, "-", "-", "-", "-", "-"})
				notes = append(notes, "  "+a.Name+": "+a.Reason)
				continue
			}
			p := 0.0
			if a.Depth > 0 {
				p = float64(a.Work) / float64(a.Depth)
			}
			rows = append(rows, []string{a.Name, itoa(a.Work), itoa(a.Depth), ratio(p, a.Depth), itoa(a.Bytes), itoa(a.Workspace)})
		}
		writeAligned(&b, rows, []bool{false, true, true, true, true, true}, -1)
		for _, n := range notes {
			b.WriteString(n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeAligned pads every column to its widest cell, numbers to the
// right; a rule is drawn under the header and above row ruleBefore (if > 0).
func writeAligned(b *strings.Builder, rows [][]string, right []bool, ruleBefore int) {
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	total := 0
	for _, wd := range width {
		total += wd + 2
	}
	rule := strings.Repeat("-", total-2) + "\n"
	for ri, row := range rows {
		if ri == 1 || (ruleBefore > 0 && ri == ruleBefore) {
			b.WriteString(rule)
		}
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i > 0 {
				line.WriteString("  ")
			}
			if right[i] {
				line.WriteString(pad + c)
			} else {
				line.WriteString(c + pad)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func ratio(p float64, depth int64) string {
	if depth == 0 {
		return "-"
	}
	return strconv.FormatFloat(p, 'f', 1, 64)
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func quoteName(s string) string {
	if s == "" {
		return "the graph"
	}
	return strconv.Quote(s)
}
