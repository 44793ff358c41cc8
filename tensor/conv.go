package tensor

import (
	"sync"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// Convolution algorithms
//
// [Conv2d], [Conv2dBackwardInput] and [Conv2dBackwardWeight] take and return
// NCHW tensors and pick an algorithm per call from the shapes alone, so a
// given shape always takes the same path (results do not depend on timing):
//
//   - Depthwise (every group has one input channel: Groups == C, any channel
//     multiplier O/C): a direct kernel over (image, channel) planes, rows at a
//     time, with the 3-wide stride-1 taps fused; the input gradient of a
//     stride-1 layer is the same kernel run on dy with the flipped filter.
//     See conv_depthwise.go.
//   - Winograd F(2,3) (3×3, stride 1, dilation 1, one group, padding ≤ 2, see
//     conv_winograd.go): forward, and the input gradient as the forward of dy
//     with the transposed, flipped filter. Chosen by winogradWins.
//   - Direct (conv_gemm.go, smallPays): one-group stride-1 layers with at
//     least one image per thread. The images are laid out padded, side by
//     side, in each channel's plane (kernels.SmallConv), so the
//     unfolded input's row for tap (c, kh, kw) is a contiguous run of that
//     plane: the indirect micro-kernels read it in place, nothing but the
//     weights is packed, and the "wide" output columns that fall in the
//     padding are dropped. Forward, and the input gradient as the forward
//     of dy with the flipped filter; the weight gradient of layers with few
//     taps per output channel as dot products of dy's wide rows with the
//     shifted input (kernels.SmallConvGrad).
//   - Implicit GEMM (conv_gemm.go). Forward: when each GEMM covers one
//     image (see imageBatch) or there is at least one image per thread, the
//     weights are packed once per call and the columns of the unfolded
//     input are packed straight from the image into the GEMM's panels
//     (kernels.GemmConv), so the unfolded matrix is never written. Chosen
//     by implicitWins. Input gradient of a stride-1 layer (dgradFits): the
//     forward of dy with the filters rotated 180° and their in/out channels
//     swapped, padding dilation·(K−1) − pad, through the same machinery, so
//     no col2im; chosen by implicitDgradWins. Weight gradient:
//     kernels.GemmConvWeight packs the B panels of im2col(x)ᵀ with block
//     copies from a pixel-major padded copy of each image and accumulates
//     dy·im2col(x)ᵀ over the images of a worker; chosen by
//     implicitWgradWins.
//   - Otherwise im2col + GEMM (conv_gemm.go): strided input gradients
//     (GEMM + col2im), and layers too small or too narrow for the above.
//     When an image's output plane is small (OH·OW < gemmColsTarget),
//     several images are unfolded side by side into one (C·KH·KW) × (B·OH·OW)
//     matrix so the GEMM's N dimension is wide, and the result is scattered
//     back to NCHW; a 1×1, stride-1, unpadded layer of one image reads its
//     input as the matrix itself with no im2col (other 1×1 layers use a
//     strided gather). Batches of at least [Threads] groups of images run one
//     serial GEMM per worker; smaller ones run one parallel GEMM at a time.
//
// The first implementation, im2col + one GEMM per image and group, is kept
// in conv_ref.go as the reference the tests compare every path against.

// ConvParams are the hyper-parameters of a 2-D convolution. The zero value
// means stride 1, no padding, dilation 1 and one group.
type ConvParams struct {
	Stride   [2]int // vertical, horizontal; 0 means 1
	Pad      [4]int // top, left, bottom, right (ONNX "pads" order)
	Dilation [2]int // 0 means 1
	Groups   int    // 0 means 1; Groups == input channels is depthwise
}

// WithDefaults returns p with the zero values that stand for a default
// filled in: stride, dilation and groups of at least 1.
func (p ConvParams) WithDefaults() ConvParams {
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

// OutSize returns the output height and width of the convolution of an
// h×w input with a kernel of size (height, width), defaults included.
func (p ConvParams) OutSize(h, w int, kernel [2]int) (oh, ow int) {
	p = p.WithDefaults()
	return ConvOutSize(h, p.Pad[0], p.Pad[2], kernel[0], p.Stride[0], p.Dilation[0]),
		ConvOutSize(w, p.Pad[1], p.Pad[3], kernel[1], p.Stride[1], p.Dilation[1])
}

// SamePadding returns the padding (top, left, bottom, right) with which a
// stride-1 convolution keeps its input's size: PyTorch's padding="same",
// dilation·(kernel−1) in all along each axis, the odd pixel of an odd total
// at the bottom or right. kernel and dilation are (height, width); a
// dilation of 0 means 1.
func SamePadding(kernel, dilation [2]int) [4]int {
	th, tw := max(dilation[0], 1)*(kernel[0]-1), max(dilation[1], 1)*(kernel[1]-1)
	return [4]int{th / 2, tw / 2, th - th/2, tw - tw/2}
}

// convGeom checks x (N,C,H,W) against a weight of shape (O, C/G, KH, KW) and
// returns the per-group im2col geometry and the output channel count.
func convGeom(op string, xShape, wShape []int, p ConvParams) (kernels.ConvGeom, int) {
	if len(xShape) != 4 || len(wShape) != 4 {
		panic(ShapeErrorf("tensor: %s: input %v and weight %v must both be 4-D", op, xShape, wShape))
	}
	c, o, g := xShape[1], wShape[0], p.Groups
	if c%g != 0 || o%g != 0 || wShape[1] != c/g {
		panic(ShapeErrorf("tensor: %s: input %v, weight %v and %d groups do not fit (want weight (O, C/groups, KH, KW) with C and O divisible by groups)", op, xShape, wShape, g))
	}
	geo := kernels.ConvGeom{
		C: c / g, H: xShape[2], W: xShape[3], KH: wShape[2], KW: wShape[3],
		StrideH: p.Stride[0], StrideW: p.Stride[1], PadH: p.Pad[0], PadW: p.Pad[1],
		DilH: p.Dilation[0], DilW: p.Dilation[1],
	}
	geo.OutH, geo.OutW = p.OutSize(geo.H, geo.W, [2]int{geo.KH, geo.KW})
	if geo.OutH <= 0 || geo.OutW <= 0 {
		panic(ShapeErrorf("tensor: %s: input %v with kernel %dx%d, padding %v, dilation %v gives an empty output", op, xShape, geo.KH, geo.KW, p.Pad, p.Dilation))
	}
	return geo, o
}

// convArgs is one convolution's sizes: geo is the per-group geometry (geo.C
// input channels per group), og output channels per group, kg = C/G·KH·KW
// the GEMM depth, hw = OH·OW and chw = C/G·H·W.
type convArgs struct {
	geo                      kernels.ConvGeom
	p                        ConvParams
	n, g, o, og, kg, hw, chw int
}

func newConvArgs(geo kernels.ConvGeom, p ConvParams, n, o int) convArgs {
	g := p.Groups
	return convArgs{
		geo: geo, p: p, n: n, g: g, o: o, og: o / g,
		kg: geo.C * geo.KH * geo.KW, hw: geo.OutH * geo.OutW, chw: geo.C * geo.H * geo.W,
	}
}

// convAlgo names an algorithm; convForce is the test hook that forces one
// (convAuto, the zero value, lets the shapes decide).
type convAlgo uint8

const (
	convAuto convAlgo = iota
	convRef
	convGemm
	convDepthwise
	convWinograd
	convImplicit
	convSmall
)

var convForce convAlgo

// convOp says which of the three entry points is choosing.
type convOp uint8

const (
	opForward convOp = iota
	opBackInput
	opBackWeight
)

// applicable reports whether algorithm al implements op for a.
func (a convArgs) applicable(al convAlgo, op convOp) bool {
	switch al {
	case convRef, convGemm:
		return true
	case convDepthwise:
		return a.geo.C == 1
	case convWinograd:
		return op != opBackWeight && winogradFits(a)
	case convImplicit:
		return op != opBackInput || dgradFits(a)
	case convSmall:
		return smallOK(a, op)
	}
	return false
}

// algo returns the algorithm that runs op for a.
func (a convArgs) algo(op convOp) convAlgo {
	if convForce != convAuto && a.applicable(convForce, op) {
		return convForce
	}
	switch {
	case a.geo.C == 1 && a.g > 1:
		return convDepthwise
	case smallPays(a, op):
		return convSmall
	case op == opForward && implicitWins(a):
		return convImplicit
	case op == opBackInput && dgradFits(a) && implicitDgradWins(a):
		return convImplicit
	case op == opBackWeight && implicitWgradWins(a):
		return convImplicit
	case op != opBackWeight && winogradFits(a) && winogradWins(a, op):
		return convWinograd
	}
	return convGemm
}

// result returns the output tensor of the forward pass or input gradient
// run by al: uncleared memory from ar when al writes every element (the
// direct convolutions), else zeros (the others add into parts of it).
func (al convAlgo) result(ar *Arena, shape ...int) *Tensor {
	if al == convSmall {
		return ar.Empty(shape...)
	}
	return ar.New(shape...)
}

// direct reports whether the convolution reads its input as the im2col
// matrix itself (1×1 kernel, stride 1, no padding).
func direct(g kernels.ConvGeom) bool {
	return g.KH == 1 && g.KW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0 && g.OutH == g.H && g.OutW == g.W
}

// scratchPool recycles im2col, gather and partial-sum buffers.
var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// getScratch returns a buffer of n floats with unspecified contents.
func getScratch(n int) *[]float32 {
	b := scratchPool.Get().(*[]float32)
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return b
}

func putScratch(b *[]float32) { scratchPool.Put(b) }

type gemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

// Conv2d returns the 2-D cross-correlation of x (N,C,H,W) with w
// (O, C/groups, KH, KW) plus bias b (O; nil for none): (N, O, OH, OW).
// The algorithm is chosen from the shapes; see the package notes above.
func Conv2d(x, w, b *Tensor, p ConvParams) *Tensor {
	p = p.WithDefaults()
	geo, o := convGeom("Conv2d", x.shape, w.shape, p)
	if b != nil && (b.Dims() != 1 || b.shape[0] != o) {
		panic(ShapeErrorf("tensor: Conv2d: bias %v for %d output channels", b.shape, o))
	}
	x, w = x.Contiguous(), w.Contiguous()
	a := newConvArgs(geo, p, x.shape[0], o)
	al := a.algo(opForward)
	out := al.result(arenaOf(x, w, b), a.n, o, geo.OutH, geo.OutW)
	xd, wd := x.Data(), w.Data()
	var bd []float32
	if b != nil {
		bd = b.Contiguous().Data()
	}
	switch al {
	case convRef:
		conv2dRef(a, xd, wd, bd, out.data)
	case convDepthwise:
		depthwiseForward(a, xd, wd, bd, out.data)
	case convWinograd:
		winogradForward(a, xd, wd, bd, out.data)
	case convImplicit:
		implicitForward(a, xd, wd, bd, out.data)
	case convSmall:
		smallForward(a, xd, wd, bd, out.data)
	default:
		gemmForward(a, xd, wd, bd, out.data)
	}
	return out
}

// Conv2dBackwardInput returns the gradient of a convolution with respect to
// its input x of shape xShape, given dy (N, O, OH, OW) and weight w: the
// transposed convolution of dy.
func Conv2dBackwardInput(dy, w *Tensor, xShape []int, p ConvParams) *Tensor {
	p = p.WithDefaults()
	geo, o := convGeom("Conv2dBackwardInput", xShape, w.shape, p)
	checkDy("Conv2dBackwardInput", dy, xShape[0], o, geo)
	dy, w = dy.Contiguous(), w.Contiguous()
	a := newConvArgs(geo, p, xShape[0], o)
	al := a.algo(opBackInput)
	var dx *Tensor
	if al == convGemm && dealsWhole(a) {
		dx = arenaOf(dy, w).Empty(xShape...) // written whole: no clearing
	} else {
		dx = al.result(arenaOf(dy, w), xShape...)
	}
	dyd, wd := dy.Data(), w.Data()
	switch al {
	case convRef:
		conv2dBackwardInputRef(a, dyd, wd, dx.data)
	case convDepthwise:
		depthwiseBackwardInput(a, dyd, wd, dx.data)
	case convWinograd:
		winogradBackwardInput(a, dyd, wd, dx.data)
	case convImplicit:
		implicitBackwardInput(a, dyd, wd, dx.data)
	case convSmall:
		smallBackwardInput(a, dyd, wd, dx.data)
	default:
		gemmBackwardInput(a, dyd, wd, dx.data)
	}
	return dx
}

// Conv2dBackwardWeight returns the gradient of a convolution with respect to
// its weight of shape wShape, given dy (N, O, OH, OW) and the input x.
func Conv2dBackwardWeight(dy, x *Tensor, wShape []int, p ConvParams) *Tensor {
	p = p.WithDefaults()
	geo, o := convGeom("Conv2dBackwardWeight", x.shape, wShape, p)
	checkDy("Conv2dBackwardWeight", dy, x.shape[0], o, geo)
	dy, x = dy.Contiguous(), x.Contiguous()
	a := newConvArgs(geo, p, x.shape[0], o)
	dw := arenaOf(dy, x).New(wShape...)
	dyd, xd := dy.Data(), x.Data()
	switch a.algo(opBackWeight) {
	case convRef:
		conv2dBackwardWeightRef(a, dyd, xd, dw.data)
	case convDepthwise:
		depthwiseBackwardWeight(a, dyd, xd, dw.data)
	case convImplicit:
		implicitBackwardWeight(a, dyd, xd, dw.data)
	case convSmall:
		smallBackwardWeight(a, dyd, xd, dw.data)
	default:
		gemmBackwardWeight(a, dyd, xd, dw.data)
	}
	return dw
}

func checkDy(op string, dy *Tensor, n, o int, geo kernels.ConvGeom) {
	if dy.Dims() != 4 || dy.shape[0] != n || dy.shape[1] != o || dy.shape[2] != geo.OutH || dy.shape[3] != geo.OutW {
		panic(ShapeErrorf("tensor: %s: gradient %v, want [%d %d %d %d]", op, dy.shape, n, o, geo.OutH, geo.OutW))
	}
}
