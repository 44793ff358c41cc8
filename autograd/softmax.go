package autograd

import (
	"math"

	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/tensor"
)

// softmaxGrain is the smallest number of softmax rows worth handing to
// another thread.
const softmaxGrain = 256

// axisSplit views shape as (outer, n, inner) around axis, so element
// (o, j, i) of a row-major tensor sits at o·n·inner + j·inner + i.
func axisSplit(op string, shape []int, axis int) (outer, n, inner int) {
	ax := axis
	if ax < 0 {
		ax += len(shape)
	}
	if ax < 0 || ax >= len(shape) {
		panic(tensor.ShapeErrorf("autograd: %s axis %d out of range for shape %v", op, axis, shape))
	}
	outer, inner = 1, 1
	for _, d := range shape[:ax] {
		outer *= d
	}
	for _, d := range shape[ax+1:] {
		inner *= d
	}
	return outer, shape[ax], inner
}

// overRows calls fn for every row along the split axis, as the offset of
// its first element; the row's elements are inner apart. Rows are spread
// over the kernels' worker pool.
func overRows(outer, n, inner int, fn func(base int)) {
	kernels.For(outer*inner, softmaxGrain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, i := r/inner, r%inner
			fn(o*n*inner + i)
		}
	})
}

// Softmax returns exp(x) normalized to sum to 1 along axis (negative counts
// from the end), computed stably by subtracting each row's maximum first.
// With y the output, the gradient of a row is y ⊙ (g − Σⱼ gⱼyⱼ).
func Softmax(x *Var, axis int) (res *Var) {
	defer func() { emit(ops.Softmax, axis, res, x) }()
	outer, n, inner := axisSplit("Softmax", x.Value.Shape(), axis)
	var ys []float32
	return record(func() *tensor.Tensor {
		xs := x.Value.Contiguous().Data()
		out := x.Value.Arena().Empty(x.Value.Shape()...)
		ys = out.Data()
		overRows(outer, n, inner, func(b int) { kernels.SoftmaxRow(xs[b:], ys[b:], n, inner) })
		return out
	}, func(g *tensor.Tensor) {
		gs := g.Contiguous().Data()
		dx := x.Value.Arena().Empty(x.Value.Shape()...)
		ds := dx.Data()
		overRows(outer, n, inner, func(b int) {
			var dot float64 // Σⱼ gⱼyⱼ
			for j := range n {
				dot += float64(gs[b+j*inner]) * float64(ys[b+j*inner])
			}
			d := float32(dot)
			for j := range n {
				k := b + j*inner
				ds[k] = ys[k] * (gs[k] - d)
			}
		})
		x.addGrad(dx)
	}, x)
}

// LogSoftmax returns x − log Σ exp(x) along axis (negative counts from the
// end), computed stably by subtracting each row's maximum first. With y the
// output, the gradient of a row is g − exp(y)·Σⱼ gⱼ.
func LogSoftmax(x *Var, axis int) (res *Var) {
	defer func() { emit(ops.LogSoftmax, axis, res, x) }()
	outer, n, inner := axisSplit("LogSoftmax", x.Value.Shape(), axis)
	var ys []float32
	return record(func() *tensor.Tensor {
		xs := x.Value.Contiguous().Data()
		out := x.Value.Arena().Empty(x.Value.Shape()...)
		ys = out.Data()
		overRows(outer, n, inner, func(b int) { kernels.LogSoftmaxRow(xs[b:], ys[b:], n, inner) })
		return out
	}, func(g *tensor.Tensor) {
		gs := g.Contiguous().Data()
		dx := x.Value.Arena().Empty(x.Value.Shape()...)
		ds := dx.Data()
		overRows(outer, n, inner, func(b int) {
			var sum float64 // Σⱼ gⱼ
			for j := range n {
				sum += float64(gs[b+j*inner])
			}
			s := float32(sum)
			for j := range n {
				k := b + j*inner
				ds[k] = gs[k] - float32(math.Exp(float64(ys[k])))*s
			}
		})
		x.addGrad(dx)
	}, x)
}
