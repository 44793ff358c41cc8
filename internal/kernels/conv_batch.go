package kernels

// ConvImagesScratch returns the floats of scratch [GemmConvImages] needs
// for n images of geometry g with m output channels: the product's
// m × (n·OutH·OutW) result followed by the zero-padded copies of the inputs.
func ConvImagesScratch(g ConvGeom, m, n int) int {
	return m*n*g.OutH*g.OutW + n*ConvPadSize(g)
}

// GemmConvImages computes the convolution of n images x (n × g.C×g.H×g.W)
// with the packed weights A (m × g.C·g.KH·g.KW) as one implicit GEMM whose
// n·OutH·OutW columns hold the images side by side, so that small output
// planes (7×7, 14×14) fill the micro-kernel's tiles and A is streamed once
// for all the images rather than once per image. y (n × m × OutH·OutW)
// receives the result followed by ep (nil for none), in Epilogue's order:
// RowBias is per output channel, Add (if any) has y's layout (LdAdd is
// ignored), ReLU last; ColBias is not supported. scratch holds at
// least [ConvImagesScratch](g, m, n) floats.
func GemmConvImages(pa *PackedA, g ConvGeom, n int, x, scratch, y []float32, ep *Epilogue, parallel bool) {
	hw := g.OutH * g.OutW
	m := pa.m
	if m == 0 || hw == 0 || n == 0 {
		return
	}
	if pa.k != g.C*g.KH*g.KW {
		panic("kernels: GemmConvImages: packed weights do not match the geometry")
	}
	chw := g.C * g.H * g.W
	if len(x) < n*chw || len(y) < n*m*hw || len(scratch) < ConvImagesScratch(g, m, n) {
		panic("kernels: GemmConvImages: a buffer is shorter than its geometry says")
	}
	var add []float32
	relu := false
	var bias []float32
	if ep != nil {
		add, relu, bias = ep.Add, ep.ReLU, ep.RowBias
		if add != nil && len(add) < n*m*hw {
			panic("kernels: GemmConvImages: epilogue Add is shorter than y")
		}
	}
	nc := n * hw
	t := scratch[:m*nc]
	src := bSource{b: x, conv: true, g: g}
	hp, wp, inPlace := padDims(g)
	if inPlace {
		src.rs, src.ps, src.is = g.W, g.H*g.W, chw
	} else {
		ps := g.C * hp * wp
		pad := scratch[m*nc : m*nc+n*ps]
		for i := range n {
			PadImage(g, x[i*chw:(i+1)*chw], pad[i*ps:(i+1)*ps])
		}
		src.b, src.rs, src.ps, src.is = pad, wp, hp*wp, ps
	}
	if bias != nil && len(bias) < m {
		panic("kernels: GemmConvImages: epilogue RowBias is shorter than m")
	}
	gemmPacked(pa, &src, nc, t, nc, nil, parallel, 2)
	// Scatter the image-major columns into y, with the rest of the
	// epilogue.
	for i := range n {
		for r := range m {
			dst := y[(i*m+r)*hw : (i*m+r+1)*hw]
			row := t[r*nc+i*hw : r*nc+(i+1)*hw]
			switch {
			case bias != nil:
				affineTo(dst, 1, bias[r], row)
			default:
				copy(dst, row)
			}
			if add != nil {
				addTo(dst, dst, add[(i*m+r)*hw:(i*m+r+1)*hw])
			}
			if relu {
				reluTo(dst, dst)
			}
		}
	}
}
