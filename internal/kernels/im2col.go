package kernels

// ConvGeom describes one 2-D convolution window sweep over a single image
// plane stack: C channels of H×W input, a KH×KW kernel with the given stride,
// padding (top/left; bottom/right follow from OutH/OutW) and dilation,
// producing OutH×OutW positions.
type ConvGeom struct {
	C, H, W    int
	KH, KW     int
	StrideH    int
	StrideW    int
	PadH, PadW int
	DilH, DilW int
	OutH, OutW int
}

// Im2col unfolds one image x (C×H×W) into cols ((C·KH·KW) × (OutH·OutW)):
// row (c, kh, kw) holds the input value under that kernel tap at every output
// position, or 0 where the tap falls in the padding.
func Im2col(g ConvGeom, x, cols []float32) {
	hw := g.OutH * g.OutW
	row := 0
	for c := 0; c < g.C; c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				dst := cols[row*hw : (row+1)*hw]
				row++
				for oh := 0; oh < g.OutH; oh++ {
					ih := oh*g.StrideH - g.PadH + kh*g.DilH
					d := dst[oh*g.OutW : (oh+1)*g.OutW]
					if ih < 0 || ih >= g.H {
						clear(d)
						continue
					}
					src := plane[ih*g.W : (ih+1)*g.W]
					iw := -g.PadW + kw*g.DilW
					for ow := range d {
						if iw >= 0 && iw < g.W {
							d[ow] = src[iw]
						} else {
							d[ow] = 0
						}
						iw += g.StrideW
					}
				}
			}
		}
	}
}

// Col2im is the adjoint of [Im2col]: it adds every entry of cols back onto
// the input position it was read from, accumulating into dx (C×H×W). dx is
// not cleared first.
func Col2im(g ConvGeom, cols, dx []float32) {
	hw := g.OutH * g.OutW
	row := 0
	for c := 0; c < g.C; c++ {
		plane := dx[c*g.H*g.W : (c+1)*g.H*g.W]
		for kh := 0; kh < g.KH; kh++ {
			for kw := 0; kw < g.KW; kw++ {
				src := cols[row*hw : (row+1)*hw]
				row++
				for oh := 0; oh < g.OutH; oh++ {
					ih := oh*g.StrideH - g.PadH + kh*g.DilH
					if ih < 0 || ih >= g.H {
						continue
					}
					dst := plane[ih*g.W : (ih+1)*g.W]
					s := src[oh*g.OutW : (oh+1)*g.OutW]
					iw := -g.PadW + kw*g.DilW
					for _, v := range s {
						if iw >= 0 && iw < g.W {
							dst[iw] += v
						}
						iw += g.StrideW
					}
				}
			}
		}
	}
}
