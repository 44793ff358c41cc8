package tensor

import (
	"github.com/fovea-ml/fovea/internal/kernels"
)

// PoolParams are the hyper-parameters of 2-D max and average pooling.
type PoolParams struct {
	Kernel   [2]int // window height, width
	Stride   [2]int // 0 means the kernel size (PyTorch's default)
	Pad      [2]int // top/bottom and left/right padding
	CeilMode bool   // round the output size up, as PyTorch's ceil_mode
	// CountPad makes average pooling divide by the window size including
	// padding (PyTorch's count_include_pad, true there by default).
	CountPad bool
}

// WithDefaults returns p with a zero stride replaced by the kernel size.
func (p PoolParams) WithDefaults() PoolParams {
	for i := range 2 {
		if p.Stride[i] == 0 {
			p.Stride[i] = p.Kernel[i]
		}
	}
	return p
}

// Geom checks an input shape (N,C,H,W) for pooling op and returns the
// per-plane geometry, for the fused operations of package autograd.
func (p PoolParams) Geom(op string, xShape []int) kernels.PoolGeom { return p.geom(op, xShape) }

// geom checks x (N,C,H,W) and returns the per-plane geometry.
func (p PoolParams) geom(op string, xShape []int) kernels.PoolGeom {
	if len(xShape) != 4 {
		panic(ShapeErrorf("tensor: %s of shape %v: want 4-D NCHW", op, xShape))
	}
	s := p.WithDefaults().Stride
	for i := range 2 {
		if p.Kernel[i] < 1 || s[i] < 1 || p.Pad[i] < 0 || 2*p.Pad[i] > p.Kernel[i] {
			panic(ShapeErrorf("tensor: %s: kernel %v, stride %v, padding %v (padding must be at most half the kernel)", op, p.Kernel, p.Stride, p.Pad))
		}
	}
	g := kernels.PoolGeom{H: xShape[2], W: xShape[3], KH: p.Kernel[0], KW: p.Kernel[1],
		StrideH: s[0], StrideW: s[1], PadH: p.Pad[0], PadW: p.Pad[1]}
	g.OutH = poolOut(g.H, g.PadH, g.KH, g.StrideH, p.CeilMode)
	g.OutW = poolOut(g.W, g.PadW, g.KW, g.StrideW, p.CeilMode)
	if g.OutH <= 0 || g.OutW <= 0 {
		panic(ShapeErrorf("tensor: %s: input %v is smaller than the %v window", op, xShape, p.Kernel))
	}
	return g
}

func poolOut(n, pad, k, s int, ceil bool) int {
	span := n + 2*pad - k
	if span < 0 {
		return 0
	}
	if !ceil {
		return span/s + 1
	}
	out := (span+s-1)/s + 1
	// The last window must start inside the input or its left padding.
	if (out-1)*s >= n+pad {
		out--
	}
	return out
}

// MaxPool2d returns the window maxima of x (N,C,H,W) and, for the backward
// pass, the flat index within its plane of each winning element.
func MaxPool2d(x *Tensor, p PoolParams) (*Tensor, []int32) {
	g := p.geom("MaxPool2d", x.shape)
	x = x.Contiguous()
	planes, in, on := x.shape[0]*x.shape[1], g.H*g.W, g.OutH*g.OutW
	out := x.arena.Empty(x.shape[0], x.shape[1], g.OutH, g.OutW)
	arg := make([]int32, planes*on)
	xd := x.Data()
	kernels.For(planes, max(1, elementGrain/max(in, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.MaxPool2d(g, xd[i*in:(i+1)*in], out.data[i*on:(i+1)*on], arg[i*on:(i+1)*on])
		}
	})
	return out, arg
}

// MaxPool2dBackward routes dy back to the winning elements recorded by
// [MaxPool2d], giving the gradient with respect to an input of shape xShape.
func MaxPool2dBackward(dy *Tensor, arg []int32, xShape []int) *Tensor {
	dy = dy.Contiguous()
	dx := dy.arena.Empty(xShape...) // each plane is cleared just before its scatter
	planes, in := xShape[0]*xShape[1], xShape[2]*xShape[3]
	on := dy.Size() / max(planes, 1)
	if len(arg) != dy.Size() || on*planes != dy.Size() {
		panic(ShapeErrorf("tensor: MaxPool2dBackward: gradient %v does not match input %v", dy.shape, xShape))
	}
	dd := dy.Data()
	kernels.For(planes, max(1, elementGrain/max(in, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			plane := dx.data[i*in : (i+1)*in]
			clear(plane)
			kernels.MaxPool2dBackward(dd[i*on:(i+1)*on], arg[i*on:(i+1)*on], plane)
		}
	})
	return dx
}

// AvgPool2d returns the window means of x (N,C,H,W).
func AvgPool2d(x *Tensor, p PoolParams) *Tensor {
	g := p.geom("AvgPool2d", x.shape)
	x = x.Contiguous()
	planes, in, on := x.shape[0]*x.shape[1], g.H*g.W, g.OutH*g.OutW
	out := x.arena.Empty(x.shape[0], x.shape[1], g.OutH, g.OutW)
	xd := x.Data()
	kernels.For(planes, max(1, elementGrain/max(in, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.AvgPool2d(g, xd[i*in:(i+1)*in], out.data[i*on:(i+1)*on], p.CountPad)
		}
	})
	return out
}

// AvgPool2dBackward spreads dy evenly over the pooling windows, giving the
// gradient with respect to an input of shape xShape.
func AvgPool2dBackward(dy *Tensor, xShape []int, p PoolParams) *Tensor {
	g := p.geom("AvgPool2dBackward", xShape)
	dy = dy.Contiguous()
	planes, in, on := xShape[0]*xShape[1], g.H*g.W, g.OutH*g.OutW
	if dy.Size() != planes*on {
		panic(ShapeErrorf("tensor: AvgPool2dBackward: gradient %v does not match input %v", dy.shape, xShape))
	}
	dx := dy.arena.New(xShape...)
	dd := dy.Data()
	kernels.For(planes, max(1, elementGrain/max(in, 1)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			kernels.AvgPool2dBackward(g, dd[i*on:(i+1)*on], dx.data[i*in:(i+1)*in], p.CountPad)
		}
	})
	return dx
}
