package kernels

// Depthwise convolution kernels work on one (image, channel) plane at a time:
// an input plane x (H×W), a kernel w (KH×KW) and an output plane y
// (OutH×OutW), with the stride, padding and dilation of g (g.C is ignored).
// Each output row is built from whole input rows, one kernel tap (or, for
// 3-wide stride-1 kernels, three taps) per pass over contiguous memory.

// DepthwisePlane sets y to bias + the cross-correlation of x with w, or adds
// the cross-correlation to y when acc is true (bias is then ignored).
func DepthwisePlane(g ConvGeom, x, w []float32, bias float32, y []float32, acc bool) {
	ow := g.OutW
	y = y[:g.OutH*ow]
	if !acc {
		for i := range y {
			y[i] = bias
		}
	}
	fused := g.KW == 3 && g.StrideW == 1 && g.DilW == 1
	// lo..hi: outputs where every horizontal tap is inside the row.
	lo, hi := 0, ow
	for kw := 0; kw < g.KW; kw++ {
		l, h := tapRange(ow, g.W, g.StrideW, g.PadW, kw*g.DilW)
		lo, hi = max(lo, l), min(hi, h)
	}
	if hi < lo {
		hi = lo
	}
	var rows [16][]float32
	var wrows [16][]float32
	for oh := 0; oh < g.OutH; oh++ {
		yr := y[oh*ow : (oh+1)*ow]
		nr := 0
		for kh := 0; kh < g.KH; kh++ {
			ih := oh*g.StrideH - g.PadH + kh*g.DilH
			if ih < 0 || ih >= g.H {
				continue
			}
			xr := x[ih*g.W : (ih+1)*g.W]
			wr := w[kh*g.KW : (kh+1)*g.KW]
			if !fused || nr == len(rows) {
				rowTaps(g, xr, wr, yr, 0, ow)
				continue
			}
			rows[nr], wrows[nr] = xr, wr
			nr++
		}
		if !fused {
			continue
		}
		// Edges tap by tap, the interior three taps (and, with three
		// valid rows, nine) per element.
		for r := 0; r < nr; r++ {
			rowTaps(g, rows[r], wrows[r], yr, 0, lo)
			rowTaps(g, rows[r], wrows[r], yr, hi, ow)
		}
		if lo == hi {
			continue
		}
		base := lo - g.PadW
		n := hi - lo
		yy := yr[lo:hi]
		r := 0
		if nr == 3 {
			a0, a1, a2 := rows[0][base:base+n+2], rows[1][base:base+n+2], rows[2][base:base+n+2]
			w0, w1, w2 := wrows[0], wrows[1], wrows[2]
			w00, w01, w02 := w0[0], w0[1], w0[2]
			w10, w11, w12 := w1[0], w1[1], w1[2]
			w20, w21, w22 := w2[0], w2[1], w2[2]
			for i := range yy {
				s := yy[i] + w00*a0[i] + w01*a0[i+1] + w02*a0[i+2]
				s += w10*a1[i] + w11*a1[i+1] + w12*a1[i+2]
				s += w20*a2[i] + w21*a2[i+1] + w22*a2[i+2]
				yy[i] = s
			}
			r = 3
		}
		for ; r < nr; r++ {
			a := rows[r][base : base+n+2]
			w0, w1, w2 := wrows[r][0], wrows[r][1], wrows[r][2]
			for i := range yy {
				yy[i] += w0*a[i] + w1*a[i+1] + w2*a[i+2]
			}
		}
	}
}

// rowTaps adds, for output columns [from, to) of one output row yr, every
// horizontal tap of the kernel row wr over the input row xr.
func rowTaps(g ConvGeom, xr, wr, yr []float32, from, to int) {
	if from >= to {
		return
	}
	for kw, wv := range wr {
		lo, hi := tapRange(g.OutW, g.W, g.StrideW, g.PadW, kw*g.DilW)
		lo, hi = max(lo, from), min(hi, to)
		if lo >= hi {
			continue
		}
		iw := lo*g.StrideW - g.PadW + kw*g.DilW
		d := yr[lo:hi]
		if g.StrideW == 1 {
			s := xr[iw : iw+len(d)]
			for i := range d {
				d[i] += wv * s[i]
			}
			continue
		}
		for i := range d {
			d[i] += wv * xr[iw]
			iw += g.StrideW
		}
	}
}

// DepthwisePlaneBackInput adds to dx (H×W) the gradient of [DepthwisePlane]
// with respect to x, given dy (OutH×OutW). Stride 1 runs as a forward pass
// of dy with the flipped kernel; other strides scatter tap by tap.
func DepthwisePlaneBackInput(g ConvGeom, dy, w, dx []float32) {
	if g.StrideH == 1 && g.StrideW == 1 {
		var buf [64]float32
		var fw []float32
		if n := g.KH * g.KW; n <= len(buf) {
			fw = buf[:n]
		} else {
			fw = make([]float32, n)
		}
		for i := range fw {
			fw[i] = w[len(fw)-1-i]
		}
		t := ConvGeom{
			H: g.OutH, W: g.OutW, KH: g.KH, KW: g.KW, StrideH: 1, StrideW: 1,
			PadH: (g.KH-1)*g.DilH - g.PadH, PadW: (g.KW-1)*g.DilW - g.PadW,
			DilH: g.DilH, DilW: g.DilW, OutH: g.H, OutW: g.W,
		}
		DepthwisePlane(t, dy, fw, 0, dx, true)
		return
	}
	for oh := 0; oh < g.OutH; oh++ {
		dr := dy[oh*g.OutW : (oh+1)*g.OutW]
		for kh := 0; kh < g.KH; kh++ {
			ih := oh*g.StrideH - g.PadH + kh*g.DilH
			if ih < 0 || ih >= g.H {
				continue
			}
			xr := dx[ih*g.W : (ih+1)*g.W]
			for kw, wv := range w[kh*g.KW : (kh+1)*g.KW] {
				lo, hi := tapRange(g.OutW, g.W, g.StrideW, g.PadW, kw*g.DilW)
				iw := lo*g.StrideW - g.PadW + kw*g.DilW
				for _, d := range dr[lo:hi] {
					xr[iw] += wv * d
					iw += g.StrideW
				}
			}
		}
	}
}

// DepthwisePlaneBackWeight adds to dw (KH×KW) the gradient of
// [DepthwisePlane] with respect to w, given the input plane x and dy.
func DepthwisePlaneBackWeight(g ConvGeom, x, dy, dw []float32) {
	for oh := 0; oh < g.OutH; oh++ {
		dr := dy[oh*g.OutW : (oh+1)*g.OutW]
		for kh := 0; kh < g.KH; kh++ {
			ih := oh*g.StrideH - g.PadH + kh*g.DilH
			if ih < 0 || ih >= g.H {
				continue
			}
			xr := x[ih*g.W : (ih+1)*g.W]
			for kw := 0; kw < g.KW; kw++ {
				lo, hi := tapRange(g.OutW, g.W, g.StrideW, g.PadW, kw*g.DilW)
				if lo >= hi {
					continue
				}
				iw := lo*g.StrideW - g.PadW + kw*g.DilW
				d := dr[lo:hi]
				var s0, s1, s2, s3 float32
				if g.StrideW == 1 {
					s := xr[iw : iw+len(d)]
					i := 0
					for ; i+4 <= len(d); i += 4 {
						s0 += d[i] * s[i]
						s1 += d[i+1] * s[i+1]
						s2 += d[i+2] * s[i+2]
						s3 += d[i+3] * s[i+3]
					}
					for ; i < len(d); i++ {
						s0 += d[i] * s[i]
					}
				} else {
					for _, v := range d {
						s0 += v * xr[iw]
						iw += g.StrideW
					}
				}
				dw[kh*g.KW+kw] += (s0 + s1) + (s2 + s3)
			}
		}
	}
}
