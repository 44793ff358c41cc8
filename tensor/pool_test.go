package tensor_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// poolOutSize is PyTorch's formula: floor or ceil of (n + 2p - k)/s, plus
// one, less one if ceil mode would start the last window past the input and
// its left padding.
func poolOutSize(n, k, s, p int, ceil bool) int {
	q := float64(n+2*p-k) / float64(s)
	out := int(math.Floor(q)) + 1
	if ceil {
		out = int(math.Ceil(q)) + 1
		if (out-1)*s >= n+p {
			out--
		}
	}
	return out
}

type poolCase struct {
	n, c, h, w int
	p          tensor.PoolParams
}

// poolRef holds reference pooling results with per-element tolerances.
type poolRef struct {
	oh, ow                    int
	max                       []float32
	avg, avgTol               []float64
	dxMax, dxMaxTol           []float64
	dxAvg, dxAvgTol           []float64
	planeIn, planeOut, planes int
}

// naivePool computes max (first index on ties), average and their backward
// passes for one case, straight from the window definition.
func naivePool(pc poolCase, x, dy []float32) poolRef {
	k, p := pc.p.Kernel, pc.p.Pad
	s := pc.p.Stride
	for i := range s {
		if s[i] == 0 {
			s[i] = k[i]
		}
	}
	var ref poolRef
	ref.oh = poolOutSize(pc.h, k[0], s[0], p[0], pc.p.CeilMode)
	ref.ow = poolOutSize(pc.w, k[1], s[1], p[1], pc.p.CeilMode)
	ref.planes, ref.planeIn, ref.planeOut = pc.n*pc.c, pc.h*pc.w, ref.oh*ref.ow
	no := ref.planes * ref.planeOut
	ref.max = make([]float32, no)
	ref.avg, ref.avgTol = make([]float64, no), make([]float64, no)
	ref.dxMax, ref.dxMaxTol = make([]float64, len(x)), make([]float64, len(x))
	ref.dxAvg, ref.dxAvgTol = make([]float64, len(x)), make([]float64, len(x))
	for pl := range ref.planes {
		for i := range ref.oh {
			for j := range ref.ow {
				o := pl*ref.planeOut + i*ref.ow + j
				best, bestAt := float32(math.Inf(-1)), -1
				var sum, mag float64
				real, padded := 0, 0
				for a := range k[0] {
					for b := range k[1] {
						h, w := i*s[0]-p[0]+a, j*s[1]-p[1]+b
						if h < pc.h+p[0] && w < pc.w+p[1] {
							padded++ // inside the padded input
						}
						if h < 0 || h >= pc.h || w < 0 || w >= pc.w {
							continue
						}
						xi := pl*ref.planeIn + h*pc.w + w
						real++
						sum += float64(x[xi])
						mag += math.Abs(float64(x[xi]))
						if bestAt < 0 || x[xi] > best {
							best, bestAt = x[xi], xi
						}
					}
				}
				div := float64(real)
				if pc.p.CountPad {
					div = float64(padded)
				}
				ref.max[o] = best
				ref.avg[o], ref.avgTol[o] = sum/div, float64(real+4)*u32*mag/div
				if bestAt >= 0 {
					ref.dxMax[bestAt] += float64(dy[o])
					ref.dxMaxTol[bestAt] += math.Abs(float64(dy[o]))
				}
				for a := range k[0] {
					for b := range k[1] {
						h, w := i*s[0]-p[0]+a, j*s[1]-p[1]+b
						if h < 0 || h >= pc.h || w < 0 || w >= pc.w {
							continue
						}
						xi := pl*ref.planeIn + h*pc.w + w
						ref.dxAvg[xi] += float64(dy[o]) / div
						ref.dxAvgTol[xi] += math.Abs(float64(dy[o]) / div)
					}
				}
			}
		}
	}
	// A cell lies in at most ceil(KH/SH)·ceil(KW/SW) windows.
	n := float64((k[0]+s[0]-1)/s[0]*((k[1]+s[1]-1)/s[1]) + 4)
	for i := range ref.dxMaxTol {
		ref.dxMaxTol[i] *= n * u32
		ref.dxAvgTol[i] *= n * u32
	}
	return ref
}

var poolCases = []poolCase{
	{2, 3, 8, 8, tensor.PoolParams{Kernel: [2]int{2, 2}}},
	{1, 2, 7, 7, tensor.PoolParams{Kernel: [2]int{2, 2}}},                 // odd size, floor
	{1, 2, 7, 7, tensor.PoolParams{Kernel: [2]int{2, 2}, CeilMode: true}}, // odd size, ceil: a half window
	{2, 2, 7, 9, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}},
	{2, 2, 7, 9, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CountPad: true}},
	{1, 3, 6, 5, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CeilMode: true}},
	{1, 3, 6, 5, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CeilMode: true, CountPad: true}},
	// Ceil mode whose extra window would start in the right padding: dropped.
	{1, 1, 5, 5, tensor.PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{4, 4}, Pad: [2]int{1, 1}, CeilMode: true, CountPad: true}},
	{2, 2, 5, 8, tensor.PoolParams{Kernel: [2]int{2, 4}, Stride: [2]int{1, 3}, Pad: [2]int{0, 2}, CeilMode: true}}, // non-square
	{1, 2, 5, 5, tensor.PoolParams{Kernel: [2]int{1, 1}}},
	{1, 1, 3, 3, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{1, 1}, Pad: [2]int{1, 1}, CountPad: true}},
	{2, 4, 64, 64, tensor.PoolParams{Kernel: [2]int{2, 2}}}, // enough planes to run in parallel
}

func TestPool2d(t *testing.T) {
	r := newRand(50)
	cases := append([]poolCase(nil), poolCases...)
	for range 60 {
		k := [2]int{1 + r.IntN(4), 1 + r.IntN(4)}
		pc := poolCase{1 + r.IntN(2), 1 + r.IntN(3), k[0] + r.IntN(7), k[1] + r.IntN(7), tensor.PoolParams{
			Kernel: k, Stride: [2]int{r.IntN(4), r.IntN(4)}, Pad: [2]int{r.IntN(k[0]/2 + 1), r.IntN(k[1]/2 + 1)},
			CeilMode: r.IntN(2) == 0, CountPad: r.IntN(2) == 0,
		}}
		cases = append(cases, pc)
	}
	for ci, pc := range cases {
		xs := []int{pc.n, pc.c, pc.h, pc.w}
		x := quantVals(r, numel(xs)) // ties: the first maximum must win
		if ci%2 == 1 {
			x = randVals(r, numel(xs))
		}
		stride := pc.p.Stride
		for i := range stride {
			if stride[i] == 0 {
				stride[i] = pc.p.Kernel[i]
			}
		}
		ys := []int{pc.n, pc.c, poolOutSize(pc.h, pc.p.Kernel[0], stride[0], pc.p.Pad[0], pc.p.CeilMode),
			poolOutSize(pc.w, pc.p.Kernel[1], stride[1], pc.p.Pad[1], pc.p.CeilMode)}
		dy := randVals(r, numel(ys))
		ref := naivePool(pc, x, dy)
		for _, th := range []int{1, 4} {
			withThreads(th, func() {
				ls := layouts(xs, x)
				if th == 1 {
					ls = ls[:1]
				}
				for _, l := range ls {
					what := fmt.Sprintf("threads=%d x%v %s %+v", th, xs, l.name, pc.p)
					y, arg := tensor.MaxPool2d(l.t, pc.p)
					checkExact(t, "MaxPool2d "+what, y, ys, ref.max)
					if len(arg) != numel(ys) {
						t.Errorf("MaxPool2d %s: %d arg entries, want %d", what, len(arg), numel(ys))
						continue
					}
					checkClose(t, "MaxPool2dBackward "+what, tensor.MaxPool2dBackward(tensor.FromSlice(dy, ys...), arg, xs), xs, ref.dxMax, ref.dxMaxTol)
					checkClose(t, "AvgPool2d "+what, tensor.AvgPool2d(l.t, pc.p), ys, ref.avg, ref.avgTol)
					for _, dl := range layouts(ys, dy)[:3] {
						checkClose(t, "AvgPool2dBackward "+what+" dy "+dl.name, tensor.AvgPool2dBackward(dl.t, xs, pc.p), xs, ref.dxAvg, ref.dxAvgTol)
					}
				}
			})
		}
	}
}

func TestPoolOutSizeExamples(t *testing.T) {
	// Worked by hand from the window starts (PyTorch semantics: in ceil mode
	// the last window must start inside the input or its left padding).
	for _, tc := range []struct {
		n, k, s, p int
		ceil       bool
		want       int
	}{
		{7, 2, 2, 0, false, 3}, {7, 2, 2, 0, true, 4}, {6, 3, 2, 1, true, 4}, {5, 3, 2, 1, true, 3}, {5, 2, 4, 1, true, 2},
		{112, 3, 2, 1, false, 56}, {8, 2, 2, 0, true, 4}, {4, 3, 1, 1, false, 4},
	} {
		if got := poolOutSize(tc.n, tc.k, tc.s, tc.p, tc.ceil); got != tc.want {
			t.Fatalf("test formula poolOutSize%+v = %d", tc, got)
		}
		y := tensor.AvgPool2d(tensor.New(1, 1, tc.n, tc.n), tensor.PoolParams{Kernel: [2]int{tc.k, tc.k}, Stride: [2]int{tc.s, tc.s}, Pad: [2]int{tc.p, tc.p}, CeilMode: tc.ceil})
		if y.Dim(2) != tc.want || y.Dim(3) != tc.want {
			t.Errorf("pool %+v: output %v, want %d×%d", tc, y.Shape(), tc.want, tc.want)
		}
	}
}

// TestPoolParamsDefaults checks that a zero stride means the kernel size
// and that a set stride is kept.
func TestPoolParamsDefaults(t *testing.T) {
	p := tensor.PoolParams{Kernel: [2]int{3, 2}, Stride: [2]int{0, 1}, Pad: [2]int{1, 0}, CeilMode: true}
	want := p
	want.Stride = [2]int{3, 1}
	if got := p.WithDefaults(); got != want {
		t.Fatalf("WithDefaults = %+v, want %+v", got, want)
	}
}

func TestPoolPanics(t *testing.T) {
	x := tensor.New(1, 2, 4, 4)
	k2 := tensor.PoolParams{Kernel: [2]int{2, 2}}
	mustPanic(t, "MaxPool2d 3-D", func() { tensor.MaxPool2d(tensor.New(2, 4, 4), k2) })
	mustPanic(t, "AvgPool2d 5-D", func() { tensor.AvgPool2d(tensor.New(1, 1, 2, 4, 4), k2) })
	mustPanic(t, "MaxPool2d kernel 0", func() { tensor.MaxPool2d(x, tensor.PoolParams{Kernel: [2]int{0, 2}}) })
	mustPanic(t, "MaxPool2d padding > kernel/2", func() { tensor.MaxPool2d(x, tensor.PoolParams{Kernel: [2]int{2, 2}, Pad: [2]int{0, 2}}) })
	mustPanic(t, "MaxPool2d negative stride", func() { tensor.MaxPool2d(x, tensor.PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{-1, 1}}) })
	mustPanic(t, "AvgPool2d window larger than input", func() { tensor.AvgPool2d(x, tensor.PoolParams{Kernel: [2]int{5, 2}}) })
	_, arg := tensor.MaxPool2d(x, k2)
	mustPanic(t, "MaxPool2dBackward arg length", func() { tensor.MaxPool2dBackward(tensor.New(1, 2, 2, 2), arg[:7], x.Shape()) })
	mustPanic(t, "MaxPool2dBackward dy size", func() { tensor.MaxPool2dBackward(tensor.New(1, 2, 2, 3), arg, x.Shape()) })
	mustPanic(t, "AvgPool2dBackward dy size", func() { tensor.AvgPool2dBackward(tensor.New(1, 2, 2, 3), x.Shape(), k2) })
	mustPanic(t, "AvgPool2dBackward xShape rank", func() { tensor.AvgPool2dBackward(tensor.New(1, 2, 2, 2), []int{2, 4, 4}, k2) })
}
