package autograd

import (
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/tensor"
)

// MaxPool2d returns the window maxima of x (N,C,H,W) → (N,C,OH,OW). The
// gradient of each output goes to the input element that won its window
// (the first one on ties, as in PyTorch).
func MaxPool2d(x *Var, p tensor.PoolParams) (res *Var) {
	defer func() { emit(ops.MaxPool2d, p, res, x) }()
	var arg []int32 // the winner's flat index in its H×W plane
	return record(func() (out *tensor.Tensor) {
		out, arg = tensor.MaxPool2d(x.Value, p)
		return out
	}, func(g *tensor.Tensor) {
		x.addGrad(tensor.MaxPool2dBackward(g, arg, x.Value.Shape()))
	}, x)
}

// AvgPool2d returns the window means of x (N,C,H,W) → (N,C,OH,OW). The
// gradient of each output is spread evenly over its window, divided by the
// same count the forward divided by (p.CountPad).
func AvgPool2d(x *Var, p tensor.PoolParams) (res *Var) {
	defer func() { emit(ops.AvgPool2d, p, res, x) }()
	return record(func() *tensor.Tensor { return tensor.AvgPool2d(x.Value, p) }, func(g *tensor.Tensor) {
		x.addGrad(tensor.AvgPool2dBackward(g, x.Value.Shape(), p))
	}, x)
}

// GlobalAvgPool2d returns the mean of each H×W plane of x (N,C,H,W) →
// (N,C,1,1), PyTorch's AdaptiveAvgPool2d(1) and ONNX GlobalAveragePool.
// Each input element receives g[n,c]/(H·W).
func GlobalAvgPool2d(x *Var) (res *Var) {
	defer func() { emit(ops.GlobalAvgPool2d, nil, res, x) }()
	if x.Value.Dims() != 4 {
		panic(tensor.ShapeErrorf("autograd: GlobalAvgPool2d of shape %v: want 4-D NCHW", x.Shape()))
	}
	n, c, h, w := x.Value.Dim(0), x.Value.Dim(1), x.Value.Dim(2), x.Value.Dim(3)
	planes, hw := n*c, h*w
	if hw == 0 {
		panic(tensor.ShapeErrorf("autograd: GlobalAvgPool2d of shape %v: empty plane", x.Shape()))
	}
	grain := max(1, poolGrain/hw)
	// Set by each computation, read by its loop over planes, which is made
	// once (a replayed program allocates none).
	var xd, od, gd, dd []float32 // x (N·C, H·W), the means (N·C); their gradients
	mean := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			var s float64
			for _, v := range xd[i*hw : (i+1)*hw] {
				s += float64(v)
			}
			od[i] = float32(s / float64(hw))
		}
	}
	spread := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := gd[i] / float32(hw)
			row := dd[i*hw : (i+1)*hw]
			for j := range row {
				row[j] = v
			}
		}
	}
	return record(func() *tensor.Tensor {
		xd = x.Value.Contiguous().Data()
		out := x.Value.Arena().New(n, c, 1, 1)
		od = out.Data()
		kernels.For(planes, grain, mean)
		return out
	}, func(g *tensor.Tensor) {
		gd = g.Contiguous().Data()
		dx := x.Value.Arena().New(n, c, h, w)
		dd = dx.Data()
		kernels.For(planes, grain, spread)
		x.addGrad(dx)
	}, x)
}

// poolGrain is the number of elements below which a loop in this package is
// not worth splitting over threads.
const poolGrain = 1 << 14
