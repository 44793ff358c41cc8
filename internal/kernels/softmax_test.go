package kernels

import (
	"math"
	"testing"
)

// softmaxRef is the textbook softmax and log-softmax of a row in float64,
// through the log-sum-exp.
func softmaxRef(x []float64) (p, logp []float64, lse float64) {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - m)
	}
	lse = m + math.Log(s)
	p, logp = make([]float64, len(x)), make([]float64, len(x))
	for i, v := range x {
		logp[i] = v - lse
		p[i] = math.Exp(logp[i])
	}
	return p, logp, lse
}

// TestSoftmaxRows checks the float32 and float64 row kernels against the
// float64 reference on contiguous and strided rows, written to another
// slice and in place, with the cells between a strided row's elements left
// alone. Offsets of ±900 check that the maximum is subtracted first.
func TestSoftmaxRows(t *testing.T) {
	r := newRand(1)
	for _, n := range []int{1, 2, 3, 10, 37, 1000} {
		for _, inc := range []int{1, 3} {
			for _, off := range []float64{0, 900, -900} {
				row := make([]float64, n)
				for i := range row {
					row[i] = float64(float32(off + 8*r.Float64() - 4))
				}
				p, logp, lse := softmaxRef(row)
				checkSoftmaxRow[float32](t, row, p, logp, lse, inc, 4e-6)
				checkSoftmaxRow[float64](t, row, p, logp, lse, inc, 1e-12)
			}
		}
	}
}

func checkSoftmaxRow[F Float](t *testing.T, row, p, logp []float64, lse float64, inc int, tol float64) {
	t.Helper()
	n := len(row)
	x := make([]F, n*inc)
	for i := range x {
		x[i] = 7 // between-row cells: must stay
	}
	for j, v := range row {
		x[j*inc] = F(v)
	}
	for _, inPlace := range []bool{false, true} {
		for _, log := range []bool{false, true} {
			y := make([]F, len(x))
			copy(y, x)
			src := x
			if inPlace {
				src = y
			}
			want := p
			if log {
				LogSoftmaxRow(src, y, n, inc)
				want = logp
			} else {
				SoftmaxRow(src, y, n, inc)
			}
			for i, v := range y {
				if i%inc != 0 {
					if v != 7 {
						t.Fatalf("%T n=%d inc=%d: cell %d between row elements changed to %g", v, n, inc, i, v)
					}
					continue
				}
				// The error scales with the inputs: a float32 log-probability
				// near 900 − lse is x − lse rounded at x's spacing.
				w, scale := want[i/inc], math.Max(1, math.Abs(row[i/inc]))
				if d := math.Abs(float64(v) - w); d > tol*scale || v != v {
					t.Fatalf("%T n=%d inc=%d in place %v log %v: y[%d] = %g, want %g", v, n, inc, inPlace, log, i/inc, v, w)
				}
			}
		}
	}
	got := LogSumExp(x, n, inc)
	if math.Abs(got-lse) > tol*math.Max(1, math.Abs(lse)) {
		t.Fatalf("%T n=%d inc=%d: LogSumExp %g, want %g", x[0], n, inc, got, lse)
	}
	// SoftmaxRowLSE is SoftmaxRow and LogSumExp in one pass, to the bit.
	y, y2 := make([]F, len(x)), make([]F, len(x))
	SoftmaxRow(x, y, n, inc)
	if l := SoftmaxRowLSE(x, y2, n, inc); math.Float64bits(l) != math.Float64bits(got) {
		t.Fatalf("%T n=%d inc=%d: SoftmaxRowLSE returned %g, LogSumExp %g", x[0], n, inc, l, got)
	}
	for i := range y {
		if y2[i] != y[i] {
			t.Fatalf("%T n=%d inc=%d: SoftmaxRowLSE wrote y[%d] = %g, SoftmaxRow %g", x[0], n, inc, i, y2[i], y[i])
		}
	}
}

// TestSoftmaxRowEdges checks rows with infinities and NaN: an −Inf logit
// gets probability 0, a NaN spreads over the row, and an element distance
// below 1 panics instead of looping forever.
func TestSoftmaxRowEdges(t *testing.T) {
	x := []float32{float32(math.Inf(-1)), 0, 0}
	y := make([]float32, 3)
	SoftmaxRow(x, y, 3, 1)
	if y[0] != 0 || y[1] != 0.5 || y[2] != 0.5 {
		t.Fatalf("softmax of [-Inf 0 0] = %v, want [0 0.5 0.5]", y)
	}
	LogSoftmaxRow(x, y, 3, 1)
	if !math.IsInf(float64(y[0]), -1) || math.Abs(float64(y[1])+math.Ln2) > 1e-7 {
		t.Fatalf("log-softmax of [-Inf 0 0] = %v, want [-Inf -ln2 -ln2]", y)
	}
	x[1] = float32(math.NaN())
	SoftmaxRow(x, y, 3, 1)
	for _, v := range y {
		if v == v {
			t.Fatalf("softmax of a row with NaN = %v, want all NaN", y)
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("inc 0 did not panic")
		}
	}()
	SoftmaxRow(x, y, 3, 0)
}
