package tensor_test

import (
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// BenchmarkConv2d times Conv2d (im2col + GEMM) on typical layer shapes and
// reports GFLOP/s, counting 2·N·O·OH·OW·(C/G)·KH·KW per call.
func BenchmarkConv2d(b *testing.B) {
	cases := []struct {
		name string
		cc   convCase
	}{
		{"lenet_5x5_1to16_28x28_b64", convCase{n: 64, c: 1, h: 28, w: 28, o: 16, kh: 5, kw: 5, p: tensor.ConvParams{Pad: [4]int{2, 2, 2, 2}}}},
		{"resnet_3x3_64ch_56x56_b1", convCase{n: 1, c: 64, h: 56, w: 56, o: 64, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}}},
		{"resnet_3x3_64ch_56x56_b8", convCase{n: 8, c: 64, h: 56, w: 56, o: 64, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}}},
		{"pointwise_1x1_256to64_56x56_b1", convCase{n: 1, c: 256, h: 56, w: 56, o: 64, kh: 1, kw: 1}},
		{"stem_7x7s2_3to64_224x224_b1", convCase{n: 1, c: 3, h: 224, w: 224, o: 64, kh: 7, kw: 7, p: tensor.ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}}},
		{"depthwise_3x3_32ch_112x112_b1", convCase{n: 1, c: 32, h: 112, w: 112, o: 32, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 32, Pad: [4]int{1, 1, 1, 1}}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			cc := tc.cc
			_, _, _, _, g, oh, ow := cc.geometry()
			r := newRand(1)
			x := tensor.FromSlice(randVals(r, cc.n*cc.c*cc.h*cc.w), cc.n, cc.c, cc.h, cc.w)
			w := tensor.FromSlice(randVals(r, cc.o*cc.c/g*cc.kh*cc.kw), cc.o, cc.c/g, cc.kh, cc.kw)
			flops := 2 * float64(cc.n*cc.o*oh*ow) * float64(cc.c/g*cc.kh*cc.kw)
			iters := 0
			for b.Loop() {
				tensor.Conv2d(x, w, nil, cc.p)
				iters++
			}
			b.ReportMetric(flops*float64(iters)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
