package kernels

import "math"

// MaxPool2dInfer is [MaxPool2d] without the arg-max indices, for inference:
// out (OutH×OutW) receives the maximum of each window of plane x (H×W).
// Padding never wins; a window entirely in padding yields -Inf, and NaN
// propagates. Values equal to each other may be taken in another order than
// MaxPool2d's, which only matters for the sign of a zero.
//
// Windows with a stride no larger than the kernel (every window in
// practice: 3×3 stride 2 and 2×2 stride 2) are computed separably: the
// maximum over the window's rows of each column, then over each window's
// columns of that row, in row strips short enough for the stack.
func MaxPool2dInfer(g PoolGeom, x, out []float32) {
	if g.OutH == 0 || g.OutW == 0 {
		return
	}
	_ = x[g.H*g.W-1]
	_ = out[g.OutH*g.OutW-1]
	if g.KH == 2 && g.KW == 2 && g.StrideH == 2 && g.StrideW == 2 && g.PadH == 0 && g.PadW == 0 &&
		2*g.OutH <= g.H && 2*g.OutW <= g.W {
		maxPool2x2Infer(g, x, out)
		return
	}
	if g.KH == 3 && g.KW == 3 && g.StrideH == 2 && g.StrideW == 2 && g.PadH == 1 && g.PadW == 1 {
		maxPool3x3s2Infer(g, x, out)
		return
	}
	ninf := float32(math.Inf(-1))
	for oh := 0; oh < g.OutH; oh++ {
		h0 := oh*g.StrideH - g.PadH
		o := out[oh*g.OutW : (oh+1)*g.OutW]
		for ow := range o {
			w0 := ow*g.StrideW - g.PadW
			best := ninf
			for h := max(h0, 0); h < min(h0+g.KH, g.H); h++ {
				row := x[h*g.W : (h+1)*g.W]
				for w := max(w0, 0); w < min(w0+g.KW, g.W); w++ {
					best = fmax(best, row[w])
				}
			}
			o[ow] = best
		}
	}
}

// fmax is the maximum of a and b with NaN winning (the builtin's rule).
func fmax(a, b float32) float32 {
	return max(a, b)
}

// maxPool2x2Infer is MaxPool2dInfer for 2×2 windows, stride 2, no padding.
func maxPool2x2Infer(g PoolGeom, x, out []float32) {
	for oh := 0; oh < g.OutH; oh++ {
		i0 := 2 * oh * g.W
		r0, r1 := x[i0:i0+2*g.OutW], x[i0+g.W:i0+g.W+2*g.OutW]
		o := out[oh*g.OutW : (oh+1)*g.OutW]
		for ow := range o {
			w := 2 * ow
			o[ow] = fmax(fmax(r0[w], r0[w+1]), fmax(r1[w], r1[w+1]))
		}
	}
}

// maxPool3x3s2Infer is MaxPool2dInfer for 3×3 windows, stride 2, padding 1
// (the ResNet stem), computed separably.
func maxPool3x3s2Infer(g PoolGeom, x, out []float32) {
	const strip = 512
	var col [strip + 2]float32
	ninf := float32(math.Inf(-1))
	for oh := 0; oh < g.OutH; oh++ {
		h0 := 2*oh - 1
		ha, hb := max(h0, 0), min(h0+3, g.H) // rows [ha, hb)
		o := out[oh*g.OutW : (oh+1)*g.OutW]
		// Outputs in strips: output ow reads columns 2ow-1 … 2ow+1.
		for s0 := 0; s0 < g.OutW; s0 += strip / 2 {
			s1 := min(s0+strip/2, g.OutW)
			// Columns [c0, c1) of the input, c0 = 2·s0-1 (possibly -1).
			c0, c1 := 2*s0-1, min(2*s1, g.W)
			v := col[:2*(s1-s0)+1] // columns c0 … 2·s1-1
			for i := range v {
				v[i] = ninf
			}
			lo := max(c0, 0)
			if ha < hb {
				vv := v[lo-c0 : c1-c0]
				copy(vv, x[ha*g.W+lo:ha*g.W+c1])
				for h := ha + 1; h < hb; h++ {
					r := x[h*g.W+lo : h*g.W+c1]
					r = r[:len(vv)]
					for i, e := range r {
						vv[i] = fmax(vv[i], e)
					}
				}
			}
			oo := o[s0:s1]
			for i := range oo {
				w := 2 * i
				oo[i] = fmax(fmax(v[w], v[w+1]), v[w+2])
			}
		}
	}
}
