package ir

// Convolution, pooling and normalization ops. Layout is NC followed by any
// number of spatial dimensions (NCW, NCHW, NCDHW). Padding lists give all
// the begin pads, then all the end pads, as in ONNX.

// Window describes a sliding window over the spatial dimensions of a node.
type Window struct {
	Kernel, Strides, Dilations, PadBegin, PadEnd []int
}

// ConvWindow reads a conv/conv_transpose node's window; kernel from w's shape.
func ConvWindow(n *Node, spatial int, kernel []int) Window {
	begin, end := splitPads(n, spatial)
	return Window{
		Kernel:    kernel,
		Strides:   n.IntsOr("strides", spatial, 1),
		Dilations: n.IntsOr("dilations", spatial, 1),
		PadBegin:  begin,
		PadEnd:    end,
	}
}

func checkWindow(w Window, spatial int) error {
	if len(w.Strides) != spatial || len(w.Dilations) != spatial || len(w.PadBegin)+len(w.PadEnd) != 2*spatial || len(w.Kernel) != spatial {
		return errf("strides, dilations and kernel need %d values and pads %d for %d spatial dimensions", spatial, 2*spatial, spatial)
	}
	for i := 0; i < spatial; i++ {
		if w.Strides[i] < 1 || w.Dilations[i] < 1 || w.Kernel[i] < 1 {
			return errf("strides %v, dilations %v and kernel %v must be positive", w.Strides, w.Dilations, w.Kernel)
		}
		if w.PadBegin[i] < 0 || w.PadEnd[i] < 0 {
			return errf("pads %v must not be negative", append(append([]int{}, w.PadBegin...), w.PadEnd...))
		}
	}
	return nil
}

// OutSize is the output extent of a window along dimension i.
func (w Window) OutSize(i, in int, ceil bool) int {
	span := w.Dilations[i]*(w.Kernel[i]-1) + 1
	num := in + w.PadBegin[i] + w.PadEnd[i] - span
	if num < 0 {
		return 0
	}
	out := num/w.Strides[i] + 1
	if ceil && num%w.Strides[i] != 0 {
		out++
		// The last window must start inside the input or the begin padding.
		if (out-1)*w.Strides[i] >= in+w.PadBegin[i] {
			out--
		}
	}
	return out
}

func prod(xs []int) int64 {
	p := int64(1)
	for _, x := range xs {
		p *= int64(x)
	}
	return p
}

func windowSpecs(withKernel bool) []AttrSpec {
	s := []AttrSpec{
		intsOpt("strides", "step per spatial dimension (default 1)"),
		intsOpt("dilations", "spacing of kernel taps (default 1)"),
		intsOpt("pads", "begin pads then end pads per spatial dimension (default 0)"),
	}
	if withKernel {
		s = append([]AttrSpec{{Name: "kernel_shape", Kind: AttrInts, Doc: "window size per spatial dimension"}}, s...)
	}
	return s
}

func init() {
	Register(&OpDef{
		Name: "conv", Doc: "N-d convolution (cross-correlation) with groups; y = conv(x, w) + b",
		MinInputs: 2, MaxInputs: 3, Inputs: []string{"x[N,C,*]", "w[M,C/group,*K]", "b[M]"},
		Attrs: append(windowSpecs(false), intA("group", 1, "number of channel groups (C for depthwise)")),
		Infer: func(n *Node, in []Type) (Type, error) {
			x, w := in[0], in[1]
			if x.Rank() < 3 || w.Rank() != x.Rank() {
				return Type{}, errf("x %v and w %v must both be rank >= 3 and of equal rank", x, w)
			}
			elem, err := resultElem(n, in)
			if err != nil {
				return Type{}, err
			}
			spatial := x.Rank() - 2
			g := n.Int("group")
			if g < 1 || x.Shape[1]%g != 0 || w.Shape[0]%g != 0 {
				return Type{}, errf("group %d must divide input channels %d and output channels %d", g, x.Shape[1], w.Shape[0])
			}
			if w.Shape[1]*g != x.Shape[1] {
				return Type{}, errf("w %v expects %d input channels per group, x %v has %d channels in %d groups", w.Shape, w.Shape[1], x.Shape, x.Shape[1], g)
			}
			if len(in) == 3 && (in[2].Rank() != 1 || in[2].Shape[0] != w.Shape[0]) {
				return Type{}, errf("bias %v must be [%d]", in[2].Shape, w.Shape[0])
			}
			win := ConvWindow(n, spatial, w.Shape[2:])
			if err := checkWindow(win, spatial); err != nil {
				return Type{}, err
			}
			out := Shape{x.Shape[0], w.Shape[0]}
			for i := 0; i < spatial; i++ {
				o := win.OutSize(i, x.Shape[2+i], false)
				if o < 1 {
					return Type{}, errf("kernel %v (dilations %v) does not fit input %v with pads %v/%v", win.Kernel, win.Dilations, x.Shape, win.PadBegin, win.PadEnd)
				}
				out = append(out, o)
			}
			return Type{Elem: elem, Shape: out}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			// Table 6, direct: N·C_out·H'·W'·C_in·K_y·K_x, depth ⌈log2 C_in⌉+Σ⌈log2 K⌉.
			w := in[1].Shape
			cin := int64(w[1])
			c := Cost{Work: int64(out.Shape.Elements()) * cin * prod(w[2:]), Depth: Log2Ceil(cin)}
			for _, k := range w[2:] {
				c.Depth += Log2Ceil(int64(k))
			}
			if len(in) == 3 { // bias: one add per output, one more step
				c.Work += int64(out.Shape.Elements())
				c.Depth++
			}
			return c
		},
	})

	Register(&OpDef{
		Name: "conv_transpose", Doc: "N-d transposed convolution (gradient of conv with respect to its input)",
		MinInputs: 2, MaxInputs: 3, Inputs: []string{"x[N,C,*]", "w[C,M/group,*K]", "b[M]"},
		Attrs: append(windowSpecs(false), intA("group", 1, "number of channel groups"),
			intsOpt("output_padding", "extra size added at the end of each spatial dimension (default 0)")),
		Infer: func(n *Node, in []Type) (Type, error) {
			x, w := in[0], in[1]
			if x.Rank() < 3 || w.Rank() != x.Rank() {
				return Type{}, errf("x %v and w %v must both be rank >= 3 and of equal rank", x, w)
			}
			spatial := x.Rank() - 2
			g := n.Int("group")
			if g < 1 || w.Shape[0] != x.Shape[1] || x.Shape[1]%g != 0 {
				return Type{}, errf("w %v must have %d input channels divisible by group %d", w.Shape, x.Shape[1], g)
			}
			m := w.Shape[1] * g
			if len(in) == 3 && (in[2].Rank() != 1 || in[2].Shape[0] != m) {
				return Type{}, errf("bias %v must be [%d]", in[2].Shape, m)
			}
			win := ConvWindow(n, spatial, w.Shape[2:])
			if err := checkWindow(win, spatial); err != nil {
				return Type{}, err
			}
			op := n.IntsOr("output_padding", spatial, 0)
			if len(op) != spatial {
				return Type{}, errf("output_padding needs %d values", spatial)
			}
			out := Shape{x.Shape[0], m}
			for i := 0; i < spatial; i++ {
				o := win.Strides[i]*(x.Shape[2+i]-1) + op[i] + (win.Kernel[i]-1)*win.Dilations[i] + 1 - win.PadBegin[i] - win.PadEnd[i]
				if o < 1 {
					return Type{}, errf("output size along spatial dimension %d would be %d", i, o)
				}
				out = append(out, o)
			}
			return Type{Elem: x.Elem, Shape: out}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			// Table 4, conv ∇x: N·C_out·C_in·H·W·K_y·K_x, depth Σ⌈log2 K⌉+⌈log2 C⌉.
			x, w := in[0].Shape, in[1].Shape
			c := Cost{Work: int64(x.Elements()) * int64(w[1]) * prod(w[2:]), Depth: Log2Ceil(int64(w[0] / n.Int("group")))}
			for _, k := range w[2:] {
				c.Depth += Log2Ceil(int64(k))
			}
			if len(in) == 3 {
				c.Work += int64(out.Shape.Elements())
				c.Depth++
			}
			return c
		},
	})

	for _, name := range []string{"max_pool", "avg_pool"} {
		specs := append(windowSpecs(true), intA("ceil_mode", 0, "1: round the output size up"))
		doc := "N-d max pooling"
		if name == "avg_pool" {
			specs = append(specs, intA("count_include_pad", 0, "1: padding counts in the divisor"))
			doc = "N-d average pooling"
		}
		Register(&OpDef{
			Name: name, Doc: doc, MinInputs: 1, MaxInputs: 1, Inputs: []string{"x[N,C,*]"},
			Attrs: specs,
			Infer: func(n *Node, in []Type) (Type, error) {
				x := in[0]
				if x.Rank() < 3 {
					return Type{}, errf("x %v must be rank >= 3 (N, C, spatial...)", x)
				}
				spatial := x.Rank() - 2
				win := PoolWindow(n, spatial)
				if err := checkWindow(win, spatial); err != nil {
					return Type{}, err
				}
				out := Shape{x.Shape[0], x.Shape[1]}
				for i := 0; i < spatial; i++ {
					if win.PadBegin[i] >= win.Kernel[i]*win.Dilations[i] || win.PadEnd[i] >= win.Kernel[i]*win.Dilations[i] {
						return Type{}, errf("pads %v/%v must be smaller than the kernel %v", win.PadBegin, win.PadEnd, win.Kernel)
					}
					o := win.OutSize(i, x.Shape[2+i], n.Int("ceil_mode") != 0)
					if o < 1 {
						return Type{}, errf("window %v does not fit input %v", win.Kernel, x.Shape)
					}
					out = append(out, o)
				}
				return Type{Elem: x.Elem, Shape: out}, nil
			},
			Cost: func(n *Node, in []Type, out Type) Cost {
				// Table 4, pooling: O(NCHW) work, depth Σ⌈log2 K⌉.
				k := n.Ints("kernel_shape")
				c := Cost{Work: int64(out.Shape.Elements()) * prod(k)}
				for _, kk := range k {
					c.Depth += Log2Ceil(int64(kk))
				}
				if n.Op == "avg_pool" {
					c.Work += int64(out.Shape.Elements()) // the division
					c.Depth++
				}
				return c
			},
		})
	}

	Register(&OpDef{
		Name: "global_avg_pool", Doc: "mean over all spatial dimensions, keeping them as size 1",
		MinInputs: 1, MaxInputs: 1, Inputs: []string{"x[N,C,*]"},
		Infer: func(n *Node, in []Type) (Type, error) {
			x := in[0]
			if x.Rank() < 3 {
				return Type{}, errf("x %v must be rank >= 3", x)
			}
			out := Shape{x.Shape[0], x.Shape[1]}
			for range x.Shape[2:] {
				out = append(out, 1)
			}
			return Type{Elem: x.Elem, Shape: out}, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			hw := prod(in[0].Shape[2:])
			return Cost{Work: int64(in[0].Shape.Elements()) + int64(out.Shape.Elements()), Depth: Log2Ceil(hw) + 1}
		},
	})

	Register(&OpDef{
		Name: "batch_norm", Doc: "inference batch normalization: y = scale·(x−mean)/sqrt(var+epsilon) + bias, per channel",
		MinInputs: 5, MaxInputs: 5, Inputs: []string{"x[N,C,*]", "scale[C]", "bias[C]", "mean[C]", "var[C]"},
		Attrs: []AttrSpec{floatA("epsilon", 1e-5, "added to the variance")},
		Infer: func(n *Node, in []Type) (Type, error) {
			x := in[0]
			if x.Rank() < 2 {
				return Type{}, errf("x %v must be rank >= 2", x)
			}
			for i, name := range []string{"scale", "bias", "mean", "var"} {
				p := in[i+1]
				if p.Rank() != 1 || p.Shape[0] != x.Shape[1] {
					return Type{}, errf("%s %v must be [%d], one per channel of x %v", name, p.Shape, x.Shape[1], x.Shape)
				}
			}
			return x, nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			// Inference uses stored statistics: y = a·x + b per element, no
			// reduction, so the depth is constant (Table 4's O(log N) is the
			// training form that computes the statistics).
			return Cost{Work: 2 * int64(out.Shape.Elements()), Depth: 2}
		},
	})

	Register(&OpDef{
		Name: "lrn", Doc: "local response normalization across channels",
		MinInputs: 1, MaxInputs: 1, Inputs: []string{"x[N,C,*]"},
		Attrs: []AttrSpec{
			{Name: "size", Kind: AttrInt, Doc: "number of channels summed"},
			floatA("alpha", 1e-4, "scale"), floatA("beta", 0.75, "exponent"), floatA("bias", 1, "offset"),
		},
		Infer: func(n *Node, in []Type) (Type, error) {
			if in[0].Rank() < 3 || n.Int("size") < 1 {
				return Type{}, errf("x %v must be rank >= 3 and size positive", in[0])
			}
			return in[0], nil
		},
		Cost: func(n *Node, in []Type, out Type) Cost {
			s := int64(n.Int("size"))
			return Cost{Work: int64(out.Shape.Elements()) * (s + 3), Depth: Log2Ceil(s) + 3}
		},
	})
}

// PoolWindow reads a pooling node's window.
func PoolWindow(n *Node, spatial int) Window {
	begin, end := splitPads(n, spatial)
	return Window{
		Kernel:    n.Ints("kernel_shape"),
		Strides:   n.IntsOr("strides", spatial, 1),
		Dilations: n.IntsOr("dilations", spatial, 1),
		PadBegin:  begin,
		PadEnd:    end,
	}
}

// splitPads splits "pads" into begin and end halves; a list of the wrong
// length yields halves that checkWindow rejects.
func splitPads(n *Node, spatial int) (begin, end []int) {
	pads := n.IntsOr("pads", 2*spatial, 0)
	if len(pads) != 2*spatial {
		return pads, nil
	}
	return pads[:spatial], pads[spatial:]
}
