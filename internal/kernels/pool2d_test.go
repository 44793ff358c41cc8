package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randPoolGeom draws a pooling geometry. Padding may reach the kernel size,
// so some windows lie entirely in padding, and OutH/OutW may include one
// extra ceil-mode window that hangs over the bottom/right edge. As with
// PyTorch's ceil_mode (and package tensor), every window starts before the
// end of the input: the kernels index rows [max(start, 0), end) and assume
// that range is not reversed.
func randPoolGeom(r *rand.Rand) PoolGeom {
	g := PoolGeom{
		H: 1 + r.IntN(8), W: 1 + r.IntN(8),
		KH: 1 + r.IntN(4), KW: 1 + r.IntN(4),
		StrideH: 1 + r.IntN(3), StrideW: 1 + r.IntN(3),
	}
	g.PadH, g.PadW = r.IntN(g.KH+1), r.IntN(g.KW+1)
	out := func(n, pad, k, s int) int {
		span := n + 2*pad - k
		if span < 0 {
			return 1
		}
		o := span/s + 1
		if r.IntN(2) == 1 && o*s-pad < n {
			o++
		}
		return o
	}
	g.OutH, g.OutW = out(g.H, g.PadH, g.KH, g.StrideH), out(g.W, g.PadW, g.KW, g.StrideW)
	return g
}

// windowCells lists the in-bounds flat indices of output (oh, ow) in
// row-major order, and how many window positions fall inside the padded
// input [-pad, n+pad).
func (g PoolGeom) windowCells(oh, ow int) (cells []int, padded int) {
	for i := range g.KH {
		h := oh*g.StrideH - g.PadH + i
		for j := range g.KW {
			w := ow*g.StrideW - g.PadW + j
			if h < g.H+g.PadH && w < g.W+g.PadW {
				padded++
			}
			if h >= 0 && h < g.H && w >= 0 && w < g.W {
				cells = append(cells, h*g.W+w)
			}
		}
	}
	return cells, padded
}

// quantized returns values with many ties, so that arg-max order matters.
func quantized(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.IntN(5)) - 2
	}
	return s
}

func TestMaxPool2d(t *testing.T) {
	r := newRand(20)
	for it := range 400 {
		g := randPoolGeom(r)
		x := quantized(r, g.H*g.W)
		if it%2 == 0 {
			x = randSlice(r, g.H*g.W)
		}
		on := g.OutH * g.OutW
		out, arg := newGuarded(on, 3), make([]int32, on+2)
		arg[on], arg[on+1] = 12345, 12345
		MaxPool2d(g, x, out.body, arg[:on])
		name := fmt.Sprintf("MaxPool2d %+v", g)
		out.checkGuards(t, name)
		if arg[on] != 12345 || arg[on+1] != 12345 {
			t.Errorf("%s: wrote past arg", name)
		}
		for oh := range g.OutH {
			for ow := range g.OutW {
				cells, _ := g.windowCells(oh, ow)
				want, wantArg := float32(math.Inf(-1)), int32(-1)
				for _, c := range cells {
					if wantArg < 0 || x[c] > want {
						want, wantArg = x[c], int32(c)
					}
				}
				o := oh*g.OutW + ow
				if out.body[o] != want || arg[o] != wantArg {
					t.Errorf("%s: out[%d,%d] = %v at %d, want %v at %d (first of ties)", name, oh, ow, out.body[o], arg[o], want, wantArg)
				}
			}
		}
	}
}

func TestMaxPool2dNaN(t *testing.T) {
	g := PoolGeom{H: 1, W: 4, KH: 1, KW: 4, StrideH: 1, StrideW: 1, OutH: 1, OutW: 1}
	nan := float32(math.NaN())
	for _, x := range [][]float32{{nan, 1, 2, 3}, {1, nan, 3, 2}, {1, 2, 3, nan}} {
		out, arg := make([]float32, 1), make([]int32, 1)
		MaxPool2d(g, x, out, arg)
		if out[0] == out[0] || x[arg[0]] == x[arg[0]] {
			t.Errorf("MaxPool2d(%v) = %v at %d, want NaN to propagate", x, out[0], arg[0])
		}
	}
}

func TestMaxPool2dBackward(t *testing.T) {
	r := newRand(21)
	for range 200 {
		g := randPoolGeom(r)
		x := quantized(r, g.H*g.W)
		on := g.OutH * g.OutW
		out, arg := make([]float32, on), make([]int32, on)
		MaxPool2d(g, x, out, arg)
		dout := randSlice(r, on)
		dx := newGuarded(g.H*g.W, 3)
		copy(dx.body, randSlice(r, len(dx.body)))
		want := make([]float64, len(dx.body))
		tol := make([]float64, len(dx.body))
		for i, v := range dx.body {
			want[i], tol[i] = float64(v), math.Abs(float64(v))
		}
		// Route each gradient to the first maximum of its window, found
		// afresh rather than through arg.
		for oh := range g.OutH {
			for ow := range g.OutW {
				cells, _ := g.windowCells(oh, ow)
				if len(cells) == 0 {
					continue
				}
				best := cells[0]
				for _, c := range cells {
					if x[c] > x[best] {
						best = c
					}
				}
				d := float64(dout[oh*g.OutW+ow])
				want[best] += d
				tol[best] += math.Abs(d)
			}
		}
		MaxPool2dBackward(dout, arg, dx.body)
		name := fmt.Sprintf("MaxPool2dBackward %+v", g)
		dx.checkGuards(t, name)
		for i, got := range dx.body {
			if e := float64(g.KH*g.KW+3) * u32 * tol[i]; !(math.Abs(float64(got)-want[i]) <= e) {
				t.Errorf("%s: dx[%d] = %v, want %v", name, i, got, want[i])
				break
			}
		}
	}
}

func TestAvgPool2d(t *testing.T) {
	r := newRand(22)
	for range 400 {
		g := randPoolGeom(r)
		x := randSlice(r, g.H*g.W)
		for _, countPad := range []bool{false, true} {
			out := newGuarded(g.OutH*g.OutW, 3)
			AvgPool2d(g, x, out.body, countPad)
			name := fmt.Sprintf("AvgPool2d %+v countPad=%v", g, countPad)
			out.checkGuards(t, name)
			for oh := range g.OutH {
				for ow := range g.OutW {
					cells, padded := g.windowCells(oh, ow)
					var s, mag float64
					for _, c := range cells {
						s += float64(x[c])
						mag += math.Abs(float64(x[c]))
					}
					div := float64(max(len(cells), 1))
					if countPad {
						div = float64(padded)
					}
					want, tol := s/div, float64(len(cells)+3)*u32*mag/div
					if got := out.body[oh*g.OutW+ow]; !(math.Abs(float64(got)-want) <= tol) {
						t.Errorf("%s: out[%d,%d] = %v, want %v ± %.3g", name, oh, ow, got, want, tol)
					}
				}
			}
		}
	}
}

func TestAvgPool2dBackward(t *testing.T) {
	r := newRand(23)
	for range 300 {
		g := randPoolGeom(r)
		for _, countPad := range []bool{false, true} {
			dout := randSlice(r, g.OutH*g.OutW)
			dx := newGuarded(g.H*g.W, 3)
			copy(dx.body, randSlice(r, len(dx.body)))
			want := make([]float64, len(dx.body))
			tol := make([]float64, len(dx.body))
			for i, v := range dx.body {
				want[i], tol[i] = float64(v), math.Abs(float64(v))
			}
			for oh := range g.OutH {
				for ow := range g.OutW {
					cells, padded := g.windowCells(oh, ow)
					div := float64(max(len(cells), 1))
					if countPad {
						div = float64(padded)
					}
					d := float64(dout[oh*g.OutW+ow]) / div
					for _, c := range cells {
						want[c] += d
						tol[c] += math.Abs(d)
					}
				}
			}
			AvgPool2dBackward(g, dout, dx.body, countPad)
			name := fmt.Sprintf("AvgPool2dBackward %+v countPad=%v", g, countPad)
			dx.checkGuards(t, name)
			for i, got := range dx.body {
				n := float64((g.KH/g.StrideH+1)*(g.KW/g.StrideW+1) + 3)
				if e := n * u32 * tol[i]; !(math.Abs(float64(got)-want[i]) <= e) {
					t.Errorf("%s: dx[%d] = %v, want %v ± %.3g", name, i, got, want[i], e)
					break
				}
			}
		}
	}
}

// TestPoolWindowInPadding pins the degenerate windows: all padding (max
// -Inf at -1, average 0) and a window hanging past the padded input, whose
// count-pad divisor is clipped as in PyTorch.
func TestPoolWindowInPadding(t *testing.T) {
	// 1×3 input, 2×2 window, padding 2 rows / 0 columns, stride 1×2: output
	// rows cover input rows (-2,-1), (-1,0), (0,1), (1,2) of the padded rows
	// -2..2; output column 1 covers columns 2 and 3, and column 3 is past
	// the padded input.
	g := PoolGeom{H: 1, W: 3, KH: 2, KW: 2, StrideH: 1, StrideW: 2, PadH: 2, PadW: 0, OutH: 4, OutW: 2}
	x := []float32{3, 5, 7}
	inf := float32(math.Inf(-1))
	out, arg := make([]float32, 8), make([]int32, 8)
	MaxPool2d(g, x, out, arg)
	if want, wantArg := []float32{inf, inf, 5, 7, 5, 7, inf, inf}, []int32{-1, -1, 1, 2, 1, 2, -1, -1}; !sameBits(out, want) || fmt.Sprint(arg) != fmt.Sprint(wantArg) {
		t.Errorf("MaxPool2d = %v at %v, want %v at %v", out, arg, want, wantArg)
	}
	for _, countPad := range []bool{false, true} {
		avg := make([]float32, 8)
		AvgPool2d(g, x, avg, countPad)
		want := []float32{0, 0, 4, 7, 4, 7, 0, 0}
		if countPad {
			want = []float32{0, 0, 2, 3.5, 2, 3.5, 0, 0}
		}
		if !sameBits(avg, want) {
			t.Errorf("AvgPool2d countPad=%v = %v, want %v", countPad, avg, want)
		}
	}
}
