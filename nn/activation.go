package nn

import "github.com/fovea-ml/fovea/autograd"

// ReLU is the layer max(x, 0).
type ReLU struct{}

// Forward applies ReLU.
func (ReLU) Forward(x *autograd.Var) *autograd.Var { return autograd.ReLU(x) }

// LeakyReLU is the layer x for x > 0, Slope·x elsewhere. The zero Slope
// means PyTorch's default negative_slope, 0.01 (use [ReLU] for slope 0).
type LeakyReLU struct {
	Slope float32
}

// Forward applies the leaky ReLU.
func (l LeakyReLU) Forward(x *autograd.Var) *autograd.Var {
	s := l.Slope
	if s == 0 {
		s = 0.01
	}
	return autograd.LeakyReLU(x, s)
}

// ELU is the layer x for x > 0, Alpha·(eˣ − 1) elsewhere. The zero Alpha
// means PyTorch's default, 1.0.
type ELU struct {
	Alpha float32
}

// Forward applies ELU.
func (l ELU) Forward(x *autograd.Var) *autograd.Var {
	a := l.Alpha
	if a == 0 {
		a = 1
	}
	return autograd.ELU(x, a)
}

// GELU is the layer x·Φ(x) in its exact erf form (PyTorch's default).
type GELU struct{}

// Forward applies GELU.
func (GELU) Forward(x *autograd.Var) *autograd.Var { return autograd.GELU(x) }

// SiLU is the layer x·σ(x), also called swish.
type SiLU struct{}

// Forward applies SiLU.
func (SiLU) Forward(x *autograd.Var) *autograd.Var { return autograd.SiLU(x) }

// Sigmoid is the layer σ(x) = 1/(1 + e⁻ˣ).
type Sigmoid struct{}

// Forward applies the logistic sigmoid.
func (Sigmoid) Forward(x *autograd.Var) *autograd.Var { return autograd.Sigmoid(x) }

// Tanh is the layer tanh x.
type Tanh struct{}

// Forward applies tanh.
func (Tanh) Forward(x *autograd.Var) *autograd.Var { return autograd.Tanh(x) }

// Softmax normalizes exp(x) to sum to 1 along Axis (negative counts from
// the end; the zero value normalizes over axis 0, so set Axis: 1 or -1 for
// (N, C) scores, as PyTorch's dim must be given).
type Softmax struct {
	Axis int
}

// Forward applies softmax along l.Axis.
func (l Softmax) Forward(x *autograd.Var) *autograd.Var { return autograd.Softmax(x, l.Axis) }

// LogSoftmax is log(softmax(x)) along Axis, computed stably (negative Axis
// counts from the end).
type LogSoftmax struct {
	Axis int
}

// Forward applies log-softmax along l.Axis.
func (l LogSoftmax) Forward(x *autograd.Var) *autograd.Var { return autograd.LogSoftmax(x, l.Axis) }

// ReLU6 is the layer min(max(x, 0), 6), MobileNetV2's activation.
type ReLU6 struct{}

// Forward applies ReLU6.
func (ReLU6) Forward(x *autograd.Var) *autograd.Var { return autograd.ReLU6(x) }
