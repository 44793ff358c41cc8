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
	pad            int // extra row stride of A, B and C
	align          int // offset of A, B and C into their backing arrays
}

func (c gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g pad=%d align=%d", c.transA, c.transB, c.m, c.n, c.k, c.alpha, c.beta, c.pad, c.align)
}

// checkGemm runs one case through every Gemm implementation under each of
// the given thread counts and compares it with naiveGemm. Inputs carry NaN
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

	for _, th := range threads {
		for _, impl := range gemmImpls {
			name := fmt.Sprintf("%s/threads=%d %v", impl.name, th, gc)
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
}

func TestGemmEdgeShapes(t *testing.T) {
	shapes := [][3]int{
		{0, 0, 0}, {0, 5, 3}, {4, 0, 3}, {4, 5, 0}, {1, 1, 0},
		{1, 1, 1}, {1, 1, 9}, {1, 17, 1}, {17, 1, 4}, {1, 9, 17},
		{2, 3, 4}, {5, 7, 3}, {3, 5, 8}, {16, 16, 16}, {13, 17, 11},
		{9, 40, 100}, // over the 1<<15 threshold: parallel over rows
		{3, 200, 70}, // few rows: parallel over columns
	}
	r := newRand(1)
	for _, s := range shapes {
		for tr := range 4 {
			for _, alpha := range []float32{1, 0.5, 0} {
				for _, beta := range []float32{0, 1, -0.7} {
					for _, pad := range []int{0, 3} {
						checkGemm(t, gemmCase{tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], alpha, beta, pad, 0}, r, 1, 4)
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
					checkGemm(t, gemmCase{tr&1 != 0, tr&2 != 0, m, n, k, 0.5, -0.7, (m + n) % 3, (m + 2*n + k) % 4}, r, 4)
					if t.Failed() {
						return
					}
				}
			}
		}
	}
}

// TestGemmBlocking uses sizes that cross the gemmKC and gemmNC panel edges,
// serially and in both parallel splits.
func TestGemmBlocking(t *testing.T) {
	shapes := [][3]int{
		{7, 600, 300}, // few rows: split over columns; k and n cross KC, NC
		{3, gemmNC + 1, gemmKC + 1},
		{9, gemmNC + 3, gemmKC}, // split over rows
		{20, 2*gemmNC + 5, 9},
		{17, 11, 2*gemmKC + 3},
	}
	ab := [][2]float32{{1, 0}, {0.5, -0.7}, {1, 1}}
	if testing.Short() {
		shapes, ab = shapes[:3], ab[1:2]
	}
	r := newRand(3)
	for _, s := range shapes {
		for tr := range 4 {
			for _, p := range ab {
				checkGemm(t, gemmCase{tr&1 != 0, tr&2 != 0, s[0], s[1], s[2], p[0], p[1], 5, tr}, r, 1, 4)
			}
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
