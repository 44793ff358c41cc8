package tensor

import (
	"fmt"
	"sync"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// ConvParams are the hyper-parameters of a 2-D convolution. The zero value
// means stride 1, no padding, dilation 1 and one group.
type ConvParams struct {
	Stride   [2]int // vertical, horizontal; 0 means 1
	Pad      [4]int // top, left, bottom, right (ONNX "pads" order)
	Dilation [2]int // 0 means 1
	Groups   int    // 0 means 1; Groups == input channels is depthwise
}

// norm returns p with defaults filled in.
func (p ConvParams) norm() ConvParams {
	for i := range 2 {
		p.Stride[i] = max(p.Stride[i], 1)
		p.Dilation[i] = max(p.Dilation[i], 1)
	}
	p.Groups = max(p.Groups, 1)
	return p
}

// ConvOutSize returns the output length of a convolution or pooling window
// sweep: input n, padding lo+hi, kernel k, stride s, dilation d.
func ConvOutSize(n, lo, hi, k, s, d int) int {
	return (n+lo+hi-d*(k-1)-1)/s + 1
}

// convGeom checks x (N,C,H,W) against a weight of shape (O, C/G, KH, KW) and
// returns the per-group im2col geometry and the output channel count.
func convGeom(op string, xShape, wShape []int, p ConvParams) (kernels.ConvGeom, int) {
	if len(xShape) != 4 || len(wShape) != 4 {
		panic(fmt.Sprintf("tensor: %s: input %v and weight %v must both be 4-D", op, xShape, wShape))
	}
	c, o, g := xShape[1], wShape[0], p.Groups
	if c%g != 0 || o%g != 0 || wShape[1] != c/g {
		panic(fmt.Sprintf("tensor: %s: input %v, weight %v and %d groups do not fit (want weight (O, C/groups, KH, KW) with C and O divisible by groups)", op, xShape, wShape, g))
	}
	geo := kernels.ConvGeom{
		C: c / g, H: xShape[2], W: xShape[3], KH: wShape[2], KW: wShape[3],
		StrideH: p.Stride[0], StrideW: p.Stride[1], PadH: p.Pad[0], PadW: p.Pad[1],
		DilH: p.Dilation[0], DilW: p.Dilation[1],
	}
	geo.OutH = ConvOutSize(geo.H, p.Pad[0], p.Pad[2], geo.KH, geo.StrideH, geo.DilH)
	geo.OutW = ConvOutSize(geo.W, p.Pad[1], p.Pad[3], geo.KW, geo.StrideW, geo.DilW)
	if geo.OutH <= 0 || geo.OutW <= 0 {
		panic(fmt.Sprintf("tensor: %s: input %v with kernel %dx%d, padding %v, dilation %v gives an empty output", op, xShape, geo.KH, geo.KW, p.Pad, p.Dilation))
	}
	return geo, o
}

// direct reports whether the convolution reads its input as the im2col
// matrix itself (1×1 kernel, stride 1, no padding).
func direct(g kernels.ConvGeom) bool {
	return g.KH == 1 && g.KW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0 && g.OutH == g.H && g.OutW == g.W
}

// colsPool recycles im2col buffers.
var colsPool = sync.Pool{New: func() any { return new([]float32) }}

func getCols(n int) *[]float32 {
	b := colsPool.Get().(*[]float32)
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return b
}

// overBatch runs fn for every image index: across threads with serial GEMMs
// when the batch is large enough, else one image at a time with parallel GEMMs.
func overBatch(n int, fn func(lo, hi int, gemm gemmFunc)) {
	if n >= kernels.Threads() && kernels.Threads() > 1 {
		kernels.For(n, 1, func(lo, hi int) { fn(lo, hi, kernels.GemmSerial) })
		return
	}
	fn(0, n, kernels.Gemm)
}

type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// Conv2d returns the 2-D cross-correlation of x (N,C,H,W) with w
// (O, C/groups, KH, KW) plus bias b (O; nil for none): (N, O, OH, OW).
// It runs as im2col + GEMM per image and group.
func Conv2d(x, w, b *Tensor, p ConvParams) *Tensor {
	p = p.norm()
	geo, o := convGeom("Conv2d", x.shape, w.shape, p)
	if b != nil && (b.Dims() != 1 || b.shape[0] != o) {
		panic(fmt.Sprintf("tensor: Conv2d: bias %v for %d output channels", b.shape, o))
	}
	x, w = x.Contiguous(), w.Contiguous()
	n, g := x.shape[0], p.Groups
	og, kg, hw, chw := o/g, geo.C*geo.KH*geo.KW, geo.OutH*geo.OutW, geo.C*geo.H*geo.W
	out := New(n, o, geo.OutH, geo.OutW)
	xd, wd := x.Data(), w.Data()
	var bd []float32
	if b != nil {
		bd = b.Contiguous().Data()
	}
	overBatch(n, func(lo, hi int, gemm gemmFunc) {
		var cols *[]float32
		if !direct(geo) {
			cols = getCols(kg * hw)
			defer colsPool.Put(cols)
		}
		for i := lo; i < hi; i++ {
			for gi := range g {
				src := xd[(i*g+gi)*chw : (i*g+gi+1)*chw]
				if cols != nil {
					kernels.Im2col(geo, src, *cols)
					src = *cols
				}
				dst := out.data[(i*o+gi*og)*hw : (i*o+(gi+1)*og)*hw]
				gemm(false, false, og, hw, kg, 1, wd[gi*og*kg:(gi+1)*og*kg], kg, src, hw, 0, dst, hw)
			}
			if bd != nil {
				for c := range o {
					row := out.data[(i*o+c)*hw : (i*o+c+1)*hw]
					for j := range row {
						row[j] += bd[c]
					}
				}
			}
		}
	})
	return out
}

// Conv2dBackwardInput returns the gradient of a convolution with respect to
// its input x of shape xShape, given dy (N, O, OH, OW) and weight w: the
// transposed convolution of dy.
func Conv2dBackwardInput(dy, w *Tensor, xShape []int, p ConvParams) *Tensor {
	p = p.norm()
	geo, o := convGeom("Conv2dBackwardInput", xShape, w.shape, p)
	checkDy("Conv2dBackwardInput", dy, xShape[0], o, geo)
	dy, w = dy.Contiguous(), w.Contiguous()
	n, g := xShape[0], p.Groups
	og, kg, hw, chw := o/g, geo.C*geo.KH*geo.KW, geo.OutH*geo.OutW, geo.C*geo.H*geo.W
	dx := New(xShape...)
	dyd, wd := dy.Data(), w.Data()
	overBatch(n, func(lo, hi int, gemm gemmFunc) {
		var cols *[]float32
		if !direct(geo) {
			cols = getCols(kg * hw)
			defer colsPool.Put(cols)
		}
		for i := lo; i < hi; i++ {
			for gi := range g {
				d := dyd[(i*o+gi*og)*hw : (i*o+(gi+1)*og)*hw]
				dst := dx.data[(i*g+gi)*chw : (i*g+gi+1)*chw]
				wg := wd[gi*og*kg : (gi+1)*og*kg]
				if cols == nil {
					gemm(true, false, kg, hw, og, 1, wg, kg, d, hw, 0, dst, hw)
					continue
				}
				gemm(true, false, kg, hw, og, 1, wg, kg, d, hw, 0, *cols, hw)
				kernels.Col2im(geo, *cols, dst)
			}
		}
	})
	return dx
}

// Conv2dBackwardWeight returns the gradient of a convolution with respect to
// its weight of shape wShape, given dy (N, O, OH, OW) and the input x.
func Conv2dBackwardWeight(dy, x *Tensor, wShape []int, p ConvParams) *Tensor {
	p = p.norm()
	geo, o := convGeom("Conv2dBackwardWeight", x.shape, wShape, p)
	checkDy("Conv2dBackwardWeight", dy, x.shape[0], o, geo)
	dy, x = dy.Contiguous(), x.Contiguous()
	n, g := x.shape[0], p.Groups
	og, kg, hw, chw := o/g, geo.C*geo.KH*geo.KW, geo.OutH*geo.OutW, geo.C*geo.H*geo.W
	dw := New(wShape...)
	dyd, xd := dy.Data(), x.Data()
	var mu sync.Mutex
	overBatch(n, func(lo, hi int, gemm gemmFunc) {
		var cols *[]float32
		if !direct(geo) {
			cols = getCols(kg * hw)
			defer colsPool.Put(cols)
		}
		part := make([]float32, len(dw.data)) // this chunk's sum over its images
		for i := lo; i < hi; i++ {
			for gi := range g {
				src := xd[(i*g+gi)*chw : (i*g+gi+1)*chw]
				if cols != nil {
					kernels.Im2col(geo, src, *cols)
					src = *cols
				}
				d := dyd[(i*o+gi*og)*hw : (i*o+(gi+1)*og)*hw]
				gemm(false, true, og, kg, hw, 1, d, hw, src, hw, 1, part[gi*og*kg:(gi+1)*og*kg], kg)
			}
		}
		mu.Lock()
		for j, v := range part {
			dw.data[j] += v
		}
		mu.Unlock()
	})
	return dw
}

func checkDy(op string, dy *Tensor, n, o int, geo kernels.ConvGeom) {
	if dy.Dims() != 4 || dy.shape[0] != n || dy.shape[1] != o || dy.shape[2] != geo.OutH || dy.shape[3] != geo.OutW {
		panic(fmt.Sprintf("tensor: %s: gradient %v, want [%d %d %d %d]", op, dy.shape, n, o, geo.OutH, geo.OutW))
	}
}
