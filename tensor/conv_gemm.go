package tensor

import (
	"slices"
	"sync"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// gemmColsTarget is the GEMM width (columns of the unfolded input) the
// batched path aims for: images whose output plane is smaller are unfolded
// side by side until their planes add up to about this many columns.
// gemmColsMax bounds the unfolded matrix (floats) of one GEMM.
const (
	gemmColsTarget = 1024
	gemmColsMax    = 1 << 22
)

// imageBatch returns how many images each GEMM covers (nb) and how many such
// groups of images there are (ng).
func (a convArgs) imageBatch() (nb, ng int) {
	nb = max(1, min(a.n, (gemmColsTarget+a.hw-1)/a.hw, gemmColsMax/max(a.kg*a.hw, 1)))
	if t := kernels.Threads(); a.n >= t && t > 1 {
		nb = min(nb, (a.n+t-1)/t) // at least one group per thread
	}
	ng = (a.n + nb - 1) / nb
	nb = (a.n + ng - 1) / ng // even out the groups
	return nb, ng
}

// groupArgs are the arguments of the GEMM paths' loops over image groups
// (gemmForward, gemmBackwardInput, gemmBackwardWeight): the layer, its
// input (or dy), weights (or dy), bias, output, the grouping, the GEMM to
// use and the chunks' partial sums.
type groupArgs struct {
	a          convArgs
	x, w, b, y []float32
	nb, ng     int
	gemm       gemmFunc
	par        bool
	parts      partials[*[]float32]
}

var groupJobs jobs[groupArgs]

// overGroups runs fn over the ng image groups of args: spread over the
// workers with serial GEMMs when there are at least as many groups as
// threads, else on the calling goroutine with parallel GEMMs; then after
// (nil: nothing), with the arguments as fn left them.
func overGroups(args *groupArgs, fn func(p *groupArgs, lo, hi int), after func(p *groupArgs)) {
	j := groupJobs.get(args)
	defer groupJobs.put(j)
	if t := kernels.Threads(); t > 1 && args.ng >= t {
		j.args.gemm, j.args.par = kernels.GemmSerial, false
		j.For(args.ng, 1, fn)
	} else {
		j.args.gemm, j.args.par = kernels.Gemm, true
		fn(&j.args, 0, args.ng)
	}
	if after != nil {
		after(&j.args)
	}
}

// scratch takes a chunk's working memory: the unfolded columns of nb
// images (none for a plain 1×1 layer with one image per GEMM) and, with
// several images per GEMM, an og × nb·hw matrix; putGroupScratch gives
// them back.
func (p *groupArgs) scratch() (cols, aux *[]float32) {
	a := &p.a
	if p.nb > 1 || !direct(a.geo) {
		cols = getScratch(a.kg * p.nb * a.hw)
	}
	if p.nb > 1 {
		aux = getScratch(a.og * p.nb * a.hw)
	}
	return cols, aux
}

// putGroupScratch gives back what scratch took.
func putGroupScratch(cols, aux *[]float32) {
	if cols != nil {
		putScratch(cols)
	}
	if aux != nil {
		putScratch(aux)
	}
}

// addGroupPartials adds the chunks' partial weight gradients to p.y.
func addGroupPartials(p *groupArgs) { addPartials(&p.parts, p.y) }

// gatherPlanes copies, for images i0…i0+m-1, the og planes of hw values
// starting at channel ch of a (N, chans, hw) tensor into a og × (m·hw)
// matrix: row r holds channel ch+r of every image side by side.
func gatherPlanes(src []float32, chans, ch, og, hw, i0, m int, dst []float32) {
	ld := m * hw
	for j := range m {
		base := ((i0+j)*chans + ch) * hw
		for r := range og {
			copy(dst[r*ld+j*hw:r*ld+(j+1)*hw], src[base+r*hw:base+(r+1)*hw])
		}
	}
}

// gemmForward: out = W·im2col(x) (+ bias), several images per GEMM when the
// output planes are small.
func gemmForward(a convArgs, xd, wd, bd, out []float32) {
	nb, ng := a.imageBatch()
	overGroups(&groupArgs{a: a, x: xd, w: wd, b: bd, y: out, nb: nb, ng: ng}, gemmForwardChunk, nil)
}

// gemmForwardChunk runs image groups lo…hi−1 of gemmForward.
func gemmForwardChunk(p *groupArgs, lo, hi int) {
	a, nb, gemm, par := &p.a, p.nb, p.gemm, p.par
	geo, g, o, og, kg, hw, chw := a.geo, a.g, a.o, a.og, a.kg, a.hw, a.chw
	xd, wd, bd, out := p.x, p.w, p.b, p.y
	cols, tmp := p.scratch()
	defer putGroupScratch(cols, tmp)
	for bi := lo; bi < hi; bi++ {
		i0 := bi * nb
		m := min(nb, a.n-i0)
		ld := m * hw
		for gi := range g {
			wg := wd[gi*og*kg : (gi+1)*og*kg]
			if m == 1 {
				src := xd[(i0*g+gi)*chw : (i0*g+gi+1)*chw]
				if cols != nil {
					kernels.Im2colLd(geo, src, *cols, hw)
					src = *cols
				}
				dst := out[(i0*o+gi*og)*hw : (i0*o+(gi+1)*og)*hw]
				var ep *kernels.Epilogue
				if bd != nil {
					ep = &kernels.Epilogue{RowBias: bd[gi*og : (gi+1)*og]}
				}
				kernels.GemmEx(og, hw, kg, 1, wg, kg, src, hw, 0, dst, hw, kernels.GemmOpts{Epilogue: ep, Parallel: par})
				continue
			}
			for j := range m {
				i := i0 + j
				kernels.Im2colLd(geo, xd[(i*g+gi)*chw:(i*g+gi+1)*chw], (*cols)[j*hw:], ld)
			}
			t := *tmp
			gemm(false, false, og, ld, kg, 1, wg, kg, *cols, ld, 0, t, ld)
			for j := range m {
				base := ((i0+j)*o + gi*og) * hw
				for r := range og {
					d, s := out[base+r*hw:base+(r+1)*hw], t[r*ld+j*hw:r*ld+(j+1)*hw]
					if bd == nil {
						copy(d, s)
						continue
					}
					bv := bd[gi*og+r]
					for k := range d {
						d[k] = s[k] + bv
					}
				}
			}
		}
	}
}

// gemmBackwardInput: dx = col2im(Wᵀ·dy), several images per GEMM when the
// output planes are small.
func gemmBackwardInput(a convArgs, dyd, wd, dx []float32) {
	nb, ng := a.imageBatch()
	overGroups(&groupArgs{a: a, x: dyd, w: wd, y: dx, nb: nb, ng: ng}, gemmBackwardInputChunk, nil)
}

// gemmBackwardInputChunk runs image groups lo…hi−1 of gemmBackwardInput.
func gemmBackwardInputChunk(p *groupArgs, lo, hi int) {
	a, nb, gemm := &p.a, p.nb, p.gemm
	geo, g, o, og, kg, hw, chw := a.geo, a.g, a.o, a.og, a.kg, a.hw, a.chw
	dyd, wd, dx := p.x, p.w, p.y
	cols, dyc := p.scratch()
	defer putGroupScratch(cols, dyc)
	for bi := lo; bi < hi; bi++ {
		i0 := bi * nb
		m := min(nb, a.n-i0)
		ld := m * hw
		for gi := range g {
			wg := wd[gi*og*kg : (gi+1)*og*kg]
			if m == 1 {
				d := dyd[(i0*o+gi*og)*hw : (i0*o+(gi+1)*og)*hw]
				dst := dx[(i0*g+gi)*chw : (i0*g+gi+1)*chw]
				if cols == nil {
					gemm(true, false, kg, hw, og, 1, wg, kg, d, hw, 0, dst, hw)
					continue
				}
				gemm(true, false, kg, hw, og, 1, wg, kg, d, hw, 0, *cols, hw)
				col2im(geo, *cols, dst, hw)
				continue
			}
			gatherPlanes(dyd, o, gi*og, og, hw, i0, m, *dyc)
			gemm(true, false, kg, ld, og, 1, wg, kg, *dyc, ld, 0, *cols, ld)
			for j := range m {
				i := i0 + j
				col2im(geo, (*cols)[j*hw:], dx[(i*g+gi)*chw:(i*g+gi+1)*chw], ld)
			}
		}
	}
}

// col2im folds the columns of an input gradient back into dx (C×H×W) by
// kernels.Col2imLd, into a cleared dx, or, for a strided 1×1 layer, by
// kernels.Deal1x1Ld, which writes dx whole (see dealsWhole): one pass
// instead of a clear and scattered adds (BenchmarkConvAlgos, input
// gradient, alternated on the 2-core Zen 5: ResNet-20's 1×1 stride-2
// shortcut 51–59 → 64–67 GFLOP/s, ResNet-18's 64→128 downsample at batch
// 16 177–189 → 198–203).
func col2im(geo kernels.ConvGeom, cols, dx []float32, ld int) {
	if kernels.Deal1x1OK(geo) {
		kernels.Deal1x1Ld(geo, cols, dx, ld)
		return
	}
	kernels.Col2imLd(geo, cols, dx, ld)
}

// dealsWhole reports whether gemmBackwardInput writes every element of dx
// itself, which then need not be cleared first: a strided 1×1 layer
// (kernels.Deal1x1OK).
func dealsWhole(a convArgs) bool { return kernels.Deal1x1OK(a.geo) }

// gemmBackwardWeight: dW = Σ dy·im2col(x)ᵀ, several images per GEMM when the
// output planes are small, so the GEMM's inner dimension is long. Workers sum
// into pooled partial buffers that are added up at the end.
func gemmBackwardWeight(a convArgs, dyd, xd, dw []float32) {
	nb, ng := a.imageBatch()
	overGroups(&groupArgs{a: a, x: xd, w: dyd, y: dw, nb: nb, ng: ng}, gemmBackwardWeightChunk, addGroupPartials)
}

// gemmBackwardWeightChunk runs image groups lo…hi−1 of gemmBackwardWeight.
func gemmBackwardWeightChunk(p *groupArgs, lo, hi int) {
	a, nb, gemm := &p.a, p.nb, p.gemm
	geo, g, o, og, kg, hw, chw := a.geo, a.g, a.o, a.og, a.kg, a.hw, a.chw
	xd, dyd, dw := p.x, p.w, p.y
	cols, dyc := p.scratch()
	defer putGroupScratch(cols, dyc)
	// A chunk that covers every group writes dw itself; others sum
	// into a partial buffer.
	acc := dw
	if lo > 0 || hi < p.ng {
		part := getScratch(len(dw))
		acc = *part
		clear(acc)
		defer p.parts.add(lo, part)
	}
	for bi := lo; bi < hi; bi++ {
		i0 := bi * nb
		m := min(nb, a.n-i0)
		ld := m * hw
		for gi := range g {
			dst := acc[gi*og*kg : (gi+1)*og*kg]
			if m == 1 {
				src := xd[(i0*g+gi)*chw : (i0*g+gi+1)*chw]
				if cols != nil {
					kernels.Im2colLd(geo, src, *cols, hw)
					src = *cols
				}
				d := dyd[(i0*o+gi*og)*hw : (i0*o+(gi+1)*og)*hw]
				gemm(false, true, og, kg, hw, 1, d, hw, src, hw, 1, dst, kg)
				continue
			}
			for j := range m {
				i := i0 + j
				kernels.Im2colLd(geo, xd[(i*g+gi)*chw:(i*g+gi+1)*chw], (*cols)[j*hw:], ld)
			}
			gatherPlanes(dyd, o, gi*og, og, hw, i0, m, *dyc)
			gemm(false, true, og, kg, ld, 1, *dyc, ld, *cols, ld, 1, dst, kg)
		}
	}
}

// packedPool recycles the packed weights of implicitForward.
var packedPool = sync.Pool{New: func() any { return new(kernels.PackedA) }}

// implicitWins reports whether the forward pass runs as an implicit GEMM.
// Measured with BenchmarkConvAlgos on the 2-core AVX-512 machine: it beats
// im2col + GEMM whenever each GEMM covers one image (its output plane is
// wide enough, or there is one image) and there are at least
// implicitMinCols output columns in all (fewer, and packing the weights
// each call dominates: ResNet-18's 7×7 layers at batch 1), and it beats
// Winograd F(2,3) forward on every shape where that was chosen (by
// 1.1–2×), so it is tried first. With at least one image per thread (one
// serial GEMM per image and worker, the training batches) it also beats
// the batched im2col path on small planes (ResNet-20 at 16×16 and 8×8,
// its 1×1 and 3×3 stride-2 layers, LeNet-5's 14×14: 1.1–1.5×).
func implicitWins(a convArgs) bool {
	nb, _ := a.imageBatch()
	return a.n*a.hw >= implicitMinCols && (nb == 1 || a.n >= kernels.Threads() || (winogradFits(a) && winogradWins(a, opForward)))
}

const implicitMinCols = 128

// implicitForward: out = W·im2col(x) (+ bias) as an implicit GEMM (see
// implicitRun).
func implicitForward(a convArgs, xd, wd, bd, out []float32) {
	implicitRun(a.geo, a.n, a.g, a.og, a.kg, func(gi int) []float32 { return wd[gi*a.og*a.kg : (gi+1)*a.og*a.kg] }, xd, a.chw, bd, out)
}

// implicitRun convolves n images of g groups (group gi of image i is the
// geo.C×geo.H×geo.W stack at xd[(i·g+gi)·chw:]) with the og × kg weights
// wg(gi) of each group, plus bias bd (nil for none), into out (N, g·og,
// OutH, OutW): the weights are packed once per call and the unfolded input
// is packed straight from each image (kernels.GemmConv); images spread over
// the threads when there are enough, else each product is split over them.
func implicitRun(geo kernels.ConvGeom, n, g, og, kg int, wg func(gi int) []float32, xd []float32, chw int, bd, out []float32) {
	hw := geo.OutH * geo.OutW
	o := g * og
	t := kernels.Threads()
	perImage := n >= t && t > 1
	nh := hw
	if !perImage {
		nh = (hw + t - 1) / t
	}
	j := implicitJobs.get(&implicitArgs{geo: geo, g: g, og: og, o: o, hw: hw, chw: chw, x: xd, b: bd, y: out})
	defer implicitJobs.put(j)
	p := &j.args
	p.pws = p.pwBuf[:0]
	for gi := range g {
		pw := packedPool.Get().(*kernels.PackedA)
		pw.Pack(og, nh, kg, wg(gi), kg)
		p.pws = append(p.pws, pw)
	}
	defer func() {
		for _, pw := range p.pws {
			packedPool.Put(pw)
		}
	}()
	if perImage {
		j.For(n, 1, implicitChunk)
		return
	}
	p.par = true
	implicitChunk(p, 0, n)
}

// implicitArgs are the arguments of implicitRun's loop over images.
type implicitArgs struct {
	geo               kernels.ConvGeom
	g, og, o, hw, chw int
	x, b, y           []float32
	pws               []*kernels.PackedA // the packed weights of each group
	pwBuf             [4]*kernels.PackedA
	par               bool // split each product over the threads
}

var implicitJobs jobs[implicitArgs]

// implicitChunk convolves images lo…hi−1 of implicitRun.
func implicitChunk(p *implicitArgs, lo, hi int) {
	geo, g, og, o, hw, chw := p.geo, p.g, p.og, p.o, p.hw, p.chw
	pad := getScratch(kernels.ConvPadSize(geo))
	defer putScratch(pad)
	var ep *kernels.Epilogue // none without a bias (the training layers before a batch norm)
	if p.b != nil {
		ep = new(kernels.Epilogue)
	}
	for i := lo; i < hi; i++ {
		for gi := range g {
			if ep != nil {
				ep.RowBias = p.b[gi*og : (gi+1)*og]
			}
			dst := p.y[(i*o+gi*og)*hw : (i*o+(gi+1)*og)*hw]
			kernels.GemmConv(p.pws[gi], geo, p.x[(i*g+gi)*chw:(i*g+gi+1)*chw], *pad, dst, hw, ep, p.par)
		}
	}
}

// dgradFits reports whether the input gradient can run as the forward
// convolution of dy with the flipped filters: stride 1 and no more
// top/left padding than the kernel reaches (the padding of that forward,
// dilation·(K−1) − pad, must not be negative).
func dgradFits(a convArgs) bool {
	g := a.geo
	return g.StrideH == 1 && g.StrideW == 1 && g.PadH <= g.DilH*(g.KH-1) && g.PadW <= g.DilW*(g.KW-1)
}

// dgradGeom is the geometry of that forward: dy's og channels of
// OutH×OutW in, the input plane out.
func dgradGeom(a convArgs) kernels.ConvGeom {
	g := a.geo
	return kernels.ConvGeom{
		C: a.og, H: g.OutH, W: g.OutW, KH: g.KH, KW: g.KW, StrideH: 1, StrideW: 1,
		PadH: g.DilH*(g.KH-1) - g.PadH, PadW: g.DilW*(g.KW-1) - g.PadW,
		DilH: g.DilH, DilW: g.DilW, OutH: g.H, OutW: g.W,
	}
}

// implicitBackwardInput: for stride-1 layers (dgradFits), dx is the
// convolution of dy with the weights rotated 180° and their in/out
// channels swapped, padded by dilation·(K−1) − pad: run through the
// implicit-GEMM forward, so no col2im.
func implicitBackwardInput(a convArgs, dyd, wd, dx []float32) {
	wf := flippedWeights(a, wd)
	defer putScratch(wf)
	f, cg, k := *wf, a.geo.C, a.og*a.geo.KH*a.geo.KW
	implicitRun(dgradGeom(a), a.n, a.g, cg, k, func(gi int) []float32 { return f[gi*cg*k : (gi+1)*cg*k] }, dyd, a.og*a.hw, nil, dx)
}

// flippedWeights returns the weights of the input gradient's convolution
// (pooled scratch, put back by the caller): f[gi][c][o][kh][kw] =
// w[gi·og+o][c][KH−1−kh][KW−1−kw], rotated 180° with the in and out
// channels of each group swapped.
func flippedWeights(a convArgs, wd []float32) *[]float32 {
	geo := a.geo
	cg, og, khw := geo.C, a.og, geo.KH*geo.KW
	k := og * khw
	wf := getScratch(a.g * cg * k)
	f := *wf
	for gi := range a.g {
		for o := range og {
			src := wd[(gi*og+o)*a.kg : (gi*og+o+1)*a.kg]
			for c := range cg {
				d := f[(gi*cg+c)*k+o*khw : (gi*cg+c)*k+(o+1)*khw]
				s := src[c*khw : (c+1)*khw]
				for t := range khw {
					d[t] = s[khw-1-t]
				}
			}
		}
	}
	return wf
}

// implicitBackwardWeight: dW = Σ dy·im2col(x)ᵀ with the unfolded input
// packed straight from each image (kernels.GemmConvWeight); the images
// split over the workers, which sum into pooled partial buffers.
func implicitBackwardWeight(a convArgs, dyd, xd, dw []float32) {
	t := kernels.Threads()
	j := implicitWgradJobs.get(&implicitWgradArgs{a: a, dy: dyd, x: xd, dw: dw})
	defer implicitWgradJobs.put(j)
	j.For(a.n, max(1, (a.n+t-1)/t), implicitWgradChunk)
	addPartials(&j.args.parts, dw)
}

// implicitWgradArgs are the arguments of implicitBackwardWeight's loop.
type implicitWgradArgs struct {
	a         convArgs
	dy, x, dw []float32
	parts     partials[*[]float32]
}

var implicitWgradJobs jobs[implicitWgradArgs]

// implicitWgradChunk computes the weight gradient of images lo…hi−1: into
// dw when they are all the images, else into a scratch of its own.
func implicitWgradChunk(p *implicitWgradArgs, lo, hi int) {
	a := &p.a
	g, og, kg, hw, chw := a.g, a.og, a.kg, a.hw, a.chw
	acc := p.dw
	if lo > 0 || hi < a.n {
		part := getScratch(len(p.dw))
		acc = *part
		clear(acc)
		defer p.parts.add(lo, part)
	}
	for gi := range g {
		kernels.GemmConvWeight(a.geo, og, hi-lo, p.dy[(lo*a.o+gi*og)*hw:], a.o*hw, p.x[(lo*g+gi)*chw:], g*chw, acc[gi*og*kg:], kg)
	}
}

// implicitDgradWins reports whether a stride-1 input gradient runs as the
// implicit forward of dy (see implicitBackwardInput).
// Its GEMM has the layer's input channels as rows and the input plane as
// columns. Measured with BenchmarkConvAlgos (2-core AVX-512): below
// dgradMinChannels input channels the micro-kernel's rows are mostly
// padding and GEMM + col2im is faster (LeNet-5's 1 and 6 channels,
// ResNet-20's stem's 3); on planes under dgradMinPlane pixels the narrow
// per-image GEMMs lose to GEMM + col2im (ResNet-18's 7×7 layers); with
// fewer images than threads the split products lose or tie. Elsewhere it
// wins by 1.1–1.9× (ResNet-20 at batch 128, ResNet-18 at batch 16).
func implicitDgradWins(a convArgs) bool {
	return a.geo.C >= dgradMinChannels && a.geo.H*a.geo.W >= dgradMinPlane && a.n >= kernels.Threads()
}

const dgradMinPlane = 64

const dgradMinChannels = 16

// implicitWgradWins reports whether the weight gradient runs as
// kernels.GemmConvWeight.
// It beats im2col + GEMM on the benchmark shapes with at least one image
// per thread (1.1–2.4×; with fewer images it would run on fewer threads),
// except where the stride skips input the kernel never reads (a 1×1
// stride-2 layer), which the padded transposed copy still moves.
func implicitWgradWins(a convArgs) bool {
	g := a.geo
	return a.n >= kernels.Threads() && g.KH*g.KW >= g.StrideH*g.StrideW
}

// smallForward: out = conv(x) (+ bias) of a tiny one-group layer by
// kernels.SmallConv (direct "wide row" products, no im2col).
func smallForward(a convArgs, xd, wd, bd, out []float32) {
	smallRun(a.geo, a.n, a.o, wd, bd, xd, out)
}

// smallBackwardInput: dx of a tiny one-group stride-1 layer, the
// convolution of dy with the flipped weights (see implicitBackwardInput),
// by kernels.SmallConv.
func smallBackwardInput(a convArgs, dyd, wd, dx []float32) {
	wf := flippedWeights(a, wd)
	defer putScratch(wf)
	smallRun(dgradGeom(a), a.n, a.geo.C, *wf, nil, dyd, dx)
}

// smallOK reports whether op of a can run by kernels.SmallConv.
func smallOK(a convArgs, op convOp) bool {
	switch {
	case a.g != 1:
		return false
	case op == opForward:
		return kernels.SmallConvOK(a.geo)
	case op == opBackInput:
		return dgradFits(a) && kernels.SmallConvOK(dgradGeom(a))
	}
	return kernels.SmallConvOK(a.geo)
}

// smallPays reports whether op of a should run by the direct convolutions
// (kernels.SmallConv, kernels.SmallConvGrad), which read the stacked padded
// images in place instead of packing their unfolded columns.
//
// Measured with BenchmarkConvAlgos (inputs in an arena, as in training),
// GFLOP/s on the 2-core AMD EPYC Zen 5 (AVX-512), direct vs the best other
// path. Forward and input gradient: it wins on every stride-1 layer of
// LeNet-5 (conv1 245 vs 80, conv2 168 vs 95; input gradients 58 vs 39 and
// 165 vs 78), ResNet-20 (the stem 292 vs 152, 16 channels 195 vs 107 and
// 174 vs 89, 32: 185 vs 111 and 182 vs 109, 64: 154 vs 107 and 158 vs
// 110) and ResNet-18 at batch 16 (64 channels at 56×56 459 vs 343 and 432
// vs 346, 128 at 28×28 442 vs 352 and 435 vs 355, 256 at 14×14 195 vs 199
// and 202 vs 181); at 512 channels (4,608 taps) it ties or loses (151 vs
// 157, 139 vs 150), and with fewer than 16 taps (mnist-cnn's first layer,
// 9 taps: 69 vs 91). Weight gradient: it wins with up to 160 taps per
// output channel (the stem 257 vs 61, 16 channels 187 vs 99, LeNet's 160
// vs 29 and 159 vs 105, mnist-cnn's 145 vs 28 and 297 vs 255), up to 320
// on planes of at least 16×16 (ResNet-20's 32 channels: 307–377 vs 271–
// 277) and up to 640 from 32×32 (ResNet-18's 64 channels at 56×56: 392 vs
// 335); it loses on smaller planes with more taps, where the implicit GEMM
// amortizes its packing over more work per column and the dot products
// pay their per-call sums (mnist-cnn's 32 channels at 7×7: 158–224 vs
// 299–325; ResNet-20's 64 channels at 8×8: 255–309 vs 314–337), and with
// more taps than that (ResNet-18's 128 channels 310–326 vs 383–398, 256:
// 80 vs 210).
func smallPays(a convArgs, op convOp) bool {
	if !smallOK(a, op) || a.n < kernels.Threads() {
		return false // one image per worker at least: a run is serial
	}
	g, o := a.geo, a.o
	if op == opBackInput {
		g, o = dgradGeom(a), a.geo.C
	}
	if (g.StrideH > 1 || g.StrideW > 1) && !smallStridedPays(g, op) {
		return false
	}
	wide := g.OutH * (g.W + 2*g.PadW)
	if g.StrideW > 1 { // a phase's columns
		wide = g.OutH * ((g.W + 2*g.PadW + g.StrideW - 1) / g.StrideW)
	}
	kt := g.C * g.KH * g.KW
	if wide > smallMaxWide {
		return false
	}
	if op != opBackWeight {
		return kt >= smallMinDepth && kt <= smallMaxDepth && o <= smallMaxOut
	}
	plane := g.OutH * g.OutW
	return kt <= smallGradTaps || (kt <= 2*smallGradTaps && plane >= 16*16) || (kt <= 4*smallGradTaps && plane >= 32*32)
}

// smallStridedPays reports whether a strided layer's op (the forward pass
// or the weight gradient: the input gradient of a strided layer is not a
// forward convolution) should run by the direct convolutions, whose fill
// deals each input row out to its phases (kernels.SmallConv): when every
// phase feeds several taps, so that the scalar dealing is amortized — a
// stem such as ResNet-18's 7×7 stride 2, 49 taps over 4 phases — or, for
// the forward pass, on output planes of at least 16×16 with a tap per
// phase at least.
//
// Measured with BenchmarkConvAlgos on the 2-core AMD EPYC Zen 5 (AVX-512),
// GFLOP/s direct vs the best other path: ResNet-18's stem at batch 16
// 392–410 vs 236–251 forward and 383–392 vs 214–217 weight gradient;
// ResNet-20's 16→32 3×3 stride 2 from 32×32 forward 160–164 vs 125–134
// (its weight gradient 140–150 vs 211–217); the 32→64 layer from 16×16
// loses both ways (159–170 vs 157–185, 116–131 vs 264–285); the 1×1
// stride-2 shortcuts lose forward (ResNet-20's 51–62 vs 58–120,
// ResNet-18's 201–213 vs 228–256) and split the weight gradient (57 vs 52,
// 161 vs 186), so they keep the GEMM.
func smallStridedPays(g kernels.ConvGeom, op convOp) bool {
	taps, phases := g.KH*g.KW, g.StrideH*g.StrideW
	if taps >= 4*phases {
		return true
	}
	return op == opForward && taps >= phases && g.OutH*g.OutW >= 16*16
}

// Limits of the direct convolutions in training (see smallPays): the taps
// per output channel, the wide columns of one image (which bound the
// scratch, output channels × columns) and the output channels.
const (
	smallMinDepth = 16
	smallMaxDepth = 2304
	smallMaxWide  = 1 << 14
	smallMaxOut   = 256
	smallGradTaps = 160 // see smallPays for the weight gradient's rule
)

// smallCols is the wide columns a direct convolution aims for per run:
// images of small planes are stacked until their wide rows add up to about
// this many, so the micro-kernels see long rows.
const smallCols = 2048

// smallBatch returns how many images of g one run of the direct
// convolutions stacks: about smallCols wide columns, at most the images
// each of the threads gets.
func smallBatch(g kernels.ConvGeom, n int) int {
	per := (g.H + g.PadH) * (g.W + 2*g.PadW)
	if g.StrideH > 1 || g.StrideW > 1 { // a phase's rows and columns
		per = (g.H + 2*g.PadH + g.StrideH - 1) / g.StrideH * ((g.W + 2*g.PadW + g.StrideW - 1) / g.StrideW)
	}
	t := kernels.Threads()
	return max(1, min(smallCols/per, (n+t-1)/t))
}

// smallRun convolves n images of geometry g (g.C×g.H×g.W each at x) with
// the m × g.C·KH·KW weights w plus bias b (nil: none) into y (n, m, OutH,
// OutW) by kernels.SmallConv, the weights packed once, the images stacked
// smallBatch at a time and spread over the threads.
func smallRun(g kernels.ConvGeom, n, m int, w, b, x, y []float32) {
	nb := smallBatch(g, n)
	sc := kernels.AcquireSmallConv(g, m, nb, w, b)
	defer sc.Release()
	j := smallRunJobs.get(&smallRunArgs{sc: sc, x: x, y: y, nb: nb, chw: g.C * g.H * g.W, ohw: m * g.OutH * g.OutW})
	defer smallRunJobs.put(j)
	j.For(n, nb, smallRunChunk)
}

// smallRunArgs are the arguments of smallRun's loop.
type smallRunArgs struct {
	sc           *kernels.SmallConv
	x, y         []float32
	nb, chw, ohw int
}

var smallRunJobs jobs[smallRunArgs]

// smallRunChunk convolves images lo…hi−1, a.nb at a time.
func smallRunChunk(a *smallRunArgs, lo, hi int) {
	s := a.sc.AcquireScratch()
	defer a.sc.ReleaseScratch(s)
	for i := lo; i < hi; i += a.nb {
		k := min(a.nb, hi-i)
		a.sc.RunN(k, a.x[i*a.chw:(i+k)*a.chw], a.y[i*a.ohw:(i+k)*a.ohw], nil, false, s)
	}
}

// smallBackwardWeight: dW of a one-group stride-1 layer by
// kernels.SmallConvGrad, dot products of dy's wide rows with the stacked
// input in place; the images split over the workers, which sum into
// their own accumulators and then, one at a time, into dw.
func smallBackwardWeight(a convArgs, dyd, xd, dw []float32) {
	nb := smallBatch(a.geo, a.n)
	sg := kernels.AcquireSmallConvGrad(a.geo, a.o, nb)
	defer sg.Release()
	nb = sg.Batch()
	j := smallGradJobs.get(&smallGradArgs{sg: sg, dy: dyd, x: xd, nb: nb, chw: a.chw, ohw: a.o * a.hw})
	defer smallGradJobs.put(j)
	t := kernels.Threads()
	j.For(a.n, max(nb, (a.n+t-1)/t), smallGradChunk)
	for len(j.args.parts.lo) > 0 { // the chunks' sums, in their order
		s := j.args.parts.next()
		sg.AddTo(dw, s)
		sg.ReleaseScratch(s)
	}
}

// smallGradArgs are the arguments of smallBackwardWeight's loop.
type smallGradArgs struct {
	sg           *kernels.SmallConvGrad
	dy, x        []float32
	nb, chw, ohw int
	parts        partials[*kernels.SmallConvGradScratch]
}

var smallGradJobs jobs[smallGradArgs]

// smallGradChunk accumulates the weight gradient of images lo…hi−1 in a
// scratch of its own, a.nb images at a time.
func smallGradChunk(a *smallGradArgs, lo, hi int) {
	s := a.sg.AcquireScratch()
	for i := lo; i < hi; i += a.nb {
		k := min(a.nb, hi-i)
		a.sg.Accumulate(k, a.dy[i*a.ohw:(i+k)*a.ohw], a.x[i*a.chw:(i+k)*a.chw], s)
	}
	a.parts.add(lo, s)
}

// partials collects the partial results of the chunks of a kernels.For,
// so they can be summed in the order of the chunks rather than of their
// finishing: with more than two, the order changes the rounding, and a
// training run must be reproducible bit for bit.
type partials[T any] struct {
	mu   sync.Mutex
	lo   []int
	v    []T
	loIn [8]int // room for the chunks of up to 8 threads without allocating
	vIn  [8]T
}

// add records the partial result v of the chunk starting at lo.
func (p *partials[T]) add(lo int, v T) {
	p.mu.Lock()
	if p.lo == nil {
		p.lo, p.v = p.loIn[:0], p.vIn[:0]
	}
	p.lo, p.v = append(p.lo, lo), append(p.v, v)
	p.mu.Unlock()
}

// addPartials adds the pooled partial sums p to dw in the order of their
// chunks and puts them back.
func addPartials(p *partials[*[]float32], dw []float32) {
	p.each(func(part *[]float32) {
		for j, x := range *part {
			dw[j] += x
		}
		putScratch(part)
	})
}

// each calls fn with the partial results in the order of their chunks.
func (p *partials[T]) each(fn func(T)) {
	for len(p.lo) > 0 {
		fn(p.next())
	}
}

// next removes and returns the partial result of the first chunk left.
func (p *partials[T]) next() T {
	k := 0
	for i, lo := range p.lo {
		if lo < p.lo[k] {
			k = i
		}
	}
	v := p.v[k]
	p.lo, p.v = slices.Delete(p.lo, k, k+1), slices.Delete(p.v, k, k+1)
	return v
}
