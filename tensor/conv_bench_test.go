package tensor_test

import (
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// convBenchCases are the layer shapes of the issue-3 workloads: the default
// model of fovea train (mnist-cnn), LeNet-5 (W1),
// ResNet-20 at batch 128 (W2), ResNet-18 at batch 1 and 16 (W3) and a
// MobileNet-style depthwise layer.
var convBenchCases = []struct {
	name string
	cc   convCase
}{
	{"lenet_conv1_1to6_5x5p2_28x28_b64", convCase{n: 64, c: 1, h: 28, w: 28, o: 6, kh: 5, kw: 5, p: tensor.ConvParams{Pad: [4]int{2, 2, 2, 2}}}},
	{"lenet_conv2_6to16_5x5_14x14_b64", convCase{n: 64, c: 6, h: 14, w: 14, o: 16, kh: 5, kw: 5}},
	{"mnistcnn_conv1_1to16_3x3_28x28_b128", convCase{n: 128, c: 1, h: 28, w: 28, o: 16, kh: 3, kw: 3, p: pad1}},
	{"mnistcnn_conv2_16to32_3x3_14x14_b128", convCase{n: 128, c: 16, h: 14, w: 14, o: 32, kh: 3, kw: 3, p: pad1}},
	{"mnistcnn_conv3_32to64_3x3_7x7_b128", convCase{n: 128, c: 32, h: 7, w: 7, o: 64, kh: 3, kw: 3, p: pad1}},
	{"r20_stem_3to16_3x3_32x32_b128", convCase{n: 128, c: 3, h: 32, w: 32, o: 16, kh: 3, kw: 3, p: pad1}},
	{"r20_16ch_3x3_32x32_b128", convCase{n: 128, c: 16, h: 32, w: 32, o: 16, kh: 3, kw: 3, p: pad1}},
	{"r20_32ch_3x3_16x16_b128", convCase{n: 128, c: 32, h: 16, w: 16, o: 32, kh: 3, kw: 3, p: pad1}},
	{"r20_64ch_3x3_8x8_b128", convCase{n: 128, c: 64, h: 8, w: 8, o: 64, kh: 3, kw: 3, p: pad1}},
	{"r20_16to32_3x3s2_32x32_b128", convCase{n: 128, c: 16, h: 32, w: 32, o: 32, kh: 3, kw: 3, p: pad1s2}},
	{"r20_32to64_3x3s2_16x16_b128", convCase{n: 128, c: 32, h: 16, w: 16, o: 64, kh: 3, kw: 3, p: pad1s2}},
	{"r20_short_16to32_1x1s2_32x32_b128", convCase{n: 128, c: 16, h: 32, w: 32, o: 32, kh: 1, kw: 1, p: tensor.ConvParams{Stride: [2]int{2, 2}}}},
	{"r18_stem_3to64_7x7s2_224_b1", convCase{n: 1, c: 3, h: 224, w: 224, o: 64, kh: 7, kw: 7, p: tensor.ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}}},
	{"r18_64ch_3x3_56x56_b1", convCase{n: 1, c: 64, h: 56, w: 56, o: 64, kh: 3, kw: 3, p: pad1}},
	{"r18_128ch_3x3_28x28_b1", convCase{n: 1, c: 128, h: 28, w: 28, o: 128, kh: 3, kw: 3, p: pad1}},
	{"r18_256ch_3x3_14x14_b1", convCase{n: 1, c: 256, h: 14, w: 14, o: 256, kh: 3, kw: 3, p: pad1}},
	{"r18_512ch_3x3_7x7_b1", convCase{n: 1, c: 512, h: 7, w: 7, o: 512, kh: 3, kw: 3, p: pad1}},
	{"r18_stem_3to64_7x7s2_224_b16", convCase{n: 16, c: 3, h: 224, w: 224, o: 64, kh: 7, kw: 7, p: tensor.ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}}},
	{"r18_64ch_3x3_56x56_b16", convCase{n: 16, c: 64, h: 56, w: 56, o: 64, kh: 3, kw: 3, p: pad1}},
	{"r18_128ch_3x3_28x28_b16", convCase{n: 16, c: 128, h: 28, w: 28, o: 128, kh: 3, kw: 3, p: pad1}},
	{"r18_256ch_3x3_14x14_b16", convCase{n: 16, c: 256, h: 14, w: 14, o: 256, kh: 3, kw: 3, p: pad1}},
	{"r18_512ch_3x3_7x7_b16", convCase{n: 16, c: 512, h: 7, w: 7, o: 512, kh: 3, kw: 3, p: pad1}},
	{"r18_down_64to128_1x1s2_56x56_b16", convCase{n: 16, c: 64, h: 56, w: 56, o: 128, kh: 1, kw: 1, p: tensor.ConvParams{Stride: [2]int{2, 2}}}},
	{"dw_3x3_32ch_112x112_b1", convCase{n: 1, c: 32, h: 112, w: 112, o: 32, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 32, Pad: [4]int{1, 1, 1, 1}}}},
	{"dw_3x3_32ch_112x112_b8", convCase{n: 8, c: 32, h: 112, w: 112, o: 32, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 32, Pad: [4]int{1, 1, 1, 1}}}},
}

var (
	pad1   = tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}
	pad1s2 = tensor.ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{1, 1, 1, 1}}
)

// BenchmarkConvLayers times the forward pass and both gradients of every
// shape in convBenchCases and reports GFLOP/s, counting
// 2·N·O·OH·OW·(C/G)·KH·KW per call for each of the three (the direct
// algorithm's count, also for paths such as Winograd that do fewer).
func BenchmarkConvLayers(b *testing.B) {
	for _, tc := range convBenchCases {
		cc := tc.cc
		_, _, _, _, g, oh, ow := cc.geometry()
		r := newRand(1)
		xs := []int{cc.n, cc.c, cc.h, cc.w}
		ws := []int{cc.o, cc.c / g, cc.kh, cc.kw}
		// Inputs in an arena reset before every call, as in a training
		// step: outputs reuse memory instead of faulting in fresh pages
		// (which would dominate the small layers' times).
		ar := tensor.NewArena()
		x := tensor.FromSlice(randVals(r, numel(xs)), xs...).In(ar)
		w := tensor.FromSlice(randVals(r, numel(ws)), ws...).In(ar)
		dy := tensor.FromSlice(randVals(r, cc.n*cc.o*oh*ow), cc.n, cc.o, oh, ow).In(ar)
		flops := 2 * float64(cc.n*cc.o*oh*ow) * float64(cc.c/g*cc.kh*cc.kw)
		for _, dir := range []struct {
			name string
			fn   func()
		}{
			{"fwd", func() { ar.Reset(); tensor.Conv2d(x, w, nil, cc.p) }},
			{"dx", func() { ar.Reset(); tensor.Conv2dBackwardInput(dy, w, xs, cc.p) }},
			{"dw", func() { ar.Reset(); tensor.Conv2dBackwardWeight(dy, x, ws, cc.p) }},
		} {
			b.Run(tc.name+"/"+dir.name, func(b *testing.B) {
				iters := 0
				for b.Loop() {
					dir.fn()
					iters++
				}
				b.ReportMetric(flops*float64(iters)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkConvAlgos times each algorithm that applies, forced, on the
// benchmark shapes; it is how the heuristics in conv.go were set. Run with
// -bench ConvAlgos/NAME to compare one shape.
func BenchmarkConvAlgos(b *testing.B) {
	for _, tc := range convBenchCases {
		cc := tc.cc
		_, _, _, _, g, oh, ow := cc.geometry()
		r := newRand(1)
		xs := []int{cc.n, cc.c, cc.h, cc.w}
		ws := []int{cc.o, cc.c / g, cc.kh, cc.kw}
		// Inputs in an arena reset before every call, as in a training
		// step: outputs reuse memory instead of faulting in fresh pages
		// (which would dominate the small layers' times).
		ar := tensor.NewArena()
		x := tensor.FromSlice(randVals(r, numel(xs)), xs...).In(ar)
		w := tensor.FromSlice(randVals(r, numel(ws)), ws...).In(ar)
		dy := tensor.FromSlice(randVals(r, cc.n*cc.o*oh*ow), cc.n, cc.o, oh, ow).In(ar)
		flops := 2 * float64(cc.n*cc.o*oh*ow) * float64(cc.c/g*cc.kh*cc.kw)
		for _, dir := range []struct {
			name string
			fn   func()
		}{
			{"fwd", func() { ar.Reset(); tensor.Conv2d(x, w, nil, cc.p) }},
			{"dx", func() { ar.Reset(); tensor.Conv2dBackwardInput(dy, w, xs, cc.p) }},
			{"dw", func() { ar.Reset(); tensor.Conv2dBackwardWeight(dy, x, ws, cc.p) }},
		} {
			for _, algo := range tensor.ConvAlgoNames {
				if !tensor.ConvAlgoApplies(algo, dir.name, xs, ws, cc.p) {
					continue
				}
				b.Run(tc.name+"/"+dir.name+"/"+algo, func(b *testing.B) {
					iters := 0
					tensor.WithConvAlgo(algo, func() {
						for b.Loop() {
							dir.fn()
							iters++
						}
					})
					b.ReportMetric(flops*float64(iters)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
