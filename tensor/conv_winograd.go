package tensor

import "github.com/fovea-ml/fovea/internal/kernels"

// Winograd F(2×2, 3×3) for 3×3, stride-1, undilated, ungrouped layers: the
// input and filters are transformed (kernels.Winograd*), the 16 products
// U[ξ]·V[ξ] run as GEMMs over a group of images at once, and the result is
// folded back to NCHW. The input gradient is the same computation on dy
// with the flipped, transposed filters and padding 2−pad (so any padding
// works). It does 16/36 of im2col's multiplies.

// winogradTiles is the number of 2×2 tiles the GEMMs aim to cover at once
// (their N dimension); winogradMax bounds the transformed buffers (floats).
const (
	winogradTiles = 512
	winogradMax   = 1 << 22
)

func winogradFits(a convArgs) bool {
	g := a.geo
	return a.g == 1 && g.KH == 3 && g.KW == 3 && g.StrideH == 1 && g.StrideW == 1 && g.DilH == 1 && g.DilW == 1
}

// winogradWins is the heuristic measured on this repository's benchmark
// shapes (see the notes at the top of conv.go).
// Below winogradMinChannels input or output channels the (scalar Go)
// transforms cost more than the multiplies they save; below
// winogradMinTiles 2×2 tiles in the whole batch the filter transform and the
// narrow GEMMs do (ResNet-18 at batch 1 from 28×28 down, 7×7 at batch 16).
// Measured on the 2-core AVX-512 machine against the GEMM of the time
// (≈30–50 GFLOP/s); re-measure with BenchmarkConvAlgos when the GEMM changes.
func winogradWins(a convArgs, op convOp) bool {
	th, tw := kernels.WinogradTiles(a.geo.OutH, a.geo.OutW)
	return a.geo.C >= winogradMinChannels && a.o >= winogradMinChannels && a.n*th*tw >= winogradMinTiles
}

const (
	winogradMinChannels = 64
	winogradMinTiles    = 512
)

func winogradForward(a convArgs, xd, wd, bd, out []float32) {
	u := getScratch(16 * a.o * a.geo.C)
	defer putScratch(u)
	kernels.WinogradFilter(a.o, a.geo.C, wd, *u, false)
	winogradRun(a.geo, a.n, a.o, xd, *u, bd, out)
}

func winogradBackwardInput(a convArgs, dyd, wd, dx []float32) {
	g := a.geo
	u := getScratch(16 * a.o * g.C)
	defer putScratch(u)
	kernels.WinogradFilter(a.o, g.C, wd, *u, true)
	t := kernels.ConvGeom{
		C: a.o, H: g.OutH, W: g.OutW, KH: 3, KW: 3, StrideH: 1, StrideW: 1,
		PadH: 2 - g.PadH, PadW: 2 - g.PadW, DilH: 1, DilW: 1, OutH: g.H, OutW: g.W,
	}
	winogradRun(t, a.n, g.C, dyd, *u, nil, dx)
}

// winogradRun convolves n images x (g.C×H×W each) with the transformed
// filters u (16 planes of o×g.C) into y (o×OutH×OutW each), plus bias.
func winogradRun(g kernels.ConvGeom, n, o int, xd, u, bd, yd []float32) {
	th, tw := kernels.WinogradTiles(g.OutH, g.OutW)
	tpi := th * tw
	nb := max(1, min(n, (winogradTiles+tpi-1)/tpi, winogradMax/(16*(g.C+o)*tpi)))
	ng := (n + nb - 1) / nb
	nb = (n + ng - 1) / ng
	c, ihw, ohw := g.C, g.C*g.H*g.W, o*g.OutH*g.OutW
	vb := getScratch(16 * c * nb * tpi)
	mb := getScratch(16 * o * nb * tpi)
	defer putScratch(vb)
	defer putScratch(mb)
	v, mm := *vb, *mb
	for i0 := 0; i0 < n; i0 += nb {
		m := min(nb, n-i0)
		ld := m * tpi
		kernels.For(m*c, 1, func(lo, hi int) {
			for p := lo; p < hi; {
				j, c0 := p/c, p%c
				c1 := min(c, c0+hi-p)
				kernels.WinogradInput(g, xd[(i0+j)*ihw:(i0+j+1)*ihw], c0, c1, v, ld, j*tpi)
				p += c1 - c0
			}
		})
		kernels.For(16, 1, func(lo, hi int) {
			for xi := lo; xi < hi; xi++ {
				kernels.GemmSerial(false, false, o, ld, c, 1, u[xi*o*c:(xi+1)*o*c], c, v[xi*c*ld:(xi+1)*c*ld], ld, 0, mm[xi*o*ld:(xi+1)*o*ld], ld)
			}
		})
		kernels.For(m*o, 1, func(lo, hi int) {
			for p := lo; p < hi; {
				j, o0 := p/o, p%o
				o1 := min(o, o0+hi-p)
				kernels.WinogradOutput(g, o, mm, ld, j*tpi, o0, o1, bd, yd[(i0+j)*ohw:(i0+j+1)*ohw])
				p += o1 - o0
			}
		})
	}
}
