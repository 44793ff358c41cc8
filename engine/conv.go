package engine

import (
	"github.com/fovea-ml/fovea/internal/kernels"
)

// conv is a planned convolution: one implicit GEMM per image and group
// (kernels.GemmConv: the unfolded input is packed straight from the image
// into the micro-kernel's panels; a 1×1 stride-1 kernel reads the image as
// B directly) on weights packed once at compile time, with the fused
// epilogue (bias, residual add, activation) on each finished tile.
//
//	x (N, C, H, W), weight (O, C/G, KH, KW) → y (N, O, OH, OW)
type conv struct {
	geo          kernels.ConvGeom // per group
	n, o, groups int
	w, b         []float32
	pw           []*kernels.PackedA // packed weights, one per group
	scratch      chan []float32     // one padded-input buffer per concurrent image

	// Bound by bind: the buffers read and written, the residual add (or
	// nil), the activation (relu: a ReLU, fused into the kernels'
	// epilogues; else act runs after them), and the loops run calls.
	x, y     []float32
	add      []float32
	act      func([]float32)
	relu     bool
	perImage func(lo, hi int)
	serial   func()
	eps      []kernels.Epilogue // implicit GEMM: one per image and group

	// batched: the whole batch is one product, images side by side (see
	// kernels.GemmConvImages), with imgs its scratch and ep its epilogue.
	batched bool
	imgs    []float32
	ep      kernels.Epilogue

	// small: a tiny layer convolved directly (kernels.SmallConv), one
	// image per call, with one scratch per concurrent image.
	small        *kernels.SmallConv
	smallScratch chan *kernels.SmallConvScratch

	// wino: a 3×3 stride-1 layer by Winograd F(4×4, 3×3) over the whole
	// batch (kernels.Winograd43); its scratch is the plan's, shared by all
	// such layers (steps run one at a time).
	wino *kernels.Winograd43
}

// batchedMaxHW is the largest output plane (OutH·OutW) for which a batch is
// convolved as one product: small planes waste much of the micro-kernel's
// tiles and re-read the (large) weights once per image.
const batchedMaxHW = 14 * 14

func newConv(in, out []int, o *op) *conv {
	p := o.conv.WithDefaults()
	groups := p.Groups
	c := &conv{
		geo: kernels.ConvGeom{C: in[1] / groups, H: in[2], W: in[3], KH: o.wShape[2], KW: o.wShape[3],
			StrideH: p.Stride[0], StrideW: p.Stride[1], PadH: p.Pad[0], PadW: p.Pad[1],
			DilH: p.Dilation[0], DilW: p.Dilation[1], OutH: out[2], OutW: out[3]},
		n: in[0], o: out[1], groups: groups, w: o.w, b: o.b,
	}
	if groups == 1 && useWinograd(c.geo, c.o, c.n) {
		c.wino = kernels.NewWinograd43(c.geo, c.o, c.n, c.w, c.b)
		return c
	}
	if groups == 1 && kernels.SmallConvPays(c.geo, c.o) {
		c.small = kernels.NewSmallConv(c.geo, c.o, c.w, c.b)
		workers := min(c.n, kernels.Threads())
		c.smallScratch = make(chan *kernels.SmallConvScratch, workers)
		for range workers {
			c.smallScratch <- c.small.NewScratch()
		}
		return c
	}
	hw0 := c.geo.OutH * c.geo.OutW
	c.batched = c.n > 1 && groups == 1 && hw0 <= batchedMaxHW
	if c.batched {
		c.imgs = make([]float32, kernels.ConvImagesScratch(c.geo, c.o, c.n))
		c.pw = append(c.pw, kernels.PackA(c.o, ceilDiv(c.n*hw0, kernels.Threads()), c.geo.C*c.geo.KH*c.geo.KW, c.w, c.geo.C*c.geo.KH*c.geo.KW))
		return c
	}
	workers := min(c.n, kernels.Threads())
	c.scratch = make(chan []float32, workers)
	pad := kernels.ConvPadSize(c.geo)
	if c.direct() {
		pad = 0
	}
	for range workers {
		c.scratch <- make([]float32, pad)
	}
	// The micro-kernel is chosen for the columns one thread computes: a
	// whole image when images are spread over the threads, else its share.
	og, kg, hw := c.o/groups, c.geo.C*c.geo.KH*c.geo.KW, c.geo.OutH*c.geo.OutW
	nh := hw
	if t := kernels.Threads(); c.n < t {
		nh = (hw + t - 1) / t
	}
	for gi := range groups {
		c.pw = append(c.pw, kernels.PackA(og, nh, kg, c.w[gi*og*kg:(gi+1)*og*kg], kg))
	}
	return c
}

// smallParallelMin is the work (multiply-adds per batch) from which the
// images of a small convolution are spread over the threads.
const smallParallelMin = 1 << 20

// useWinograd picks the layers convolved by Winograd F(4×4, 3×3), from
// per-layer timings of ResNet-18 in the engine on the 2-core AVX-512
// machine (2 threads, ms per layer, Winograd vs implicit GEMM, on a noisy
// machine):
//
//	           batch 1 (tiles)          batch 16
//	56²×64     1.45 vs 1.57  (196)      18.7 vs 21.9
//	28²×128    1.27 vs 1.74  (49)       12.4 vs 20.7
//	14²×256    1.87 vs 1.90  (16)       11.0 vs 20.3
//	7²×512     4.9  vs 2.3   (4)        9.6  vs 22.0
//
// It wins when the batch has enough tiles to amortize streaming its 4×
// larger transformed weights; at 16 tiles it tied until the transforms of
// few tiles were batched over several channels per vector operation, after
// which 14²×256 at batch 1 gained about 1 ms of ResNet-18's 1-thread run;
// at 4 tiles it still loses.
func useWinograd(g kernels.ConvGeom, o, n int) bool {
	if winogradOff || !kernels.Winograd43OK(g) {
		return false
	}
	return g.C >= 64 && o >= 64 && n*ceilDiv(g.OutH, 4)*ceilDiv(g.OutW, 4) >= 16
}

// winogradOff disables the Winograd path (a test and measurement hook).
var winogradOff bool

func (c *conv) direct() bool {
	g := c.geo
	return g.KH == 1 && g.KW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0
}

// bind fixes the buffers the convolution reads and writes (x, y, the
// residual add or nil) and its activation, and builds the per-image loop
// once, so that run allocates nothing. A Winograd convolution is bound
// later, by the plan, once the scratch it shares has its final size.
func (c *conv) bind(x, y, add []float32, act func([]float32), relu bool) {
	c.x, c.y, c.add, c.act, c.relu = x, y, add, act, relu
	switch {
	case c.wino != nil:
	case c.small != nil:
		c.bindSmall()
	case c.batched:
		c.bindBatched()
	default:
		c.bindGEMM()
	}
}

// bindSmall builds the loop of the direct path, one image per call with
// a scratch per concurrent image.
func (c *conv) bindSmall() {
	g := c.geo
	hw, chw := g.OutH*g.OutW, g.C*g.H*g.W
	c.perImage = func(lo, hi int) {
		sc := <-c.smallScratch
		for i := lo; i < hi; i++ {
			yi := c.y[i*c.o*hw : (i+1)*c.o*hw]
			var ai []float32
			if c.add != nil {
				ai = c.add[i*c.o*hw : (i+1)*c.o*hw]
			}
			c.small.Run(c.x[i*chw:(i+1)*chw], yi, ai, c.relu, sc)
			if !c.relu {
				c.act(yi)
			}
		}
		c.smallScratch <- sc
	}
	c.serial = func() { c.perImage(0, c.n) }
}

// bindBatched builds the one product over the whole batch, with the
// epilogue (bias, residual add, ReLU) on each finished tile.
func (c *conv) bindBatched() {
	c.ep = kernels.Epilogue{RowBias: c.b, Add: c.add, ReLU: c.relu}
	c.serial = func() {
		kernels.GemmConvImages(c.pw[0], c.geo, c.n, c.x, c.imgs, c.y, &c.ep, true)
		if !c.relu {
			c.act(c.y)
		}
	}
}

// bindGEMM builds the implicit-GEMM loops over the images: spread over
// the threads (perImage), or one at a time with a parallel GEMM (serial).
func (c *conv) bindGEMM() {
	c.eps = c.imageEpilogues()
	c.perImage = func(lo, hi int) {
		pad := <-c.scratch
		for i := lo; i < hi; i++ {
			c.image(i, pad, false)
		}
		c.scratch <- pad
	}
	c.serial = func() {
		pad := <-c.scratch
		for i := range c.n {
			c.image(i, pad, true)
		}
		c.scratch <- pad
	}
}

// imageEpilogues returns one epilogue per image and group, in that order:
// bias, residual add and ReLU are applied by the GEMM on each finished
// tile.
func (c *conv) imageEpilogues() []kernels.Epilogue {
	og, hw := c.o/c.groups, c.geo.OutH*c.geo.OutW
	eps := make([]kernels.Epilogue, c.n*c.groups)
	for i := range c.n {
		for gi := range c.groups {
			off := (i*c.o + gi*og) * hw
			ep := &eps[i*c.groups+gi]
			ep.RowBias, ep.ReLU = c.b[gi*og:(gi+1)*og], c.relu
			if c.add != nil {
				ep.Add, ep.LdAdd = c.add[off:off+og*hw], hw
			}
		}
	}
	return eps
}

// image convolves image i, group by group, with pad as its padded-input
// scratch and the GEMM itself parallel or not, then applies an activation
// other than ReLU (fused in the epilogue).
func (c *conv) image(i int, pad []float32, parallel bool) {
	g := c.geo
	og, hw, chw := c.o/c.groups, g.OutH*g.OutW, g.C*g.H*g.W
	for gi := range c.groups {
		src := c.x[(i*c.groups+gi)*chw : (i*c.groups+gi+1)*chw]
		off := (i*c.o + gi*og) * hw
		ep := &c.eps[i*c.groups+gi]
		if c.direct() {
			kernels.GemmPacked(c.pw[gi], hw, src, hw, c.y[off:off+og*hw], hw, ep, parallel)
			continue
		}
		kernels.GemmConv(c.pw[gi], g, src, pad, c.y[off:off+og*hw], hw, ep, parallel)
	}
	if !c.relu {
		c.act(c.y[i*c.o*hw : (i+1)*c.o*hw])
	}
}

// run computes the convolution over the bound buffers: images spread over
// the threads when there are enough of them, else one image at a time with
// a parallel GEMM.
func (c *conv) run(p *Plan) {
	if c.wino != nil {
		c.wino.Run(true)
		if !c.relu {
			c.act(c.y)
		}
		return
	}
	if c.small != nil {
		if c.n > 1 && kernels.Threads() > 1 && c.n*c.small.Flops() >= smallParallelMin {
			kernels.For(c.n, 1, c.perImage)
			return
		}
		c.serial()
		return
	}
	if !c.batched && c.n >= kernels.Threads() && kernels.Threads() > 1 {
		kernels.For(c.n, 1, c.perImage)
		return
	}
	c.serial()
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
