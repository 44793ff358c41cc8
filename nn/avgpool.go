package nn

import (
	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// AvgPool2d averages over sliding windows of NCHW input.
//
//	x (N, C, H, W) → (N, C, OH, OW)
type AvgPool2d struct {
	Params tensor.PoolParams
}

// NewAvgPool2d returns average pooling with a square kernel, stride (0
// means the kernel size) and padding on every side. Padding counts in the
// divisor (Params.CountPad), as with PyTorch's default
// count_include_pad=True.
func NewAvgPool2d(kernel, stride, pad int) *AvgPool2d {
	p := squarePool("AvgPool2d", kernel, stride, pad)
	p.CountPad = true
	return &AvgPool2d{Params: p}
}

// Forward pools x.
func (l *AvgPool2d) Forward(x *autograd.Var) *autograd.Var {
	return autograd.AvgPool2d(x, l.Params)
}
