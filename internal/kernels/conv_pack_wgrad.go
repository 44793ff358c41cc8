package kernels

import "sync"

// Weight gradient of a convolution as an implicit GEMM:
//
//	dW (m × C·KH·KW) += Σ_i dY_i (m × OH·OW) · Im2col(x_i)ᵀ
//
// The GEMM's inner dimension runs over the output pixels of all the images,
// kc pixels (of one or several images) per packed slice. Each image is first
// transposed into a zero-padded pixel-major copy (hp × wp × C, see
// padDims), so that the B panels of Im2col(x)ᵀ (one row per pixel, one
// column per tap) are packed with block copies: in the tap order
// (kh, kw, c) the C taps of one (kh, kw) are C consecutive floats of the
// copy. The product is accumulated in that tap order into a tile-padded
// buffer and permuted into the weight layout (c, kh, kw) at the end, so the
// unfolded matrix and its transposing pack never exist.

// wgradScratch holds one call's buffers.
type wgradScratch struct {
	xt, a, b, acc  []float32
	runs, runStart []int
	base           []int
}

var wgradPool = sync.Pool{New: func() any { return new(wgradScratch) }}

// GemmConvWeight adds to dw (m × g.C·g.KH·g.KW, row stride ldw, weight
// layout (c, kh, kw) along a row) the weight gradient of n images: for
// image i, dy_i = dy[i·dyStride:] is m × (g.OutH·g.OutW) row-major (the
// output-channel planes of that image) and x_i = x[i·xStride:] is
// g.C × g.H × g.W. It runs on the calling goroutine.
func GemmConvWeight(g ConvGeom, m, n int, dy []float32, dyStride int, x []float32, xStride int, dw []float32, ldw int) {
	hw := g.OutH * g.OutW
	khw := g.KH * g.KW
	kg := g.C * khw
	if m == 0 || n == 0 || kg == 0 || hw == 0 {
		return
	}
	checkLen("dw", dw, m, kg, ldw)
	if len(dy) < (n-1)*dyStride+(m-1)*hw+hw || len(x) < (n-1)*xStride+g.C*g.H*g.W {
		panic("kernels: GemmConvWeight: dy or x is shorter than its geometry says")
	}
	kern := wgradKernel(m, kg)
	mr, nr := kern.mr, kern.nr
	hp, wp, _ := padDims(g)
	img := hp * wp * g.C // floats of one transposed image

	// Pixels per packed slice: whole images when they are small, else a
	// balanced split of each image.
	ipb, kb := 1, hw // images per slice, pixels per slice
	if hw <= kern.kc {
		ipb = max(1, min(n, kern.kc/hw))
		kb = ipb * hw
	} else {
		kb = ceilDiv(hw, ceilDiv(hw, kern.kc))
	}
	mp := ceilDiv(m, mr) * mr
	np := ceilDiv(kg, nr) * nr
	nc := min(np, max(nr, kern.nc/nr*nr))

	s := wgradPool.Get().(*wgradScratch)
	defer wgradPool.Put(s)
	s.xt = grow(s.xt, ipb*img)
	s.a = grow(s.a, mp*kb)
	s.b = grow(s.b, kb*nc)
	s.acc = grow(s.acc, mp*np)
	acc := s.acc
	clear(acc)

	// Column runs of the B panels: for each panel column block, triples
	// (destination column within the panel row block, source offset
	// relative to the pixel, length), grouped per panel by runStart.
	s.runs = s.runs[:0]
	runStart := s.runStart[:0]
	for j := 0; j < kg; j++ {
		t, c := j/g.C, j%g.C // (kh, kw), c
		off := (t/g.KW*g.DilH*wp+t%g.KW*g.DilW)*g.C + c
		if j%nr == 0 {
			runStart = append(runStart, len(s.runs))
		} else if r := s.runs[len(s.runs)-3:]; r[1]+r[2] == off {
			r[2]++ // contiguous with the previous tap (DilW 1: across kw too)
			continue
		}
		s.runs = append(s.runs, j%nr, off, 1)
	}
	runStart = append(runStart, len(s.runs))
	s.runStart = runStart

	for i0 := 0; i0 < n; i0 += ipb {
		ni := min(ipb, n-i0)
		for j := range ni {
			transposePad(g, x[(i0+j)*xStride:], s.xt[j*img:(j+1)*img], hp, wp)
		}
		// Pixel slices [q0, q1) over the ni images' concatenated pixels.
		total := ni * hw
		for q0 := 0; q0 < total; q0 += kb {
			q1 := min(q0+kb, total)
			k := q1 - q0
			packWgradA(mr, m, dy[i0*dyStride:], dyStride, hw, q0, q1, s.a)
			// The window corner of each pixel in the transposed copies.
			base := s.base[:0]
			im, pix := q0/hw, q0%hw
			oh, ow := pix/g.OutW, pix%g.OutW
			for range k {
				base = append(base, im*img+(oh*g.StrideH*wp+ow*g.StrideW)*g.C)
				if ow++; ow == g.OutW {
					ow = 0
					if oh++; oh == g.OutH {
						oh = 0
						im++
					}
				}
			}
			s.base = base
			for j0 := 0; j0 < np; j0 += nc {
				j1 := min(j0+nc, np)
				packWgradB(nr, j0, j1, s.xt, base, s.runs, runStart, s.b)
				for r := 0; r < mp; r += mr {
					pa := s.a[r*k : (r+mr)*k]
					for j := j0; j < j1; j += nr {
						pb := s.b[(j-j0)*k : (j-j0+nr)*k]
						kern.fn(k, pa, pb, acc[r*np+j:], np, 1)
					}
				}
			}
		}
	}
	// acc holds the columns in (kh, kw, c) order.
	for r := range m {
		src := acc[r*np : r*np+kg]
		dst := dw[r*ldw : r*ldw+kg]
		for t := range khw {
			run := src[t*g.C : (t+1)*g.C]
			for c, v := range run {
				dst[c*khw+t] += v
			}
		}
	}
}

// wgradKernel picks the micro-kernel for an m×n weight gradient. Unlike a
// plain GEMM, every one of its B elements is packed from the image for
// only m multiply-adds (m is the output channels, often small), so a
// kernel's packing, (mp + np) floats per pixel for m and n padded to its
// tile, weighs as much as its padded multiply-adds mp·np: each packed float
// is counted as wgradPackCost multiply-adds. (LeNet-5's first layer,
// 6 × 25 taps, takes 12×32 tiles over 6×64 ones: half the packing.) The
// test hooks that force a kernel or a path apply.
func wgradKernel(m, n int) *gemmKernel {
	if k := gemmForced.Load(); k != nil {
		return k
	}
	path := gemmKernels[0].path()
	if p := gemmForcedPath.Load(); p != nil {
		path = *p
	}
	var best *gemmKernel
	bestCost := 0
	for _, k := range gemmKernels {
		if k.path() != path {
			continue
		}
		mp, np := ceilDiv(m, k.mr)*k.mr, ceilDiv(n, k.nr)*k.nr
		if cost := mp*np + wgradPackCost*(mp+np); best == nil || cost < bestCost {
			best, bestCost = k, cost
		}
	}
	return best
}

const wgradPackCost = 32

// transposePad writes image x (C×H×W) into xt as the pixel-major padded copy
// (hp × wp × C) that the window sweep of g reads, zeros in the padding.
func transposePad(g ConvGeom, x, xt []float32, hp, wp int) {
	C := g.C
	lo, hi := min(g.PadW, wp), min(g.PadW+g.W, wp) // columns that hold input
	for y := range hp {
		row := xt[y*wp*C : (y+1)*wp*C]
		iy := y - g.PadH
		if iy < 0 || iy >= g.H || lo >= hi {
			clear(row)
			continue
		}
		clear(row[:lo*C])
		clear(row[hi*C:])
		if C == 1 {
			copy(row[lo:hi], x[iy*g.W:])
			continue
		}
		for c := range C {
			src := x[c*g.H*g.W+iy*g.W : c*g.H*g.W+iy*g.W+hi-lo]
			scatter(row, lo*C+c, C, src, 1)
		}
	}
}

// packWgradA packs the m × (q1−q0) block of dY whose columns are pixels
// [q0, q1) of the images' concatenated pixels (image i's m × hw matrix at
// dy[i·dyStride:]) into mr-row panels as packA does, rows past m zero.
func packWgradA(mr, m int, dy []float32, dyStride, hw, q0, q1 int, dst []float32) {
	kb := q1 - q0
	for i := 0; i < m; i += mr {
		h := min(mr, m-i)
		panel := dst[i*kb : (i+mr)*kb]
		for q := q0; q < q1; {
			im, pix := q/hw, q%hw
			l := min(hw-pix, q1-q)
			for r := range h {
				base := im*dyStride + (i+r)*hw + pix
				scatter(panel, (q-q0)*mr+r, mr, dy[base:base+l], 1)
			}
			q += l
		}
		if h < mr {
			for p := range kb {
				clear(panel[p*mr+h : p*mr+mr])
			}
		}
	}
}

// packWgradB packs rows [q0, q1) (pixels) and columns [j0, j1) (taps in
// (kh, kw, c) order, j0 and j1 multiples of nr) of Im2col(x)ᵀ into
// nr-column panels as packB does, columns past the taps zero. base[p] is
// the offset in the transposed images of pixel q0+p's window corner.
func packWgradB(nr, j0, j1 int, xt []float32, base, runs, runStart []int, dst []float32) {
	kb := len(base)
	for j := j0; j < j1; j += nr {
		pn := j / nr
		rs := runs[runStart[pn]:runStart[pn+1]]
		panel := dst[(j-j0)*kb : (j-j0+nr)*kb]
		last := rs[len(rs)-3] + rs[len(rs)-1] // columns written
		if len(rs) == 3 {
			// One run per row: the common case of C ≥ nr, or small kernels.
			x, off, l := rs[0], rs[1], rs[2]
			for p, b := range base {
				row := panel[p*nr : p*nr+nr]
				copyRun(row[x:x+l], xt[b+off:b+off+l])
				for x := last; x < nr; x++ {
					row[x] = 0
				}
			}
			continue
		}
		// Several runs per row, all short (4 to 8 floats: one channel and
		// a small kernel, each run a kernel row): a pixel at a time, each
		// run as two overlapping 16-byte moves, the zero columns last.
		if shortRuns(rs) {
			packShortRuns(nr, last, panel, xt, base, rs)
			continue
		}
		// Several runs per row: the zero columns first (with moves that
		// may overlap the columns before them), then one run at a time
		// down the pixels.
		if last < nr {
			z := max(0, nr-4)
			for p := range kb {
				row := panel[p*nr : p*nr+nr]
				for x := last; x < nr; x += 4 {
					if x > z {
						x = z
					}
					if x+4 <= nr {
						*(*[4]float32)(row[x:]) = [4]float32{}
					} else {
						clear(row[x:])
					}
				}
			}
		}
		for t := 0; t+2 < len(rs); t += 3 {
			x, off, l := rs[t], rs[t+1], rs[t+2]
			switch {
			case l >= 16:
				for p, b := range base {
					copyRun(panel[p*nr+x:p*nr+x+l], xt[b+off:b+off+l])
				}
			case l >= 8: // four 16-byte moves, the last two overlapping
				for p, b := range base {
					d, src := panel[p*nr+x:p*nr+x+l], xt[b+off:b+off+l]
					*(*[4]float32)(d) = *(*[4]float32)(src)
					*(*[4]float32)(d[4:]) = *(*[4]float32)(src[4:])
					*(*[4]float32)(d[l-8:]) = *(*[4]float32)(src[l-8:])
					*(*[4]float32)(d[l-4:]) = *(*[4]float32)(src[l-4:])
				}
			case l >= 4: // two 16-byte moves, overlapping
				for p, b := range base {
					d, src := panel[p*nr+x:p*nr+x+l], xt[b+off:b+off+l]
					*(*[4]float32)(d) = *(*[4]float32)(src)
					*(*[4]float32)(d[l-4:]) = *(*[4]float32)(src[l-4:])
				}
			default:
				for p, b := range base {
					d, src := panel[p*nr+x:p*nr+x+l], xt[b+off:b+off+l]
					for u := range d {
						d[u] = src[u]
					}
				}
			}
		}
	}
}

// shortRuns reports whether every run of rs (triples: column, offset,
// length) is 4 to 8 floats long.
func shortRuns(rs []int) bool {
	for t := 2; t < len(rs); t += 3 {
		if rs[t] < 4 || rs[t] > 8 {
			return false
		}
	}
	return true
}

// packShortRuns packs the panel rows of packWgradB for runs rs of 4 to 8
// floats each, a row (pixel) at a time: columns last to nr are zero.
func packShortRuns(nr, last int, panel, xt []float32, base, rs []int) {
	type run struct{ x, off, l int }
	var buf [16]run
	runs := buf[:0]
	for t := 0; t+2 < len(rs); t += 3 {
		runs = append(runs, run{rs[t], rs[t+1], rs[t+2]})
	}
	span := 0 // floats of xt a row reads past its base
	for _, r := range runs {
		span = max(span, r.off+r.l)
	}
	for p, b := range base {
		row := panel[p*nr : p*nr+nr]
		src := xt[b : b+span]
		for _, r := range runs {
			d, s := row[r.x:r.x+r.l], src[r.off:r.off+r.l]
			*(*[4]float32)(d) = *(*[4]float32)(s)
			*(*[4]float32)(d[len(d)-4:]) = *(*[4]float32)(s[len(s)-4:])
		}
		for x := last; x < nr; x++ {
			row[x] = 0
		}
	}
}

// copyRun copies s into d (same length) in 16-byte moves, which the
// compiler inlines (larger array copies call memmove): the runs are short,
// a few to a few dozen floats, where copy's call costs more.
func copyRun(d, s []float32) {
	s = s[:len(d)]
	for len(d) >= 16 {
		d4, s4 := d[:16:16], s[:16:16]
		*(*[4]float32)(d4) = *(*[4]float32)(s4)
		*(*[4]float32)(d4[4:]) = *(*[4]float32)(s4[4:])
		*(*[4]float32)(d4[8:]) = *(*[4]float32)(s4[8:])
		*(*[4]float32)(d4[12:]) = *(*[4]float32)(s4[12:])
		d, s = d[16:], s[16:]
	}
	for len(d) >= 4 {
		*(*[4]float32)(d) = *(*[4]float32)(s)
		d, s = d[4:], s[4:]
	}
	for i := range d {
		d[i] = s[i]
	}
}
