package tensor

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Tensor is an n-dimensional array of float32. The zero value is an empty
// scalar-less tensor; use the constructors.
type Tensor struct {
	shape   []int
	strides []int
	data    []float32 // element (0, …, 0) is data[0]
	arena   *Arena    // where results computed from t take memory, or nil
}

// New returns a zero-filled tensor of the given shape, in ordinary
// garbage-collected memory. [Arena.New] takes the memory from an arena.
func New(shape ...int) *Tensor { return (*Arena)(nil).New(shape...) }

// Zeros is [New]: a zero-filled tensor.
func Zeros(shape ...int) *Tensor { return New(shape...) }

// Ones returns a tensor of the given shape filled with 1.
func Ones(shape ...int) *Tensor { return Full(1, shape...) }

// Full returns a tensor of the given shape filled with v.
func Full(v float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		t.data[i] = v
	}
	return t
}

// Scalar returns a 0-dimensional tensor holding v.
func Scalar(v float32) *Tensor { return &Tensor{data: []float32{v}} }

// FromSlice wraps data (not copied) as a tensor of the given shape. It
// panics if len(data) does not match the shape.
func FromSlice(data []float32, shape ...int) *Tensor {
	if n := checkShape(shape); n != len(data) {
		panic(ShapeErrorf("tensor: FromSlice: %d values for shape %v (%d elements)", len(data), shape, n))
	}
	return &Tensor{shape: slices.Clone(shape), strides: rowMajor(shape), data: data}
}

// ZerosLike returns a zero-filled tensor with t's shape, from t's arena.
func ZerosLike(t *Tensor) *Tensor { return t.arena.New(t.shape...) }

func checkShape(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(ShapeErrorf("tensor: negative dimension in shape %v", slices.Clone(shape))) // a copy: shape stays on the caller's stack
		}
		n *= d
	}
	return n
}

func rowMajor(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

// Shape returns the dimensions of t. The caller must not modify it.
func (t *Tensor) Shape() []int { return t.shape }

// Dims returns the number of dimensions.
func (t *Tensor) Dims() int { return len(t.shape) }

// Dim returns the size of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int { return t.shape[t.axis(i)] }

// Size returns the number of elements.
func (t *Tensor) Size() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// IsContiguous reports whether the elements lie in row-major order with no
// gaps, so that [Tensor.Data] may be used.
func (t *Tensor) IsContiguous() bool {
	s := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.strides[i] != s {
			return false
		}
		s *= t.shape[i]
	}
	return true
}

// Data returns the elements of a contiguous tensor in row-major order,
// sharing memory with t. It panics on a non-contiguous view.
func (t *Tensor) Data() []float32 {
	if !t.IsContiguous() {
		panic(ShapeErrorf("tensor: Data of a non-contiguous view of shape %v; call Contiguous first", t.shape))
	}
	return t.data[:t.Size()]
}

// Contiguous returns t itself if it is contiguous, otherwise a row-major copy.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() {
		return t
	}
	out := t.arena.Empty(t.shape...)
	i := 0
	t.each(func(off int) { out.data[i] = t.data[off]; i++ })
	return out
}

// Clone returns a contiguous copy of t that shares no memory with it. The
// copy is ordinary garbage-collected memory, never from an [Arena], so a
// clone may outlive the iteration that made it.
func (t *Tensor) Clone() *Tensor {
	data := make([]float32, t.Size())
	if t.IsContiguous() {
		copy(data, t.Data())
	} else {
		i := 0
		t.each(func(off int) { data[i] = t.data[off]; i++ })
	}
	return FromSlice(data, t.shape...)
}

// CopyFrom copies src's elements into t; the shapes must be equal.
func (t *Tensor) CopyFrom(src *Tensor) {
	mustSameShape("CopyFrom", t, src)
	if t.IsContiguous() && src.IsContiguous() {
		copy(t.Data(), src.Data())
		return
	}
	vals := src.Contiguous().Data()
	i := 0
	t.each(func(off int) { t.data[off] = vals[i]; i++ })
}

// Fill sets every element of t to v.
func (t *Tensor) Fill(v float32) {
	if !t.IsContiguous() {
		t.each(func(off int) { t.data[off] = v })
		return
	}
	d := t.data[:t.Size()]
	if math.Float32bits(v) == 0 {
		clear(d) // +0, as zeroing a gradient every step does
		return
	}
	for i := range d {
		d[i] = v
	}
}

// At returns the element at the given index.
func (t *Tensor) At(idx ...int) float32 { return t.data[t.offset(idx)] }

// Set stores v at the given index.
func (t *Tensor) Set(v float32, idx ...int) { t.data[t.offset(idx)] = v }

// Item returns the value of a tensor with exactly one element.
func (t *Tensor) Item() float32 {
	if t.Size() != 1 {
		panic(ShapeErrorf("tensor: Item of a tensor of shape %v", t.shape))
	}
	return t.data[0]
}

func (t *Tensor) offset(idx []int) int {
	if len(idx) != len(t.shape) {
		panic(ShapeErrorf("tensor: index %v for shape %v", slices.Clone(idx), t.shape)) // copies keep idx on the caller's stack
	}
	off := 0
	for i, v := range idx {
		if v < 0 || v >= t.shape[i] {
			panic(ShapeErrorf("tensor: index %v out of range for shape %v", slices.Clone(idx), t.shape))
		}
		off += v * t.strides[i]
	}
	return off
}

// axis resolves a possibly negative axis number.
func (t *Tensor) axis(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	if i < 0 || i >= len(t.shape) {
		panic(ShapeErrorf("tensor: axis %d out of range for shape %v", i, t.shape))
	}
	return i
}

// each calls fn with the data offset of every element in row-major order.
func (t *Tensor) each(fn func(off int)) {
	if t.IsContiguous() {
		for i := range t.Size() {
			fn(i)
		}
		return
	}
	n := t.Size()
	if n == 0 {
		return
	}
	idx := make([]int, len(t.shape))
	off := 0
	for range n {
		fn(off)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			off += t.strides[d]
			if idx[d] < t.shape[d] {
				break
			}
			off -= idx[d] * t.strides[d]
			idx[d] = 0
		}
	}
}

// Reshape returns a view of t with a new shape holding the same number of
// elements. One dimension may be -1 and is then inferred. A non-contiguous
// t is copied first.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	var buf [maxHdrRank]int
	shape = append(buf[:0], shape...) // on the stack up to 4 dimensions: only copies are kept
	n, infer := 1, -1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			panic(ShapeErrorf("tensor: Reshape %v to %v: bad dimension", t.shape, shape))
		default:
			n *= d
		}
	}
	if infer >= 0 {
		if n == 0 || t.Size()%n != 0 {
			panic(ShapeErrorf("tensor: Reshape %v to %v: cannot infer -1", t.shape, shape))
		}
		shape[infer] = t.Size() / n
		n *= shape[infer]
	}
	if n != t.Size() {
		panic(ShapeErrorf("tensor: Reshape %v (%d elements) to %v (%d elements)", t.shape, t.Size(), shape, n))
	}
	c := t.Contiguous()
	if a := t.arena; a != nil && len(shape) <= maxHdrRank { // a recycled header
		a.mu.Lock()
		v := a.newHeader(shape)
		a.mu.Unlock()
		v.data = c.data
		return v
	}
	shape = slices.Clone(shape)
	return &Tensor{shape: shape, strides: rowMajor(shape), data: c.data, arena: t.arena}
}

// Permute returns a view with axes reordered: axis i of the result is axis
// perm[i] of t.
func (t *Tensor) Permute(perm ...int) *Tensor {
	if len(perm) != len(t.shape) {
		panic(ShapeErrorf("tensor: Permute %v of shape %v", perm, t.shape))
	}
	seen := make([]bool, len(perm))
	shape, strides := make([]int, len(perm)), make([]int, len(perm))
	for i, p := range perm {
		p = t.axis(p)
		if seen[p] {
			panic(ShapeErrorf("tensor: Permute %v repeats axis %d", perm, p))
		}
		seen[p] = true
		shape[i], strides[i] = t.shape[p], t.strides[p]
	}
	return &Tensor{shape: shape, strides: strides, data: t.data, arena: t.arena}
}

// Transpose returns a view with axes a and b swapped.
func (t *Tensor) Transpose(a, b int) *Tensor {
	perm := make([]int, len(t.shape))
	for i := range perm {
		perm[i] = i
	}
	a, b = t.axis(a), t.axis(b)
	perm[a], perm[b] = b, a
	return t.Permute(perm...)
}

// Slice returns the view of rows [lo, hi) along the first axis: for an NCHW
// batch, images lo to hi-1.
func (t *Tensor) Slice(lo, hi int) *Tensor {
	if len(t.shape) == 0 || lo < 0 || hi < lo || hi > t.shape[0] {
		panic(ShapeErrorf("tensor: Slice [%d, %d) of shape %v", lo, hi, t.shape))
	}
	shape := slices.Clone(t.shape)
	shape[0] = hi - lo
	data := t.data[:0]
	if hi > lo {
		data = t.data[lo*t.strides[0]:]
	}
	return &Tensor{shape: shape, strides: slices.Clone(t.strides), data: data, arena: t.arena}
}

// String formats small tensors in full and large ones by shape only.
func (t *Tensor) String() string {
	if t.Size() > 64 {
		return fmt.Sprintf("Tensor%v", t.shape)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v", t.shape)
	b.WriteString(fmt.Sprint(t.Contiguous().Data()))
	return b.String()
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b *Tensor) bool { return slices.Equal(a.shape, b.shape) }

func mustSameShape(op string, a, b *Tensor) {
	if !SameShape(a, b) {
		panic(ShapeErrorf("tensor: %s: shapes %v and %v differ", op, a.shape, b.shape))
	}
}

// ShapeError is what the operations of packages tensor, autograd, nn,
// models and engine panic with when given shapes (or axes, sizes, counts)
// they cannot take: a programmer error for a Go caller, bad input for a
// command or server running a model it was given, which recovers it as an
// error (internal/maybe). Msg starts with the package's name ("tensor: ",
// "nn: ").
type ShapeError struct {
	Msg string
}

func (e *ShapeError) Error() string { return e.Msg }

// ExpectedPanic marks ShapeError as a panic for bad input (see
// internal/maybe).
func (e *ShapeError) ExpectedPanic() {}

// ShapeErrorf returns a *ShapeError with the formatted message, to panic
// with.
func ShapeErrorf(format string, args ...any) *ShapeError {
	return &ShapeError{Msg: fmt.Sprintf(format, args...)}
}
