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
		GemmEx(ta, tb, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n, nil, parallel)
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
