package tensor_test

import (
	"fmt"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// convPathCases add to convCases shapes that reach the batched-GEMM,
// depthwise and Winograd paths with tails: odd planes (Winograd tiles cut at
// the edge), batches larger than the thread count, several images per GEMM
// with a short last group, asymmetric padding and channel multipliers.
var convPathCases = []convCase{
	{n: 9, c: 5, h: 7, w: 5, o: 6, kh: 3, kw: 3, p: pad1, bias: true},                                                              // batched GEMM, odd plane
	{n: 13, c: 3, h: 3, w: 4, o: 5, kh: 1, kw: 1, bias: true},                                                                      // 1x1, many images per GEMM
	{n: 11, c: 4, h: 9, w: 9, o: 3, kh: 1, kw: 1, p: tensor.ConvParams{Stride: [2]int{2, 2}}},                                      // 1x1 strided gather, batched
	{n: 5, c: 6, h: 5, w: 5, o: 4, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 2, Stride: [2]int{2, 2}, Pad: [4]int{1, 1, 1, 1}}},   // grouped, batched
	{n: 1, c: 7, h: 11, w: 9, o: 5, kh: 3, kw: 3, p: pad1, bias: true},                                                             // batch 1, odd
	{n: 3, c: 4, h: 6, w: 8, o: 3, kh: 3, kw: 3},                                                                                   // no padding
	{n: 2, c: 3, h: 5, w: 7, o: 2, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{2, 0, 1, 2}}},                                    // asymmetric padding
	{n: 2, c: 2, h: 2, w: 1, o: 3, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{2, 2, 2, 2}}},                                    // tiny plane, big padding
	{n: 5, c: 16, h: 10, w: 13, o: 8, kh: 3, kw: 3, p: pad1},                                                                       // batch > threads
	{n: 3, c: 6, h: 17, w: 19, o: 6, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 6, Pad: [4]int{1, 1, 1, 1}}, bias: true},           // depthwise, fused rows
	{n: 2, c: 4, h: 9, w: 11, o: 8, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 4, Stride: [2]int{2, 2}, Pad: [4]int{1, 1, 1, 1}}},  // depthwise strided, multiplier 2
	{n: 2, c: 3, h: 8, w: 9, o: 3, kh: 5, kw: 5, p: tensor.ConvParams{Groups: 3, Pad: [4]int{2, 2, 2, 2}, Dilation: [2]int{1, 2}}}, // depthwise 5x5 dilated
	{n: 2, c: 3, h: 8, w: 9, o: 3, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 3, Pad: [4]int{0, 3, 1, 0}}},                         // depthwise, pad beyond kernel reach
	{n: 4, c: 1, h: 12, w: 12, o: 6, kh: 5, kw: 5, p: tensor.ConvParams{Pad: [4]int{2, 2, 2, 2}}, bias: true},                      // one input channel
	{n: 3, c: 5, h: 23, w: 19, o: 9, kh: 3, kw: 3, p: pad1},                                                                        // plane > one packed slice (wgrad split)
	{n: 4, c: 60, h: 7, w: 9, o: 10, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{1, 2, 0, 1}}},                                  // taps > one column block
	{n: 7, c: 4, h: 6, w: 5, o: 11, kh: 2, kw: 3, p: tensor.ConvParams{Pad: [4]int{1, 2, 2, 0}, Dilation: [2]int{2, 1}}},           // dilated dgrad, odd rows
	{n: 5, c: 6, h: 9, w: 8, o: 4, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 2, Pad: [4]int{1, 1, 1, 1}}},                         // grouped stride-1 dgrad
	{n: 3, c: 4, h: 5, w: 6, o: 3, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{3, 0, 0, 3}}},                                    // padding beyond the kernel (no dgrad)
}

// TestConvPaths runs every algorithm that applies to a shape, forced in turn,
// for the forward pass and both gradients, and checks each against the naive
// float64 loop (naiveConv's tolerances, scaled by algoTol) and against the
// reference path (im2col + one GEMM per image, the first implementation):
// |fast − ref| ≤ (algoTol+1)·tol, both being within their bound of the
// exact value.
//
// Tolerances: the GEMM and direct paths sum the same products in another
// order, so naiveConv's bound holds as is (algoTol 1). Winograd F(2,3) adds
// the rounding of its transforms, whose entries are sums of up to four
// inputs or weights (times ½): algoTol 8 covers it with margin (measured
// errors are within 2 of the plain bound).
func TestConvPaths(t *testing.T) {
	algoTol := map[string]float64{"ref": 1, "gemm": 1, "depthwise": 1, "winograd": 8, "implicit": 1, "small": 1}
	r := newRand(41)
	cases := append(append([]convCase(nil), convCases...), convPathCases...)
	for range 40 {
		cases = append(cases, randConvCase(r))
	}
	// Random 3x3 stride-1 layers, the shapes Winograd takes.
	for range 20 {
		cc := convCase{n: 1 + r.IntN(6), c: 1 + r.IntN(9), h: 1 + r.IntN(12), w: 1 + r.IntN(12), o: 1 + r.IntN(9), kh: 3, kw: 3, bias: r.IntN(2) == 0,
			p: tensor.ConvParams{Pad: [4]int{r.IntN(3), r.IntN(3), r.IntN(3), r.IntN(3)}}}
		if _, _, _, _, _, oh, ow := cc.geometry(); oh > 0 && ow > 0 {
			cases = append(cases, cc)
		}
	}
	// Random depthwise layers.
	for range 20 {
		c := 1 + r.IntN(5)
		cc := convCase{n: 1 + r.IntN(4), c: c, h: 1 + r.IntN(14), w: 1 + r.IntN(14), o: c * (1 + r.IntN(3)), kh: 1 + r.IntN(5), kw: 1 + r.IntN(5), bias: r.IntN(2) == 0,
			p: tensor.ConvParams{Groups: c, Stride: [2]int{r.IntN(3), r.IntN(3)}, Pad: [4]int{r.IntN(3), r.IntN(3), r.IntN(3), r.IntN(3)}, Dilation: [2]int{r.IntN(3), r.IntN(3)}}}
		if _, _, _, _, _, oh, ow := cc.geometry(); oh > 0 && ow > 0 {
			cases = append(cases, cc)
		}
	}
	for _, cc := range cases {
		_, _, _, _, g, oh, ow := cc.geometry()
		xs, ws, ys := []int{cc.n, cc.c, cc.h, cc.w}, []int{cc.o, cc.c / g, cc.kh, cc.kw}, []int{cc.n, cc.o, oh, ow}
		x, w, dy := randVals(r, numel(xs)), randVals(r, numel(ws)), randVals(r, numel(ys))
		xt, wt, dyt := tensor.FromSlice(x, xs...), tensor.FromSlice(w, ws...), tensor.FromSlice(dy, ys...)
		var b []float32
		var bt *tensor.Tensor
		if cc.bias {
			b = randVals(r, cc.o)
			bt = tensor.FromSlice(b, cc.o)
		}
		exact := naiveConv(cc, x, w, b, dy)
		ops := []struct {
			name      string
			shape     []int
			want, tol []float64
			run       func() *tensor.Tensor
		}{
			{"fwd", ys, exact.y, exact.yTol, func() *tensor.Tensor { return tensor.Conv2d(xt, wt, bt, cc.p) }},
			{"dx", xs, exact.dx, exact.dxTol, func() *tensor.Tensor { return tensor.Conv2dBackwardInput(dyt, wt, xs, cc.p) }},
			{"dw", ws, exact.dw, exact.dwTol, func() *tensor.Tensor { return tensor.Conv2dBackwardWeight(dyt, xt, ws, cc.p) }},
		}
		for _, th := range []int{1, 3} {
			withThreads(th, func() {
				for _, op := range ops {
					var ref []float64
					tensor.WithConvAlgo("ref", func() { ref = f64(values(op.run())) })
					for _, name := range tensor.ConvAlgoNames {
						if !tensor.ConvAlgoApplies(name, op.name, xs, ws, cc.p) {
							continue
						}
						var got *tensor.Tensor
						tensor.WithConvAlgo(name, func() { got = op.run() })
						what := fmt.Sprintf("%s %s threads=%d %v", op.name, name, th, cc)
						k := algoTol[name]
						checkClose(t, what+" vs naive", got, op.shape, op.want, scaledTol(op.tol, k))
						checkClose(t, what+" vs ref", got, op.shape, ref, scaledTol(op.tol, k+1))
					}
				}
			})
		}
	}
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func scaledTol(tol []float64, k float64) []float64 {
	out := make([]float64, len(tol))
	for i, v := range tol {
		out[i] = k * v
	}
	return out
}

// TestConvAlgoChoice pins the automatic choice on the layer shapes the
// heuristics in conv.go were tuned on, so a change of heuristic is a
// deliberate one.
func TestConvAlgoChoice(t *testing.T) {
	for _, tc := range convBenchCases {
		cc := tc.cc
		g := max(cc.p.Groups, 1)
		xs, ws := []int{cc.n, cc.c, cc.h, cc.w}, []int{cc.o, cc.c / g, cc.kh, cc.kw}
		for _, op := range []string{"fwd", "dx", "dw"} {
			got := tensor.ConvAlgoChosen(op, xs, ws, cc.p)
			want := "gemm"
			if g > 1 && cc.c == g {
				want = "depthwise"
			} else if smallChoice[tc.name+"/"+op] {
				want = "small"
			} else if implicitChoice[tc.name+"/"+op] {
				want = "implicit"
			} else if w, ok := winogradChoice[tc.name+"/"+op]; ok {
				want = w
			}
			if got != want {
				t.Errorf("%s/%s: algorithm %s, want %s", tc.name, op, got, want)
			}
		}
	}
}

// winogradChoice lists the benchmark shapes where Winograd measured faster
// (forward and input gradient).
var winogradChoice = map[string]string{}

// smallChoice lists the benchmark shapes that run as the direct
// convolutions (kernels.SmallConv, kernels.SmallConvGrad); the
// measurements are in tensor/conv_gemm.go (smallPays).
var smallChoice = map[string]bool{}

// implicitChoice lists the benchmark shapes whose forward pass, input
// gradient (flipped-filter forward of dy) or weight gradient
// (kernels.GemmConvWeight) runs as an implicit GEMM.
var implicitChoice = map[string]bool{}

func init() {
	for _, s := range []string{"lenet_conv1_1to6_5x5p2_28x28_b64", "r20_stem_3to16_3x3_32x32_b128", "r20_16ch_3x3_32x32_b128", "r20_64ch_3x3_8x8_b128",
		"r18_stem_3to64_7x7s2_224_b1", "r18_64ch_3x3_56x56_b1", "r18_128ch_3x3_28x28_b1", "r18_256ch_3x3_14x14_b1",
		"r18_64ch_3x3_56x56_b16", "r18_128ch_3x3_28x28_b16", "r18_256ch_3x3_14x14_b16",
		// At least one image per thread: one serial implicit GEMM per image.
		"r20_32to64_3x3s2_16x16_b128", "r20_short_16to32_1x1s2_32x32_b128",
		"r18_512ch_3x3_7x7_b16", "r18_down_64to128_1x1s2_56x56_b16"} {
		implicitChoice[s+"/fwd"] = true
	}
	for _, s := range []string{"r20_16ch_3x3_32x32_b128", "r20_32ch_3x3_16x16_b128", "r20_64ch_3x3_8x8_b128",
		"r18_64ch_3x3_56x56_b16", "r18_128ch_3x3_28x28_b16", "r18_256ch_3x3_14x14_b16"} {
		implicitChoice[s+"/dx"] = true
	}
	for _, s := range []string{"lenet_conv1_1to6_5x5p2_28x28_b64", "lenet_conv2_6to16_5x5_14x14_b64",
		"r20_stem_3to16_3x3_32x32_b128", "r20_16ch_3x3_32x32_b128", "r20_32ch_3x3_16x16_b128", "r20_64ch_3x3_8x8_b128",
		"r20_16to32_3x3s2_32x32_b128", "r20_32to64_3x3s2_16x16_b128",
		"r18_64ch_3x3_56x56_b16", "r18_128ch_3x3_28x28_b16", "r18_256ch_3x3_14x14_b16", "r18_512ch_3x3_7x7_b16"} {
		implicitChoice[s+"/dw"] = true
	}
	// Strided layers whose phases feed several taps, and a stride-2 forward
	// pass on 16×16 outputs (see smallStridedPays).
	smallChoice["r18_stem_3to64_7x7s2_224_b16/fwd"] = true
	smallChoice["r18_stem_3to64_7x7s2_224_b16/dw"] = true
	smallChoice["r20_16to32_3x3s2_32x32_b128/fwd"] = true
	for _, s := range []string{"lenet_conv1_1to6_5x5p2_28x28_b64", "lenet_conv2_6to16_5x5_14x14_b64", "r20_stem_3to16_3x3_32x32_b128",
		"r20_16ch_3x3_32x32_b128", "r20_32ch_3x3_16x16_b128", "r20_64ch_3x3_8x8_b128",
		"mnistcnn_conv2_16to32_3x3_14x14_b128", "mnistcnn_conv3_32to64_3x3_7x7_b128",
		"r18_64ch_3x3_56x56_b16", "r18_128ch_3x3_28x28_b16", "r18_256ch_3x3_14x14_b16"} {
		smallChoice[s+"/fwd"] = true
		smallChoice[s+"/dx"] = true
	}
	for _, s := range []string{"lenet_conv1_1to6_5x5p2_28x28_b64", "lenet_conv2_6to16_5x5_14x14_b64", "r20_stem_3to16_3x3_32x32_b128",
		"r20_16ch_3x3_32x32_b128", "r20_32ch_3x3_16x16_b128", "r18_64ch_3x3_56x56_b16",
		"mnistcnn_conv1_1to16_3x3_28x28_b128", "mnistcnn_conv2_16to32_3x3_14x14_b128"} {
		smallChoice[s+"/dw"] = true
	}
	smallChoice["mnistcnn_conv1_1to16_3x3_28x28_b128/dx"] = true
	implicitChoice["mnistcnn_conv1_1to16_3x3_28x28_b128/fwd"] = true
	implicitChoice["mnistcnn_conv3_32to64_3x3_7x7_b128/dw"] = true
	for _, s := range []string{"r18_64ch_3x3_56x56_b1"} {
		winogradChoice[s+"/dx"] = "winograd"
	}
}
