package autograd

import (
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/tensor"
)

// Reshape returns x with a new shape (one dimension may be -1).
func Reshape(x *Var, shape ...int) *Var {
	out := record(func() *tensor.Tensor { return x.Value.Reshape(shape...) }, func(g *tensor.Tensor) {
		x.addGrad(g.Reshape(x.Value.Shape()...))
	}, x)
	return emit(ops.Reshape, shape, out, x)
}

// Flatten reshapes x (N, ...) to (N, rest), keeping the batch axis.
func Flatten(x *Var) *Var { return Reshape(x, x.Value.Dim(0), -1) }

// Permute reorders the axes of x (copied to contiguous memory).
func Permute(x *Var, perm ...int) *Var {
	inv := make([]int, len(perm))
	for i, p := range perm {
		if p < 0 {
			p += len(perm)
		}
		inv[p] = i
	}
	out := record(func() *tensor.Tensor { return x.Value.Permute(perm...).Contiguous() }, func(g *tensor.Tensor) {
		x.addGrad(g.Permute(inv...).Contiguous())
	}, x)
	return emit(ops.Permute, perm, out, x)
}

// Concat joins xs along axis; each input receives its slice of the gradient.
func Concat(axis int, xs ...*Var) *Var {
	vals := make([]*tensor.Tensor, len(xs))
	return emit(ops.Concat, axis, record(func() *tensor.Tensor {
		for i, x := range xs {
			vals[i] = x.Value
		}
		return tensor.Concat(axis, vals...)
	}, func(g *tensor.Tensor) {
		at := 0
		for _, x := range xs {
			n := x.Value.Dim(axis)
			if x.requiresGrad {
				x.addGrad(g.Narrow(axis, at, n).Contiguous())
			}
			at += n
		}
	}, xs...), xs...)
}
