package loop

import (
	"math"

	"wdc/ir"
)

// lowerConvFFT computes a 2-d stride-1 convolution (group 1) in the
// frequency domain. The correlation y[o] = Σ_k xp[o+k]·w[k] equals the
// circular correlation of size H_f×W_f = H_p×W_p (the padded input) at the
// H'×W' outputs kept, since o + k never wraps there; so
//
//	Y = X̂ · conj(Ŵ) summed over input channels, y = IDFT(Y) cropped.
//
// The transforms are DFTs written as matrix products (not a radix-2
// FFT): a real-input row DFT to the W_h = ⌊W_f/2⌋+1 non-negative
// frequencies (Hermitian half-spectrum), then a complex column DFT; the
// inverse runs the column DFT then a half-spectrum real row inverse. Cost
// per (n, c) plane: 2·H_f·W_h·W_f + 4·H_f²·W_h multiply-adds, so
// O(HW·(H+W)) rather than the FFT's O(HW·log HW); passes/convalgo
// counts it as such. Twiddle tables (cosf/sinf of 2π·((u·h) mod n)/n) are
// computed at the start of the Func.
//
// Temps: the tables, the input spectrum (N·C·H_f·W_h complex), the kernel
// spectrum (M·C·H_f·W_h complex), the product (N·M·H_f·W_h complex), and
// the column-inverted product (N·M·H'·W_h complex).
func lowerConvFFT(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer) error {
	x, w := in[0], in[1]
	win := ir.ConvWindow(n, 2, w.Shape[2:])
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	Kh, Kw := w.Shape[2], w.Shape[3]
	Ho, Wo := out.Shape[2], out.Shape[3]
	xp := l.padded(x, win.PadBegin, win.PadEnd)
	Hf, Wf := xp.Shape[2], xp.Shape[3]
	Wh := Wf/2 + 1
	F2 := Hf * Wh

	// Twiddle tables.
	cw, sw := l.temp("cw", []int{Wh, Wf}), l.temp("sw", []int{Wh, Wf})
	ch, sh := l.temp("ch", []int{Hf, Hf}), l.temp("sh", []int{Hf, Hf})
	iwc, iws := l.temp("iwc", []int{Wh, Wo}), l.temp("iws", []int{Wh, Wo})
	angle := func(a, b Expr, size int) Expr {
		return fmul(&ToFloat{X: ModE(MulE(a, b), I(int64(size)))}, F(float32(2*math.Pi/float64(size))))
	}
	table := func(c, s *Buffer, rows, cols, size int, scale func(v Expr) Expr) {
		a, b := l.fresh("a"), l.fresh("b")
		ang := angle(V(a), V(b), size)
		cv, sv := CallF("cosf", ang), CallF("sinf", ang)
		if scale != nil {
			cv, sv = fmul(scale(V(a)), cv), fmul(scale(V(a)), sv)
		}
		l.f.Body = append(l.f.Body, Nest([]string{a, b}, []int{rows, cols},
			St(c, cv, V(a), V(b)), St(s, sv, V(a), V(b)))...)
	}
	table(cw, sw, Wh, Wf, Wf, nil)
	table(ch, sh, Hf, Hf, Hf, nil)
	// Inverse row weights: c_v/(H_f·W_f), c_v = 1 at v = 0 and at v = W_f/2
	// (W_f even), 2 elsewhere (the conjugate half counted twice).
	inv := float32(1 / float64(Hf*Wf))
	table(iwc, iws, Wh, Wo, Wf, func(v Expr) Expr {
		var cond Expr = Cmp(EQ, v, I(0))
		if Wf%2 == 0 {
			cond = &Binary{Op: Or, A: cond, B: Cmp(EQ, v, I(int64(Wf/2)))}
		}
		return Sel(cond, F(inv), F(2*inv))
	})

	// spectrum emits X̂[a, b, u·W_h + v] of planes src[a, b, 0:rows, 0:cols]
	// (rows ≤ H_f, cols ≤ W_f; the rest is zero) into (re, im).
	spectrum := func(name string, src *Buffer, A, B, rows, cols int) (*Buffer, *Buffer) {
		rr, ri := l.temp(name+"r1", []int{A, B, rows, Wh}), l.temp(name+"i1", []int{A, B, rows, Wh})
		re, im := l.temp(name+"r", []int{A, B, F2}), l.temp(name+"i", []int{A, B, F2})
		a, b, h, v, k := l.fresh("a"), l.fresh("b"), l.fresh("h"), l.fresh("v"), l.fresh("k")
		sr, si := l.fresh("sr"), l.fresh("si")
		xv := Ld(src, V(a), V(b), V(h), V(k))
		// Row DFT of real data: R = Σ_w x·(cos − i·sin).
		l.f.Body = append(l.f.Body, Nest([]string{a, b, h, v}, []int{A, B, rows, Wh},
			&Decl{Name: sr, Init: F(0)}, &Decl{Name: si, Init: F(0)},
			Loop(k, cols,
				&Assign{Name: sr, Value: fadd(S(sr), fmul(xv, Ld(cw, V(v), V(k))))},
				&Assign{Name: si, Value: fsub(S(si), fmul(xv, Ld(sw, V(v), V(k))))}),
			St(rr, S(sr), V(a), V(b), V(h), V(v)), St(ri, S(si), V(a), V(b), V(h), V(v)))...)
		// Column DFT: X̂[u, v] = Σ_h R[h, v]·(cos − i·sin)(2π·u·h/H_f).
		a2, b2, u2, v2, h2 := l.fresh("a"), l.fresh("b"), l.fresh("u"), l.fresh("v"), l.fresh("h")
		tr, ti := l.fresh("tr"), l.fresh("ti")
		r := Ld(rr, V(a2), V(b2), V(h2), V(v2))
		i := Ld(ri, V(a2), V(b2), V(h2), V(v2))
		c, s := Ld(ch, V(u2), V(h2)), Ld(sh, V(u2), V(h2))
		fi := []Expr{V(a2), V(b2), AddE(MulE(V(u2), I(int64(Wh))), V(v2))}
		l.f.Body = append(l.f.Body, Nest([]string{a2, b2, u2, v2}, []int{A, B, Hf, Wh},
			&Decl{Name: tr, Init: F(0)}, &Decl{Name: ti, Init: F(0)},
			Loop(h2, rows,
				&Assign{Name: tr, Value: fadd(S(tr), fadd(fmul(r, c), fmul(i, s)))},
				&Assign{Name: ti, Value: fadd(S(ti), fsub(fmul(i, c), fmul(r, s)))}),
			St(re, S(tr), fi...), St(im, S(ti), fi...))...)
		return re, im
	}
	Xr, Xi := spectrum("X", xp, N, C, Hf, Wf)
	Wr, Wi := spectrum("W", w, M, C, Kh, Kw)

	// Pointwise product over channels: Y = Σ_c X̂·conj(Ŵ), row-update form.
	Yr, Yi := l.temp("Yr", []int{N, M, F2}), l.temp("Yi", []int{N, M, F2})
	nv, mv, cv, fv := l.fresh("n"), l.fresh("m"), l.fresh("c"), l.fresh("f")
	yi := []Expr{V(nv), V(mv), V(fv)}
	xr, xi := Ld(Xr, V(nv), V(cv), V(fv)), Ld(Xi, V(nv), V(cv), V(fv))
	wr, wi := Ld(Wr, V(mv), V(cv), V(fv)), Ld(Wi, V(mv), V(cv), V(fv))
	l.f.Body = append(l.f.Body, Nest([]string{nv, mv}, []int{N, M},
		Loop(fv, F2, St(Yr, F(0), yi...), St(Yi, F(0), yi...)),
		Loop(cv, C, Loop(fv, F2,
			St(Yr, fadd(Ld(Yr, yi...), fadd(fmul(xr, wr), fmul(xi, wi))), yi...),
			St(Yi, fadd(Ld(Yi, yi...), fsub(fmul(xi, wr), fmul(xr, wi))), yi...))))...)

	// Inverse column DFT for the kept rows: Z[h, v] = Σ_u Y[u, v]·(cos + i·sin).
	Zr, Zi := l.temp("Zr", []int{N, M, Ho, Wh}), l.temp("Zi", []int{N, M, Ho, Wh})
	n2, m2, h2, v2, u2 := l.fresh("n"), l.fresh("m"), l.fresh("h"), l.fresh("v"), l.fresh("u")
	zr, zi := l.fresh("zr"), l.fresh("zi")
	yidx := []Expr{V(n2), V(m2), AddE(MulE(V(u2), I(int64(Wh))), V(v2))}
	yr, yim := Ld(Yr, yidx...), Ld(Yi, yidx...)
	c, s := Ld(ch, V(u2), V(h2)), Ld(sh, V(u2), V(h2))
	zidx := []Expr{V(n2), V(m2), V(h2), V(v2)}
	l.f.Body = append(l.f.Body, Nest([]string{n2, m2, h2, v2}, []int{N, M, Ho, Wh},
		&Decl{Name: zr, Init: F(0)}, &Decl{Name: zi, Init: F(0)},
		Loop(u2, Hf,
			&Assign{Name: zr, Value: fadd(S(zr), fsub(fmul(yr, c), fmul(yim, s)))},
			&Assign{Name: zi, Value: fadd(S(zi), fadd(fmul(yim, c), fmul(yr, s)))}),
		St(Zr, S(zr), zidx...), St(Zi, S(zi), zidx...))...)

	// Inverse row DFT to the kept columns (real part), bias, epilogue.
	n3, m3, h3, w3, v3 := l.fresh("n"), l.fresh("m"), l.fresh("h"), l.fresh("w"), l.fresh("v")
	acc := l.fresh("acc")
	oidx := []Expr{V(n3), V(m3), V(h3), V(w3)}
	zi3 := []Expr{V(n3), V(m3), V(h3), V(v3)}
	var init Expr = F(0)
	if len(in) == 3 {
		init = Ld(in[2], V(m3))
	}
	l.f.Body = append(l.f.Body, Nest([]string{n3, m3, h3, w3}, []int{N, M, Ho, Wo},
		&Decl{Name: acc, Init: F(0)},
		Loop(v3, Wh, &Assign{Name: acc, Value: fadd(S(acc), fsub(fmul(Ld(Zr, zi3...), Ld(iwc, V(v3), V(w3))), fmul(Ld(Zi, zi3...), Ld(iws, V(v3), V(w3)))))}),
		St(out, l.final(fadd(init, S(acc)), oidx), oidx...))...)
	return nil
}
