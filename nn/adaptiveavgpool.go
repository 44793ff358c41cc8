package nn

import (
	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// AdaptiveAvgPool2d averages NCHW input down (or up) to a fixed output
// size, PyTorch's AdaptiveAvgPool2d((OutH, OutW)): output cell i along an
// axis of input size n and output size m averages input rows
// ⌊i·n/m⌋ … ⌈(i+1)·n/m⌉−1.
//
//	x (N, C, H, W) → (N, C, OutH, OutW)
//
// An input that is already OutH×OutW passes through; when OutH divides H
// and OutW divides W it is an average pooling with kernel and stride
// H/OutH×W/OutW; otherwise (windows of uneven size, or an input smaller
// than the output, whose cells are then repeated) the pooling is two
// matrix products with averaging matrices, Pₕ·x·Pᵥᵀ per plane.
type AdaptiveAvgPool2d struct {
	OutH, OutW int
}

// NewAdaptiveAvgPool2d returns adaptive average pooling to outH×outW.
func NewAdaptiveAvgPool2d(outH, outW int) *AdaptiveAvgPool2d {
	if outH < 1 || outW < 1 {
		panic(tensor.ShapeErrorf("nn: AdaptiveAvgPool2d output %d×%d: sizes must be positive", outH, outW))
	}
	return &AdaptiveAvgPool2d{OutH: outH, OutW: outW}
}

// Forward pools x.
func (l *AdaptiveAvgPool2d) Forward(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	if len(s) != 4 {
		panic(tensor.ShapeErrorf("nn: AdaptiveAvgPool2d input of shape %v: want 4-D NCHW", s))
	}
	if l.OutH < 1 || l.OutW < 1 {
		panic(tensor.ShapeErrorf("nn: AdaptiveAvgPool2d output %d×%d: sizes must be positive", l.OutH, l.OutW))
	}
	n, c, h, w := s[0], s[1], s[2], s[3]
	switch {
	case h == l.OutH && w == l.OutW:
		return x
	case l.OutH == 1 && l.OutW == 1:
		return autograd.GlobalAvgPool2d(x)
	case h%l.OutH == 0 && w%l.OutW == 0:
		kh, kw := h/l.OutH, w/l.OutW
		return autograd.AvgPool2d(x, tensor.PoolParams{Kernel: [2]int{kh, kw}, Stride: [2]int{kh, kw}})
	}
	// (N·C·H, W)·(W, OutW) → (N, C, H, OutW) → (N, C, OutW, H)
	y := autograd.MatMul(autograd.Reshape(x, n*c*h, w), autograd.Static(adaptiveMatrix(w, l.OutW)))
	y = autograd.Permute(autograd.Reshape(y, n, c, h, l.OutW), 0, 1, 3, 2)
	// (N·C·OutW, H)·(H, OutH) → (N, C, OutW, OutH) → (N, C, OutH, OutW)
	y = autograd.MatMul(autograd.Reshape(y, n*c*l.OutW, h), autograd.Static(adaptiveMatrix(h, l.OutH)))
	return autograd.Permute(autograd.Reshape(y, n, c, l.OutW, l.OutH), 0, 1, 3, 2)
}

// adaptiveMatrix returns the (n, m) matrix whose column i averages the
// input rows of adaptive pooling's output cell i.
func adaptiveMatrix(n, m int) *tensor.Tensor {
	p := tensor.Zeros(n, m)
	d := p.Data()
	for i := range m {
		lo, hi := i*n/m, ((i+1)*n+m-1)/m
		for j := lo; j < hi; j++ {
			d[j*m+i] = 1 / float32(hi-lo)
		}
	}
	return p
}
