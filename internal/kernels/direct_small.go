package kernels

import (
	"slices"
	"sync"
)

// SmallConv is a direct convolution for layers without dilation, where the
// implicit GEMM spends much of its time packing short output-row segments.
//
// It computes "wide" output rows. The input of nb images is laid out
// padded, side by side (see wideLayout): at stride 1 channel c is one plane
// of rows wp floats long, neighbouring images sharing their padding
// columns, and output pixel (b, oh, ow) is column oh·wp + b·(W+PadW) + ow
// of a product whose B row for the tap (c, kh, kw) is plane c read from
// offset kh·wp + kw on: a contiguous run. A strided layer's input is split
// into phases (the rows and columns of each residue modulo the strides),
// each tap reading one phase at stride 1, so its runs are contiguous too.
// The indirect micro-kernels (gemmKernel.ind) read those runs in place, so
// nothing is packed but the weights, once by [NewSmallConv]; the columns
// that fall on padding are computed and dropped.
type SmallConv struct {
	l    wideLayout
	m    int // output channels
	kern *gemmKernel
	np   int // wide columns of nb images rounded up to whole panels
	mp   int // m rounded up to whole panels
	a    []float32
	// offs are the layout's tap offsets, then with a bias the offset of a
	// run of ones past the stacked input: the bias is one more tap.
	offs []int
	xs   int // length of the stacked input, the ones included
}

// SmallConvScratch is the working memory of one concurrent [SmallConv.Run].
type SmallConvScratch struct {
	xp, c []float32
}

// SmallConvOK reports whether [NewSmallConv] accepts the geometry g (for
// one group): any stride, no dilation.
func SmallConvOK(g ConvGeom) bool {
	return g.StrideH >= 1 && g.StrideW >= 1 && max(g.DilH, 1) == 1 && max(g.DilW, 1) == 1 &&
		g.H+2*g.PadH >= g.KH && g.W+2*g.PadW >= g.KW &&
		g.OutH == (g.H+2*g.PadH-g.KH)/g.StrideH+1 && g.OutW == (g.W+2*g.PadW-g.KW)/g.StrideW+1 && g.OutH > 0 && g.OutW > 0
}

// Limits of the direct path in the inference engine (one image per run):
// few output channels, a shallow reduction and a small (wide) output plane,
// so that its padded-column waste costs less than the implicit GEMM's
// packing of short row segments. LeNet-5's convolutions and ResNet-20's
// 32-channel 3×3 layers (16×16) qualify; no ResNet-18 layer does.
const (
	smallMaxOut   = 32
	smallMaxDepth = 512
	smallMaxWide  = 1024
)

// SmallConvPays reports whether a convolution of geometry g (one group)
// with o output channels runs faster one image at a time as a [SmallConv]
// than as an implicit GEMM: a tiny layer that [SmallConvOK] accepts.
func SmallConvPays(g ConvGeom, o int) bool {
	return g.StrideH == 1 && g.StrideW == 1 && o <= smallMaxOut && g.C*g.KH*g.KW < smallMaxDepth && g.OutH*(g.W+2*g.PadW) <= smallMaxWide && SmallConvOK(g)
}

// NewSmallConv packs the weights w (m, C, KH, KW) and bias (m; nil for
// none) for the geometry g (see [SmallConvOK]), one image per Run.
func NewSmallConv(g ConvGeom, m int, w, bias []float32) *SmallConv {
	return NewSmallConvBatch(g, m, 1, w, bias)
}

// NewSmallConvBatch is [NewSmallConv] for runs of up to nb images.
func NewSmallConvBatch(g ConvGeom, m, nb int, w, bias []float32) *SmallConv {
	if !SmallConvOK(g) || nb < 1 {
		panic("kernels: NewSmallConv: unsupported geometry")
	}
	kt := g.C * g.KH * g.KW
	if len(w) < m*kt || (bias != nil && len(bias) < m) {
		panic("kernels: NewSmallConv: weights too short")
	}
	s := &SmallConv{m: m}
	nw := wideCols(g, nb)
	s.kern = activeIndKernel(m, nw)
	mr, nr := s.kern.mr, s.kern.nr
	s.np = ceilDiv(nw, nr) * nr
	s.l = newWideLayout(g, nb, s.np)
	s.mp = ceilDiv(m, mr) * mr
	s.offs, s.xs = s.l.offs, s.l.size
	if bias != nil {
		s.offs = append(s.l.offs[:kt:kt], s.l.size)
		s.xs += s.np
	}
	s.a = make([]float32, s.mp*len(s.offs))
	s.pack(w, bias)
	return s
}

// pack packs the weights w (m, C, KH, KW) and bias (nil: none) into s.a,
// in the micro-kernel's panel layout; s's layout decides whether the bias
// is a tap.
func (s *SmallConv) pack(w, bias []float32) {
	mr, k := s.kern.mr, len(s.offs)
	kt := len(s.l.offs)
	if len(w) < s.m*kt || (bias != nil) != (k > kt) || (bias != nil && len(bias) < s.m) {
		panic("kernels: NewSmallConv: weights too short")
	}
	for i := range s.m {
		panel := s.a[(i/mr)*mr*k:]
		r := i % mr
		for p := range kt {
			panel[p*mr+r] = w[i*kt+p]
		}
		if bias != nil {
			panel[kt*mr+r] = bias[i]
		}
	}
}

// activeIndKernel is activeGemmKernel among the kernels with an indirect
// variant: the forced kernel when it has one, else the path's best fit.
func activeIndKernel(m, n int) *gemmKernel {
	if k := gemmForced.Load(); k != nil && k.ind != nil {
		return k
	}
	best := bestFit(m, n, activeGemmKernel(m, n).path(), func(k *gemmKernel) bool { return k.ind != nil })
	if best == nil {
		return genericGemmKernel
	}
	return best
}

// NewScratch returns working memory for one concurrent Run.
func (s *SmallConv) NewScratch() *SmallConvScratch {
	sc := &SmallConvScratch{xp: make([]float32, s.xs), c: make([]float32, s.mp*s.np)}
	for i := s.l.size; i < s.xs; i++ {
		sc.xp[i] = 1 // the bias tap's run
	}
	return sc
}

// Run computes one image: y (m, OutH, OutW) = conv(x (C, H, W)) + bias,
// plus add (same shape as y) when non-nil, then ReLU when relu is set.
func (s *SmallConv) Run(x, y, add []float32, relu bool, sc *SmallConvScratch) {
	s.RunN(1, x, y, add, relu, sc)
}

// RunN is [SmallConv.Run] for n ≤ nb consecutive images: x (n, C, H, W),
// y and add (n, m, OutH, OutW).
func (s *SmallConv) RunN(n int, x, y, add []float32, relu bool, sc *SmallConvScratch) {
	g := s.l.g
	ohw := g.OutH * g.OutW
	if n < 1 || n > s.l.nb || len(x) < n*g.C*g.H*g.W || len(y) < n*s.m*ohw || (add != nil && len(add) < n*s.m*ohw) ||
		len(sc.xp) < s.xs || len(sc.c) < s.mp*s.np {
		panic("kernels: SmallConv.Run: buffer too short")
	}
	s.l.fill(sc.xp, x, n)
	mr, nr, k := s.kern.mr, s.kern.nr, len(s.offs)
	ind := s.kern.ind
	np := ceilDiv(s.l.cols(n), nr) * nr
	for j0 := 0; j0 < np; j0 += nr {
		b := sc.xp[j0:]
		for i := 0; i < s.mp; i += mr {
			ind(k, s.a[i*k:(i+mr)*k], b, s.offs, sc.c[i*s.np+j0:], s.np)
		}
	}
	// Compact the wide rows into y, then the residual add and ReLU in one
	// pass each over the contiguous output (short rows would run mostly
	// in the kernels' scalar tails).
	for b := range n {
		for o := range s.m {
			dst := y[(b*s.m+o)*ohw:]
			src := sc.c[o*s.np:]
			for oh := range g.OutH {
				j := s.l.col(b, oh)
				copy(dst[oh*g.OutW:(oh+1)*g.OutW], src[j:j+g.OutW])
			}
		}
	}
	yy := y[:n*s.m*ohw]
	if add != nil {
		addTo(yy, yy, add[:len(yy)])
	}
	if relu {
		reluTo(yy, yy)
	}
}

// Flops returns the multiply-adds one Run of nb images performs, padding
// included.
func (s *SmallConv) Flops() int { return s.mp * s.np * len(s.offs) }

// wideCols returns the wide output columns a run of nb images of g
// computes (see wideLayout).
func wideCols(g ConvGeom, nb int) int {
	l := wideShape(g, nb)
	return l.cols(nb)
}

// wideLayout is the stacked, padded input of the direct convolutions for
// up to nb images of g, side by side.
//
// Stride 1: channel c is the plane xp[c·plane:] of H + 2·PadH rows, wp =
// nb·cs + PadW long (cs = W + PadW); image b's pixel (h, w) is at row PadH
// + h, column PadW + b·cs + w, so neighbours share PadW zero columns.
//
// Strides sh, sw: the padded image is split into its sh·sw phases, the
// rows and columns of each residue modulo the strides, so that every tap
// reads a phase at stride 1: channel c has the planes c·sh·sw + ph·sw + pw
// of hp = ⌈(H+2·PadH)/sh⌉ rows, wp = nb·cs long (cs = ⌈(W+2·PadW)/sw⌉,
// both paddings included: no sharing), and the padded pixel (r, q) of
// image b is in phase (r mod sh, q mod sw) at row r/sh, column b·cs + q/sw.
//
// Everything but the pixels is zero, and stays so: fill writes only the
// pixels. offs holds each tap's (c, kh, kw) offset, for stride 1
// c·plane + kh·wp + kw, else (c·sh·sw + (kh mod sh)·sw + kw mod sw)·plane
// + (kh/sh)·wp + kw/sw, so wide output column j of tap t reads
// xp[offs[t]+j], and output pixel (b, oh, ow) is column oh·wp + b·cs + ow
// (see col). The columns past an image's outputs (the padding between
// images) are computed and dropped.
type wideLayout struct {
	g           ConvGeom
	nb          int
	wp, cs      int
	plane, size int
	offs        []int
}

// strided reports whether the layout is split into phases.
func (l *wideLayout) strided() bool { return l.g.StrideH > 1 || l.g.StrideW > 1 }

// col returns the wide column of output pixel (b, oh, 0).
func (l *wideLayout) col(b, oh int) int { return oh*l.wp + b*l.cs }

// cols returns the wide columns a run of n ≤ nb images computes: up to its
// last output pixel.
func (l *wideLayout) cols(n int) int { return l.col(n-1, l.g.OutH-1) + l.g.OutW }

// wideShape returns the layout of nb images of g without its offsets.
func wideShape(g ConvGeom, nb int) wideLayout {
	l := wideLayout{g: g, nb: nb}
	if l.strided() {
		hp := ceilDiv(g.H+2*g.PadH, g.StrideH)
		l.cs = ceilDiv(g.W+2*g.PadW, g.StrideW)
		l.wp = nb * l.cs
		l.plane = hp * l.wp
		return l
	}
	l.cs = g.W + g.PadW
	l.wp = nb*l.cs + g.PadW
	l.plane = (g.H + 2*g.PadH) * l.wp
	return l
}

// newWideLayout lays out nb images of g for reads of up to cols columns
// past any tap's offset.
func newWideLayout(g ConvGeom, nb, cols int) wideLayout {
	l := wideShape(g, nb)
	sh, sw := g.StrideH, g.StrideW
	for c := range g.C {
		for kh := range g.KH {
			for kw := range g.KW {
				phase := c*sh*sw + (kh%sh)*sw + kw%sw
				l.offs = append(l.offs, phase*l.plane+(kh/sh)*l.wp+kw/sw)
			}
		}
	}
	l.size = slices.Max(l.offs) + cols
	if l.strided() { // fill writes every row of the phases the taps read
		l.size = max(l.size, g.C*sh*sw*l.plane)
	}
	return l
}

// fill copies the pixels of n ≤ nb images x (n, C, H, W) into xp, and
// zeroes the slots of images n…nb−1 (so that what an earlier, larger batch
// left there, Inf or NaN included, cannot reach a weight gradient's sums).
func (l *wideLayout) fill(xp, x []float32, n int) {
	g := l.g
	if l.strided() {
		l.fillPhases(xp, x, n)
		return
	}
	for c := range g.C {
		for b := range l.nb {
			dst := xp[c*l.plane+g.PadH*l.wp+g.PadW+b*l.cs:]
			if b >= n {
				for h := range g.H {
					clear(dst[h*l.wp : h*l.wp+g.W])
				}
				continue
			}
			src := x[(b*g.C+c)*g.H*g.W:]
			for h := range g.H {
				copy(dst[h*l.wp:h*l.wp+g.W], src[h*g.W:(h+1)*g.W])
			}
		}
	}
}

// fillPhases is fill for a strided layout: each image row is dealt out to
// its phases' rows, one column residue at a time.
func (l *wideLayout) fillPhases(xp, x []float32, n int) {
	g := l.g
	sh, sw := g.StrideH, g.StrideW
	for c := range g.C {
		for b := range l.nb {
			var src []float32
			if b < n {
				src = x[(b*g.C+c)*g.H*g.W:]
			}
			for h := range g.H {
				r := g.PadH + h
				if r%sh >= g.KH {
					continue // a phase no tap reads (a kernel smaller than the stride)
				}
				row := xp[(c*sh*sw+(r%sh)*sw)*l.plane+(r/sh)*l.wp+b*l.cs:]
				for pw := range sw {
					// Pixels w ≡ pw − PadW (mod sw) go to phase column q/sw
					// of phase (r mod sh, q mod sw), q = PadW + w.
					w0 := ((pw-g.PadW)%sw + sw) % sw
					if w0 >= g.W || pw >= g.KW {
						continue
					}
					q0 := g.PadW + w0
					dst := row[(q0%sw)*l.plane+q0/sw:]
					cnt := (g.W - w0 + sw - 1) / sw
					if src == nil {
						clear(dst[:cnt])
						continue
					}
					gatherStrided(dst[:cnt], src[h*g.W+w0:h*g.W+w0+(cnt-1)*sw+1], sw)
				}
			}
		}
	}
}

// gatherStrided sets dst[i] = src[i·stride] for every i; src holds
// exactly (len(dst)−1)·stride + 1 floats.
func gatherStrided(dst, src []float32, stride int) {
	if stride == 2 {
		for i := range dst {
			dst[i] = src[2*i]
		}
		return
	}
	for i := range dst {
		dst[i] = src[i*stride]
	}
}

// SmallConvGrad is the weight gradient of the convolutions [SmallConv]
// runs: with dy laid out in the same wide columns (zero where the forward
// drops a column), dW[o][t] = Σ_j dy[o][j] · xp[offs[t]+j], a dot product
// along the columns for each output channel o and tap t, run by the dot
// kernels on the stacked input in place: no unfolding, no packing.
type SmallConvGrad struct {
	l    wideLayout
	m    int
	kern *dotKernel
	kd   int   // wide columns of nb images rounded up to whole vectors
	mp   int   // m rounded up to whole tiles
	offs []int // the taps' offsets, rounded up to whole tiles with 0s
}

// SmallConvGradScratch is the working memory of one concurrent
// accumulation: the stacked input, dy's wide rows and the lane sums of
// every (output channel, tap) pair.
type SmallConvGradScratch struct {
	xp, dy, acc []float32
}

// NewSmallConvGrad returns the weight gradient of m output channels for the
// geometry g (see [SmallConvOK]), up to nb images per
// [SmallConvGrad.Accumulate]. With more padding than the kernel reaches
// (PadW ≥ KW) neighbouring images would share output columns, so it takes
// one image at a time.
func NewSmallConvGrad(g ConvGeom, m, nb int) *SmallConvGrad {
	if !SmallConvOK(g) || nb < 1 {
		panic("kernels: NewSmallConvGrad: unsupported geometry")
	}
	if g.PadW >= g.KW && g.StrideW == 1 {
		nb = 1 // neighbours' output columns would overlap
	}
	k := activeDotKernel()
	s := &SmallConvGrad{m: m, kern: k}
	s.kd = ceilDiv(wideCols(g, nb), k.lanes) * k.lanes
	s.l = newWideLayout(g, nb, s.kd)
	s.mp = ceilDiv(m, k.mr) * k.mr
	s.offs = make([]int, ceilDiv(len(s.l.offs), k.nr)*k.nr)
	copy(s.offs, s.l.offs)
	return s
}

// Batch returns the most images one Accumulate takes.
func (s *SmallConvGrad) Batch() int { return s.l.nb }

// NewScratch returns zeroed working memory for one concurrent accumulation.
func (s *SmallConvGrad) NewScratch() *SmallConvGradScratch {
	return &SmallConvGradScratch{
		xp:  make([]float32, s.l.size),
		dy:  make([]float32, s.mp*s.kd),
		acc: make([]float32, s.mp*len(s.offs)*s.kern.lanes),
	}
}

// Accumulate adds the weight gradient of n ≤ Batch() images, dy (n, m,
// OutH, OutW) against their inputs x (n, C, H, W), to the scratch's sums.
func (s *SmallConvGrad) Accumulate(n int, dy, x []float32, sc *SmallConvGradScratch) {
	g, l := s.l.g, &s.l
	ohw := g.OutH * g.OutW
	if n < 1 || n > l.nb || len(x) < n*g.C*g.H*g.W || len(dy) < n*s.m*ohw ||
		len(sc.xp) < l.size || len(sc.dy) < s.mp*s.kd || len(sc.acc) < s.mp*len(s.offs)*s.kern.lanes {
		panic("kernels: SmallConvGrad.Accumulate: buffer too short")
	}
	l.fill(sc.xp, x, n)
	kd := ceilDiv(l.cols(n), s.kern.lanes) * s.kern.lanes
	for o := range s.m {
		row := sc.dy[o*s.kd:]
		for b := range n {
			src := dy[(b*s.m+o)*ohw:]
			for oh := range g.OutH {
				j := l.col(b, oh)
				copy(row[j:j+g.OutW], src[oh*g.OutW:(oh+1)*g.OutW])
			}
		}
		// The slots of images past n: what an earlier, larger batch left.
		for b := n; b < l.nb; b++ {
			for oh := range g.OutH {
				if j := l.col(b, oh); j < kd {
					clear(row[j:min(j+g.OutW, kd)])
				}
			}
		}
	}
	mr, nr, lanes := s.kern.mr, s.kern.nr, s.kern.lanes
	fn := s.kern.fn
	tile := mr * nr * lanes
	nt := len(s.offs) / nr
	for i := 0; i < s.mp; i += mr {
		a := sc.dy[i*s.kd:]
		for j := range nt {
			fn(kd, a, s.kd, sc.xp, s.offs[j*nr:(j+1)*nr], sc.acc[(i/mr*nt+j)*tile:])
		}
	}
}

// AddTo adds the sums in sc to dw (m, C, KH, KW) and zeroes them.
func (s *SmallConvGrad) AddTo(dw []float32, sc *SmallConvGradScratch) {
	kt := len(s.l.offs)
	mr, nr, lanes := s.kern.mr, s.kern.nr, s.kern.lanes
	nt := len(s.offs) / nr
	if len(dw) < s.m*kt {
		panic("kernels: SmallConvGrad.AddTo: dw too short")
	}
	for o := range s.m {
		for t := range kt {
			i, j := o/mr, t/nr
			base := ((i*nt+j)*mr*nr + (o%mr)*nr + t%nr) * lanes
			v := sc.acc[base : base+lanes]
			var sum float32
			for _, e := range v {
				sum += e
			}
			dw[o*kt+t] += sum
		}
	}
	clear(sc.acc)
}

// The direct convolutions' working memory is recycled: a training step
// runs the same layers every time, and fresh megabytes per call would be
// garbage for the collector (and resident memory). A released SmallConv,
// SmallConvGrad or scratch waits in a free list keyed by everything its
// sizes depend on; a scratch keeps its zero borders, since every user of
// the same key fills the same pixels.

// smallKey identifies the memory layout of a direct convolution's object:
// a SmallConv, a SmallConvGrad, or the scratch of one.
type smallKey struct {
	g      ConvGeom
	m, nb  int
	bias   bool
	kind   uint8 // smallConvKind, …
	kernel string
}

const (
	smallConvKind uint8 = iota
	smallConvScratchKind
	smallGradKind
	smallGradScratchKind
)

// smallFree holds the released objects, at most smallFreeMax floats in
// all: beyond that, releasing an object drops objects of other layouts
// (any, to the garbage collector) to make room, so a process that meets
// many geometries (eager inference on images of many sizes, one model
// trained after another) neither hoards the memory of each nor, once the
// list is full of layouts it no longer uses, allocates on every call.
var smallFree struct {
	sync.Mutex
	items  map[smallKey][]any
	floats int
	sizes  map[any]int
}

const smallFreeMax = 16 << 20 // floats: 64 MiB

// getFree takes a released object of key k, if any.
func getFree(k smallKey) (any, bool) {
	smallFree.Lock()
	defer smallFree.Unlock()
	if len(smallFree.items[k]) == 0 {
		return nil, false
	}
	return popFree(k), true
}

// popFree removes and returns the last free object of key k, which has
// one; smallFree is locked.
func popFree(k smallKey) any {
	l := smallFree.items[k]
	v := l[len(l)-1]
	l[len(l)-1] = nil
	smallFree.items[k] = l[:len(l)-1] // empty, the slice is kept for the next release
	smallFree.floats -= smallFree.sizes[v]
	delete(smallFree.sizes, v)
	return v
}

// putFree releases v, of key k and holding floats floats, unless the free
// list is full.
func putFree(k smallKey, v any, floats int) {
	smallFree.Lock()
	defer smallFree.Unlock()
	if floats > smallFreeMax {
		return
	}
	for smallFree.floats+floats > smallFreeMax {
		dropOther(k)
	}
	if smallFree.items == nil {
		smallFree.items, smallFree.sizes = map[smallKey][]any{}, map[any]int{}
	}
	smallFree.items[k] = append(smallFree.items[k], v)
	smallFree.sizes[v] = floats
	smallFree.floats += floats
}

// dropOther drops one free object of a layout other than k (the list is
// over its size, so one exists: k's own fit within it); smallFree is locked.
func dropOther(k smallKey) {
	for o, l := range smallFree.items {
		if o != k && len(l) > 0 {
			popFree(o)
			return
		}
	}
	popFree(k) // only k's own objects
}

func (s *SmallConv) key(kind uint8) smallKey {
	return smallKey{g: s.l.g, m: s.m, nb: s.l.nb, bias: len(s.offs) > len(s.l.offs), kind: kind, kernel: s.kern.name}
}

// AcquireSmallConv is [NewSmallConvBatch] reusing the memory of a released
// SmallConv of the same layout, when there is one.
func AcquireSmallConv(g ConvGeom, m, nb int, w, bias []float32) *SmallConv {
	if !SmallConvOK(g) || nb < 1 {
		panic("kernels: NewSmallConv: unsupported geometry")
	}
	k := smallKey{g: g, m: m, nb: nb, bias: bias != nil, kind: smallConvKind, kernel: activeIndKernel(m, wideCols(g, nb)).name}
	v, ok := getFree(k)
	if !ok {
		return NewSmallConvBatch(g, m, nb, w, bias)
	}
	s := v.(*SmallConv)
	s.pack(w, bias)
	return s
}

// Release gives s back for a later [AcquireSmallConv]; s must not be used
// after.
func (s *SmallConv) Release() { putFree(s.key(smallConvKind), s, len(s.a)) }

// AcquireScratch returns working memory for one concurrent Run, a released
// one of the same layout when there is one.
func (s *SmallConv) AcquireScratch() *SmallConvScratch {
	if v, ok := getFree(s.key(smallConvScratchKind)); ok {
		return v.(*SmallConvScratch)
	}
	return s.NewScratch()
}

// ReleaseScratch gives sc, working memory of s, back for a later
// AcquireScratch.
func (s *SmallConv) ReleaseScratch(sc *SmallConvScratch) {
	putFree(s.key(smallConvScratchKind), sc, len(sc.xp)+len(sc.c))
}

func (s *SmallConvGrad) key(kind uint8) smallKey {
	return smallKey{g: s.l.g, m: s.m, nb: s.l.nb, kind: kind, kernel: s.kern.name}
}

// AcquireSmallConvGrad is [NewSmallConvGrad] reusing a released one of the
// same layout, when there is one.
func AcquireSmallConvGrad(g ConvGeom, m, nb int) *SmallConvGrad {
	if !SmallConvOK(g) || nb < 1 {
		panic("kernels: NewSmallConvGrad: unsupported geometry")
	}
	if g.PadW >= g.KW && g.StrideW == 1 {
		nb = 1
	}
	k := smallKey{g: g, m: m, nb: nb, kind: smallGradKind, kernel: activeDotKernel().name}
	if v, ok := getFree(k); ok {
		return v.(*SmallConvGrad)
	}
	return NewSmallConvGrad(g, m, nb)
}

// Release gives s back for a later [AcquireSmallConvGrad].
func (s *SmallConvGrad) Release() { putFree(s.key(smallGradKind), s, len(s.offs)) }

// AcquireScratch returns zeroed sums and working memory for one concurrent
// accumulation, a released one of the same layout when there is one.
func (s *SmallConvGrad) AcquireScratch() *SmallConvGradScratch {
	if v, ok := getFree(s.key(smallGradScratchKind)); ok {
		return v.(*SmallConvGradScratch)
	}
	return s.NewScratch()
}

// ReleaseScratch gives sc back for a later AcquireScratch; its sums must
// have been taken by [SmallConvGrad.AddTo] (which zeroes them).
func (s *SmallConvGrad) ReleaseScratch(sc *SmallConvGradScratch) {
	putFree(s.key(smallGradScratchKind), sc, len(sc.xp)+len(sc.dy)+len(sc.acc))
}
