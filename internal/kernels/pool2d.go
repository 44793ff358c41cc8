package kernels

import "math"

// PoolGeom describes a 2-D pooling window sweep over one H×W plane: a KH×KW
// window with the given stride and zero/-inf padding (top/left), producing
// OutH×OutW outputs.
type PoolGeom struct {
	H, W             int
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	OutH, OutW       int
}

// MaxPool2d writes the maximum of each window of plane x (H×W) to out
// (OutH×OutW) and the flat index into x of the winning element to arg.
// Padding never wins; a window entirely in padding yields -Inf and index -1.
// It panics if x holds fewer than H·W elements or out or arg fewer than
// OutH·OutW.
func MaxPool2d(g PoolGeom, x, out []float32, arg []int32) {
	if len(x) < g.H*g.W || len(out) < g.OutH*g.OutW || len(arg) < g.OutH*g.OutW {
		panic("kernels: MaxPool2d: slices shorter than the plane or its outputs")
	}
	if g.KH == 2 && g.KW == 2 && g.StrideH == 2 && g.StrideW == 2 && g.PadH == 0 && g.PadW == 0 &&
		2*g.OutH <= g.H && 2*g.OutW <= g.W {
		maxPool2x2(g, x, out, arg)
		return
	}
	for oh := 0; oh < g.OutH; oh++ {
		h0 := oh*g.StrideH - g.PadH
		for ow := 0; ow < g.OutW; ow++ {
			w0 := ow*g.StrideW - g.PadW
			best, bi := float32(math.Inf(-1)), int32(-1)
			for h := max(h0, 0); h < min(h0+g.KH, g.H); h++ {
				row := x[h*g.W : (h+1)*g.W]
				for w := max(w0, 0); w < min(w0+g.KW, g.W); w++ {
					// NaN propagates as in PyTorch: it wins every comparison.
					if v := row[w]; v > best || bi < 0 || v != v {
						best, bi = v, int32(h*g.W+w)
					}
				}
			}
			out[oh*g.OutW+ow], arg[oh*g.OutW+ow] = best, bi
		}
	}
}

// maxPool2x2 is MaxPool2d for the common 2×2 window with stride 2 and no
// padding, every window inside the plane: the same four comparisons in the
// same order, without the general loop's bounds. It runs the assembly of
// the current vector path (pool2d_amd64.go) or, without one, its reference
// loop maxPool2x2Generic. Each output is
//
//	i := 2*oh*W + 2*ow // the window's first element
//	best, bi := x[i], i
//	for _, j := range [...]int{i + 1, i + W, i + W + 1} {
//		if v := x[j]; v > best || v != v { // NaN wins; ties keep the earlier
//			best, bi = v, j
//		}
//	}
//	out[oh*OutW+ow], arg[oh*OutW+ow] = best, bi
//
// maxPool2x2Generic is that loop with the comparisons selecting by masks
// instead of branches (the data decides them at random, so branches
// mispredict), on the floats' bits.
func maxPool2x2Generic(g PoolGeom, x, out []float32, arg []int32) {
	for oh := 0; oh < g.OutH; oh++ {
		i0 := 2 * oh * g.W
		r0, r1 := x[i0:i0+2*g.OutW], x[i0+g.W:i0+g.W+2*g.OutW]
		o, a := out[oh*g.OutW:(oh+1)*g.OutW], arg[oh*g.OutW:(oh+1)*g.OutW]
		r0, r1 = r0[:2*len(o)], r1[:2*len(o)]
		for ow := range o {
			w := 2 * ow
			o[ow], a[ow] = poolWindow(r0[w], r0[w+1], r1[w], r1[w+1], int32(i0+w), int32(g.W))
		}
	}
}

// affineReLUMaxPool2x2Generic is maxPool2x2Generic of max(a·v + b, 0) for
// every element v of x, with affineReLUPlanesGeneric's arithmetic: batch
// normalization's output and its ReLU, pooled without being stored.
func affineReLUMaxPool2x2Generic(g PoolGeom, a, b float32, x, out []float32, arg []int32) {
	for oh := 0; oh < g.OutH; oh++ {
		i0 := 2 * oh * g.W
		r0, r1 := x[i0:i0+2*g.OutW], x[i0+g.W:i0+g.W+2*g.OutW]
		o, ar := out[oh*g.OutW:(oh+1)*g.OutW], arg[oh*g.OutW:(oh+1)*g.OutW]
		r0, r1 = r0[:2*len(o)], r1[:2*len(o)]
		for ow := range o {
			w := 2 * ow
			o[ow], ar[ow] = poolWindow(max(a*r0[w]+b, 0), max(a*r0[w+1]+b, 0),
				max(a*r1[w]+b, 0), max(a*r1[w+1]+b, 0), int32(i0+w), int32(g.W))
		}
	}
}

// poolWindow returns the maximum of a 2×2 window, v00 v01 over v10 v11,
// and the flat index of its winner, i0 being v00's and w the plane's
// width: the reference loop's comparisons in its order.
func poolWindow(v00, v01, v10, v11 float32, i0, w int32) (float32, int32) {
	best, bi := v00, i0
	m := takeMask(v01, best)
	best, bi = selF32(m, v01, best), bi+int32(m&1)
	m = takeMask(v10, best)
	best, bi = selF32(m, v10, best), bi^(int32(m)&(bi^(i0+w)))
	m = takeMask(v11, best)
	return selF32(m, v11, best), bi ^ (int32(m) & (bi ^ (i0 + 1 + w)))
}

// takeMask is all ones when v replaces best in a max-pool scan (v > best,
// or v is NaN), else zero.
func takeMask(v, best float32) uint32 {
	var gt, nan uint32
	if v > best {
		gt = 1
	}
	if v != v {
		nan = 1
	}
	return -(gt | nan)
}

// selF32 is v where mask m is all ones, else w.
func selF32(m uint32, v, w float32) float32 {
	vb, wb := math.Float32bits(v), math.Float32bits(w)
	return math.Float32frombits(wb ^ (m & (vb ^ wb)))
}

// MaxPool2dBackward adds each output gradient dout[o] to dx[arg[o]].
func MaxPool2dBackward(dout []float32, arg []int32, dx []float32) {
	for o, i := range arg {
		if i >= 0 {
			dx[i] += dout[o]
		}
	}
}

// AffineReLUMaxPool2x2 is [MaxPool2d] with a 2×2 window, stride 2 and no
// padding (2·OutH ≤ H, 2·OutW ≤ W) of the plane max(a·x + b, 0), computed
// element by element as [AffineReLUPlanes] computes it on the same path
// (so the same bits as that call followed by MaxPool2d): batch
// normalization and its ReLU pooled without storing their output.
func AffineReLUMaxPool2x2(g PoolGeom, a, b float32, x, out []float32, arg []int32) {
	checkPool2x2("AffineReLUMaxPool2x2", g)
	if len(x) < g.H*g.W || len(out) < g.OutH*g.OutW || len(arg) < g.OutH*g.OutW {
		panic("kernels: AffineReLUMaxPool2x2: slices shorter than the plane or its outputs")
	}
	affineReLUMaxPool2x2(g, a, b, x, out, arg)
}

// AffineReLUMaxPool2x2Planes is [AffineReLUMaxPool2x2] on n planes: x's
// at xStride, out's and arg's at outStride (a channel's planes in a
// batch), the checks made once.
func AffineReLUMaxPool2x2Planes(n int, g PoolGeom, a, b float32, x []float32, xStride int, out []float32, arg []int32, outStride int) {
	if n == 0 {
		return
	}
	checkPool2x2("AffineReLUMaxPool2x2Planes", g)
	s, on := g.H*g.W, g.OutH*g.OutW
	if len(x) < (n-1)*xStride+s || len(out) < (n-1)*outStride+on || len(arg) < (n-1)*outStride+on {
		panic("kernels: AffineReLUMaxPool2x2Planes: slices shorter than the planes or their outputs")
	}
	for i := range n {
		xi, oi := i*xStride, i*outStride
		affineReLUMaxPool2x2(g, a, b, x[xi:xi+s], out[oi:oi+on], arg[oi:oi+on])
	}
}

// checkPool2x2 panics unless g is a 2×2 stride-2 unpadded window whose
// outputs lie inside the plane.
func checkPool2x2(op string, g PoolGeom) {
	if g.KH != 2 || g.KW != 2 || g.StrideH != 2 || g.StrideW != 2 || g.PadH != 0 || g.PadW != 0 ||
		2*g.OutH > g.H || 2*g.OutW > g.W {
		panic("kernels: " + op + ": not a 2×2 stride-2 unpadded window inside the plane")
	}
}

// Unpool2x2MaskedPlanes is [Unpool2x2Masked] on n planes: g's, out's and
// arg's at stride, dst's at dstStride, the checks made once.
func Unpool2x2MaskedPlanes(n int, p PoolGeom, g, out []float32, arg []int32, stride int, dst []float32, dstStride int) {
	if n == 0 {
		return
	}
	checkPool2x2("Unpool2x2MaskedPlanes", p)
	s, on := p.H*p.W, p.OutH*p.OutW
	if len(dst) < (n-1)*dstStride+s || len(g) < (n-1)*stride+on || len(out) < (n-1)*stride+on || len(arg) < (n-1)*stride+on {
		panic("kernels: Unpool2x2MaskedPlanes: slices shorter than the planes or their outputs")
	}
	for i := range n {
		o, d := i*stride, i*dstStride
		unpool2x2Plane(p, g[o:o+on], out[o:o+on], arg[o:o+on], dst[d:d+s])
	}
}

// Unpool2x2Masked writes the plane dst (H×W) of a 2×2 stride-2 unpadded
// max pool's backward through a ReLU before it: each pooled gradient g[o]
// at its window's winner arg[o] (as [MaxPool2d] records it) where the
// pooled value out[o] > 0, as 0 + g[o] (so −0 becomes 0, as adding into a
// cleared plane does), and +0 everywhere else.
func Unpool2x2Masked(p PoolGeom, g, out []float32, arg []int32, dst []float32) {
	checkPool2x2("Unpool2x2Masked", p)
	on := p.OutH * p.OutW
	if len(dst) < p.H*p.W || len(g) < on || len(out) < on || len(arg) < on {
		panic("kernels: Unpool2x2Masked: slices shorter than the plane or its outputs")
	}
	unpool2x2Plane(p, g, out, arg, dst)
}

// unpool2x2Plane is Unpool2x2Masked without the checks.
func unpool2x2Plane(p PoolGeom, g, out []float32, arg []int32, dst []float32) {
	if !unpool2x2Masked(p, g, out, arg, dst) {
		unpool2x2MaskedGeneric(p, g, out, arg, dst)
		return
	}
	// The rows and columns no window covers.
	if 2*p.OutW < p.W {
		for r := range 2 * p.OutH {
			clear(dst[r*p.W+2*p.OutW : (r+1)*p.W])
		}
	}
	clear(dst[2*p.OutH*p.W : p.H*p.W])
}

// unpool2x2MaskedGeneric is Unpool2x2Masked's reference loop: clear the
// plane, then write each kept gradient at its winner, without a branch on
// the (random) comparison.
func unpool2x2MaskedGeneric(p PoolGeom, g, out []float32, arg []int32, dst []float32) {
	on := p.OutH * p.OutW
	d := dst[:p.H*p.W]
	clear(d)
	for o, w := range arg[:on] {
		var keep uint32
		if out[o] > 0 {
			keep = ^uint32(0)
		}
		d[w] = math.Float32frombits(math.Float32bits(0+g[o]) & keep)
	}
}

// AvgPool2d writes the mean of each window of plane x to out. With
// countPad the divisor is the full window size clipped to the padded input
// (PyTorch's count_include_pad=True); otherwise it counts only real elements.
func AvgPool2d(g PoolGeom, x, out []float32, countPad bool) {
	for oh := 0; oh < g.OutH; oh++ {
		for ow := 0; ow < g.OutW; ow++ {
			h0, h1, w0, w1, div := g.window(oh, ow, countPad)
			var s float32
			for h := h0; h < h1; h++ {
				for _, v := range x[h*g.W+w0 : h*g.W+w1] {
					s += v
				}
			}
			out[oh*g.OutW+ow] = s / div
		}
	}
}

// AvgPool2dBackward spreads each output gradient evenly over its window,
// accumulating into dx.
func AvgPool2dBackward(g PoolGeom, dout, dx []float32, countPad bool) {
	for oh := 0; oh < g.OutH; oh++ {
		for ow := 0; ow < g.OutW; ow++ {
			h0, h1, w0, w1, div := g.window(oh, ow, countPad)
			d := dout[oh*g.OutW+ow] / div
			for h := h0; h < h1; h++ {
				row := dx[h*g.W+w0 : h*g.W+w1]
				for i := range row {
					row[i] += d
				}
			}
		}
	}
}

// window returns the in-bounds rows [h0,h1) and columns [w0,w1) of output
// (oh, ow) and the divisor of its average.
func (g PoolGeom) window(oh, ow int, countPad bool) (h0, h1, w0, w1 int, div float32) {
	h0, w0 = oh*g.StrideH-g.PadH, ow*g.StrideW-g.PadW
	h1, w1 = min(h0+g.KH, g.H+g.PadH), min(w0+g.KW, g.W+g.PadW)
	padded := (h1 - h0) * (w1 - w0)
	h0, w0 = max(h0, 0), max(w0, 0)
	h1, w1 = max(min(h1, g.H), h0), max(min(w1, g.W), w0) // empty, never inverted
	if countPad {
		return h0, h1, w0, w1, float32(padded)
	}
	return h0, h1, w0, w1, float32(max((h1-h0)*(w1-w0), 1))
}
