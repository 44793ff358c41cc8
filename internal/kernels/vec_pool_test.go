package kernels

import (
	"fmt"
	"math"
	"testing"
)

// TestMaxPool2x2 checks MaxPool2d's 2×2 stride-2 fast path against a copy of
// the general loop on planes with ties, NaN and odd sizes (the last row or
// column left out), with guard bands around the outputs.
func TestMaxPool2x2(t *testing.T) {
	r := newRand(50)
	nan := float32(math.NaN())
	for it := range 300 {
		h, w := 2+r.IntN(15), 2+r.IntN(15)
		g := PoolGeom{H: h, W: w, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: h / 2, OutW: w / 2}
		x := quantized(r, h*w)
		if it%3 == 0 {
			for range 3 {
				x[r.IntN(len(x))] = nan
			}
		}
		on := g.OutH * g.OutW
		out, arg := newGuarded(on, 3), make([]int32, on+1)
		arg[on] = 12345
		MaxPool2d(g, x, out.body, arg[:on])
		name := fmt.Sprintf("MaxPool2d 2×2 %d×%d", h, w)
		out.checkGuards(t, name)
		if arg[on] != 12345 {
			t.Errorf("%s: wrote past arg", name)
		}
		want, wantArg := make([]float32, on), make([]int32, on)
		maxPoolLoop(g, x, want, wantArg)
		for i := range want {
			if !sameF32(out.body[i], want[i]) || arg[i] != wantArg[i] {
				t.Errorf("%s: out[%d] = %v at %d, want %v at %d", name, i, out.body[i], arg[i], want[i], wantArg[i])
				break
			}
		}
	}
}

// maxPoolLoop is MaxPool2d's general loop, kept here as the reference for
// its fast paths.
func maxPoolLoop(g PoolGeom, x, out []float32, arg []int32) {
	for oh := 0; oh < g.OutH; oh++ {
		h0 := oh*g.StrideH - g.PadH
		for ow := 0; ow < g.OutW; ow++ {
			w0 := ow*g.StrideW - g.PadW
			best, bi := float32(math.Inf(-1)), int32(-1)
			for h := max(h0, 0); h < min(h0+g.KH, g.H); h++ {
				row := x[h*g.W : (h+1)*g.W]
				for w := max(w0, 0); w < min(w0+g.KW, g.W); w++ {
					if v := row[w]; v > best || bi < 0 || v != v {
						best, bi = v, int32(h*g.W+w)
					}
				}
			}
			out[oh*g.OutW+ow], arg[oh*g.OutW+ow] = best, bi
		}
	}
}
