package kernels

// tapRange returns the output positions [lo, hi) of a row of out outputs
// whose input index o*s - pad + k*d falls inside [0, n).
func tapRange(out, n, s, pad, kd int) (lo, hi int) {
	off := kd - pad // input index of output 0
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if last := n - 1 - off; last < 0 {
		hi = 0
	} else {
		hi = last/s + 1
	}
	lo, hi = min(lo, out), min(hi, out)
	if hi < lo {
		hi = lo
	}
	return lo, hi
}

// Im2colLd is [Im2col] writing row r of the (C·KH·KW) × (OutH·OutW) matrix at
// cols[r*ld:], so several images can be unfolded side by side into one wide
// matrix (image j at column offset j·OutH·OutW of a ld = B·OutH·OutW matrix).
// Stride-1 rows are block copies.
func Im2colLd(g ConvGeom, x, cols []float32, ld int) {
	hw := g.OutH * g.OutW
	row := 0
	for c := 0; c < g.C; c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				dst := cols[row*ld : row*ld+hw]
				row++
				lo, hi := tapRange(g.OutW, g.W, g.StrideW, g.PadW, kw*g.DilW)
				iw0 := lo*g.StrideW - g.PadW + kw*g.DilW
				for oh := 0; oh < g.OutH; oh++ {
					ih := oh*g.StrideH - g.PadH + kh*g.DilH
					d := dst[oh*g.OutW : (oh+1)*g.OutW]
					if ih < 0 || ih >= g.H || lo == hi {
						clear(d)
						continue
					}
					src := plane[ih*g.W : (ih+1)*g.W]
					clear(d[:lo])
					clear(d[hi:])
					if g.StrideW == 1 {
						copy(d[lo:hi], src[iw0:])
						continue
					}
					iw := iw0
					for ow := lo; ow < hi; ow++ {
						d[ow] = src[iw]
						iw += g.StrideW
					}
				}
			}
		}
	}
}

// Col2imLd is the adjoint of [Im2colLd]: it adds row r of cols (read at
// cols[r*ld:]) back onto the input positions it was read from, accumulating
// into dx (C×H×W), which is not cleared first.
func Col2imLd(g ConvGeom, cols, dx []float32, ld int) {
	hw := g.OutH * g.OutW
	row := 0
	for c := 0; c < g.C; c++ {
		plane := dx[c*g.H*g.W : (c+1)*g.H*g.W]
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				src := cols[row*ld : row*ld+hw]
				row++
				lo, hi := tapRange(g.OutW, g.W, g.StrideW, g.PadW, kw*g.DilW)
				if lo == hi {
					continue
				}
				iw0 := lo*g.StrideW - g.PadW + kw*g.DilW
				for oh := 0; oh < g.OutH; oh++ {
					ih := oh*g.StrideH - g.PadH + kh*g.DilH
					if ih < 0 || ih >= g.H {
						continue
					}
					dst := plane[ih*g.W : (ih+1)*g.W]
					s := src[oh*g.OutW+lo : oh*g.OutW+hi]
					if g.StrideW == 1 {
						d := dst[iw0 : iw0+len(s)]
						for i, v := range s {
							d[i] += v
						}
						continue
					}
					iw := iw0
					for _, v := range s {
						dst[iw] += v
						iw += g.StrideW
					}
				}
			}
		}
	}
}

// Deal1x1OK reports whether [Deal1x1Ld] computes the input gradient of g:
// a 1×1 kernel without padding or dilation, strided (without a stride,
// the gradient is the product itself).
func Deal1x1OK(g ConvGeom) bool {
	return g.KH == 1 && g.KW == 1 && g.PadH == 0 && g.PadW == 0 && (g.StrideH > 1 || g.StrideW > 1) &&
		g.OutH == (g.H-1)/g.StrideH+1 && g.OutW == (g.W-1)/g.StrideW+1
}

// Deal1x1Ld is [Col2imLd] for a geometry of [Deal1x1OK] into a dx it
// writes whole (no clearing needed): each input pixel the strided
// convolution read gets its column entry (row c of cols, read at
// cols[c*ld:]), every other pixel zero. One pass over dx instead of a
// clear and scattered adds.
func Deal1x1Ld(g ConvGeom, cols, dx []float32, ld int) {
	sh, sw := g.StrideH, g.StrideW
	for c := 0; c < g.C; c++ {
		plane := dx[c*g.H*g.W : (c+1)*g.H*g.W]
		src := cols[c*ld : c*ld+g.OutH*g.OutW]
		for y := 0; y < g.H; y++ {
			row := plane[y*g.W : (y+1)*g.W]
			if y%sh != 0 {
				clear(row)
				continue
			}
			s := src[(y/sh)*g.OutW : (y/sh+1)*g.OutW]
			clear(row)
			for i, v := range s {
				row[i*sw] = v + 0 // as Col2imLd's 0 + v: −0 becomes 0
			}
		}
	}
}
