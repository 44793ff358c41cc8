package nn

import "github.com/fovea-ml/fovea/autograd"

// GlobalAvgPool2d averages each channel plane to one value, PyTorch's
// AdaptiveAvgPool2d(1).
//
//	x (N, C, H, W) → (N, C, 1, 1)
type GlobalAvgPool2d struct{}

// Forward pools x.
func (GlobalAvgPool2d) Forward(x *autograd.Var) *autograd.Var { return autograd.GlobalAvgPool2d(x) }
