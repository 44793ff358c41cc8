package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// naiveMatMul multiplies row-major a (m×k) and b (k×n) in float64 and
// returns the product with per-element tolerances.
func naiveMatMul(a, b []float32, m, k, n int) (want, tol []float64) {
	want, tol = make([]float64, m*n), make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s, mag float64
			for p := range k {
				v := float64(a[i*k+p]) * float64(b[p*n+j])
				s += v
				mag += math.Abs(v)
			}
			want[i*n+j], tol[i*n+j] = s, float64(k+3)*u32*mag
		}
	}
	return want, tol
}

// transposed returns the row-major values of the transpose of x (r×c).
func transposed(x []float32, r, c int) []float32 {
	out := make([]float32, len(x))
	for i := range r {
		for j := range c {
			out[j*r+i] = x[i*c+j]
		}
	}
	return out
}

var matShapes = [][3]int{ // m, k, n
	{1, 1, 1}, {1, 5, 1}, {3, 1, 4}, {2, 3, 4}, {7, 5, 3}, {0, 3, 2}, {3, 0, 2}, {3, 2, 0},
	{17, 13, 9}, {40, 50, 60}, {5, 300, 600}, {64, 64, 64},
}

func TestMatMul2D(t *testing.T) {
	r := newRand(30)
	for _, th := range []int{1, 4} {
		withThreads(th, func() {
			for _, s := range matShapes {
				m, k, n := s[0], s[1], s[2]
				av, bv := randVals(r, m*k), randVals(r, k*n)
				want, tol := naiveMatMul(av, bv, m, k, n)
				ls := layouts([]int{m, k}, av)
				if m*k*n > 1e5 {
					ls = ls[:1]
				}
				for _, la := range ls {
					for _, lb := range layouts([]int{k, n}, bv)[:3] {
						what := fmt.Sprintf("threads=%d MatMul(%dx%d %s, %dx%d %s)", th, m, k, la.name, k, n, lb.name)
						checkClose(t, what, tensor.MatMul(la.t, lb.t), []int{m, n}, want, tol)
					}
				}
				// MatMulT with every combination of transposes; the
				// operands are stored transposed where the flag says so.
				at, bt := transposed(av, m, k), transposed(bv, k, n)
				for tr := range 4 {
					ta, tb := tr&1 != 0, tr&2 != 0
					A, B := tensor.FromSlice(av, m, k), tensor.FromSlice(bv, k, n)
					if ta {
						A = tensor.FromSlice(at, k, m)
					}
					if tb {
						B = tensor.FromSlice(bt, n, k)
					}
					what := fmt.Sprintf("threads=%d MatMulT(%v, %v, %v, %v)", th, A.Shape(), B.Shape(), ta, tb)
					checkClose(t, what, tensor.MatMulT(A, B, ta, tb), []int{m, n}, want, tol)
					// A transposed view passed with the flag is the
					// identity twice over.
					if ta {
						A = tensor.FromSlice(av, m, k).Transpose(0, 1)
					}
					if tb {
						B = tensor.FromSlice(bv, k, n).Transpose(0, 1)
					}
					checkClose(t, what+" of views", tensor.MatMulT(A, B, ta, tb), []int{m, n}, want, tol)
				}
			}
		})
	}
}

func TestMatMulBatched(t *testing.T) {
	r := newRand(31)
	for _, th := range []int{1, 4} {
		withThreads(th, func() {
			for _, s := range [][4]int{{1, 2, 3, 4}, {3, 5, 7, 2}, {6, 4, 1, 5}, {2, 0, 3, 2}, {0, 2, 3, 4}, {5, 17, 9, 13}} {
				batch, m, k, n := s[0], s[1], s[2], s[3]
				av, bv, bs := randVals(r, batch*m*k), randVals(r, batch*k*n), randVals(r, k*n)
				want, tol := make([]float64, 0, batch*m*n), make([]float64, 0, batch*m*n)
				want2, tol2 := make([]float64, 0, batch*m*n), make([]float64, 0, batch*m*n)
				for i := range batch {
					w, e := naiveMatMul(av[i*m*k:(i+1)*m*k], bv[i*k*n:(i+1)*k*n], m, k, n)
					want, tol = append(want, w...), append(tol, e...)
					w, e = naiveMatMul(av[i*m*k:(i+1)*m*k], bs, m, k, n)
					want2, tol2 = append(want2, w...), append(tol2, e...)
				}
				for _, la := range layouts([]int{batch, m, k}, av) {
					for _, lb := range layouts([]int{batch, k, n}, bv) {
						what := fmt.Sprintf("threads=%d MatMul(%v %s, %v %s)", th, la.t.Shape(), la.name, lb.t.Shape(), lb.name)
						checkClose(t, what, tensor.MatMul(la.t, lb.t), []int{batch, m, n}, want, tol)
					}
					for _, lb := range layouts([]int{k, n}, bs) {
						what := fmt.Sprintf("threads=%d MatMul(%v %s, %v %s)", th, la.t.Shape(), la.name, lb.t.Shape(), lb.name)
						checkClose(t, what, tensor.MatMul(la.t, lb.t), []int{batch, m, n}, want2, tol2)
					}
				}
			}
		})
	}
}

func TestMatMulPanics(t *testing.T) {
	for _, tc := range []struct{ a, b []int }{
		{[]int{2, 3}, []int{4, 2}}, {[]int{3}, []int{3}}, {[]int{2, 3}, []int{2, 3, 4}},
		{[]int{2, 3, 4}, []int{3, 4, 5}}, {[]int{2, 3, 4}, []int{5, 2}}, {[]int{2, 2, 3, 4}, []int{4, 5}},
	} {
		mustPanic(t, fmt.Sprintf("MatMul(%v, %v)", tc.a, tc.b), func() { tensor.MatMul(tensor.New(tc.a...), tensor.New(tc.b...)) })
	}
	mustPanic(t, "MatMulT 3-D", func() { tensor.MatMulT(tensor.New(2, 2, 2), tensor.New(2, 2), false, false) })
	mustPanic(t, "MatMulT inner", func() { tensor.MatMulT(tensor.New(2, 3), tensor.New(2, 3), false, false) })
	mustPanic(t, "MatMulT inner transposed", func() { tensor.MatMulT(tensor.New(2, 3), tensor.New(2, 3), true, true) })
}
