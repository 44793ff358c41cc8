package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// convCase is one convolution: input (N, C, H, W), weight (O, C/G, KH, KW).
type convCase struct {
	n, c, h, w, o, kh, kw int
	p                     tensor.ConvParams
	bias                  bool
}

func (cc convCase) String() string {
	return fmt.Sprintf("x(%d,%d,%d,%d) w(%d,%d,%d,%d) %+v bias=%v", cc.n, cc.c, cc.h, cc.w, cc.o, cc.c/max(cc.p.Groups, 1), cc.kh, cc.kw, cc.p, cc.bias)
}

// geometry fills in the defaults on its own (zero stride, dilation or
// groups mean 1) and returns the output size.
func (cc convCase) geometry() (sh, sw, dh, dw, g, oh, ow int) {
	one := func(v int) int { return max(v, 1) }
	sh, sw, dh, dw, g = one(cc.p.Stride[0]), one(cc.p.Stride[1]), one(cc.p.Dilation[0]), one(cc.p.Dilation[1]), one(cc.p.Groups)
	oh = (cc.h+cc.p.Pad[0]+cc.p.Pad[2]-dh*(cc.kh-1)-1)/sh + 1
	ow = (cc.w+cc.p.Pad[1]+cc.p.Pad[3]-dw*(cc.kw-1)-1)/sw + 1
	return
}

// convRef holds reference results, each with per-element tolerances.
type convRef struct {
	y, yTol   []float64
	dx, dxTol []float64
	dw, dwTol []float64
}

// naiveConv is the direct seven-loop convolution (n, o, oh, ow, c, kh, kw)
// in float64. Alongside the output it accumulates, in the same loops, the
// gradients with respect to x and w for the upstream gradient dy.
func naiveConv(cc convCase, x, w, b, dy []float32) convRef {
	sh, sw, dh, dw, g, oh, ow := cc.geometry()
	cg, og := cc.c/g, cc.o/g
	var ref convRef
	ref.y, ref.yTol = make([]float64, cc.n*cc.o*oh*ow), make([]float64, cc.n*cc.o*oh*ow)
	ref.dx, ref.dxTol = make([]float64, len(x)), make([]float64, len(x))
	ref.dw, ref.dwTol = make([]float64, len(w)), make([]float64, len(w))
	terms := cg * cc.kh * cc.kw
	for n := range cc.n {
		for o := range cc.o {
			gi := o / og
			for i := range oh {
				for j := range ow {
					yi := ((n*cc.o+o)*oh+i)*ow + j
					var s, mag float64
					if b != nil {
						s, mag = float64(b[o]), math.Abs(float64(b[o]))
					}
					for c := range cg {
						for ki := range cc.kh {
							for kj := range cc.kw {
								ih := i*sh - cc.p.Pad[0] + ki*dh
								iw := j*sw - cc.p.Pad[1] + kj*dw
								if ih < 0 || ih >= cc.h || iw < 0 || iw >= cc.w {
									continue
								}
								xi := ((n*cc.c+gi*cg+c)*cc.h+ih)*cc.w + iw
								wi := ((o*cg+c)*cc.kh+ki)*cc.kw + kj
								v := float64(x[xi]) * float64(w[wi])
								s += v
								mag += math.Abs(v)
								gx := float64(w[wi]) * float64(dy[yi])
								ref.dx[xi] += gx
								ref.dxTol[xi] += math.Abs(gx)
								gw := float64(x[xi]) * float64(dy[yi])
								ref.dw[wi] += gw
								ref.dwTol[wi] += math.Abs(gw)
							}
						}
					}
					ref.y[yi], ref.yTol[yi] = s, float64(terms+4)*u32*mag
				}
			}
		}
	}
	// An input element receives at most og·KH·KW terms per image (fewer
	// with stride), a weight element N·OH·OW: bound the float32 sums by that.
	for i := range ref.dxTol {
		ref.dxTol[i] *= float64(og*cc.kh*cc.kw+3) * u32
	}
	for i := range ref.dwTol {
		ref.dwTol[i] *= float64(cc.n*oh*ow+3) * u32
	}
	return ref
}

var convCases = []convCase{
	{n: 2, c: 3, h: 7, w: 6, o: 4, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}, bias: true},
	{n: 1, c: 2, h: 9, w: 8, o: 3, kh: 3, kw: 3, p: tensor.ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{1, 0, 2, 1}}},
	{n: 2, c: 2, h: 9, w: 10, o: 2, kh: 3, kw: 2, p: tensor.ConvParams{Dilation: [2]int{2, 3}, Pad: [4]int{2, 1, 2, 3}}, bias: true},
	{n: 3, c: 4, h: 6, w: 5, o: 6, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 2, Pad: [4]int{1, 1, 1, 1}}, bias: true},
	{n: 2, c: 5, h: 8, w: 7, o: 5, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 5, Stride: [2]int{2, 1}, Pad: [4]int{1, 1, 1, 1}}}, // depthwise
	{n: 1, c: 3, h: 5, w: 5, o: 6, kh: 3, kw: 3, p: tensor.ConvParams{Groups: 3}, bias: true},                                    // depthwise, multiplier 2
	{n: 2, c: 8, h: 6, w: 6, o: 5, kh: 1, kw: 1, bias: true},                                                                     // 1x1: direct path
	{n: 7, c: 6, h: 4, w: 5, o: 4, kh: 1, kw: 1, p: tensor.ConvParams{Groups: 2}},                                                // 1x1 grouped, batch > threads
	{n: 1, c: 4, h: 7, w: 7, o: 3, kh: 1, kw: 1, p: tensor.ConvParams{Stride: [2]int{2, 2}}},                                     // 1x1 strided: im2col
	{n: 1, c: 4, h: 4, w: 4, o: 3, kh: 1, kw: 1, p: tensor.ConvParams{Pad: [4]int{0, 0, 1, 1}}},                                  // 1x1, bottom/right pad only
	{n: 2, c: 3, h: 5, w: 11, o: 2, kh: 2, kw: 5, p: tensor.ConvParams{Stride: [2]int{1, 3}, Pad: [4]int{0, 2, 1, 2}}},           // non-square
	{n: 7, c: 2, h: 6, w: 6, o: 3, kh: 3, kw: 3, p: tensor.ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{1, 1, 0, 0}}, bias: true},
	{n: 2, c: 3, h: 4, w: 5, o: 2, kh: 4, kw: 5},                                                                // kernel = input: 1x1 output
	{n: 1, c: 1, h: 1, w: 1, o: 1, kh: 1, kw: 1, bias: true},                                                    // smallest
	{n: 1, c: 1, h: 1, w: 1, o: 2, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}},                 // all but the centre tap in padding
	{n: 9, c: 16, h: 12, w: 12, o: 24, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}, bias: true}, // parallel GEMMs
	{n: 1, c: 32, h: 20, w: 20, o: 32, kh: 3, kw: 3, p: tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}},             // one image, parallel GEMM
}

// randConvCase draws a valid convolution.
func randConvCase(r *rand.Rand) convCase {
	for {
		g := 1 + r.IntN(3)
		cc := convCase{
			n: 1 + r.IntN(5), c: g * (1 + r.IntN(3)), h: 1 + r.IntN(9), w: 1 + r.IntN(9),
			o: g * (1 + r.IntN(3)), kh: 1 + r.IntN(4), kw: 1 + r.IntN(4), bias: r.IntN(2) == 0,
			p: tensor.ConvParams{
				Stride:   [2]int{r.IntN(4), r.IntN(4)}, // 0 means 1
				Pad:      [4]int{r.IntN(3), r.IntN(3), r.IntN(3), r.IntN(3)},
				Dilation: [2]int{r.IntN(3), r.IntN(3)},
				Groups:   g,
			},
		}
		if _, _, _, _, _, oh, ow := cc.geometry(); oh > 0 && ow > 0 {
			return cc
		}
	}
}

func TestConv2d(t *testing.T) {
	r := newRand(40)
	cases := append([]convCase(nil), convCases...)
	for range 60 {
		cases = append(cases, randConvCase(r))
	}
	for ci, cc := range cases {
		_, _, _, _, _, oh, ow := cc.geometry()
		xs, ws, ys := []int{cc.n, cc.c, cc.h, cc.w}, []int{cc.o, cc.c / max(cc.p.Groups, 1), cc.kh, cc.kw}, []int{cc.n, cc.o, oh, ow}
		x, w, dy := randVals(r, numel(xs)), randVals(r, numel(ws)), randVals(r, numel(ys))
		var b []float32
		var bt *tensor.Tensor
		if cc.bias {
			b = randVals(r, cc.o)
			bt = tensor.FromSlice(b, cc.o)
		}
		ref := naiveConv(cc, x, w, b, dy)
		// Every case runs with 1 and 4 threads (batch below and above the
		// thread count take different paths); a few also take
		// non-contiguous operands.
		for _, th := range []int{1, 4} {
			withThreads(th, func() {
				xl, wl, dyl := layouts(xs, x)[:1], layouts(ws, w)[:1], layouts(ys, dy)[:1]
				if ci%4 == 0 && th == 4 {
					xl, wl, dyl = layouts(xs, x)[2:], layouts(ws, w)[2:], layouts(ys, dy)[2:]
				}
				for i := range xl {
					what := fmt.Sprintf("threads=%d %v (%s operands)", th, cc, xl[i].name)
					checkClose(t, "Conv2d "+what, tensor.Conv2d(xl[i].t, wl[i].t, bt, cc.p), ys, ref.y, ref.yTol)
					checkClose(t, "Conv2dBackwardInput "+what, tensor.Conv2dBackwardInput(dyl[i].t, wl[i].t, xs, cc.p), xs, ref.dx, ref.dxTol)
					checkClose(t, "Conv2dBackwardWeight "+what, tensor.Conv2dBackwardWeight(dyl[i].t, xl[i].t, ws, cc.p), ws, ref.dw, ref.dwTol)
				}
			})
		}
	}
}

func TestConvOutSize(t *testing.T) {
	for _, tc := range []struct{ n, lo, hi, k, s, d, want int }{
		{5, 0, 0, 3, 1, 1, 3}, {5, 1, 1, 3, 1, 1, 5}, {7, 1, 1, 3, 2, 1, 4}, {7, 0, 0, 3, 1, 2, 3},
		{224, 3, 3, 7, 2, 1, 112}, {4, 0, 0, 4, 1, 1, 1}, {10, 2, 1, 3, 3, 2, 3},
	} {
		if got := tensor.ConvOutSize(tc.n, tc.lo, tc.hi, tc.k, tc.s, tc.d); got != tc.want {
			t.Errorf("ConvOutSize(%d, %d, %d, %d, %d, %d) = %d, want %d", tc.n, tc.lo, tc.hi, tc.k, tc.s, tc.d, got, tc.want)
		}
	}
}

// TestConvParamsDefaults checks that the zero values of ConvParams mean
// stride 1, dilation 1 and one group, and that set values are kept.
func TestConvParamsDefaults(t *testing.T) {
	got := tensor.ConvParams{Stride: [2]int{0, 2}, Pad: [4]int{1, 2, 3, 4}, Dilation: [2]int{3, 0}}.WithDefaults()
	want := tensor.ConvParams{Stride: [2]int{1, 2}, Pad: [4]int{1, 2, 3, 4}, Dilation: [2]int{3, 1}, Groups: 1}
	if got != want {
		t.Fatalf("WithDefaults = %+v, want %+v", got, want)
	}
	if got := (tensor.ConvParams{Groups: 4}).WithDefaults().Groups; got != 4 {
		t.Fatalf("WithDefaults changed 4 groups to %d", got)
	}
}

// TestConvParamsOutSize checks the two-axis output size against
// ConvOutSize per axis, defaults included.
func TestConvParamsOutSize(t *testing.T) {
	p := tensor.ConvParams{Stride: [2]int{2, 0}, Pad: [4]int{3, 1, 2, 0}, Dilation: [2]int{0, 2}}
	oh, ow := p.OutSize(224, 31, [2]int{7, 3})
	if wh, ww := tensor.ConvOutSize(224, 3, 2, 7, 2, 1), tensor.ConvOutSize(31, 1, 0, 3, 1, 2); oh != wh || ow != ww {
		t.Fatalf("OutSize = %dx%d, want %dx%d", oh, ow, wh, ww)
	}
}

// TestSamePadding checks PyTorch's padding="same": a stride-1 convolution
// keeps the input size, and an odd total puts the extra pixel at the
// bottom/right (the values PyTorch's _conv_forward pads with).
func TestSamePadding(t *testing.T) {
	for _, tc := range []struct {
		kernel, dilation [2]int
		want             [4]int
	}{
		{[2]int{3, 3}, [2]int{1, 1}, [4]int{1, 1, 1, 1}},
		{[2]int{1, 1}, [2]int{1, 1}, [4]int{0, 0, 0, 0}},
		{[2]int{4, 2}, [2]int{1, 1}, [4]int{1, 0, 2, 1}},
		{[2]int{3, 4}, [2]int{2, 0}, [4]int{2, 1, 2, 2}}, // dilation 0 means 1
		{[2]int{5, 2}, [2]int{3, 3}, [4]int{6, 1, 6, 2}},
	} {
		pad := tensor.SamePadding(tc.kernel, tc.dilation)
		if pad != tc.want {
			t.Errorf("SamePadding(%v, %v) = %v, want %v", tc.kernel, tc.dilation, pad, tc.want)
		}
		for _, n := range []int{1, 7, 28} {
			p := tensor.ConvParams{Pad: pad, Dilation: tc.dilation}
			if oh, ow := p.OutSize(n, n+1, tc.kernel); oh != n || ow != n+1 {
				t.Errorf("SamePadding(%v, %v) on %dx%d gives %dx%d", tc.kernel, tc.dilation, n, n+1, oh, ow)
			}
		}
	}
}

func TestConvPanics(t *testing.T) {
	x := tensor.New(2, 4, 5, 5)
	w := tensor.New(6, 2, 3, 3)
	g2 := tensor.ConvParams{Groups: 2}
	mustPanic(t, "Conv2d 3-D input", func() { tensor.Conv2d(tensor.New(4, 5, 5), w, nil, g2) })
	mustPanic(t, "Conv2d 3-D weight", func() { tensor.Conv2d(x, tensor.New(6, 2, 3), nil, g2) })
	mustPanic(t, "Conv2d weight channels", func() { tensor.Conv2d(x, w, nil, tensor.ConvParams{}) })
	mustPanic(t, "Conv2d groups do not divide C", func() { tensor.Conv2d(x, tensor.New(6, 1, 3, 3), nil, tensor.ConvParams{Groups: 3}) })
	mustPanic(t, "Conv2d groups do not divide O", func() { tensor.Conv2d(x, tensor.New(5, 2, 3, 3), nil, g2) })
	mustPanic(t, "Conv2d bias length", func() { tensor.Conv2d(x, w, tensor.New(5), g2) })
	mustPanic(t, "Conv2d bias rank", func() { tensor.Conv2d(x, w, tensor.New(6, 1), g2) })
	mustPanic(t, "Conv2d empty output", func() { tensor.Conv2d(x, tensor.New(6, 2, 6, 3), nil, g2) })
	mustPanic(t, "Conv2d dilated empty output", func() {
		tensor.Conv2d(x, w, nil, tensor.ConvParams{Groups: 2, Dilation: [2]int{3, 1}})
	})
	dy := tensor.New(2, 6, 3, 3)
	mustPanic(t, "Conv2dBackwardInput dy channels", func() { tensor.Conv2dBackwardInput(tensor.New(2, 5, 3, 3), w, x.Shape(), g2) })
	mustPanic(t, "Conv2dBackwardInput dy size", func() { tensor.Conv2dBackwardInput(tensor.New(2, 6, 4, 3), w, x.Shape(), g2) })
	mustPanic(t, "Conv2dBackwardInput dy batch", func() { tensor.Conv2dBackwardInput(tensor.New(1, 6, 3, 3), w, x.Shape(), g2) })
	mustPanic(t, "Conv2dBackwardInput xShape rank", func() { tensor.Conv2dBackwardInput(dy, w, []int{4, 5, 5}, g2) })
	mustPanic(t, "Conv2dBackwardWeight dy", func() { tensor.Conv2dBackwardWeight(tensor.New(2, 6, 3), x, w.Shape(), g2) })
	mustPanic(t, "Conv2dBackwardWeight wShape", func() { tensor.Conv2dBackwardWeight(dy, x, []int{6, 4, 3, 3}, g2) })
	// The valid call for comparison does not panic.
	tensor.Conv2dBackwardWeight(dy, x, w.Shape(), g2)
}
