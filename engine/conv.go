package engine

import (
	"github.com/fovea-ml/fovea/internal/kernels"
)

// conv is a planned convolution: im2col (skipped for 1×1 stride-1 kernels)
// and one GEMM per image and group, then the fused epilogue (bias, residual
// add, activation) on each output row while it is in cache.
//
//	x (N, C, H, W), weight (O, C/G, KH, KW) → y (N, O, OH, OW)
type conv struct {
	geo          kernels.ConvGeom // per group
	n, o, groups int
	w, b         []float32
	scratch      chan []float32 // one im2col buffer per concurrent image

	perImage func(lo, hi int) // bound by bind
	serial   func()
}

func newConv(in, out []int, o *op) *conv {
	p := o.conv
	for i := range 2 {
		p.Stride[i] = max(p.Stride[i], 1)
		p.Dilation[i] = max(p.Dilation[i], 1)
	}
	groups := max(p.Groups, 1)
	c := &conv{
		geo: kernels.ConvGeom{C: in[1] / groups, H: in[2], W: in[3], KH: o.wShape[2], KW: o.wShape[3],
			StrideH: p.Stride[0], StrideW: p.Stride[1], PadH: p.Pad[0], PadW: p.Pad[1],
			DilH: p.Dilation[0], DilW: p.Dilation[1], OutH: out[2], OutW: out[3]},
		n: in[0], o: out[1], groups: groups, w: o.w, b: o.b,
	}
	workers := min(c.n, kernels.Threads())
	c.scratch = make(chan []float32, workers)
	if !c.direct() {
		k := c.geo.C * c.geo.KH * c.geo.KW
		for range workers {
			c.scratch <- make([]float32, k*c.geo.OutH*c.geo.OutW)
		}
	}
	return c
}

func (c *conv) direct() bool {
	g := c.geo
	return g.KH == 1 && g.KW == 1 && g.StrideH == 1 && g.StrideW == 1 && g.PadH == 0 && g.PadW == 0
}

// bind fixes the buffers the convolution reads and writes (x, y, the
// residual add or nil) and its activation, and builds the per-image loop
// once, so that run allocates nothing.
func (c *conv) bind(x, y, add []float32, act func([]float32), relu bool) {
	g := c.geo
	og, kg, hw, chw := c.o/c.groups, g.C*g.KH*g.KW, g.OutH*g.OutW, g.C*g.H*g.W
	// One epilogue per image and group: bias, residual add and ReLU are
	// applied by the GEMM on each finished tile.
	eps := make([]kernels.Epilogue, c.n*c.groups)
	for i := range c.n {
		for gi := range c.groups {
			off := (i*c.o + gi*og) * hw
			ep := &eps[i*c.groups+gi]
			ep.RowBias, ep.ReLU = c.b[gi*og:(gi+1)*og], relu
			if add != nil {
				ep.Add, ep.LdAdd = add[off:off+og*hw], hw
			}
		}
	}
	image := func(i int, cols []float32, parallel bool) {
		for gi := range c.groups {
			src := x[(i*c.groups+gi)*chw : (i*c.groups+gi+1)*chw]
			if cols != nil {
				kernels.Im2col(g, src, cols)
				src = cols
			}
			off := (i*c.o + gi*og) * hw
			kernels.GemmEx(false, false, og, hw, kg, 1, c.w[gi*og*kg:(gi+1)*og*kg], kg, src, hw, 0,
				y[off:off+og*hw], hw, &eps[i*c.groups+gi], parallel)
		}
		if !relu {
			act(y[i*c.o*hw : (i+1)*c.o*hw])
		}
	}
	c.perImage = func(lo, hi int) {
		var cols []float32
		if !c.direct() {
			cols = <-c.scratch
		}
		for i := lo; i < hi; i++ {
			image(i, cols, false)
		}
		if cols != nil {
			c.scratch <- cols
		}
	}
	c.serial = func() {
		var cols []float32
		if !c.direct() {
			cols = <-c.scratch
		}
		for i := range c.n {
			image(i, cols, true)
		}
		if cols != nil {
			c.scratch <- cols
		}
	}
}

// run computes the convolution over the bound buffers: images spread over
// the threads when there are enough of them, else one image at a time with
// a parallel GEMM.
func (c *conv) run() {
	if c.n >= kernels.Threads() && kernels.Threads() > 1 {
		kernels.For(c.n, 1, c.perImage)
		return
	}
	c.serial()
}
