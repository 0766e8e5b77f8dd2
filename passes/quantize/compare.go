package quantize

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"

	"wdc/ir"
	"wdc/runtime"
)

// ReadDat reads hls4ml's testbench text format: one vector per line,
// values separated by spaces (or tabs or commas); blank lines are skipped.
// Every vector must have the same length.
func ReadDat(path string) ([][]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]float32
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	line := 0
	for sc.Scan() {
		line++
		fields := strings.FieldsFunc(sc.Text(), func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' })
		if len(fields) == 0 {
			continue
		}
		v := make([]float32, len(fields))
		for i, s := range fields {
			x, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: value %d: %q is not a number", path, line, i+1, s)
			}
			v[i] = float32(x)
		}
		if len(out) > 0 && len(v) != len(out[0]) {
			return nil, fmt.Errorf("%s:%d: %d values, but the first vector has %d", path, line, len(v), len(out[0]))
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return out, nil
}

// Feeds turns vectors into inputs of g's single float input, one run per
// vector (each vector holds exactly the input's elements).
func Feeds(g *ir.Graph, vecs [][]float32) ([]map[string]*ir.Tensor, error) {
	if len(g.Inputs) != 1 || !g.Inputs[0].Type.Elem.IsFloat() {
		return nil, fmt.Errorf("graph %q must have one float input to take vectors, it has %d", g.Name, len(g.Inputs))
	}
	in := g.Inputs[0]
	n := in.Type.Shape.Elements()
	feeds := make([]map[string]*ir.Tensor, len(vecs))
	for i, v := range vecs {
		if len(v) != n {
			return nil, fmt.Errorf("vector %d has %d values, input %q (%v) needs %d", i+1, len(v), in.Name, in.Type, n)
		}
		t := ir.NewTensor(in.Type.Elem, in.Type.Shape)
		copy(t.F, v)
		feeds[i] = map[string]*ir.Tensor{in.Name: t}
	}
	return feeds, nil
}

// FixedOutputs returns, for each output of a quantized graph, the value
// holding the fixed-point words the hardware produces ("<output>.fixed").
func FixedOutputs(g *ir.Graph) ([]*ir.Value, error) {
	var vs []*ir.Value
	for _, o := range g.Outputs {
		v := g.Lookup(o.Name + FixedSuffix)
		if v == nil || v.Type.Elem.Kind != ir.Fixed {
			return nil, fmt.Errorf("output %q of %q has no fixed-point value %q: is the graph quantized?", o.Name, g.Name, o.Name+FixedSuffix)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// RunFixed runs a quantized graph and returns the fixed-point words of
// every output (keyed by the output's name), as the hardware gives them.
func RunFixed(g *ir.Graph, inputs map[string]*ir.Tensor) (map[string]*ir.Tensor, error) {
	fv, err := FixedOutputs(g)
	if err != nil {
		return nil, err
	}
	want := map[string]string{}
	for i, v := range fv {
		want[v.Name] = g.Outputs[i].Name
	}
	res := map[string]*ir.Tensor{}
	_, err = runtime.RunObserved(g, inputs, func(n *ir.Node, out *ir.Tensor) {
		if o, ok := want[n.Name()]; ok {
			res[o] = out
		}
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Report is the accuracy cost of quantization on a data set.
type Report struct {
	Vectors   int     // samples run
	Rows      int     // rows compared for top-1 (one per sample and batch row of the first output)
	Top1Agree int     // rows where both graphs pick the same class
	MaxAbsErr float64 // largest |float − fixed| over every output value
	// Layers is the largest |float − fixed| of each layer's value, by
	// float node name, in graph order (the first large one is where
	// precision is lost).
	Layers []LayerErr
}

// LayerErr is one layer's largest error.
type LayerErr struct {
	Name      string
	MaxAbsErr float64
}

// Agreement is the fraction of rows with the same top-1 class.
func (r Report) Agreement() float64 {
	if r.Rows == 0 {
		return 0
	}
	return float64(r.Top1Agree) / float64(r.Rows)
}

func (r Report) String() string {
	return fmt.Sprintf("%d vectors: top-1 agreement %d/%d (%.2f%%), max |float − fixed| %.6g", r.Vectors, r.Top1Agree, r.Rows, 100*r.Agreement(), r.MaxAbsErr)
}

// ArgMaxRows returns the index of the largest value of each row (the
// last dimension) of t; ties go to the first.
func ArgMaxRows(t *ir.Tensor) []int {
	cols := 1
	if t.Rank() > 0 {
		cols = t.Shape[t.Rank()-1]
	}
	if cols == 0 {
		return nil
	}
	var out []int
	for r := 0; r*cols < t.Len(); r++ {
		best := 0
		for k := 1; k < cols; k++ {
			if t.Float(r*cols+k) > t.Float(r*cols+best) {
				best = k
			}
		}
		out = append(out, best)
	}
	return out
}

// Compare runs the float graph and its quantized version on every sample
// and reports the largest output error, per-layer errors and the top-1
// agreement of the first output.
func Compare(float, fixed *ir.Graph, samples []map[string]*ir.Tensor) (Report, error) {
	layerMax := map[string]float64{}
	var order []string
	for _, n := range float.Nodes {
		if v := fixed.Lookup(n.Name()); v != nil {
			order = append(order, n.Name())
		} else if v := fixed.Lookup(n.Name() + FixedSuffix); v != nil {
			order = append(order, n.Name())
		}
	}
	rep := Report{Vectors: len(samples)}
	var mu sync.Mutex
	var firstErr error
	jobs := 2
	var wg sync.WaitGroup
	for j := 0; j < jobs; j++ {
		wg.Add(1)
		go func(j int) {
			defer wg.Done()
			for i := j; i < len(samples); i += jobs {
				fvals := map[string]*ir.Tensor{}
				fo, err := runtime.RunObserved(float, samples[i], func(n *ir.Node, out *ir.Tensor) { fvals[n.Name()] = out })
				if err != nil {
					mu.Lock()
					firstErr = fmt.Errorf("float graph, sample %d: %v", i, err)
					mu.Unlock()
					return
				}
				local := map[string]float64{}
				qo, err := runtime.RunObserved(fixed, samples[i], func(n *ir.Node, out *ir.Tensor) {
					name := strings.TrimSuffix(n.Name(), FixedSuffix)
					if ft, ok := fvals[name]; ok && ft.Len() == out.Len() && out.Elem.Kind == ir.Fixed {
						m := local[name]
						for k := 0; k < out.Len(); k++ {
							m = max(m, math.Abs(ft.Float(k)-out.Float(k)))
						}
						local[name] = m
					}
				})
				if err != nil {
					mu.Lock()
					firstErr = fmt.Errorf("fixed-point graph, sample %d: %v", i, err)
					mu.Unlock()
					return
				}
				mu.Lock()
				for k, v := range local {
					layerMax[k] = max(layerMax[k], v)
				}
				for oi, o := range float.Outputs {
					a, b := fo[o.Name], qo[o.Name]
					if b == nil || a.Len() != b.Len() {
						firstErr = fmt.Errorf("output %q differs in shape or is missing in the fixed-point graph", o.Name)
						break
					}
					for k := 0; k < a.Len(); k++ {
						rep.MaxAbsErr = max(rep.MaxAbsErr, math.Abs(a.Float(k)-b.Float(k)))
					}
					if oi == 0 {
						am, bm := ArgMaxRows(a), ArgMaxRows(b)
						for r := range am {
							rep.Rows++
							if am[r] == bm[r] {
								rep.Top1Agree++
							}
						}
					}
				}
				mu.Unlock()
			}
		}(j)
	}
	wg.Wait()
	if firstErr != nil {
		return rep, firstErr
	}
	for _, name := range order {
		rep.Layers = append(rep.Layers, LayerErr{name, layerMax[name]})
	}
	return rep, nil
}
