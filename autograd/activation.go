package autograd

import (
	"math"

	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/tensor"
)

// pointwiseGrain is the smallest chunk of an activation loop worth handing
// to another thread (as tensor's elementwise ops use).
const pointwiseGrain = 1 << 14

// pointwise returns the activation fwd of x and records its gradient rule
// bwd. Both run over matching chunks of flat row-major slices on the
// kernels' worker pool: fwd fills y from x; bwd fills dx from the input x,
// the output y and the output gradient g, each of the same length.
func pointwise(x *Var, fwd func(x, y []float32), bwd func(x, y, g, dx []float32)) *Var {
	var xs, ys []float32
	return record(func() *tensor.Tensor {
		xs = x.Value.Contiguous().Data()
		out := x.Value.Arena().Empty(x.Value.Shape()...)
		ys = out.Data()
		kernels.For(len(xs), pointwiseGrain, func(lo, hi int) { fwd(xs[lo:hi], ys[lo:hi]) })
		return out
	}, func(g *tensor.Tensor) {
		gs := g.Contiguous().Data()
		dx := x.Value.Arena().Empty(x.Value.Shape()...)
		ds := dx.Data()
		kernels.For(len(xs), pointwiseGrain, func(lo, hi int) { bwd(xs[lo:hi], ys[lo:hi], gs[lo:hi], ds[lo:hi]) })
		x.addGrad(dx)
	}, x)
}

// ReLU returns max(x, 0). Its gradient is 1 where x > 0 and 0 elsewhere,
// at exactly 0 too (PyTorch's convention).
// A NaN stays NaN, as in PyTorch. Both directions run the vector kernels
// [kernels.ReLUTo] and [kernels.ReLUBackward].
func ReLU(x *Var) (res *Var) {
	defer func() { emit(ops.ReLU, nil, res, x) }()
	return pointwise(x, func(x, y []float32) { kernels.ReLUTo(y, x) },
		func(x, _, g, dx []float32) { kernels.ReLUBackward(dx, g, x) })
}

// ReLU6 returns min(max(x, 0), 6), MobileNetV2's activation. Its gradient
// is 1 where 0 < x < 6 and 0 elsewhere, at exactly 0 and 6 too (PyTorch's
// hardtanh_backward). A NaN stays NaN and gets gradient 0.
func ReLU6(x *Var) (res *Var) {
	defer func() { emit(ops.ReLU6, nil, res, x) }()
	return pointwise(x, func(x, y []float32) {
		for i, v := range x {
			switch {
			case v < 0:
				y[i] = 0
			case v > 6:
				y[i] = 6
			default:
				y[i] = v // NaN too
			}
		}
	}, func(x, _, g, dx []float32) {
		for i, v := range x {
			if v > 0 && v < 6 {
				dx[i] = g[i]
			} else {
				dx[i] = 0
			}
		}
	})
}

// LeakyReLU returns x where x > 0 and slope·x elsewhere; the gradient is 1
// or slope accordingly (slope at 0, as in PyTorch).
func LeakyReLU(x *Var, slope float32) (res *Var) {
	defer func() { emit(ops.LeakyReLU, slope, res, x) }()
	return pointwise(x, func(x, y []float32) {
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = slope * v
			}
		}
	}, func(x, _, g, dx []float32) {
		for i, v := range x {
			if v > 0 {
				dx[i] = g[i]
			} else {
				dx[i] = slope * g[i]
			}
		}
	})
}

// ELU returns x where x > 0 and alpha·(eˣ − 1) elsewhere; the gradient is
// 1 or alpha·eˣ = y + alpha accordingly.
func ELU(x *Var, alpha float32) (res *Var) {
	defer func() { emit(ops.ELU, alpha, res, x) }()
	return pointwise(x, func(x, y []float32) {
		for i, v := range x {
			if v > 0 {
				y[i] = v
			} else {
				y[i] = alpha * float32(math.Expm1(float64(v)))
			}
		}
	}, func(x, y, g, dx []float32) {
		for i, v := range x {
			if v > 0 {
				dx[i] = g[i]
			} else {
				dx[i] = g[i] * (y[i] + alpha)
			}
		}
	})
}

// GELU returns x·Φ(x) with Φ the standard normal CDF, in the exact erf
// form (PyTorch's default, approximate="none"). Its gradient is Φ(x) +
// x·φ(x) with φ the normal density. Both run in float32 through
// [kernels.GELUTo] and [kernels.GELUBackward] (a rational approximation
// of erf, as PyTorch's float32 kernel: a few ulps, and an absolute error
// of about |x|·2⁻²⁴ for negative x where 1 + erf cancels).
func GELU(x *Var) (res *Var) {
	defer func() { emit(ops.GELU, nil, res, x) }()
	return pointwise(x, func(x, y []float32) { kernels.GELUTo(y, x) },
		func(x, _, g, dx []float32) { kernels.GELUBackward(dx, g, x) })
}

// sigmoid is 1/(1+e⁻ˣ) in a form that never overflows.
func sigmoid(v float64) float64 {
	if v >= 0 {
		return 1 / (1 + math.Exp(-v))
	}
	e := math.Exp(v)
	return e / (1 + e)
}

// SiLU returns x·σ(x) (also called swish); its gradient is
// σ(x)·(1 + x·(1 − σ(x))).
func SiLU(x *Var) (res *Var) {
	defer func() { emit(ops.SiLU, nil, res, x) }()
	return pointwise(x, func(x, y []float32) {
		for i, v := range x {
			y[i] = float32(float64(v) * sigmoid(float64(v)))
		}
	}, func(x, _, g, dx []float32) {
		for i, v := range x {
			u := float64(v)
			s := sigmoid(u)
			dx[i] = g[i] * float32(s*(1+u*(1-s)))
		}
	})
}

// Sigmoid returns σ(x) = 1/(1+e⁻ˣ); its gradient is y·(1 − y).
func Sigmoid(x *Var) (res *Var) {
	defer func() { emit(ops.Sigmoid, nil, res, x) }()
	return pointwise(x, func(x, y []float32) {
		for i, v := range x {
			y[i] = float32(sigmoid(float64(v)))
		}
	}, func(_, y, g, dx []float32) {
		for i, s := range y {
			dx[i] = g[i] * s * (1 - s)
		}
	})
}

// Tanh returns tanh x; its gradient is 1 − y².
func Tanh(x *Var) (res *Var) {
	defer func() { emit(ops.Tanh, nil, res, x) }()
	return pointwise(x, func(x, y []float32) {
		for i, v := range x {
			y[i] = float32(math.Tanh(float64(v)))
		}
	}, func(_, y, g, dx []float32) {
		for i, t := range y {
			dx[i] = g[i] * (1 - t*t)
		}
	})
}
