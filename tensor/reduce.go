package tensor

import (
	"math"
	"slices"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// reduceAxes normalizes axes (all axes when none are given) into a mask.
func (t *Tensor) reduceAxes(axes []int) []bool {
	mask := make([]bool, len(t.shape))
	if len(axes) == 0 {
		for i := range mask {
			mask[i] = true
		}
		return mask
	}
	for _, a := range axes {
		a = t.axis(a)
		if mask[a] {
			panic(ShapeErrorf("tensor: axis %d repeated in %v", a, axes))
		}
		mask[a] = true
	}
	return mask
}

// reduce folds the elements of t over the masked axes with f, starting from
// init; the result keeps reduced axes as size 1.
func reduce(t *Tensor, mask []bool, init float32, f func(acc, x float32) float32) *Tensor {
	return reduceRows(t, mask, init, f, func(acc float32, xs []float32) float32 {
		for _, v := range xs {
			acc = f(acc, v)
		}
		return acc
	})
}

// sumRow adds a contiguous run to acc with the vector kernel (the run is
// summed in float64).
func sumRow(acc float32, xs []float32) float32 { return acc + float32(kernels.Sum64(xs)) }

// reduceRows is reduce with row folding a contiguous run of elements at
// once, used on the fast paths.
func reduceRows(t *Tensor, mask []bool, init float32, f func(acc, x float32) float32, row func(acc float32, xs []float32) float32) *Tensor {
	c := t.Contiguous()
	outShape := slices.Clone(t.shape)
	for i, m := range mask {
		if m {
			outShape[i] = 1
		}
	}
	out := t.arena.Empty(outShape...)
	for i := range out.data {
		out.data[i] = init
	}
	x := c.Data()
	// Fast path: reducing exactly the trailing axes.
	split := len(mask)
	for split > 0 && mask[split-1] {
		split--
	}
	if !slices.Contains(mask[:split], true) {
		inner := 1
		for _, d := range t.shape[split:] {
			inner *= d
		}
		for o := range out.data {
			out.data[o] = row(init, x[o*inner:(o+1)*inner])
		}
		return out
	}
	// Fast path: leading and trailing axes reduced around one kept block of
	// axes, like a per-channel sum of NCHW (axes 0, 2, 3) or a column sum
	// of a matrix (axis 0).
	lead := 0
	for lead < len(mask) && mask[lead] {
		lead++
	}
	if lead > 0 && !slices.Contains(mask[lead:split], true) {
		outer, mid, inner := 1, 1, 1
		for _, d := range t.shape[:lead] {
			outer *= d
		}
		for _, d := range t.shape[lead:split] {
			mid *= d
		}
		for _, d := range t.shape[split:] {
			inner *= d
		}
		for o := range outer {
			for m := range mid {
				out.data[m] = row(out.data[m], x[(o*mid+m)*inner:(o*mid+m+1)*inner])
			}
		}
		return out
	}
	ostr := out.broadcastStrides(t.shape)
	idx := make([]int, len(t.shape))
	off := 0
	for _, v := range x {
		out.data[off] = f(out.data[off], v)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			off += ostr[d]
			if idx[d] < t.shape[d] {
				break
			}
			off -= idx[d] * ostr[d]
			idx[d] = 0
		}
	}
	return out
}

// squeeze drops the masked (size-1) axes unless keep is set.
func squeeze(t *Tensor, mask []bool, keep bool) *Tensor {
	if keep {
		return t
	}
	var shape []int
	for i, d := range t.shape {
		if !mask[i] {
			shape = append(shape, d)
		}
	}
	return t.Reshape(shape...)
}

// Sum returns the sum over the given axes (all when none are given); the
// reduced axes are removed.
func Sum(t *Tensor, axes ...int) *Tensor { return sum(t, false, axes) }

// SumKeep is [Sum] keeping the reduced axes as size 1.
func SumKeep(t *Tensor, axes ...int) *Tensor { return sum(t, true, axes) }

func sum(t *Tensor, keep bool, axes []int) *Tensor {
	mask := t.reduceAxes(axes)
	return squeeze(reduceRows(t, mask, 0, func(a, x float32) float32 { return a + x }, sumRow), mask, keep)
}

// Mean returns the mean over the given axes (all when none are given).
func Mean(t *Tensor, axes ...int) *Tensor { return mean(t, false, axes) }

// MeanKeep is [Mean] keeping the reduced axes as size 1.
func MeanKeep(t *Tensor, axes ...int) *Tensor { return mean(t, true, axes) }

func mean(t *Tensor, keep bool, axes []int) *Tensor {
	mask := t.reduceAxes(axes)
	n := 1
	for i, m := range mask {
		if m {
			n *= t.shape[i]
		}
	}
	s := reduceRows(t, mask, 0, func(a, x float32) float32 { return a + x }, sumRow)
	s.ScaleInPlace(1 / float32(n))
	return squeeze(s, mask, keep)
}

// Max returns the maximum over the given axes (all when none are given).
func Max(t *Tensor, axes ...int) *Tensor {
	mask := t.reduceAxes(axes)
	return squeeze(reduce(t, mask, float32(math.Inf(-1)), func(a, x float32) float32 { return max(a, x) }), mask, false)
}

// ArgMax returns, for every position of the other axes in row-major order,
// the index along axis of the largest element (the first one on ties).
func ArgMax(t *Tensor, axis int) []int {
	axis = t.axis(axis)
	n := t.shape[axis]
	if n == 0 {
		panic(ShapeErrorf("tensor: ArgMax over empty axis of shape %v", t.shape))
	}
	x := t.Contiguous().Data()
	inner := 1
	for _, d := range t.shape[axis+1:] {
		inner *= d
	}
	outer := len(x) / max(n*inner, 1) // inner is 0 when another axis is empty
	out := make([]int, outer*inner)
	for o := range outer {
		for i := range inner {
			base := o*n*inner + i
			best := 0
			for j := 1; j < n; j++ {
				if x[base+j*inner] > x[base+best*inner] {
					best = j
				}
			}
			out[o*inner+i] = best
		}
	}
	return out
}

// SumTo sums t down to shape, undoing a broadcast from shape to t's shape.
// It is the gradient rule of every broadcasting operation.
func SumTo(t *Tensor, shape []int) *Tensor {
	if slices.Equal(t.shape, shape) {
		return t
	}
	lead := len(t.shape) - len(shape)
	if lead < 0 {
		panic(ShapeErrorf("tensor: SumTo %v from %v", shape, t.shape))
	}
	var axes []int
	for i := range t.shape {
		if i < lead || (shape[i-lead] == 1 && t.shape[i] != 1) {
			axes = append(axes, i)
		} else if shape[i-lead] != t.shape[i] {
			panic(ShapeErrorf("tensor: SumTo %v from %v", shape, t.shape))
		}
	}
	if len(axes) == 0 {
		return t.Reshape(shape...)
	}
	return SumKeep(t, axes...).Reshape(shape...)
}
