package graphopt

import (
	"fmt"
	"sort"

	"wdc/ir"
)

// Interval is one buffer to place: Size elements live from step Start to
// step End inclusive.
type Interval struct {
	Size       int64
	Start, End int
}

// PackIntervals places buffers in one arena so that buffers whose
// lifetimes overlap never share memory: greedily, largest first (ties by
// start, then by index, so the result is deterministic), each at the
// lowest offset that does not collide with an already placed overlapping
// buffer. Offsets are aligned to align elements. It returns the offsets,
// the arena size and the peak of live elements (a lower bound of any
// arena size).
func PackIntervals(iv []Interval, align int64) (offsets []int64, size, peak int64) {
	if align < 1 {
		align = 1
	}
	order := make([]int, len(iv))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := iv[order[a]], iv[order[b]]
		if x.Size != y.Size {
			return x.Size > y.Size
		}
		return x.Start < y.Start
	})
	offsets = make([]int64, len(iv))
	var placed []int
	for _, i := range order {
		b := iv[i]
		// Collect the occupied ranges of overlapping placed buffers.
		type rng struct{ lo, hi int64 }
		var occ []rng
		for _, j := range placed {
			o := iv[j]
			if o.Start <= b.End && b.Start <= o.End {
				occ = append(occ, rng{offsets[j], offsets[j] + roundUp(o.Size, align)})
			}
		}
		sort.Slice(occ, func(a, c int) bool { return occ[a].lo < occ[c].lo })
		off := int64(0)
		for _, r := range occ {
			if off+b.Size <= r.lo {
				break
			}
			if r.hi > off {
				off = r.hi
			}
		}
		offsets[i] = off
		size = max(size, off+roundUp(b.Size, align))
		placed = append(placed, i)
	}
	// Peak: the largest sum of sizes live at one step.
	steps := map[int]bool{}
	for _, b := range iv {
		steps[b.Start] = true
	}
	for s := range steps {
		var live int64
		for _, b := range iv {
			if b.Start <= s && s <= b.End {
				live += b.Size
			}
		}
		peak = max(peak, live)
	}
	return offsets, size, peak
}

func roundUp(n, a int64) int64 { return (n + a - 1) / a * a }

// MemPlan is a placement of a graph's intermediate values (node results
// that are not graph outputs) in one activation arena.
type MemPlan struct {
	Offsets map[*ir.Value]int64 // byte offsets in the arena
	Arena   int64               // arena bytes
	Peak    int64               // peak bytes of live intermediates
	Naive   int64               // bytes if nothing were reused
}

// PlanMemory plans g's intermediates at node granularity: a value lives
// from its producer to its last reader. reshape and flatten results share
// their input's storage (their readers keep the input alive).
func PlanMemory(g *ir.Graph) *MemPlan {
	root := func(v *ir.Value) *ir.Value {
		for v.Producer != nil && (v.Producer.Op == "reshape" || v.Producer.Op == "flatten") {
			v = v.Producer.Inputs[0]
		}
		return v
	}
	isOut := map[*ir.Value]bool{}
	for _, v := range g.Outputs {
		isOut[root(v)] = true
	}
	start, end := map[*ir.Value]int{}, map[*ir.Value]int{}
	var vals []*ir.Value
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			r := root(in)
			if _, ok := start[r]; ok {
				end[r] = i
			}
		}
		r := root(n.Out)
		if r.Producer == nil || isOut[r] {
			continue
		}
		if _, ok := start[r]; !ok {
			start[r], end[r] = i, i
			vals = append(vals, r)
		}
	}
	iv := make([]Interval, len(vals))
	p := &MemPlan{Offsets: map[*ir.Value]int64{}}
	for i, v := range vals {
		iv[i] = Interval{Size: v.Type.Bytes(), Start: start[v], End: end[v]}
		p.Naive += v.Type.Bytes()
	}
	offs, size, peak := PackIntervals(iv, 64)
	for i, v := range vals {
		p.Offsets[v] = offs[i]
	}
	p.Arena, p.Peak = size, peak
	return p
}

// String summarizes the plan.
func (p *MemPlan) String() string {
	return fmt.Sprintf("activation arena %d bytes (peak live %d bytes; %d bytes without reuse)", p.Arena, p.Peak, p.Naive)
}
