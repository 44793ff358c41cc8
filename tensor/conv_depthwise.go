package tensor

import "github.com/fovea-ml/fovea/internal/kernels"

// Depthwise convolutions (one input channel per group, a.geo.C == 1, with
// og = O/G output channels per input channel) run as direct plane kernels:
// input channel c of image i feeds output channels c·og … c·og+og-1.

// depthwiseForward: x (N, G, H, W), w (O, 1, KH, KW) → out (N, O, OH, OW).
func depthwiseForward(a convArgs, xd, wd, bd, out []float32) {
	geo, khw, ihw := a.geo, a.geo.KH*a.geo.KW, a.geo.H*a.geo.W
	kernels.For(a.n*a.o, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			i, oc := p/a.o, p%a.o
			c := i*a.g + oc/a.og
			var bias float32
			if bd != nil {
				bias = bd[oc]
			}
			kernels.DepthwisePlane(geo, xd[c*ihw:(c+1)*ihw], wd[oc*khw:(oc+1)*khw], bias, out[p*a.hw:(p+1)*a.hw], false)
		}
	})
}

// depthwiseBackwardInput: one worker owns each input plane and adds the
// contributions of its og output channels in turn.
func depthwiseBackwardInput(a convArgs, dyd, wd, dx []float32) {
	geo, khw, ihw := a.geo, a.geo.KH*a.geo.KW, a.geo.H*a.geo.W
	kernels.For(a.n*a.g, 1, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			i, c := p/a.g, p%a.g
			for m := range a.og {
				oc := c*a.og + m
				yp := i*a.o + oc
				kernels.DepthwisePlaneBackInput(geo, dyd[yp*a.hw:(yp+1)*a.hw], wd[oc*khw:(oc+1)*khw], dx[p*ihw:(p+1)*ihw])
			}
		}
	})
}

// depthwiseBackwardWeight: one worker owns each output channel's filter and
// sums over the batch, so no partial sums need reducing.
func depthwiseBackwardWeight(a convArgs, dyd, xd, dw []float32) {
	geo, khw, ihw := a.geo, a.geo.KH*a.geo.KW, a.geo.H*a.geo.W
	kernels.For(a.o, 1, func(lo, hi int) {
		for oc := lo; oc < hi; oc++ {
			for i := range a.n {
				c := i*a.g + oc/a.og
				yp := i*a.o + oc
				kernels.DepthwisePlaneBackWeight(geo, xd[c*ihw:(c+1)*ihw], dyd[yp*a.hw:(yp+1)*a.hw], dw[oc*khw:(oc+1)*khw])
			}
		}
	})
}
