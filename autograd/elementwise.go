package autograd

import (
	"slices"

	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/tensor"
)

// Add returns a + b with broadcasting.
func Add(a, b *Var) (res *Var) {
	defer func() { emit(ops.Add, nil, res, a, b) }()
	return record(func() *tensor.Tensor { return tensor.Add(a.Value, b.Value) }, func(g *tensor.Tensor) {
		a.addGrad(tensor.SumTo(g, a.Value.Shape()))
		b.addGrad(tensor.SumTo(g, b.Value.Shape()))
	}, a, b)
}

// Sub returns a - b with broadcasting.
func Sub(a, b *Var) (res *Var) {
	defer func() { emit(ops.Sub, nil, res, a, b) }()
	return record(func() *tensor.Tensor { return tensor.Sub(a.Value, b.Value) }, func(g *tensor.Tensor) {
		a.addGrad(tensor.SumTo(g, a.Value.Shape()))
		if b.requiresGrad {
			b.addGrad(tensor.SumTo(tensor.Neg(g), b.Value.Shape()))
		}
	}, a, b)
}

// Mul returns a * b elementwise with broadcasting.
func Mul(a, b *Var) (res *Var) {
	defer func() { emit(ops.Mul, nil, res, a, b) }()
	return record(func() *tensor.Tensor { return tensor.Mul(a.Value, b.Value) }, func(g *tensor.Tensor) {
		if a.requiresGrad {
			a.addGrad(tensor.SumTo(tensor.Mul(g, b.Value), a.Value.Shape()))
		}
		if b.requiresGrad {
			b.addGrad(tensor.SumTo(tensor.Mul(g, a.Value), b.Value.Shape()))
		}
	}, a, b)
}

// Div returns a / b elementwise with broadcasting.
func Div(a, b *Var) (res *Var) {
	defer func() { emit(ops.Div, nil, res, a, b) }()
	var out *tensor.Tensor
	return record(func() *tensor.Tensor { out = tensor.Div(a.Value, b.Value); return out }, func(g *tensor.Tensor) {
		if a.requiresGrad { // d(a/b)/da = 1/b
			a.addGrad(tensor.SumTo(tensor.Div(g, b.Value), a.Value.Shape()))
		}
		if b.requiresGrad { // d(a/b)/db = -(a/b)/b
			b.addGrad(tensor.SumTo(tensor.Neg(tensor.Div(tensor.Mul(g, out), b.Value)), b.Value.Shape()))
		}
	}, a, b)
}

// Neg returns -x.
func Neg(x *Var) (res *Var) {
	defer func() { emit(ops.Neg, nil, res, x) }()
	return record(func() *tensor.Tensor { return tensor.Neg(x.Value) }, func(g *tensor.Tensor) { x.addGrad(tensor.Neg(g)) }, x)
}

// Scale returns s·x.
func Scale(x *Var, s float32) (res *Var) {
	defer func() { emit(ops.Scale, s, res, x) }()
	return record(func() *tensor.Tensor { return tensor.Scale(x.Value, s) }, func(g *tensor.Tensor) { x.addGrad(tensor.Scale(g, s)) }, x)
}

// AddScalar returns x + s.
func AddScalar(x *Var, s float32) (res *Var) {
	defer func() { emit(ops.AddScalar, s, res, x) }()
	return record(func() *tensor.Tensor { return tensor.AddScalar(x.Value, s) }, func(g *tensor.Tensor) { x.addGrad(g) }, x)
}

// Exp returns e^x; its derivative is the output itself.
func Exp(x *Var) (res *Var) {
	defer func() { emit(ops.Exp, nil, res, x) }()
	var out *tensor.Tensor
	return record(func() *tensor.Tensor { out = tensor.Exp(x.Value); return out }, func(g *tensor.Tensor) { x.addGrad(tensor.Mul(g, out)) }, x)
}

// Log returns ln x; its derivative is 1/x.
func Log(x *Var) (res *Var) {
	defer func() { emit(ops.Log, nil, res, x) }()
	return record(func() *tensor.Tensor { return tensor.Log(x.Value) }, func(g *tensor.Tensor) { x.addGrad(tensor.Div(g, x.Value)) }, x)
}

// Sqrt returns √x; its derivative is 1/(2√x).
func Sqrt(x *Var) (res *Var) {
	defer func() { emit(ops.Sqrt, nil, res, x) }()
	var out *tensor.Tensor
	return record(func() *tensor.Tensor { out = tensor.Sqrt(x.Value); return out }, func(g *tensor.Tensor) {
		x.addGrad(tensor.Binary(g, out, func(g, y float32) float32 { return g / (2 * y) }))
	}, x)
}

// Pow returns x^p; its derivative is p·x^(p-1).
func Pow(x *Var, p float32) (res *Var) {
	defer func() { emit(ops.Pow, p, res, x) }()
	return record(func() *tensor.Tensor { return tensor.Pow(x.Value, p) }, func(g *tensor.Tensor) {
		x.addGrad(tensor.Mul(g, tensor.Scale(tensor.Pow(x.Value, p-1), p)))
	}, x)
}

// Clamp limits x to [lo, hi]; the gradient passes only where x is inside.
func Clamp(x *Var, lo, hi float32) (res *Var) {
	defer func() { emit(ops.Clamp, [2]float32{lo, hi}, res, x) }()
	return record(func() *tensor.Tensor { return tensor.Clamp(x.Value, lo, hi) }, func(g *tensor.Tensor) {
		x.addGrad(tensor.Binary(g, x.Value, func(g, v float32) float32 {
			if v < lo || v > hi {
				return 0
			}
			return g
		}))
	}, x)
}

// AddReLU is ReLU(Add(a, b)), a residual block's end, in one operation:
// the same values and gradients to the bit, one pass over memory and one
// tensor instead of two. Inputs of different shapes (broadcasting), and a
// tape that traces (Tape.Trace, which records Add then ReLU), take the
// two operations.
func AddReLU(a, b *Var) *Var {
	if !slices.Equal(a.Value.Shape(), b.Value.Shape()) || (a.tape != nil && a.tape.Trace != nil) || (b.tape != nil && b.tape.Trace != nil) {
		return ReLU(Add(a, b))
	}
	var ar *tensor.Arena
	var out *tensor.Tensor
	var od []float32
	return record(func() *tensor.Tensor {
		ad, bd := a.Value.Contiguous().Data(), b.Value.Contiguous().Data()
		ar = a.Value.Arena()
		if ar == nil {
			ar = b.Value.Arena()
		}
		out = ar.Empty(a.Value.Shape()...)
		od = out.Data()
		kernels.For(len(od), pointwiseGrain, func(lo, hi int) {
			kernels.AddTo(od[lo:hi], ad[lo:hi], bd[lo:hi])
			kernels.ReLUTo(od[lo:hi], od[lo:hi]) // in cache
		})
		return out
	}, func(g *tensor.Tensor) {
		gs := g.Contiguous().Data()
		dx := ar.Empty(out.Shape()...)
		ds := dx.Data()
		kernels.For(len(ds), pointwiseGrain, func(lo, hi int) { kernels.ReLUBackward(ds[lo:hi], gs[lo:hi], od[lo:hi]) })
		a.addGrad(dx)
		b.addGrad(dx)
	}, a, b)
}
