package kernels

import (
	"fmt"
	"math"
	"testing"
)

// TestGemmConvWeight checks the implicit weight gradient against im2col and
// the plain GEMM over random geometries (strides, padding, dilation, odd
// planes) and shapes that split an image over several packed slices, put
// several images in one, or have more taps than one column block; images
// and their gradients lie apart with gaps, dw has a row stride past its
// width and guard bands, and it is accumulated into. Every GEMM path is
// forced in turn, and each micro-kernel.
func TestGemmConvWeight(t *testing.T) {
	r := newRand(23)
	var geos []ConvGeom
	for len(geos) < 50 {
		if g, ok := randConvGeom(r); ok {
			geos = append(geos, g)
		}
	}
	geos = append(geos,
		ConvGeom{C: 16, H: 32, W: 32, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 32, OutW: 32}, // slices within an image
		ConvGeom{C: 64, H: 8, W: 8, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 8, OutW: 8},     // several images per slice, taps > nc
		ConvGeom{C: 1, H: 28, W: 28, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, DilH: 1, DilW: 1, OutH: 28, OutW: 28},  // one channel: runs across kw
		ConvGeom{C: 16, H: 32, W: 32, KH: 1, KW: 1, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, OutH: 16, OutW: 16},                   // 1x1 strided
		ConvGeom{C: 3, H: 17, W: 15, KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadH: 0, PadW: 2, DilH: 2, DilW: 2, OutH: 7, OutW: 15},   // dilated, mixed strides
		ConvGeom{C: 5, H: 9, W: 9, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 3, PadW: 0, DilH: 1, DilW: 1, OutH: 10, OutW: 7},     // padding beyond the kernel
		ConvGeom{C: 1, H: 13, W: 11, KH: 4, KW: 7, StrideH: 2, StrideW: 1, PadH: 1, PadW: 3, DilH: 1, DilW: 1, OutH: 6, OutW: 11},   // one channel, runs of 7
		ConvGeom{C: 1, H: 12, W: 12, KH: 5, KW: 4, StrideH: 1, StrideW: 2, DilH: 1, DilW: 1, OutH: 8, OutW: 5},                      // one channel, runs of 4
		ConvGeom{C: 1, H: 12, W: 12, KH: 3, KW: 8, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 10, OutW: 5},                     // one channel, runs of 8
		ConvGeom{C: 6, H: 14, W: 14, KH: 5, KW: 5, StrideH: 1, StrideW: 1, DilH: 1, DilW: 1, OutH: 10, OutW: 10},                    // LeNet-5's second layer
	)
	for gi, g := range geos {
		m := []int{1, 6, 13, 16, 33}[gi%5]
		n := 1 + gi%4
		hw, kg, chw := g.OutH*g.OutW, g.C*g.KH*g.KW, g.C*g.H*g.W
		xStride, dyStride := chw+gi%3, m*hw+2*(gi%2)
		x := randSlice(r, (n-1)*xStride+chw)
		dy := randSlice(r, (n-1)*dyStride+m*hw)
		x0, dy0 := append([]float32(nil), x...), append([]float32(nil), dy...)
		// The whole batch as one product: A = [dy_0 … dy_n-1], B = [cols_0 … cols_n-1].
		ld := n * hw
		a, b := make([]float32, m*ld), make([]float32, kg*ld)
		for i := range n {
			cols := naiveIm2col(g, x[i*xStride:i*xStride+chw])
			for p := range kg {
				copy(b[p*ld+i*hw:], cols[p*hw:(p+1)*hw])
			}
			for row := range m {
				copy(a[row*ld+i*hw:], dy[i*dyStride+row*hw:i*dyStride+(row+1)*hw])
			}
		}
		ldw := kg + gi%3
		dw0 := make([]float32, (m-1)*ldw+kg)
		for i := range dw0 {
			if i%ldw >= kg {
				dw0[i] = sentinel(i)
			} else {
				dw0[i] = 2*r.Float32() - 1
			}
		}
		want, tol := naiveGemm(false, true, m, kg, ld, 1, a, ld, b, ld, 1, dw0, ldw)
		// Each path (wgradKernel's own choice) and each micro-kernel.
		forced := gemmPaths()
		for _, k := range gemmKernels {
			forced = append(forced, k.name)
		}
		for _, path := range forced {
			restore, _ := forceGemmKernel(path)
			name := fmt.Sprintf("%s m=%d n=%d %+v", path, m, n, g)
			cg := newGuarded(len(dw0), 5)
			copy(cg.body, dw0)
			GemmConvWeight(g, m, n, dy, dyStride, x, xStride, cg.body, ldw)
			restore()
			if !sameBits(x, x0) || !sameBits(dy, dy0) {
				t.Fatalf("%s: modified its input", name)
			}
			cg.checkGuards(t, name)
			for i := range m {
				for j := range min(ldw, len(dw0)-i*ldw) {
					got := cg.body[i*ldw+j]
					if j >= kg {
						if math.Float32bits(got) != math.Float32bits(dw0[i*ldw+j]) {
							t.Fatalf("%s: padding cell (%d,%d) overwritten: %v", name, i, j, got)
						}
						continue
					}
					if w := want[i*kg+j]; math.Abs(float64(got)-w) > tol[i*kg+j] {
						t.Fatalf("%s: dw[%d][%d] = %v, want %v (tol %g)", name, i, j, got, w, tol[i*kg+j])
					}
				}
			}
		}
	}
}

func TestGemmConvWeightPanics(t *testing.T) {
	g := ConvGeom{C: 2, H: 4, W: 4, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: 4, OutW: 4}
	mustPanicPrefix(t, "kernels: GemmConvWeight", func() {
		GemmConvWeight(g, 3, 2, make([]float32, 3*16), 3*16, make([]float32, 2*32), 32, make([]float32, 3*18), 18)
	})
}

// BenchmarkGemmConvWeightLeNet1 is LeNet-5's first layer's weight gradient
// at batch 64.
func BenchmarkGemmConvWeightLeNet1(b *testing.B) {
	g := ConvGeom{C: 1, H: 28, W: 28, KH: 5, KW: 5, StrideH: 1, StrideW: 1, PadH: 2, PadW: 2, DilH: 1, DilW: 1, OutH: 28, OutW: 28}
	r := newRand(1)
	n, m := 64, 6
	x, dy := randSlice(r, n*28*28), randSlice(r, n*m*28*28)
	dw := make([]float32, m*25)
	for b.Loop() {
		GemmConvWeight(g, m, n, dy, m*28*28, x, 28*28, dw, 25)
	}
}
