package kernels

import (
	"fmt"
	"testing"
)

type benchShape struct {
	name    string
	m, n, k int
}

// gemmBenchShapes are square sizes and the GEMMs that im2col convolutions
// issue (m = output channels, n = output pixels, k = C·KH·KW).
func gemmBenchShapes() []benchShape {
	var shapes []benchShape
	for _, s := range []int{64, 256, 512, 1024, 2048} {
		shapes = append(shapes, benchShape{fmt.Sprintf("square%d", s), s, s, s})
	}
	return append(shapes,
		benchShape{"conv3x3_64ch_56x56", 64, 3136, 576},
		benchShape{"conv3x3_1to16_28x28", 16, 784, 9},
		benchShape{"conv3x3_128ch_28x28", 128, 784, 1152},
		benchShape{"conv3x3_256ch_14x14", 256, 196, 2304},
		benchShape{"conv1x1_512to2048_7x7_b16", 2048, 784, 512},
	)
}

// benchGemm times C = op(A)·op(B) and reports GFLOP/s (2·m·n·k per call).
func benchGemm(b *testing.B, s benchShape, ta, tb, parallel bool) {
	r := newRand(1)
	a := randSlice(r, s.m*s.k)
	bm := randSlice(r, s.k*s.n)
	c := make([]float32, s.m*s.n)
	lda, ldb := s.k, s.n
	if ta {
		lda = s.m
	}
	if tb {
		ldb = s.k
	}
	iters := 0
	for b.Loop() {
		GemmEx(s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n, GemmOpts{TransA: ta, TransB: tb, Parallel: parallel})
		iters++
	}
	b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(iters)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkGemm runs the default kernel over gemmBenchShapes, serial and
// parallel, in the NN, TN and NT layouts.
func BenchmarkGemm(b *testing.B) {
	for _, s := range gemmBenchShapes() {
		for _, tr := range []struct {
			name   string
			ta, tb bool
		}{{"NN", false, false}, {"TN", true, false}, {"NT", false, true}} {
			for _, par := range []bool{false, true} {
				mode := "serial"
				if par {
					mode = "parallel"
				}
				b.Run(s.name+"/"+tr.name+"/"+mode, func(b *testing.B) { benchGemm(b, s, tr.ta, tr.tb, par) })
			}
		}
	}
}

// BenchmarkGemmKernels compares every micro-kernel on square NN products.
func BenchmarkGemmKernels(b *testing.B) {
	for _, kern := range gemmKernels {
		for _, n := range []int{256, 1024, 2048} {
			for _, par := range []bool{false, true} {
				mode := "serial"
				if par {
					mode = "parallel"
				}
				b.Run(fmt.Sprintf("%s/square%d/%s", kern.name, n, mode), func(b *testing.B) {
					restore, _ := forceGemmKernel(kern.name)
					defer restore()
					benchGemm(b, benchShape{"", n, n, n}, false, false, par)
				})
			}
		}
	}
}

// convBenchGeoms are the ResNet-18 layers (batch 1) behind the conv-shaped
// GEMMs of gemmBenchShapes, with their output channels.
func convBenchGeoms() []struct {
	name string
	m    int
	g    ConvGeom
} {
	g3 := func(c, hw int) ConvGeom {
		return ConvGeom{C: c, H: hw, W: hw, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1, OutH: hw, OutW: hw}
	}
	return []struct {
		name string
		m    int
		g    ConvGeom
	}{
		{"conv7x7s2_3to64_224", 64, ConvGeom{C: 3, H: 224, W: 224, KH: 7, KW: 7, StrideH: 2, StrideW: 2, PadH: 3, PadW: 3, DilH: 1, DilW: 1, OutH: 112, OutW: 112}},
		{"conv3x3_64ch_56x56", 64, g3(64, 56)},
		{"conv3x3_128ch_28x28", 128, g3(128, 28)},
		{"conv3x3_256ch_14x14", 256, g3(256, 14)},
		{"conv3x3_512ch_7x7", 512, g3(512, 7)},
		{"conv1x1s2_64to128_56x56", 128, ConvGeom{C: 64, H: 56, W: 56, KH: 1, KW: 1, StrideH: 2, StrideW: 2, DilH: 1, DilW: 1, OutH: 28, OutW: 28}},
	}
}

// BenchmarkConvGemm compares, per layer of one image, im2col followed by
// GemmEx ("im2col") with the implicit GEMM on pre-packed weights
// ("implicit"), serial and parallel; GFLOP/s counts 2·m·n·k.
func BenchmarkConvGemm(b *testing.B) {
	for _, cs := range convBenchGeoms() {
		g, m := cs.g, cs.m
		k, n := g.C*g.KH*g.KW, g.OutH*g.OutW
		r := newRand(1)
		x, w := randSlice(r, g.C*g.H*g.W), randSlice(r, m*k)
		c := make([]float32, m*n)
		cols := make([]float32, k*n)
		pad := make([]float32, ConvPadSize(g))
		flops := 2 * float64(m) * float64(n) * float64(k)
		for _, par := range []bool{false, true} {
			mode := "serial"
			if par {
				mode = "parallel"
			}
			b.Run(cs.name+"/im2col/"+mode, func(b *testing.B) {
				for b.Loop() {
					Im2colLd(g, x, cols, n)
					GemmEx(m, n, k, 1, w, k, cols, n, 0, c, n, GemmOpts{Parallel: par})
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
			b.Run(cs.name+"/implicit/"+mode, func(b *testing.B) {
				nh := n
				if par {
					nh = ceilDiv(n, Threads())
				}
				pa := PackA(m, nh, k, w, k)
				for b.Loop() {
					GemmConv(pa, g, x, pad, c, n, nil, par)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkWinograd43 times Winograd F(4×4, 3×3) on ResNet-18's 3×3
// stride-1 layers (C in and out, same padding) at batch 1 and 16, one
// thread: the input transform, the output transform (with the residual
// add and ReLU of a block's second convolution) and the whole Run, with the
// Go transforms ("go") and those of the current vector path ("asm"; the Go
// ones again on the generic path). It reports the tiles·channels
// transformed per second of the transforms.
func BenchmarkWinograd43(b *testing.B) {
	r := newRand(43)
	for _, s := range []struct{ c, hw int }{{64, 56}, {128, 28}, {256, 14}, {512, 7}} {
		for _, n := range []int{1, 16} {
			g := ConvGeom{C: s.c, H: s.hw, W: s.hw, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, DilH: 1, DilW: 1,
				OutH: s.hw, OutW: s.hw}
			wg := NewWinograd43(g, s.c, n, randSlice(r, s.c*s.c*9), randSlice(r, s.c))
			x, add := randSlice(r, n*s.c*s.hw*s.hw), randSlice(r, n*s.c*s.hw*s.hw)
			y, scratch := make([]float32, len(x)), make([]float32, wg.ScratchSize())
			for _, impl := range []string{"go", "asm"} {
				winoGoOnly = impl == "go"
				wg.Bind(x, y, add, true, scratch)
				winoGoOnly = false
				name := fmt.Sprintf("%dch_%dx%d/n=%d/%s", s.c, s.hw, s.hw, n, impl)
				units := float64(wg.t * s.c)
				b.Run(name+"/input", func(b *testing.B) {
					withThreads(1, func() {
						for b.Loop() {
							wg.inFn(0, wg.inN)
						}
					})
					b.ReportMetric(units*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mtiles/s")
				})
				b.Run(name+"/output", func(b *testing.B) {
					withThreads(1, func() {
						for b.Loop() {
							wg.outFn(0, wg.outN)
						}
					})
					b.ReportMetric(units*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mtiles/s")
				})
				b.Run(name+"/run", func(b *testing.B) {
					withThreads(1, func() {
						for b.Loop() {
							wg.Run(false)
						}
					})
				})
			}
		}
	}
}
