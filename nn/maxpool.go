package nn

import (
	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// MaxPool2d takes the maximum over sliding windows of NCHW input.
//
//	x (N, C, H, W) → (N, C, OH, OW)
type MaxPool2d struct {
	Params tensor.PoolParams
}

// NewMaxPool2d returns max pooling with a square kernel, stride (0 means
// the kernel size, PyTorch's default) and padding on every side.
func NewMaxPool2d(kernel, stride, pad int) *MaxPool2d {
	return &MaxPool2d{Params: squarePool("MaxPool2d", kernel, stride, pad)}
}

// Forward pools x.
func (l *MaxPool2d) Forward(x *autograd.Var) *autograd.Var {
	return autograd.MaxPool2d(x, l.Params)
}

// squarePool checks and builds the parameters of a square pooling window.
func squarePool(op string, kernel, stride, pad int) tensor.PoolParams {
	if kernel < 1 || stride < 0 || pad < 0 || 2*pad > kernel {
		panic(tensor.ShapeErrorf("nn: %s kernel %d, stride %d, padding %d: kernel must be positive, padding at most half of it", op, kernel, stride, pad))
	}
	return tensor.PoolParams{Kernel: [2]int{kernel, kernel}, Stride: [2]int{stride, stride}, Pad: [2]int{pad, pad}}
}
