package kernels

import "fmt"

// Winograd43 is a 3×3 stride-1 convolution by Winograd's minimal filtering
// F(4×4, 3×3): each 4×4 output tile costs 36 multiplies per input channel
// instead of 144. The weights are transformed once (U = G·g·Gᵀ, packed for
// the GEMM); a run transforms the input tiles (V = Bᵀ·d·B), does the 36
// per-frequency products M_ξ = U_ξ·V_ξ with the packed GEMM, the tiles of
// all images side by side as columns, and transforms back (Y = Aᵀ·M·A),
// adding the bias (and residual, then ReLU) on the way out. The transforms
// run in assembly on the AVX-512 and AVX2 paths (winograd43_amd64.go), with
// the Go ones (inputUnit, outputUnit) as their reference and fallback; both
// give the same bits (TestWinograd43Transforms).
//
// The points are 0, ±1, ±2 and ∞; the float32 error grows with them (see
// TestWinograd43 for the measured bound).
type Winograd43 struct {
	g      ConvGeom
	o, n   int
	th, tw int // tiles per image
	t      int // tiles of the batch
	pa     [36]*PackedA
	bias   []float32
	mO     int // scratch layout: V at 0 (36 matrices vs floats apart), M at mO (36, ms apart)

	inFn, gemmFn, outFn func(lo, hi int) // bound by Bind
	inN, outN, k        int              // units of the transforms, of k channels
	x, v, y             []float32
	ld                  int            // V's row stride: t, or t + winoPad for the assembly transforms
	vs, ms              int            // the strides of V_ξ and M_ξ (winoStride)
	asm                 *winoAsm       // the assembly transforms Bind chose, or nil for the Go ones
	bufs                chan []float32 // per-worker temporaries of the transforms
}

// winoGoOnly makes Bind pick the Go transforms on every path (a test
// hook).
var winoGoOnly bool

// winoPad is the padding after each row of V for the assembly transforms,
// whose whole-vector stores may run up to 15 floats past a row's tiles.
const winoPad = 16

// winoStride returns the stride of 36 matrices of n floats: n rounded up to
// an odd number of 64-byte lines, so that the transforms' 36 accesses of
// one tile (V_ξ or M_ξ) fall in different cache sets, even where n·4 bytes
// is a multiple of 4 KiB (ResNet's channels × tiles often are).
func winoStride(n int) int {
	n = (n + 15) &^ 15
	if n/16%2 == 0 {
		n += 16
	}
	return n
}

// Winograd43OK reports whether g is a 3×3 stride-1 undilated convolution
// with at most 2 of padding (same-size or valid).
func Winograd43OK(g ConvGeom) bool {
	return g.KH == 3 && g.KW == 3 && g.StrideH == 1 && g.StrideW == 1 && max(g.DilH, 1) == 1 && max(g.DilW, 1) == 1 &&
		g.PadH <= 2 && g.PadW <= 2 && g.OutH == g.H+2*g.PadH-2 && g.OutW == g.W+2*g.PadW-2 && g.OutH > 0 && g.OutW > 0
}

// NewWinograd43 transforms and packs the weights w (o, C, 3, 3) and keeps
// bias (o) for batches of n images of geometry g.
func NewWinograd43(g ConvGeom, o, n int, w, bias []float32) *Winograd43 {
	if !Winograd43OK(g) {
		panic(fmt.Sprintf("kernels: NewWinograd43: unsupported geometry %+v", g))
	}
	if len(w) < o*g.C*9 || len(bias) < o {
		panic("kernels: NewWinograd43: weights too short")
	}
	wg := &Winograd43{g: g, o: o, n: n, th: ceilDiv(g.OutH, 4), tw: ceilDiv(g.OutW, 4), bias: bias[:o]}
	wg.t = n * wg.th * wg.tw
	wg.mO = 36 * winoStride(g.C*(wg.t+winoPad))
	// U_ξ (o × C) for each of the 36 frequencies.
	u := make([]float32, 36*o*g.C)
	var gt [6][3]float64
	for oc := range o {
		for c := range g.C {
			k := w[(oc*g.C+c)*9 : (oc*g.C+c)*9+9]
			// gt = G·k (6×3), then G·k·Gᵀ (6×6).
			for j := range 3 {
				k0, k1, k2 := float64(k[j]), float64(k[3+j]), float64(k[6+j])
				c0, c1, c2, c3, c4, c5 := filterT(k0, k1, k2)
				gt[0][j], gt[1][j], gt[2][j], gt[3][j], gt[4][j], gt[5][j] = c0, c1, c2, c3, c4, c5
			}
			for a := range 6 {
				v0, v1, v2, v3, v4, v5 := filterT(gt[a][0], gt[a][1], gt[a][2])
				for b, v := range [6]float64{v0, v1, v2, v3, v4, v5} {
					u[((a*6+b)*o+oc)*g.C+c] = float32(v)
				}
			}
		}
	}
	for xi := range 36 {
		wg.pa[xi] = PackA(o, wg.t, g.C, u[xi*o*g.C:(xi+1)*o*g.C], g.C)
	}
	return wg
}

func filterT(k0, k1, k2 float64) (c0, c1, c2, c3, c4, c5 float64) {
	return k0 / 4, -(k0 + k1 + k2) / 6, -(k0 - k1 + k2) / 6, k0/24 + k1/12 + k2/6, k0/24 - k1/12 + k2/6, k2
}

// ScratchSize returns the floats of working memory Run needs.
func (wg *Winograd43) ScratchSize() int { return wg.mO + 36*winoStride(wg.o*wg.t) }

// Flops returns the multiply-adds of the 36 products.
func (wg *Winograd43) Flops() int { return 36 * wg.o * wg.g.C * wg.t }

// Bind fixes the buffers of the following Runs: x (n, C, H, W) in, y (n,
// o, OutH, OutW) out, add (y's shape) added before the ReLU when non-nil,
// relu, and scratch of at least ScratchSize floats. Run then allocates
// nothing. Bind picks the transforms of the current vector path: the
// assembly ones (winograd43_amd64.go) where there are, else the Go
// reference (inputUnit, outputUnit), which give the same bits.
func (wg *Winograd43) Bind(x, y, add []float32, relu bool, scratch []float32) {
	g := wg.g
	if len(x) < wg.n*g.C*g.H*g.W || len(y) < wg.n*wg.o*g.OutH*g.OutW || len(scratch) < wg.ScratchSize() ||
		(add != nil && len(add) < wg.n*wg.o*g.OutH*g.OutW) {
		panic("kernels: Winograd43.Bind: buffer too short")
	}
	wg.asm = newWinoAsm(wg)
	wg.ld = wg.t
	if wg.asm != nil {
		wg.ld += winoPad
	}
	// V and M are laid out [ξ][channel][tile]: V_ξ, M_ξ are matrices of
	// row stride ld and t, vs and ms floats apart.
	wg.vs, wg.ms = winoStride(g.C*wg.ld), winoStride(wg.o*wg.t)
	v, m := scratch[:36*wg.vs], scratch[wg.mO:wg.mO+36*wg.ms]
	wg.x, wg.v, wg.y = x, v, y
	if wg.asm != nil {
		wg.bindAsm(m, add, relu)
	} else {
		wg.bindGo(m, add, relu)
	}
	// The bias is added to M at ξ = (1, 1): column 1 of A is all ones, so
	// Aᵀ·M·A adds it to every output of the tile.
	biasEp := &Epilogue{RowBias: wg.bias}
	wg.gemmFn = func(lo, hi int) {
		for xi := lo; xi < hi; xi++ {
			var ep *Epilogue
			if xi == 7 {
				ep = biasEp
			}
			GemmPacked(wg.pa[xi], wg.t, v[xi*wg.vs:], wg.ld, m[xi*wg.ms:], wg.t, ep, false)
		}
	}
}

// bindAsm binds the assembly transforms: a unit is one channel of the
// whole batch; the output transform adds add and applies the ReLU itself.
func (wg *Winograd43) bindAsm(m, add []float32, relu bool) {
	g := wg.g
	wg.k, wg.inN, wg.outN = 1, g.C, wg.o
	wg.newBufs(winoTmp)
	hw, ohw := g.H*g.W, g.OutH*g.OutW
	wg.inFn = func(lo, hi int) {
		buf := <-wg.bufs
		for c := lo; c < hi; c++ {
			wg.asm.input(wg.x[c*hw:], wg.v[c*wg.ld:], g.W, g.H, wg.vs, buf)
		}
		wg.bufs <- buf
	}
	wg.outFn = func(lo, hi int) {
		buf := <-wg.bufs
		for oc := lo; oc < hi; oc++ {
			var a []float32
			if add != nil {
				a = add[oc*ohw:]
			}
			wg.asm.output(m[oc*wg.t:], wg.y[oc*ohw:], a, wg.ms, g.OutW, relu, buf)
		}
		wg.bufs <- buf
	}
}

// bindGo binds the Go transforms.
func (wg *Winograd43) bindGo(m, add []float32, relu bool) {
	g := wg.g
	// A unit of the transforms is k whole channels: few tiles are
	// transformed k channels at a time, so each vector operation has
	// about winoChunk elements (the tiles of consecutive channels are
	// contiguous in V and M).
	k := max(1, winoChunk/wg.t)
	wg.k = k
	wg.inN, wg.outN = ceilDiv(g.C, k), ceilDiv(wg.o, k)
	wg.newBufs(78 * k * min(wg.t, winoChunk))
	wg.inFn = func(lo, hi int) {
		buf := <-wg.bufs
		for u := lo; u < hi; u++ {
			wg.inputUnit(u*k, min(k, g.C-u*k), buf)
		}
		wg.bufs <- buf
	}
	ohw := g.OutH * g.OutW
	wg.outFn = func(lo, hi int) {
		buf := <-wg.bufs
		for u := lo; u < hi; u++ {
			wg.outputUnit(u*k, min(k, wg.o-u*k), m, buf)
		}
		wg.bufs <- buf
		for oc := lo * k; oc < min(hi*k, wg.o); oc++ {
			for img := range wg.n {
				i := img*wg.o + oc
				plane := wg.y[i*ohw : (i+1)*ohw]
				if add != nil {
					addTo(plane, plane, add[i*ohw:(i+1)*ohw])
				}
				if relu {
					reluTo(plane, plane)
				}
			}
		}
	}
}

// newBufs makes the per-worker temporaries of size floats.
func (wg *Winograd43) newBufs(size int) {
	workers := max(Threads(), 1)
	wg.bufs = make(chan []float32, workers)
	for range workers {
		wg.bufs <- make([]float32, size)
	}
}

// winoChunk is the number of tiles whose transforms run together as
// vector operations, sized so their temporaries stay in L1/L2.
const winoChunk = 256

// outputTVec is outputT on whole rows: y0…y3 from m0…m5, with s a
// 4-row temporary.
func outputTVec(y0, y1, y2, y3, m0, m1, m2, m3, m4, m5, s12, d12, s34, d34 []float32) {
	addTo(s12, m1, m2)
	subTo(d12, m1, m2)
	addTo(s34, m3, m4)
	subTo(d34, m3, m4)
	addTo(y0, m0, s12)
	addTo(y0, y0, s34)
	axpbyDev(y1, 1, d12, 2, d34, 0, 0)
	axpbyDev(y2, 1, s12, 4, s34, 0, 0)
	axpbyDev(y3, 1, d12, 8, d34, 0, 0)
	addTo(y3, y3, m5)
}

// outputUnit transforms output channels oc0…oc0+nc-1 of every image back
// into y (the bias was added to M; the residual and ReLU are applied by
// the caller), the tiles in chunks (one chunk when nc > 1), each step a
// vector operation over the chunk of every channel.
func (wg *Winograd43) outputUnit(oc0, nc int, m, buf []float32) {
	g := wg.g
	ohw := g.OutH * g.OutW
	per := wg.th * wg.tw
	for t0 := 0; t0 < wg.t; t0 += winoChunk {
		tc := min(winoChunk, wg.t-t0)
		l := nc * tc
		row := func(i int) []float32 { return buf[i*l : (i+1)*l] }
		mr := func(xi int) []float32 {
			o := xi*wg.ms + oc0*wg.t + t0
			return m[o : o+l]
		}
		s12, d12, s34, d34 := row(40), row(41), row(42), row(43)
		// Along the columns of each of the 6 rows: q[a][j] is row 4a+j.
		for a := range 6 {
			outputTVec(row(4*a), row(4*a+1), row(4*a+2), row(4*a+3),
				mr(6*a), mr(6*a+1), mr(6*a+2), mr(6*a+3), mr(6*a+4), mr(6*a+5), s12, d12, s34, d34)
		}
		// Along the rows: y[i][j] is row 24+4i+j.
		for j := range 4 {
			outputTVec(row(24+j), row(28+j), row(32+j), row(36+j),
				row(j), row(4+j), row(8+j), row(12+j), row(16+j), row(20+j), s12, d12, s34, d34)
		}
		// Scatter a run of tiles of one tile row at a time.
		for kc := 0; kc < l; kc += tc {
			oc := oc0 + kc/tc
			for tt := 0; tt < tc; {
				t := t0 + tt
				img, r := t/per, t%per
				ti, tj := r/wg.tw, r%wg.tw
				run := min(wg.tw-tj, tc-tt)
				off := (img*wg.o + oc) * ohw
				plane := wg.y[off : off+ohw]
				for i := range min(4, g.OutH-4*ti) {
					o := (4*ti + i) * g.OutW
					yr := plane[o : o+g.OutW]
					for j := range 4 {
						// Columns 4·(tj+k)+j, k < n, lie within the plane.
						n := min(run, (g.OutW-j-4*tj+3)/4)
						src := buf[(24+4*i+j)*l+kc+tt : (24+4*i+j)*l+kc+tt+n]
						col := 4*tj + j
						for _, v := range src {
							yr[col] = v
							col += 4
						}
					}
				}
				tt += run
			}
		}
	}
}

// Run computes y = conv(x) + bias (+ add, then ReLU) on the bound buffers.
// parallel spreads the work over the worker pool.
func (wg *Winograd43) Run(parallel bool) {
	if wg.inFn == nil {
		panic("kernels: Winograd43.Run: not bound")
	}
	for _, st := range [...]struct {
		n  int
		fn func(lo, hi int)
	}{{wg.inN, wg.inFn}, {36, wg.gemmFn}, {wg.outN, wg.outFn}} {
		if parallel {
			For(st.n, 1, st.fn)
		} else {
			st.fn(0, st.n)
		}
	}
}

// inputTVec is inputT on whole rows: r0…r5 from d0…d5, with tmp six
// temporary rows.
func inputTVec(r0, r1, r2, r3, r4, r5, d0, d1, d2, d3, d4, d5 []float32, tmp [6][]float32) {
	s, u, e, w, f, h := tmp[0], tmp[1], tmp[2], tmp[3], tmp[4], tmp[5]
	axpbyDev(r0, 4, d0, -5, d2, 0, 0)
	addTo(r0, r0, d4)
	addTo(s, d3, d4)
	addTo(u, d1, d2)
	axpbyDev(r1, -4, u, 1, s, 0, 0)
	subTo(e, d4, d3)
	subTo(w, d1, d2)
	axpbyDev(r2, 4, w, 1, e, 0, 0)
	subTo(f, d4, d2)
	subTo(h, d3, d1)
	axpbyDev(r3, 2, h, 1, f, 0, 0)
	axpbyDev(r4, -2, h, 1, f, 0, 0)
	axpbyDev(r5, 4, d1, -5, d3, 0, 0)
	addTo(r5, r5, d5)
}

// inputUnit transforms the tiles of input channels c0…c0+nc-1 of every
// image into V, in chunks of tiles (one chunk when nc > 1): the 6×6
// patches are gathered as 36 rows, then transformed by vector operations
// over the rows.
func (wg *Winograd43) inputUnit(c0, nc int, buf []float32) {
	g := wg.g
	per := wg.th * wg.tw
	for t0 := 0; t0 < wg.t; t0 += winoChunk {
		tc := min(winoChunk, wg.t-t0)
		l := nc * tc
		row := func(i int) []float32 { return buf[i*l : (i+1)*l] }
		d := buf[:36*l]
		for kc := 0; kc < l; kc += tc {
			c := c0 + kc/tc
			// Gather a run of tiles of one tile row at a time: for each of
			// the 36 patch positions, a strided read of an input row into a
			// contiguous run of d's row.
			for tt := 0; tt < tc; {
				t := t0 + tt
				img, r := t/per, t%per
				ti, tj := r/wg.tw, r%wg.tw
				run := min(wg.tw-tj, tc-tt)
				x := wg.x[(img*g.C+c)*g.H*g.W : (img*g.C+c+1)*g.H*g.W]
				r0, c0 := 4*ti-g.PadH, 4*tj-g.PadW
				for a := range 6 {
					rr := r0 + a
					for b := range 6 {
						dst := d[(6*a+b)*l+kc+tt : (6*a+b)*l+kc+tt+run]
						if rr < 0 || rr >= g.H {
							clear(dst)
							continue
						}
						xr := x[rr*g.W : (rr+1)*g.W]
						cc := c0 + b
						if cc >= 0 && cc+4*(run-1) < g.W {
							src := xr[cc : cc+4*(run-1)+1]
							for k := range dst {
								dst[k] = src[4*k]
							}
							continue
						}
						for k := range dst {
							col := cc + 4*k
							if col >= 0 && col < g.W {
								dst[k] = xr[col]
							} else {
								dst[k] = 0
							}
						}
					}
				}
				tt += run
			}
		}
		tmp := [6][]float32{row(72), row(73), row(74), row(75), row(76), row(77)}
		// Along the columns: rows 36+6a'+b hold (Bᵀ·d)[a'][b].
		for b := range 6 {
			inputTVec(row(36+b), row(42+b), row(48+b), row(54+b), row(60+b), row(66+b),
				row(b), row(6+b), row(12+b), row(18+b), row(24+b), row(30+b), tmp)
		}
		// Along the rows, into V.
		vr := func(xi int) []float32 {
			o := xi*wg.vs + c0*wg.t + t0
			return wg.v[o : o+l]
		}
		for a := range 6 {
			inputTVec(vr(6*a), vr(6*a+1), vr(6*a+2), vr(6*a+3), vr(6*a+4), vr(6*a+5),
				row(36+6*a), row(36+6*a+1), row(36+6*a+2), row(36+6*a+3), row(36+6*a+4), row(36+6*a+5), tmp)
		}
	}
}
