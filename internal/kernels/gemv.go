package kernels

import "math"

// Linear is a fully connected layer for small batches, y = W·x + b per
// example. The weight is stored transposed, each row padded to whole
// 16-float vectors, so an example is a sum of weight rows accumulated by
// vector AXPYs with no scalar tails: y = b + Σᵢ xᵢ·Wᵀ[i, :]. Inputs that
// are zero (half of a ReLU's outputs) are skipped, which is exact when the
// weights are finite (checked once here): 0·w adds nothing.
//
// A Linear owns one accumulator, so Run must not be called concurrently.
type Linear struct {
	m, k, mp int
	wt, b    []float32
	finite   bool
	acc      []float32
}

// linearLanes is the padding of the transposed weight rows: the widest
// vector path's float32 lanes.
const linearLanes = 16

// NewLinear returns the layer of weights w (m×k, row-major) and bias b
// (length m).
func NewLinear(m, k int, w, b []float32) *Linear {
	if len(w) < m*k || len(b) < m {
		panic("kernels: NewLinear: weights too short")
	}
	l := &Linear{m: m, k: k, mp: ceilDiv(m, linearLanes) * linearLanes, finite: true}
	l.wt = make([]float32, k*l.mp)
	for j := range m {
		for i := range k {
			v := w[j*k+i]
			l.wt[i*l.mp+j] = v
			if math.IsInf(float64(v), 0) || v != v {
				l.finite = false
			}
		}
	}
	l.b = make([]float32, l.mp)
	copy(l.b, b[:m])
	l.acc = make([]float32, l.mp)
	return l
}

// Run computes n examples: y (n×m) = x (n×k)·Wᵀ + b, then ReLU if relu.
func (l *Linear) Run(n int, x, y []float32, relu bool) {
	if len(x) < n*l.k || len(y) < n*l.m {
		panic("kernels: Linear.Run: buffer too short")
	}
	acc := l.acc
	for r := range n {
		xr, yr := x[r*l.k:(r+1)*l.k], y[r*l.m:(r+1)*l.m]
		copy(acc, l.b)
		for i, v := range xr {
			if v == 0 && l.finite {
				continue
			}
			axpy(v, l.wt[i*l.mp:(i+1)*l.mp], acc)
		}
		if relu {
			reluTo(yr, acc[:l.m])
		} else {
			copy(yr, acc[:l.m])
		}
	}
}
