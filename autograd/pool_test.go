package autograd

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// distinct returns a tensor of the given shape holding a random permutation
// of 0.1·k, so no two elements of a pooling window are within a
// finite-difference step of each other and max pooling is smooth.
func distinct(seed uint64, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	d := t.Data()
	for i, p := range tensor.NewRNG(seed).Perm(len(d)) {
		d[i] = 0.1*float32(p) - 0.05*float32(len(d))
	}
	return t
}

// naivePoolOut is PyTorch's pooling output size, written independently of
// package tensor.
func naivePoolOut(n, k, s, pad int, ceil bool) int {
	num := float64(n + 2*pad - k)
	var out int
	if ceil {
		out = int(math.Ceil(num/float64(s))) + 1
		if (out-1)*s >= n+pad {
			out--
		}
	} else {
		out = int(math.Floor(num/float64(s))) + 1
	}
	return out
}

// naivePool2d is the reference max or average pooling over x (N,C,H,W),
// one output element at a time.
func naivePool2d(x *tensor.Tensor, p tensor.PoolParams, isMax bool) *tensor.Tensor {
	n, c, h, w := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	sh, sw := p.Stride[0], p.Stride[1]
	if sh == 0 {
		sh = p.Kernel[0]
	}
	if sw == 0 {
		sw = p.Kernel[1]
	}
	oh := naivePoolOut(h, p.Kernel[0], sh, p.Pad[0], p.CeilMode)
	ow := naivePoolOut(w, p.Kernel[1], sw, p.Pad[1], p.CeilMode)
	out := tensor.New(n, c, oh, ow)
	for b := range n {
		for ch := range c {
			for i := range oh {
				for j := range ow {
					hs, ws := i*sh-p.Pad[0], j*sw-p.Pad[1]
					he, we := min(hs+p.Kernel[0], h+p.Pad[0]), min(ws+p.Kernel[1], w+p.Pad[1])
					padded := (he - hs) * (we - ws)
					best, sum, cnt := float32(math.Inf(-1)), 0.0, 0
					for y := max(hs, 0); y < min(he, h); y++ {
						for z := max(ws, 0); z < min(we, w); z++ {
							v := x.At(b, ch, y, z)
							best = max(best, v)
							sum += float64(v)
							cnt++
						}
					}
					v := best
					if !isMax {
						div := cnt
						if p.CountPad {
							div = padded
						}
						v = float32(sum / float64(div))
					}
					out.Set(v, b, ch, i, j)
				}
			}
		}
	}
	return out
}

func maxAbsDiff(a, b *tensor.Tensor) float64 {
	ad, bd := a.Contiguous().Data(), b.Contiguous().Data()
	var m float64
	for i := range ad {
		m = max(m, math.Abs(float64(ad[i]-bd[i])))
	}
	return m
}

var poolCases = []struct {
	n, c, h, w int
	p          tensor.PoolParams
}{
	{2, 3, 7, 6, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}}},
	{1, 2, 7, 5, tensor.PoolParams{Kernel: [2]int{2, 2}, CeilMode: true}},                                          // stride 0 = kernel, ragged last window
	{2, 2, 8, 9, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CeilMode: true}}, // ceil with padding
	{1, 3, 6, 7, tensor.PoolParams{Kernel: [2]int{2, 3}, Stride: [2]int{1, 2}, Pad: [2]int{1, 1}}},                 // rectangular, overlapping rows
	{2, 1, 5, 5, tensor.PoolParams{Kernel: [2]int{5, 5}}},                                                          // one window covering the plane
	{1, 2, 4, 4, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{3, 3}, CeilMode: true}},                    // ceil: last window starts inside
	{1, 1, 5, 5, tensor.PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CeilMode: true}}, // ceil window would start in padding
}

func TestMaxPool2dForwardAndGrad(t *testing.T) {
	for i, c := range poolCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			x := distinct(uint64(i+1), c.n, c.c, c.h, c.w)
			got := MaxPool2d(Const(x), c.p).Value
			want := naivePool2d(x, c.p, true)
			if !slices.Equal(got.Shape(), want.Shape()) {
				t.Fatalf("shape %v, want %v", got.Shape(), want.Shape())
			}
			if d := maxAbsDiff(got, want); d != 0 {
				t.Fatalf("forward differs from the naive loop by %g", d)
			}
			err := CheckGrad(func(xs []*Var) *Var { return MaxPool2d(xs[0], c.p) }, []*tensor.Tensor{x}, CheckOpts{})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAvgPool2dForwardAndGrad(t *testing.T) {
	for i, c := range poolCases {
		for _, countPad := range []bool{false, true} {
			t.Run(fmt.Sprint(i, countPad), func(t *testing.T) {
				p := c.p
				p.CountPad = countPad
				x := rnd(uint64(i+10), c.n, c.c, c.h, c.w)
				got := AvgPool2d(Const(x), p).Value
				want := naivePool2d(x, p, false)
				if !slices.Equal(got.Shape(), want.Shape()) {
					t.Fatalf("shape %v, want %v", got.Shape(), want.Shape())
				}
				if d := maxAbsDiff(got, want); d > 1e-6 {
					t.Fatalf("forward differs from the naive loop by %g", d)
				}
				err := CheckGrad(func(xs []*Var) *Var { return AvgPool2d(xs[0], p) }, []*tensor.Tensor{x}, CheckOpts{})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// Padding enters the average's divisor only with CountPad: a corner window
// of a 3×3 kernel with padding 1 holds 4 real elements out of 9.
func TestAvgPool2dCountPad(t *testing.T) {
	x := tensor.Ones(1, 1, 4, 4)
	p := tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{1, 1}, Pad: [2]int{1, 1}}
	if got := AvgPool2d(Const(x), p).Value.At(0, 0, 0, 0); got != 1 {
		t.Fatalf("CountPad=false corner %v, want 1", got)
	}
	p.CountPad = true
	if got := AvgPool2d(Const(x), p).Value.At(0, 0, 0, 0); math.Abs(float64(got)-4.0/9) > 1e-6 {
		t.Fatalf("CountPad=true corner %v, want 4/9", got)
	}
}

func TestGlobalAvgPool2d(t *testing.T) {
	x := rnd(3, 2, 3, 5, 7)
	got := GlobalAvgPool2d(Const(x)).Value
	if !slices.Equal(got.Shape(), []int{2, 3, 1, 1}) {
		t.Fatalf("shape %v, want [2 3 1 1]", got.Shape())
	}
	for b := range 2 {
		for c := range 3 {
			var s float64
			for h := range 5 {
				for w := range 7 {
					s += float64(x.At(b, c, h, w))
				}
			}
			if d := math.Abs(s/35 - float64(got.At(b, c, 0, 0))); d > 1e-6 {
				t.Fatalf("mean of plane (%d,%d) off by %g", b, c, d)
			}
		}
	}
	err := CheckGrad(func(xs []*Var) *Var { return GlobalAvgPool2d(xs[0]) }, []*tensor.Tensor{x}, CheckOpts{})
	if err != nil {
		t.Fatal(err)
	}
}
