package kernels

import (
	"fmt"
	"math"
	"testing"
)

// TestMaxPool2dInfer checks the index-free max-pool against MaxPool2d over
// random geometries (padding, ceil-mode overhang) and the fast paths (2×2
// stride 2, 3×3 stride 2 padding 1) on odd sizes, with ties, NaN and guard
// bands around the outputs.
func TestMaxPool2dInfer(t *testing.T) {
	r := newRand(71)
	nan := float32(math.NaN())
	for it := range 1500 {
		var g PoolGeom
		switch it % 3 {
		case 0:
			g = randPoolGeom(r)
		case 1:
			h, w := 2+r.IntN(40), 2+r.IntN(40)
			g = PoolGeom{H: h, W: w, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: h / 2, OutW: w / 2}
		default:
			h, w := 1+r.IntN(40), 1+r.IntN(40)
			if it%50 == 2 {
				w = 1100 + r.IntN(50) // more than one strip
			}
			g = PoolGeom{H: h, W: w, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1,
				OutH: (h-1)/2 + 1, OutW: (w-1)/2 + 1}
			if r.IntN(3) == 0 && (g.OutH*2-1) < h {
				g.OutH++ // ceil mode
			}
			if r.IntN(3) == 0 && (g.OutW*2-1) < w {
				g.OutW++
			}
		}
		x := quantized(r, g.H*g.W)
		if it%4 == 0 {
			for range 2 {
				x[r.IntN(len(x))] = nan
			}
		}
		on := g.OutH * g.OutW
		want, arg := make([]float32, on), make([]int32, on)
		MaxPool2d(g, x, want, arg)
		out := newGuarded(on, 5)
		MaxPool2dInfer(g, x, out.body)
		name := fmt.Sprintf("MaxPool2dInfer %+v", g)
		out.checkGuards(t, name)
		for i, w := range want {
			if v := out.body[i]; v != w && !(v != v && w != w) {
				t.Fatalf("%s: out[%d] = %v, want %v", name, i, v, w)
			}
		}
	}
}

func BenchmarkMaxPool2dInfer(b *testing.B) {
	g := PoolGeom{H: 112, W: 112, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, OutH: 56, OutW: 56}
	x := randSlice(newRand(1), 112*112)
	out, arg := make([]float32, 56*56), make([]int32, 56*56)
	b.Run("infer", func(b *testing.B) {
		for range b.N {
			MaxPool2dInfer(g, x, out)
		}
	})
	b.Run("indices", func(b *testing.B) {
		for range b.N {
			MaxPool2d(g, x, out, arg)
		}
	})
}
