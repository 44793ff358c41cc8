package autograd

import (
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/tensor"
)

// Sum returns the sum of x over the given axes (all when none are given);
// the gradient broadcasts back over the summed axes.
func Sum(x *Var, axes ...int) *Var {
	out := record(func() *tensor.Tensor { return tensor.Sum(x.Value, axes...) }, func(g *tensor.Tensor) {
		x.addGrad(broadcastBack(g, x.Value.Shape(), axes))
	}, x)
	return emit(ops.Sum, axes, out, x)
}

// Mean returns the mean of x over the given axes (all when none are given).
func Mean(x *Var, axes ...int) *Var {
	var out *tensor.Tensor
	return emit(ops.Mean, axes, record(func() *tensor.Tensor { out = tensor.Mean(x.Value, axes...); return out }, func(g *tensor.Tensor) {
		n := float32(x.Value.Size()) / float32(max(out.Size(), 1))
		x.addGrad(tensor.Scale(broadcastBack(g, x.Value.Shape(), axes), 1/n))
	}, x), x)
}

// broadcastBack expands g, the gradient of a reduction over axes of a tensor
// of shape shape, back to that shape.
func broadcastBack(g *tensor.Tensor, shape []int, axes []int) *tensor.Tensor {
	kept := make([]int, len(shape))
	copy(kept, shape)
	if len(axes) == 0 {
		for i := range kept {
			kept[i] = 1
		}
	}
	for _, a := range axes {
		if a < 0 {
			a += len(shape)
		}
		kept[a] = 1
	}
	return tensor.Add(g.Arena().New(shape...), g.Reshape(kept...))
}
