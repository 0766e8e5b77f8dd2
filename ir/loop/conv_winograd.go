package loop

import (
	"fmt"
	"strconv"

	"wdc/ir"
)

// Winograd F(m×m, 3×3) transforms (Lavin & Gray 2016, arXiv:1509.09308):
// Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A for an α×α input tile d (α = m + 2), a
// 3×3 filter g and an m×m output tile Y.
type winogradTransforms struct {
	BT [][]float64 // α×α
	G  [][]float64 // α×3
	AT [][]float64 // m×α
}

var winogradF2 = winogradTransforms{
	BT: [][]float64{
		{1, 0, -1, 0},
		{0, 1, 1, 0},
		{0, -1, 1, 0},
		{0, 1, 0, -1},
	},
	G: [][]float64{
		{1, 0, 0},
		{0.5, 0.5, 0.5},
		{0.5, -0.5, 0.5},
		{0, 0, 1},
	},
	AT: [][]float64{
		{1, 1, 1, 0},
		{0, 1, -1, -1},
	},
}

var winogradF4 = winogradTransforms{
	BT: [][]float64{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	},
	G: [][]float64{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	},
	AT: [][]float64{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	},
}

// lincomb is Σ c[i]·t[i] over the non-zero coefficients, with ±1 folded.
func lincomb(c []float64, t []Expr) Expr {
	var e Expr
	for i, ci := range c {
		if ci == 0 {
			continue
		}
		term := t[i]
		neg := false
		switch {
		case ci == 1:
		case ci == -1:
			neg = true
		default:
			term = fmul(F(float32(ci)), term)
		}
		switch {
		case e == nil && neg:
			e = fsub(F(0), term)
		case e == nil:
			e = term
		case neg:
			e = fsub(e, term)
		default:
			e = fadd(e, term)
		}
	}
	if e == nil {
		return F(0)
	}
	return e
}

// transform2 emits the straight-line code of R = L·X·Rᵀ for a p×q block X
// (read by at(i, j)) with L a×p and Rt b×q given row-major: first T = X·Rᵀ
// (p×b scalars), then R = L·T. It returns the statements and the a×b
// result expressions (scalar reads).
func (l *lowerer) transform2(prefix string, L, Rt [][]float64, p, q int, at func(i, j int) Expr) ([]Stmt, [][]Expr) {
	var s []Stmt
	x := make([][]Expr, p)
	for i := 0; i < p; i++ {
		x[i] = make([]Expr, q)
		for j := 0; j < q; j++ {
			name := l.fresh(prefix + "x" + strconv.Itoa(i) + "_" + strconv.Itoa(j))
			s = append(s, &Decl{Name: name, Init: at(i, j)})
			x[i][j] = S(name)
		}
	}
	b := len(Rt)
	t := make([][]Expr, p)
	for i := 0; i < p; i++ {
		t[i] = make([]Expr, b)
		for j := 0; j < b; j++ {
			name := l.fresh(prefix + "t" + strconv.Itoa(i) + "_" + strconv.Itoa(j))
			s = append(s, &Decl{Name: name, Init: lincomb(Rt[j], x[i])})
			t[i][j] = S(name)
		}
	}
	r := make([][]Expr, len(L))
	for i := range L {
		r[i] = make([]Expr, b)
		col := make([]Expr, p)
		for j := 0; j < b; j++ {
			for k := 0; k < p; k++ {
				col[k] = t[k][j]
			}
			r[i][j] = lincomb(L[i], col)
		}
	}
	return s, r
}

// lowerConvWinograd computes a 2-d 3×3 stride-1 convolution (group 1)
// with Winograd F(m×m, 3×3), α = m + 2, in four top-level nests:
//
//  1. filter transform U[ξν, m, c] = (G g[m,c] Gᵀ)[ξ,ν]  (on the weights at
//     run time: C_out·C_in·(α·9 + α²·3) operations, small next to the rest);
//  2. input transform V[ξν, c, t] = (Bᵀ d Bᵀᵀ)[ξ,ν] for each α×α tile d of
//     the zero-padded input (tiles overlap by 2; t = (n, tile row, tile
//     column); the input is padded at the end so that ⌈H'/m⌉·m rows and
//     columns of output are covered);
//  3. α² GEMMs M[ξν] = U[ξν] · V[ξν] ((C_out × C_in)·(C_in × P));
//  4. output transform Y = Aᵀ M A per tile, plus the bias and epilogue,
//     stored where the output row and column are inside H'×W' (edge
//     tiles are cropped).
func lowerConvWinograd(l *lowerer, n *ir.Node, in []*Buffer, out *Buffer, m int) error {
	tr := winogradF2
	if m == 4 {
		tr = winogradF4
	}
	const r = 3
	alpha := m + r - 1
	A2 := alpha * alpha
	x, w := in[0], in[1]
	win := ir.ConvWindow(n, 2, w.Shape[2:])
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	Ho, Wo := out.Shape[2], out.Shape[3]
	Th, Tw := (Ho+m-1)/m, (Wo+m-1)/m
	P := N * Th * Tw
	// Pad so that every tile lies inside: (T·m + 2) rows and columns.
	end := []int{win.PadEnd[0], win.PadEnd[1]}
	end[0] += Th*m + r - 1 - (x.Shape[2] + win.PadBegin[0] + win.PadEnd[0])
	end[1] += Tw*m + r - 1 - (x.Shape[3] + win.PadBegin[1] + win.PadEnd[1])
	xp := l.padded(x, win.PadBegin, end)
	U := l.temp("U", []int{A2, M, C})
	Vt := l.temp("V", []int{A2, C, P})
	Mt := l.temp("M", []int{A2, M, P})

	// 1. Filter transform: U = G g Gᵀ.
	mv, cv := l.fresh("m"), l.fresh("c")
	s, u := l.transform2("g", tr.G, tr.G, r, r, func(i, j int) Expr { return Ld(w, V(mv), V(cv), I(int64(i)), I(int64(j))) })
	for xi := 0; xi < alpha; xi++ {
		for nu := 0; nu < alpha; nu++ {
			s = append(s, St(U, u[xi][nu], I(int64(xi*alpha+nu)), V(mv), V(cv)))
		}
	}
	l.f.Body = append(l.f.Body, Nest([]string{mv, cv}, []int{M, C}, s...)...)

	// 2. Input transform: V = Bᵀ d B.
	cv2, nv, hv, wv := l.fresh("c"), l.fresh("n"), l.fresh("th"), l.fresh("tw")
	t := AddE(MulE(AddE(MulE(V(nv), I(int64(Th))), V(hv)), I(int64(Tw))), V(wv))
	s, vv := l.transform2("d", tr.BT, tr.BT, alpha, alpha, func(i, j int) Expr {
		return Ld(xp, V(nv), V(cv2), AddE(MulE(V(hv), I(int64(m))), I(int64(i))), AddE(MulE(V(wv), I(int64(m))), I(int64(j))))
	})
	for xi := 0; xi < alpha; xi++ {
		for nu := 0; nu < alpha; nu++ {
			s = append(s, St(Vt, vv[xi][nu], I(int64(xi*alpha+nu)), V(cv2), t))
		}
	}
	l.f.Body = append(l.f.Body, Nest([]string{cv2, nv, hv, wv}, []int{C, N, Th, Tw}, s...)...)

	// 3. α² GEMMs, row-update form: M[e, m, :] = Σ_c U[e, m, c]·V[e, c, :].
	ev, m3, c3, pv := l.fresh("e"), l.fresh("m"), l.fresh("c"), l.fresh("p")
	mi := []Expr{V(ev), V(m3), V(pv)}
	l.f.Body = append(l.f.Body, Nest([]string{ev, m3}, []int{A2, M},
		Loop(pv, P, St(Mt, F(0), mi...)),
		Loop(c3, C, Loop(pv, P, St(Mt, fadd(Ld(Mt, mi...), fmul(Ld(U, V(ev), V(m3), V(c3)), Ld(Vt, V(ev), V(c3), V(pv)))), mi...))))...)

	// 4. Output transform: Y = Aᵀ M A, bias, epilogue, cropped store.
	n4, m4, h4, w4 := l.fresh("n"), l.fresh("m"), l.fresh("th"), l.fresh("tw")
	t4 := AddE(MulE(AddE(MulE(V(n4), I(int64(Th))), V(h4)), I(int64(Tw))), V(w4))
	s, y := l.transform2("q", tr.AT, tr.AT, alpha, alpha, func(i, j int) Expr { return Ld(Mt, I(int64(i*alpha+j)), V(m4), t4) })
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			oh := AddE(MulE(V(h4), I(int64(m))), I(int64(i)))
			ow := AddE(MulE(V(w4), I(int64(m))), I(int64(j)))
			oidx := []Expr{V(n4), V(m4), oh, ow}
			v := y[i][j]
			if len(in) == 3 {
				v = fadd(v, Ld(in[2], V(m4)))
			}
			var st Stmt = St(out, l.final(v, oidx), oidx...)
			var cond Expr
			if Ho%m != 0 && i >= Ho%m {
				cond = AndE(cond, Cmp(LT, oh, I(int64(Ho))))
			}
			if Wo%m != 0 && j >= Wo%m {
				cond = AndE(cond, Cmp(LT, ow, I(int64(Wo))))
			}
			if cond != nil {
				st = &If{Cond: cond, Then: []Stmt{st}}
			}
			s = append(s, st)
		}
	}
	l.f.Body = append(l.f.Body, Nest([]string{n4, m4, h4, w4}, []int{N, M, Th, Tw}, s...)...)
	return nil
}

// LowerWinogradGemm is LowerGemm for a conv group (nodes[0] a 3×3,
// stride-1, group-1 2-d conv) whose product the backend computes with
// Winograd F(m×m, 3×3), m = 2 or 4, on its GEMM microkernel: the Gemm is
// the implicit-im2col one with Conv.Winograd = m. The backend needs the
// transformed weights (WinogradFilter) and so constant weights.
func LowerWinogradGemm(nodes []*ir.Node, m int) (*Func, *Gemm, error) {
	if len(nodes) == 0 {
		return nil, nil, fmt.Errorf("loop.LowerWinogradGemm: no nodes")
	}
	algo := map[int]string{2: ConvWinograd2, 4: ConvWinograd4}[m]
	if algo == "" {
		return nil, nil, fmt.Errorf("loop.LowerWinogradGemm: F(%dx%d,3x3) is not implemented (m = 2 or 4)", m, m)
	}
	p := nodes[0]
	if err := ConvAlgoApplies(p, algo); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", p.Where(), err)
	}
	f, g, err := LowerGemm(nodes)
	if err != nil {
		return nil, nil, err
	}
	if g == nil || g.Conv == nil || g.Batch[1] != 1 {
		return nil, nil, fmt.Errorf("%s: %s does not reduce to a GEMM", p.Where(), algo)
	}
	g.Conv.Winograd = m
	return f, g, nil
}

// WinogradFilter returns the transformed filters U[ξν, m, c] = (G g Gᵀ)[ξ,ν]
// of weights w [M, C, 3, 3] for F(m×m, 3×3), computed in float64 and
// rounded once: α² matrices of M×C (α = m + 2), row-major.
func WinogradFilter(m int, w []float32, M, C int) []float32 {
	tr := winogradF2
	if m == 4 {
		tr = winogradF4
	}
	alpha := m + 2
	u := make([]float32, alpha*alpha*M*C)
	var t [6][3]float64
	for o := 0; o < M; o++ {
		for c := 0; c < C; c++ {
			g := w[(o*C+c)*9:]
			for i := 0; i < alpha; i++ { // t = G g
				for j := 0; j < 3; j++ {
					var s float64
					for k := 0; k < 3; k++ {
						s += tr.G[i][k] * float64(g[k*3+j])
					}
					t[i][j] = s
				}
			}
			for i := 0; i < alpha; i++ { // u = t Gᵀ
				for j := 0; j < alpha; j++ {
					var s float64
					for k := 0; k < 3; k++ {
						s += t[i][k] * tr.G[j][k]
					}
					u[((i*alpha+j)*M+o)*C+c] = float32(s)
				}
			}
		}
	}
	return u
}
