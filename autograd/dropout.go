package autograd

import (
	"math/rand/v2"
	"slices"

	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/tensor"
)

// Dropout zeroes each element of x independently with probability p and
// scales the survivors by 1/(1−p) (inverted dropout), so the expected value
// is unchanged and evaluation needs no rescaling. The gradient is masked and
// scaled the same way. p == 0 returns x itself; p == 1 returns zeros. The
// mask is drawn from rng in row-major order.
func Dropout(x *Var, p float32, rng *rand.Rand) (res *Var) {
	defer func() {
		if res != x {
			emit(ops.Dropout, p, res, x)
		}
	}()
	if !(p >= 0 && p <= 1) {
		panic(tensor.ShapeErrorf("autograd: Dropout probability %v outside [0, 1]", p))
	}
	if p == 0 {
		return x
	}
	shape := slices.Clone(x.Value.Shape()) // kept by the closures: not the header's, which the arena recycles
	if p == 1 {
		return record(func() *tensor.Tensor { return x.Value.Arena().New(shape...) }, func(g *tensor.Tensor) {
			x.addGrad(x.Value.Arena().New(shape...))
		}, x)
	}
	keep := 1 / (1 - p)
	var mask []float32 // 0 or 1/(1−p), shape of x
	return record(func() *tensor.Tensor {
		mask = x.Value.Arena().New(x.Value.Size()).Data()
		for i := range mask {
			if rng.Float32() >= p {
				mask[i] = keep
			}
		}
		out := x.Value.Arena().New(shape...)
		od := out.Data()
		for i, v := range x.Value.Contiguous().Data() {
			od[i] = v * mask[i]
		}
		return out
	}, func(g *tensor.Tensor) {
		dx := x.Value.Arena().New(shape...)
		dd := dx.Data()
		for i, gv := range g.Contiguous().Data() {
			dd[i] = gv * mask[i]
		}
		x.addGrad(dx)
	}, x)
}
