package kernels

import (
	"fmt"
	"math"
	"testing"
)

// TestLinear checks the small-batch fully connected layer against a float64
// reference over odd sizes (tails of every vector width), batches and
// ReLU, every forced vector path, with guard bands around the output.
func TestLinear(t *testing.T) {
	r := newRand(41)
	for ci, c := range [][3]int{{1, 120, 400}, {1, 84, 120}, {1, 10, 84}, {3, 7, 1}, {2, 1, 33}, {5, 17, 15}, {1, 3, 8}, {4, 64, 257}} {
		n, m, k := c[0], c[1], c[2]
		w, b, x := randSlice(r, m*k), randSlice(r, m), randSlice(r, n*k)
		relu := ci%2 == 0
		l := NewLinear(m, k, w, b)
		for _, vp := range vecPaths() {
			restore := setVecPath(vp)
			yg := newGuarded(n*m, 5)
			l.Run(n, x, yg.body, relu)
			restore()
			name := fmt.Sprintf("%s n=%d m=%d k=%d", vp, n, m, k)
			yg.checkGuards(t, name)
			for e, v := range yg.body {
				i, j := e/m, e%m
				want, mag := float64(b[j]), math.Abs(float64(b[j]))
				for p := range k {
					want += float64(w[j*k+p]) * float64(x[i*k+p])
					mag += math.Abs(float64(w[j*k+p]) * float64(x[i*k+p]))
				}
				if relu {
					want = max(want, 0)
				}
				if d := math.Abs(float64(v) - want); !(d <= 1e-6*mag+1e-7) {
					t.Fatalf("%s: y[%d] = %v, want %v", name, e, v, want)
				}
			}
		}
	}
	mustPanicPrefix(t, "kernels: Linear.Run", func() {
		NewLinear(2, 3, make([]float32, 6), make([]float32, 2)).Run(1, make([]float32, 2), make([]float32, 2), false)
	})
}

func BenchmarkLinearLeNetFC1(b *testing.B) {
	r := newRand(1)
	l := NewLinear(120, 400, randSlice(r, 120*400), randSlice(r, 120))
	x, y := randSlice(r, 400), make([]float32, 120)
	for b.Loop() {
		l.Run(1, x, y, true)
	}
}
