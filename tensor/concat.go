package tensor

import (
	"slices"
)

// Concat joins tensors along axis; all other dimensions must agree. It is
// how inception branches are merged along the channel axis.
func Concat(axis int, ts ...*Tensor) *Tensor {
	if len(ts) == 0 {
		panic(ShapeErrorf("tensor: Concat of no tensors"))
	}
	axis = ts[0].axis(axis)
	shape := slices.Clone(ts[0].shape)
	shape[axis] = 0
	for _, t := range ts {
		if len(t.shape) != len(shape) {
			panic(ShapeErrorf("tensor: Concat along %d of shapes %v and %v", axis, ts[0].shape, t.shape))
		}
		for d := range shape {
			if d != axis && t.shape[d] != shape[d] {
				panic(ShapeErrorf("tensor: Concat along %d of shapes %v and %v", axis, ts[0].shape, t.shape))
			}
		}
		shape[axis] += t.shape[axis]
	}
	out := arenaOf(ts...).Empty(shape...)
	outer := 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	inner := out.Size() / max(outer, 1) / max(shape[axis], 1)
	row := shape[axis] * inner
	at := 0
	for _, t := range ts {
		src := t.Contiguous().Data()
		n := t.shape[axis] * inner
		for o := range outer {
			copy(out.data[o*row+at:o*row+at+n], src[o*n:(o+1)*n])
		}
		at += n
	}
	return out
}

// Narrow returns the view of indices [start, start+length) along axis.
func (t *Tensor) Narrow(axis, start, length int) *Tensor {
	axis = t.axis(axis)
	if start < 0 || length < 0 || start+length > t.shape[axis] {
		panic(ShapeErrorf("tensor: Narrow axis %d [%d, %d) of shape %v", axis, start, start+length, t.shape))
	}
	shape := slices.Clone(t.shape)
	shape[axis] = length
	data := t.data
	if length > 0 && t.Size() > 0 {
		data = t.data[start*t.strides[axis]:]
	}
	return &Tensor{shape: shape, strides: slices.Clone(t.strides), data: data, arena: t.arena}
}
