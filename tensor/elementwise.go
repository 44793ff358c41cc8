package tensor

import (
	"math"
	"slices"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// elementGrain is the smallest chunk of an elementwise loop worth handing to
// another thread.
const elementGrain = 1 << 14

// BroadcastShape returns the shape that a and b broadcast to under NumPy
// rules (align trailing axes; a size-1 axis stretches), or panics.
func BroadcastShape(a, b []int) []int {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := range n {
		da, db := 1, 1
		if j := len(a) - n + i; j >= 0 {
			da = a[j]
		}
		if j := len(b) - n + i; j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			panic(ShapeErrorf("tensor: shapes %v and %v do not broadcast", a, b))
		}
	}
	return out
}

// broadcastStrides returns t's strides aligned to shape, 0 on stretched axes.
func (t *Tensor) broadcastStrides(shape []int) []int {
	st := make([]int, len(shape))
	off := len(shape) - len(t.shape)
	for i := range t.shape {
		if t.shape[i] != 1 {
			st[off+i] = t.strides[i]
		}
	}
	return st
}

// Binary applies f elementwise to a and b broadcast together.
func Binary(a, b *Tensor, f func(x, y float32) float32) *Tensor {
	if SameShape(a, b) && a.IsContiguous() && b.IsContiguous() {
		out := arenaOf(a, b).Empty(a.shape...)
		x, y, z := a.Data(), b.Data(), out.data
		kernels.For(len(z), elementGrain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				z[i] = f(x[i], y[i])
			}
		})
		return out
	}
	shape := BroadcastShape(a.shape, b.shape)
	out := arenaOf(a, b).Empty(shape...)
	if len(shape) == 0 {
		out.data[0] = f(a.data[0], b.data[0])
		return out
	}
	sa, sb := a.broadcastStrides(shape), b.broadcastStrides(shape)
	last := len(shape) - 1
	inner, ia, ib := shape[last], sa[last], sb[last]
	rows := out.Size() / max(inner, 1)
	kernels.For(rows, max(1, elementGrain/max(inner, 1)), func(lo, hi int) {
		idx := make([]int, last)
		for r := lo; r < hi; r++ {
			// Decompose row r into the outer index and the offsets of a and b.
			rem, oa, ob := r, 0, 0
			for d := last - 1; d >= 0; d-- {
				idx[d] = rem % shape[d]
				rem /= shape[d]
				oa += idx[d] * sa[d]
				ob += idx[d] * sb[d]
			}
			z := out.data[r*inner : (r+1)*inner]
			for j := range z {
				z[j] = f(a.data[oa+j*ia], b.data[ob+j*ib])
			}
		}
	})
	return out
}

// binaryKernel is [Binary] with f's vector kernel k (same results, bit for
// bit) on the common case of two contiguous tensors of one shape.
func binaryKernel(a, b *Tensor, k func(dst, x, y []float32), f func(x, y float32) float32) *Tensor {
	if !SameShape(a, b) || !a.IsContiguous() || !b.IsContiguous() {
		return Binary(a, b, f)
	}
	out := arenaOf(a, b).Empty(a.shape...)
	x, y, z := a.Data(), b.Data(), out.data
	kernels.For(len(z), elementGrain, func(lo, hi int) { k(z[lo:hi], x[lo:hi], y[lo:hi]) })
	return out
}

// Add returns a + b with broadcasting.
func Add(a, b *Tensor) *Tensor {
	return binaryKernel(a, b, kernels.AddTo, func(x, y float32) float32 { return x + y })
}

// Sub returns a - b with broadcasting.
func Sub(a, b *Tensor) *Tensor {
	return binaryKernel(a, b, kernels.SubTo, func(x, y float32) float32 { return x - y })
}

// Mul returns a * b elementwise with broadcasting.
func Mul(a, b *Tensor) *Tensor {
	return binaryKernel(a, b, kernels.MulTo, func(x, y float32) float32 { return x * y })
}

// Div returns a / b elementwise with broadcasting.
func Div(a, b *Tensor) *Tensor { return Binary(a, b, func(x, y float32) float32 { return x / y }) }

// Maximum returns the elementwise larger of a and b with broadcasting.
func Maximum(a, b *Tensor) *Tensor {
	return Binary(a, b, func(x, y float32) float32 { return max(x, y) })
}

// Minimum returns the elementwise smaller of a and b with broadcasting.
func Minimum(a, b *Tensor) *Tensor {
	return Binary(a, b, func(x, y float32) float32 { return min(x, y) })
}

// Map returns f applied to every element of t.
func Map(t *Tensor, f func(x float32) float32) *Tensor {
	c := t.Contiguous()
	out := t.arena.Empty(t.shape...)
	x, z := c.Data(), out.data
	kernels.For(len(z), elementGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			z[i] = f(x[i])
		}
	})
	return out
}

// Neg returns -t.
func Neg(t *Tensor) *Tensor { return Map(t, func(x float32) float32 { return -x }) }

// mapKernel is [Map] through a vector kernel k that writes dst from x.
func mapKernel(t *Tensor, k func(dst, x []float32)) *Tensor {
	out := t.arena.Empty(t.shape...)
	x, z := t.Contiguous().Data(), out.data
	kernels.For(len(z), elementGrain, func(lo, hi int) { k(z[lo:hi], x[lo:hi]) })
	return out
}

// Scale returns s·t.
func Scale(t *Tensor, s float32) *Tensor {
	return mapKernel(t, func(dst, x []float32) { kernels.ScalTo(dst, s, x) })
}

// AddScalar returns t + s.
func AddScalar(t *Tensor, s float32) *Tensor {
	// 1·x + s rounds once, as x + s does, so the fused kernel is exact here.
	return mapKernel(t, func(dst, x []float32) { kernels.AffineTo(dst, 1, s, x) })
}

// Exp returns e^t elementwise.
func Exp(t *Tensor) *Tensor {
	return Map(t, func(x float32) float32 { return float32(math.Exp(float64(x))) })
}

// Log returns the natural logarithm of t elementwise.
func Log(t *Tensor) *Tensor {
	return Map(t, func(x float32) float32 { return float32(math.Log(float64(x))) })
}

// Sqrt returns the square root of t elementwise.
func Sqrt(t *Tensor) *Tensor {
	return Map(t, func(x float32) float32 { return float32(math.Sqrt(float64(x))) })
}

// Pow returns t raised to the power p elementwise.
func Pow(t *Tensor, p float32) *Tensor {
	if p == 2 {
		return Map(t, func(x float32) float32 { return x * x })
	}
	return Map(t, func(x float32) float32 { return float32(math.Pow(float64(x), float64(p))) })
}

// Abs returns |t| elementwise.
func Abs(t *Tensor) *Tensor {
	return Map(t, func(x float32) float32 { return float32(math.Abs(float64(x))) })
}

// Clamp limits every element of t to [lo, hi].
func Clamp(t *Tensor, lo, hi float32) *Tensor {
	if lo > hi {
		panic(ShapeErrorf("tensor: Clamp with lo %g > hi %g", lo, hi))
	}
	return Map(t, func(x float32) float32 { return min(max(x, lo), hi) })
}

// AddInPlace adds u to t elementwise (t += u); the shapes must be equal.
func (t *Tensor) AddInPlace(u *Tensor) { t.Axpy(1, u) }

// Axpy adds alpha·u to t in place (t += alpha·u); the shapes must be equal.
func (t *Tensor) Axpy(alpha float32, u *Tensor) {
	mustSameShape("Axpy", t, u)
	if !t.IsContiguous() {
		panic(ShapeErrorf("tensor: Axpy into a non-contiguous view of shape %v", t.shape))
	}
	x, z := u.Contiguous().Data(), t.Data()
	if len(z) < 2*elementGrain { // one chunk: no closure to allocate
		kernels.Axpy(alpha, x, z)
		return
	}
	j := axpyJobs.get(&axpyArgs{alpha: alpha, x: x, z: z})
	j.For(len(z), elementGrain, axpyChunk)
	axpyJobs.put(j)
}

// axpyArgs are the arguments of Axpy's loop.
type axpyArgs struct {
	alpha float32
	x, z  []float32
}

var axpyJobs jobs[axpyArgs]

func axpyChunk(a *axpyArgs, lo, hi int) { kernels.Axpy(a.alpha, a.x[lo:hi], a.z[lo:hi]) }

// ScaleInPlace multiplies every element of t by s.
func (t *Tensor) ScaleInPlace(s float32) {
	if !t.IsContiguous() {
		t.each(func(off int) { t.data[off] *= s })
		return
	}
	z := t.Data()
	kernels.For(len(z), elementGrain, func(lo, hi int) { kernels.ScalTo(z[lo:hi], s, z[lo:hi]) })
}

// Equal reports whether a and b have the same shape and elements.
func Equal(a, b *Tensor) bool {
	return SameShape(a, b) && slices.Equal(a.Contiguous().Data(), b.Contiguous().Data())
}
