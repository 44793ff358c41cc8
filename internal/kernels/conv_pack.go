package kernels

// Implicit GEMM: the B panels of a convolution's product are packed straight
// from the (zero-padded) input image, so the unfolded (C·KH·KW) × (OH·OW)
// matrix of [Im2col] never exists in memory.

// padDims returns the extent hp×wp of the padded image the window sweep of
// g reads (rows and columns from the top-left padding corner up to the last
// one a tap reaches) and whether x can be read in place: no top/left padding
// and every tap inside the image.
func padDims(g ConvGeom) (hp, wp int, inPlace bool) {
	hp = (g.OutH-1)*g.StrideH + (g.KH-1)*g.DilH + 1
	wp = (g.OutW-1)*g.StrideW + (g.KW-1)*g.DilW + 1
	inPlace = g.PadH == 0 && g.PadW == 0 && hp <= g.H && wp <= g.W
	return hp, wp, inPlace
}

// ConvPadSize returns the floats of scratch [GemmConv] needs for g's padded
// copy of the input: 0 when it reads the input in place.
func ConvPadSize(g ConvGeom) int {
	hp, wp, inPlace := padDims(g)
	if inPlace {
		return 0
	}
	return g.C * hp * wp
}

// PadImage writes into xp (C × hp × wp, see padDims) the image x (C×H×W)
// shifted by the top/left padding, with zeros wherever the sweep of g reads
// outside x.
func PadImage(g ConvGeom, x, xp []float32) {
	hp, wp, _ := padDims(g)
	// Columns of a padded row that hold input: [lo, hi).
	lo, hi := min(g.PadW, wp), min(g.PadW+g.W, wp)
	for c := range g.C {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		dst := xp[c*hp*wp : (c+1)*hp*wp]
		for y := range hp {
			d := dst[y*wp : (y+1)*wp]
			iy := y - g.PadH
			if iy < 0 || iy >= g.H || lo >= hi {
				clear(d)
				continue
			}
			clear(d[:lo])
			copy(d[lo:hi], plane[iy*g.W:])
			clear(d[hi:])
		}
	}
}

// packConvBImages writes rows [p0, p1) and columns [j0, j1) of the unfolded input
// of g into dst in packB's nr-column panel layout (columns past j1 of the
// last panel zero). x is the image with row stride rs and channel stride ps,
// laid out so that tap (c, kh, kw) at output (oh, ow) reads
// x[c·ps + (oh·StrideH + kh·DilH)·rs + ow·StrideW + kw·DilW]. segs is
// scratch, returned for reuse.
//
// Several images may sit side by side: column j is output pixel
// j mod (OutH·OutW) of image j / (OutH·OutW), whose copy in x starts is
// floats after the previous image's (is is unused when every column is in
// image 0).
func packConvBImages(g *ConvGeom, x []float32, rs, ps, is, nr, p0, p1, j0, j1 int, dst []float32, segs []int) []int {
	kb := p1 - p0
	// The columns split into runs within one output row and one panel:
	// (destination offset, source offset, length) triples, the same for
	// every row of the block.
	segs = segs[:0]
	hw := g.OutH * g.OutW
	img, oh, ow := j0/hw, j0%hw/g.OutW, j0%g.OutW
	for j := j0; j < j1; {
		q, x := (j-j0)/nr, (j-j0)%nr
		n := min(nr-x, g.OutW-ow, j1-j)
		segs = append(segs, q*nr*kb+x, img*is+oh*g.StrideH*rs+ow*g.StrideW, n)
		j += n
		if ow += n; ow == g.OutW {
			ow = 0
			if oh++; oh == g.OutH {
				oh = 0
				img++
			}
		}
	}
	khw := g.KH * g.KW
	c, kh, kw := p0/khw, p0%khw/g.KW, p0%g.KW
	sw := g.StrideW
	for p := range kb {
		off := c*ps + kh*g.DilH*rs + kw*g.DilW
		row := dst[p*nr:]
		for i := 0; i+2 < len(segs); i += 3 {
			d := row[segs[i] : segs[i]+segs[i+2]]
			src := x[off+segs[i+1]:]
			switch {
			case sw != 1:
				src = src[:(len(d)-1)*sw+1]
				for t := range d {
					d[t] = src[t*sw]
				}
			case len(d) <= 8:
				src = src[:len(d)]
				for t := range d {
					d[t] = src[t]
				}
			default:
				copy(d, src)
			}
		}
		if kw++; kw == g.KW {
			kw = 0
			if kh++; kh == g.KH {
				kh = 0
				c++
			}
		}
	}
	if w := (j1 - j0) % nr; w != 0 {
		base := (j1 - j0) / nr * nr * kb
		for p := range kb {
			clear(dst[base+p*nr+w : base+p*nr+nr])
		}
	}
	return segs
}
