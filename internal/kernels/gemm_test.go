package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

var gemmImpls = []struct {
	name string
	fn   gemmFunc
}{{"Gemm", Gemm}, {"GemmSerial", GemmSerial}}

// naiveGemm is the reference loop of Gemm's doc comment, in float64. It
// returns the expected m×n result and, per element, the error allowed for a
// float32 computation: (k+3)·2^-23 times the sum of the magnitudes of every
// term. With beta == 0 it never reads c, which may then hold NaN.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, tol []float64) {
	A := func(i, p int) float64 {
		if transA {
			return float64(a[p*lda+i])
		}
		return float64(a[i*lda+p])
	}
	B := func(p, j int) float64 {
		if transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	want, tol = make([]float64, m*n), make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				s += A(i, p) * B(p, j)
				abs += math.Abs(A(i, p) * B(p, j))
			}
			w := float64(alpha) * s
			mag := math.Abs(float64(alpha)) * abs
			if beta != 0 {
				bc := float64(beta) * float64(c[i*ldc+j])
				w += bc
				mag += math.Abs(bc)
			}
			want[i*n+j], tol[i*n+j] = w, float64(k+3)*u32*mag
		}
	}
	return want, tol
}

// denseWithPad returns rows×cols values stored with row stride cols+pad in a
// slice that is exactly as long as the last row needs and starts align
// elements into its backing array; the pad cells and the align cells before
// the start hold NaN, so that reading them poisons the result.
func denseWithPad(r *rand.Rand, rows, cols, pad, align int) ([]float32, int) {
	ld := cols + pad
	if rows == 0 || cols == 0 {
		return nil, max(ld, 1)
	}
	buf := make([]float32, align+(rows-1)*ld+cols)
	s := buf[align:]
	for i := range buf[:align] {
		buf[i] = float32(math.NaN())
	}
	for i := range s {
		if i%ld < cols {
			s[i] = 2*r.Float32() - 1
		} else {
			s[i] = float32(math.NaN())
		}
	}
	return s, ld
}

func sameBits(x, y []float32) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	pad            int      // extra row stride of A, B and C
	align          int      // offset of A, B and C into their backing arrays
	kernels        []string // GEMM kernels or paths to force in turn; nil: every path
}

func (c gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g pad=%d align=%d", c.transA, c.transB, c.m, c.n, c.k, c.alpha, c.beta, c.pad, c.align)
}

// checkGemm runs one case through every Gemm implementation, with each
// micro-kernel path forced in turn (avx512, avx2, generic: whatever this
// build and CPU have), under each of the given thread counts and compares it with naiveGemm. Inputs carry NaN
// in their row padding, C sits in a guard band with sentinels in its row
// gaps, and with beta == 0 the m×n window of C starts as NaN.
func checkGemm(t *testing.T, gc gemmCase, r *rand.Rand, threads ...int) {
	t.Helper()
	m, n, k := gc.m, gc.n, gc.k
	ra, ca := m, k
	if gc.transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if gc.transB {
		rb, cb = n, k
	}
	a, lda := denseWithPad(r, ra, ca, gc.pad, gc.align)
	b, ldb := denseWithPad(r, rb, cb, gc.pad+1, (gc.align+1)%4)
	ldc := n + gc.pad
	clen := 0
	if m > 0 && n > 0 {
		clen = (m-1)*ldc + n
	}
	c0 := make([]float32, clen)
	for i := range c0 {
		switch {
		case i%ldc >= n:
			c0[i] = sentinel(i) // row gap: must survive
		case gc.beta == 0:
			c0[i] = float32(math.NaN())
		default:
			c0[i] = 2*r.Float32() - 1
		}
	}
	a0, b0 := append([]float32(nil), a...), append([]float32(nil), b...)
	want, tol := naiveGemm(gc.transA, gc.transB, m, n, k, gc.alpha, a, lda, b, ldb, gc.beta, c0, ldc)

	kerns := gc.kernels
	if kerns == nil {
		kerns = gemmPaths()
	}
	for _, kern := range kerns {
		restore, ok := forceGemmKernel(kern)
		if !ok {
			t.Fatalf("no GEMM kernel %q", kern)
		}
		func() {
			defer restore()
			for _, th := range threads {
				for _, impl := range gemmImpls {
					name := fmt.Sprintf("%s/%s/threads=%d %v", kern, impl.name, th, gc)
					cg := newGuarded(clen, 7+(gc.align+2)%4)
					copy(cg.body, c0)
					withThreads(th, func() {
						impl.fn(gc.transA, gc.transB, m, n, k, gc.alpha, a, lda, b, ldb, gc.beta, cg.body, ldc)
					})
					if !sameBits(a, a0) || !sameBits(b, b0) {
						t.Errorf("%s: modified its inputs", name)
					}
					cg.checkGuards(t, name)
					bad := 0
					for i, got := range cg.body {
						if i%ldc >= n {
							if math.Float32bits(got) != math.Float32bits(c0[i]) {
								t.Errorf("%s: wrote C[%d][%d] outside the m×n window (ldc=%d): %v", name, i/ldc, i%ldc, ldc, got)
								return
							}
							continue
						}
						w, e := want[i/ldc*n+i%ldc], tol[i/ldc*n+i%ldc]
						if !(math.Abs(float64(got)-w) <= e) {
							if bad++; bad <= 3 {
								t.Errorf("%s: C[%d][%d] = %v, want %v ± %.3g", name, i/ldc, i%ldc, got, w, e)
							}
						}
					}
				}
			}
		}()
	}
}

func TestGemmEdgeShapes(t *testing.T) {
	shapes := [][3]int{
		{0, 0, 0}, {0, 5, 3}, {4, 0, 3}, {4, 5, 0}, {1, 1, 0},
		{1, 1, 1}, {1, 1, 9}, {1, 17, 1}, {17, 1, 4}, {1, 9, 17},
		{2, 3, 4}, {5, 7, 3}, {3, 5, 8}, {16, 16, 16}, {13, 17, 11},
		{9, 40, 100},  // over the 1<<15 threshold: parallel over rows
		{3, 200, 70},  // few rows: parallel over columns
		{1200, 70, 7}, // tall, shallow: parallel over rows (transposed A is k×m)
		{70, 1200, 7}, // wide, shallow: parallel over columns (transposed B is n×k)
	}
	r := newRand(1)
	for _, s := range shapes {
		for tr := range 4 {
			for _, alpha := range []float32{1, 0.5, 0} {
				for _, beta := range []float32{0, 1, -0.7} {
					for _, pad := range []int{0, 3} {
						checkGemm(t, gemmCase{tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], alpha, beta, pad, 0, nil}, r, 1, 4)
					}
				}
			}
		}
	}
}

// TestGemmOddSizes sweeps every m and n in 0..17 against k values around the
// four-row unrolling of the inner loop, with the operands starting at every
// offset 0..3 into their backing arrays (an alignment sweep for future
// vector kernels).
func TestGemmOddSizes(t *testing.T) {
	ks := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17}
	step := 1
	if testing.Short() {
		ks, step = []int{0, 1, 3, 4, 5, 9, 17}, 2
	}
	r := newRand(2)
	for m := 0; m <= 17; m += step {
		for n := 0; n <= 17; n++ {
			for _, k := range ks {
				for tr := range 4 {
					checkGemm(t, gemmCase{tr&1 != 0, tr&2 != 0, m, n, k, 0.5, -0.7, (m + n) % 3, (m + 2*n + k) % 4, nil}, r, 4)
					if t.Failed() {
						return
					}
				}
			}
		}
	}
}

// TestGemmBlocking uses sizes around the tile (mr, nr) and block (kc, mc,
// nc) edges of every micro-kernel, serially and in both parallel splits.
func TestGemmBlocking(t *testing.T) {
	ab := [][2]float32{{1, 0}, {0.5, -0.7}, {1, 1}}
	if testing.Short() {
		ab = ab[1:2]
	}
	r := newRand(3)
	for _, kern := range gemmKernels {
		mr, nr, kc, nc := kern.mr, kern.nr, kern.kc, kern.nc
		shapes := [][3]int{
			{mr, nr, kc},
			{mr + 1, nr - 1, kc + 1},
			{2*mr - 1, 2*nr + 1, 2*kc + 3},
			{3, nc + 1, kc + 1},    // few rows: split over columns
			{mr*3 + 2, nc + 3, kc}, // split over rows
			{20, 2*nc + 5, 9},
			{17, 11, 2*kc + 3},
		}
		if testing.Short() {
			shapes = shapes[:4]
		}
		for _, s := range shapes {
			for tr := range 4 {
				for _, p := range ab {
					checkGemm(t, gemmCase{tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], p[0], p[1], 5, tr, []string{kern.name}}, r, 1, 2)
				}
			}
		}
		// One block of A deeper than mc, once per kernel.
		checkGemm(t, gemmCase{false, false, kern.mc + mr + 1, nr + 3, 7, 0.5, -0.7, 1, 1, []string{kern.name}}, r, 1, 2)
		if t.Failed() {
			return
		}
	}
}

// TestGemmRandomShapes draws shapes, transposes, alpha, beta, padding and
// alignment at random and checks every micro-kernel on each.
func TestGemmRandomShapes(t *testing.T) {
	iters := 60
	if testing.Short() {
		iters = 15
	}
	var names []string
	for _, k := range gemmKernels {
		names = append(names, k.name)
	}
	r := newRand(4)
	alphas := []float32{1, -1, 0.5, 2, 0}
	betas := []float32{0, 1, -0.7, 2}
	for it := range iters {
		m, n, k := 1+r.IntN(70), 1+r.IntN(130), 1+r.IntN(300)
		if it%5 == 0 {
			m, n = 1+r.IntN(4), 1+r.IntN(4)
		}
		gc := gemmCase{r.IntN(2) == 0, r.IntN(2) == 0, m, n, k,
			alphas[r.IntN(len(alphas))], betas[r.IntN(len(betas))], r.IntN(4), r.IntN(4), names}
		checkGemm(t, gc, r, 1, 2)
		if t.Failed() {
			return
		}
	}
}

// TestGemmConcurrent runs GemmSerial and Gemm from many goroutines at once;
// they share the pool of transposed-B scratch buffers and the workers.
func TestGemmConcurrent(t *testing.T) {
	withThreads(4, func() {
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := newRand(uint64(100 + g))
				for it := range 4 {
					m, n, k := 3+g, 40+7*it, 50+g
					transA := g%2 == 0
					impl := gemmImpls[(g+it)%2]
					ra, ca := m, k
					if transA {
						ra, ca = k, m
					}
					a, lda := denseWithPad(r, ra, ca, 1, 0)
					b, ldb := denseWithPad(r, n, k, 2, 1)
					c := make([]float32, m*n)
					want, tol := naiveGemm(transA, true, m, n, k, 1, a, lda, b, ldb, 0, c, n)
					impl.fn(transA, true, m, n, k, 1, a, lda, b, ldb, 0, c, n)
					for i, w := range want {
						if !(math.Abs(float64(c[i])-w) <= tol[i]) {
							t.Errorf("%s concurrent m=%d n=%d k=%d: C[%d] = %v, want %v", impl.name, m, n, k, i, c[i], w)
							return
						}
					}
				}
			}()
		}
		wg.Wait()
	})
}

func TestGemmPanics(t *testing.T) {
	a := make([]float32, 6)
	c := make([]float32, 4)
	cases := []struct {
		name string
		fn   func()
	}{
		{"short A", func() { Gemm(false, false, 2, 2, 4, 1, a, 4, a, 2, 0, c, 2) }},
		{"short A transposed", func() { Gemm(true, false, 2, 2, 4, 1, a, 2, make([]float32, 8), 2, 0, c, 2) }},
		{"short B", func() { Gemm(false, false, 2, 2, 3, 1, a, 3, a[:5], 2, 0, c, 2) }},
		{"short B transposed", func() { Gemm(false, true, 2, 2, 3, 1, a, 3, a[:5], 3, 0, c, 2) }},
		{"short C", func() { Gemm(false, false, 2, 2, 3, 1, a, 3, a, 2, 0, c[:3], 2) }},
		{"lda < cols", func() { Gemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, c, 2) }},
		{"ldc < n", func() { GemmSerial(false, false, 2, 2, 3, 1, a, 3, a, 2, 0, c, 1) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { mustPanicPrefix(t, "kernels: ", tc.fn) })
	}
	// Empty products need no storage at all.
	Gemm(false, false, 0, 3, 2, 1, nil, 2, nil, 3, 0, nil, 3)
	Gemm(true, true, 3, 0, 2, 1, nil, 3, nil, 2, 0, nil, 1)
}

// TestGemmBetaZeroNaN checks the documented contract directly: beta == 0
// never reads C, even when alpha == 0 or k == 0.
func TestGemmBetaZeroNaN(t *testing.T) {
	a := []float32{1, 2, 3}
	b := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, k := range []int{0, 3} {
		for _, alpha := range []float32{0, 1} {
			c := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.NaN()), 7}
			Gemm(false, false, 1, 3, k, alpha, a, 3, b, 3, 0, c, 3)
			want := []float32{0, 0, 0, 7}
			if k == 3 && alpha == 1 {
				want = []float32{30, 36, 42, 7}
			}
			if !sameBits(c, want) {
				t.Errorf("k=%d alpha=%g beta=0 over NaN/Inf: C = %v, want %v", k, alpha, c, want)
			}
		}
	}
}

// TestGemmEpilogue checks GemmEx's fused epilogue (row bias, column bias,
// residual add, ReLU, in that order) against the naive product followed by
// the same steps in float64, on every path, serially and in parallel, with
// guard bands around C.
func TestGemmEpilogue(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {5, 7, 3}, {13, 70, 33}, {70, 13, 300}, {64, 200, 64}, {33, 129, 517}}
	r := newRand(5)
	for _, path := range gemmPaths() {
		restore, _ := forceGemmKernel(path)
		for si, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for variant := range 16 {
				useRow, useCol, useAdd, relu := variant&1 != 0, variant&2 != 0, variant&4 != 0, variant&8 != 0
				transA, transB := (si+variant)%2 == 0, (si+variant)%3 == 0
				alpha, beta := float32(0.5), []float32{0, 1, -0.7}[variant%3]
				if si == 0 && variant < 4 {
					alpha = 0 // epilogue still runs
				}
				ra, ca, rb, cb := m, k, k, n
				if transA {
					ra, ca = k, m
				}
				if transB {
					rb, cb = n, k
				}
				a, lda := denseWithPad(r, ra, ca, 1, variant%4)
				b, ldb := denseWithPad(r, rb, cb, 2, 0)
				ldc := n + 3
				c0 := make([]float32, (m-1)*ldc+n)
				for i := range c0 {
					c0[i] = 2*r.Float32() - 1
				}
				ep := &Epilogue{ReLU: relu}
				if useRow {
					ep.RowBias = randSlice(r, m)
				}
				if useCol {
					ep.ColBias = randSlice(r, n)
				}
				if useAdd {
					ep.LdAdd = n + 1
					ep.Add = randSlice(r, (m-1)*ep.LdAdd+n)
				}
				want, tol := naiveGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						w, e := want[i*n+j], tol[i*n+j]
						if useRow {
							w += float64(ep.RowBias[i])
							e += 4 * u32 * math.Abs(w)
						}
						if useCol {
							w += float64(ep.ColBias[j])
							e += 4 * u32 * math.Abs(w)
						}
						if useAdd {
							w += float64(ep.Add[i*ep.LdAdd+j])
							e += 4 * u32 * math.Abs(w)
						}
						if relu {
							w = max(w, 0)
						}
						want[i*n+j], tol[i*n+j] = w, e
					}
				}
				for _, par := range []bool{false, true} {
					cg := newGuarded(len(c0), 5)
					copy(cg.body, c0)
					withThreads(2, func() {
						GemmEx(m, n, k, alpha, a, lda, b, ldb, beta, cg.body, ldc, GemmOpts{TransA: transA, TransB: transB, Epilogue: ep, Parallel: par})
					})
					name := fmt.Sprintf("%s parallel=%v m=%d n=%d k=%d tA=%v tB=%v alpha=%g beta=%g ep=%+v", path, par, m, n, k, transA, transB, alpha, beta, *ep)
					cg.checkGuards(t, name)
					for i, got := range cg.body {
						if i%ldc >= n {
							if math.Float32bits(got) != math.Float32bits(c0[i]) {
								t.Fatalf("%s: wrote the row gap at %d", name, i)
							}
							continue
						}
						w, e := want[i/ldc*n+i%ldc], tol[i/ldc*n+i%ldc]
						if !(math.Abs(float64(got)-w) <= e) || (relu && got < 0) {
							t.Fatalf("%s: C[%d][%d] = %v, want %v ± %.3g", name, i/ldc, i%ldc, got, w, e)
						}
					}
				}
			}
		}
		restore()
	}
}

// TestGemmEpilogueReLUSigns checks that the fused ReLU matches ReLUTo on
// −0 and NaN: −0 becomes +0, NaN stays NaN.
func TestGemmEpilogueReLUSigns(t *testing.T) {
	nan := float32(math.NaN())
	for _, path := range gemmPaths() {
		restore, _ := forceGemmKernel(path)
		a := []float32{1}
		b := []float32{0, 1, 1}
		add := []float32{float32(math.Copysign(0, -1)), -2, nan}
		c := []float32{9, 9, 9}
		GemmEx(1, 3, 1, 1, a, 1, b, 3, 0, c, 3, GemmOpts{Epilogue: &Epilogue{Add: []float32{0, 0, 0}, LdAdd: 3, ReLU: true}})
		if !sameBits(c, []float32{0, 1, 1}) {
			t.Errorf("%s: ReLU(0, 1, 1) = %v", path, c)
		}
		// alpha == 0: only beta·C and the epilogue.
		c = []float32{9, 9, 9}
		GemmEx(1, 3, 1, 0, a, 1, b, 3, 0, c, 3, GemmOpts{Epilogue: &Epilogue{Add: add, LdAdd: 3, ReLU: true}, Parallel: true})
		if math.Float32bits(c[0]) != 0 || c[1] != 0 || !math.IsNaN(float64(c[2])) {
			t.Errorf("%s: ReLU(-0, -2, NaN) = %v, want [0 0 NaN]", path, c)
		}
		restore()
	}
}

func TestGemmEpiloguePanics(t *testing.T) {
	a, b, c := make([]float32, 6), make([]float32, 6), make([]float32, 4)
	mustPanicPrefix(t, "kernels: ", func() {
		GemmEx(2, 2, 3, 1, a, 3, b, 2, 0, c, 2, GemmOpts{Epilogue: &Epilogue{RowBias: []float32{1}}})
	})
	mustPanicPrefix(t, "kernels: ", func() {
		GemmEx(2, 2, 3, 1, a, 3, b, 2, 0, c, 2, GemmOpts{Epilogue: &Epilogue{ColBias: []float32{1}}})
	})
	mustPanicPrefix(t, "kernels: ", func() {
		GemmEx(2, 2, 3, 1, a, 3, b, 2, 0, c, 2, GemmOpts{Epilogue: &Epilogue{Add: []float32{1, 2, 3}, LdAdd: 2}})
	})
}
