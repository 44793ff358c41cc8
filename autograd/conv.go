package autograd

import (
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/tensor"
)

// Conv2d returns the 2-D convolution of x (N,C,H,W) with w (O, C/groups, KH,
// KW) plus bias b (O; nil for none).
func Conv2d(x, w, b *Var, p tensor.ConvParams) (res *Var) {
	defer func() { emit(ops.Conv2d, p, res, x, w, b) }()
	return record(func() *tensor.Tensor { return tensor.Conv2d(x.Value, w.Value, varValue(b), p) }, func(g *tensor.Tensor) {
		if x.requiresGrad {
			x.addOwnedGrad(tensor.Conv2dBackwardInput(g, w.Value, x.Value.Shape(), p))
		}
		if w.requiresGrad {
			w.addGrad(tensor.Conv2dBackwardWeight(g, x.Value, w.Value.Shape(), p))
		}
		if b != nil && b.requiresGrad { // db = Σ over N, H, W
			b.addGrad(tensor.Sum(g, 0, 2, 3))
		}
	}, x, w, b)
}
