package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestConvDirtyArena runs the convolutions with arena memory recycled full
// of NaN, and checks they match the same calls on ordinary (zeroed)
// memory: an output that skips clearing (the direct convolutions') but
// misses an element shows up as NaN, as does a path that adds into an
// output it did not clear.
func TestConvDirtyArena(t *testing.T) {
	prev := Threads()
	SetThreads(2) // the direct paths need an image per thread
	defer SetThreads(prev)
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		x, w []int
		p    ConvParams
	}{
		{[]int{4, 5, 9, 7}, []int{6, 5, 3, 3}, ConvParams{Pad: [4]int{1, 1, 1, 1}}},
		{[]int{4, 5, 9, 8}, []int{6, 5, 3, 3}, ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{1, 1, 1, 1}}},
		{[]int{3, 4, 8, 8}, []int{6, 4, 1, 1}, ConvParams{Stride: [2]int{2, 2}}},
		{[]int{3, 2, 11, 10}, []int{3, 2, 5, 5}, ConvParams{Stride: [2]int{3, 2}, Pad: [4]int{2, 2, 2, 2}}},
	}
	rnd := func(shape ...int) *Tensor {
		t := New(shape...)
		for i := range t.data {
			t.data[i] = r.Float32()*2 - 1
		}
		return t
	}
	for _, c := range cases {
		x, w := rnd(c.x...), rnd(c.w...)
		ref := Conv2d(x, w, nil, c.p)
		dy := rnd(ref.Shape()...)
		refDx := Conv2dBackwardInput(dy, w, c.x, c.p)
		a := NewArena()
		run := func() (*Tensor, *Tensor) {
			a.Reset()
			return Conv2d(x.In(a), w, nil, c.p), Conv2dBackwardInput(dy.In(a), w, c.x, c.p)
		}
		y, dx := run()
		// Fill the arena's buffers with NaN, then run again on them.
		for _, t := range []*Tensor{y, dx} {
			for i := range t.data {
				t.data[i] = float32(math.NaN())
			}
		}
		y, dx = run()
		for _, pair := range []struct {
			name      string
			got, want *Tensor
		}{{"forward", y, ref}, {"input gradient", dx, refDx}} {
			for i, v := range pair.got.data {
				if want := pair.want.data[i]; !(math.Abs(float64(v-want)) <= 1e-5) {
					t.Fatalf("%v %v %+v: %s[%d] = %v on recycled memory, want %v", c.x, c.w, c.p, pair.name, i, v, want)
				}
			}
		}
	}
}

// TestConvWeightGradDeterministic repeats weight gradients split over four
// workers, whose partial sums must be added in a fixed order (the order
// of finishing would change the rounding from run to run, and a resumed
// training run must match an uninterrupted one bit for bit), on the direct,
// implicit-GEMM and im2col paths.
func TestConvWeightGradDeterministic(t *testing.T) {
	prev := Threads()
	SetThreads(4)
	defer SetThreads(prev)
	r := rand.New(rand.NewPCG(7, 8))
	rnd := func(shape ...int) *Tensor {
		t := New(shape...)
		for i := range t.data {
			t.data[i] = r.Float32()*2 - 1
		}
		return t
	}
	xs, ws := []int{16, 8, 12, 12}, []int{8, 8, 3, 3}
	x, dy := rnd(xs...), rnd(16, 8, 12, 12)
	p := ConvParams{Pad: [4]int{1, 1, 1, 1}}
	for _, al := range []convAlgo{convSmall, convImplicit, convGemm} {
		prevForce := convForce
		convForce = al
		first := Conv2dBackwardWeight(dy, x, ws, p).data
		for rep := range 30 {
			got := Conv2dBackwardWeight(dy, x, ws, p).data
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
					t.Fatalf("algorithm %d, repetition %d: dw[%d] = %v, first run %v", al, rep, i, got[i], first[i])
				}
			}
		}
		convForce = prevForce
	}
}

// TestMaxPoolBackwardDirtyArena checks that the max-pool gradient, which
// clears each plane itself instead of taking zeroed memory, comes out the
// same on arena memory recycled full of NaN.
func TestMaxPoolBackwardDirtyArena(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x := New(3, 4, 9, 8)
	for i := range x.data {
		x.data[i] = r.Float32()
	}
	p := PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}}
	y, arg := MaxPool2d(x, p)
	dy := New(y.Shape()...)
	for i := range dy.data {
		dy.data[i] = r.Float32() + 1
	}
	want := MaxPool2dBackward(dy, arg, x.Shape())
	a := NewArena()
	got := MaxPool2dBackward(dy.In(a), arg, x.Shape())
	for i := range got.data {
		got.data[i] = float32(math.NaN())
	}
	a.Reset()
	got = MaxPool2dBackward(dy.In(a), arg, x.Shape())
	for i, v := range got.data {
		if v != want.data[i] {
			t.Fatalf("dx[%d] = %v on recycled memory, want %v", i, v, want.data[i])
		}
	}
}
