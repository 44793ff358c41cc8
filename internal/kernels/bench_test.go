package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkGemm times C = A·B over square sizes and the GEMMs that im2col
// convolutions issue (m = output channels, n = output pixels, k = C·KH·KW),
// reporting GFLOP/s (2·m·n·k per call).
func BenchmarkGemm(b *testing.B) {
	type shape struct {
		name    string
		m, n, k int
	}
	var shapes []shape
	for _, s := range []int{64, 256, 512, 1024} {
		shapes = append(shapes, shape{fmt.Sprintf("square%d", s), s, s, s})
	}
	shapes = append(shapes,
		shape{"conv3x3_64ch_56x56", 64, 3136, 576},
		shape{"conv3x3_1to16_28x28", 16, 784, 9},
		shape{"conv3x3_128ch_28x28", 128, 784, 1152},
	)
	for _, s := range shapes {
		for _, tr := range []struct {
			name   string
			ta, tb bool
		}{{"NN", false, false}, {"TN", true, false}, {"NT", false, true}} {
			b.Run(s.name+"/"+tr.name, func(b *testing.B) {
				r := newRand(1)
				a := randSlice(r, s.m*s.k)
				bm := randSlice(r, s.k*s.n)
				c := make([]float32, s.m*s.n)
				lda, ldb := s.k, s.n
				if tr.ta {
					lda = s.m
				}
				if tr.tb {
					ldb = s.k
				}
				iters := 0
				for b.Loop() {
					Gemm(tr.ta, tr.tb, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
					iters++
				}
				b.ReportMetric(2*float64(s.m)*float64(s.n)*float64(s.k)*float64(iters)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
