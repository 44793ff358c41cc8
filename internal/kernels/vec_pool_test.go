package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMaxPool2x2 checks MaxPool2d's 2×2 stride-2 fast path on every vector
// path against a copy of the general loop, bit for bit (values, NaN
// payloads, the sign of zeros, indices): planes of 1 to 41 rows and 2 to 83
// columns (rows shorter and longer than a vector, odd sizes, fewer outputs
// than the plane holds), at every alignment, with many ties, -0 and +0,
// ±Inf and NaNs with distinct payloads, and guard bands around the plane
// and the outputs.
func TestMaxPool2x2(t *testing.T) {
	for _, p := range vecPaths() {
		t.Run(p.String(), func(t *testing.T) {
			defer setVecPath(p)()
			r := newRand(50)
			for it := range 3000 {
				h, w := 1+r.IntN(41), 2+r.IntN(82)
				g := PoolGeom{H: h, W: w, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: h / 2, OutW: w / 2}
				if it%5 == 0 { // a plane wider or taller than its windows need
					g.OutH, g.OutW = r.IntN(g.OutH+1), 1+r.IntN(g.OutW)
				}
				checkMaxPool2x2(t, r, g, it%4)
			}
		})
	}
}

// checkMaxPool2x2 runs MaxPool2d on a random plane for g with values of the
// given kind (poolValues) and compares it with maxPoolLoop.
func checkMaxPool2x2(t *testing.T, r *rand.Rand, g PoolGeom, kind int) {
	t.Helper()
	const guard = 17
	name := fmt.Sprintf("MaxPool2d 2×2 %d×%d → %d×%d, values %d", g.H, g.W, g.OutH, g.OutW, kind)
	// The plane at a random offset in a buffer whose other cells are NaNs
	// of their own payload: a stray read would show up.
	lo := r.IntN(guard)
	xbuf := make([]float32, guard+g.H*g.W+guard)
	for i := range xbuf {
		xbuf[i] = math.Float32frombits(0x7fc0beef)
	}
	x := xbuf[lo : lo+g.H*g.W]
	copy(x, poolValues(r, len(x), kind))
	on := g.OutH * g.OutW
	out := newGuarded(on, guard)
	abuf := make([]int32, guard+on+guard)
	for i := range abuf {
		abuf[i] = -7 - int32(i)
	}
	arg := abuf[guard : guard+on]
	MaxPool2d(g, x, out.body, arg)
	out.checkGuards(t, name)
	for i, v := range abuf {
		if (i < guard || i >= guard+on) && v != -7-int32(i) {
			t.Errorf("%s: arg guard cell %d overwritten: %d", name, i-guard, v)
			break
		}
	}
	want, wantArg := make([]float32, on), make([]int32, on)
	maxPoolLoop(g, x, want, wantArg)
	for i := range want {
		if math.Float32bits(out.body[i]) != math.Float32bits(want[i]) || arg[i] != wantArg[i] {
			t.Errorf("%s: out[%d] = %v (%#x) at %d, want %v (%#x) at %d", name, i,
				out.body[i], math.Float32bits(out.body[i]), arg[i], want[i], math.Float32bits(want[i]), wantArg[i])
			return
		}
	}
}

// poolValues returns n values for the max-pool tests: kind 0 small
// integers with -0 and +0 (ties everywhere), 1 uniform in [-1, 1), 2 and 3
// those mixed with ±Inf, ±0 and NaNs of distinct payloads and signs, rarely
// (2) or often (3).
func poolValues(r *rand.Rand, n, kind int) []float32 {
	ints := []float32{-2, -1, float32(math.Copysign(0, -1)), 0, 1, 2}
	specials := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1)), 0}
	x := make([]float32, n)
	for i := range x {
		if kind == 1 {
			x[i] = 2*r.Float32() - 1
			continue
		}
		x[i] = ints[r.IntN(len(ints))]
		if kind >= 2 && r.IntN(10) < 2*kind-3 { // 1 in 10, or 3 in 10
			if r.IntN(2) == 0 {
				x[i] = specials[r.IntN(len(specials))]
			} else {
				x[i] = math.Float32frombits(0x7fc00000 | uint32(i)&0x3fffff | uint32(r.IntN(2))<<31)
			}
		}
	}
	return x
}

// TestMaxPool2x2Rules spells out the 2×2 window's rules on each vector path
// with a plane of 2×20 whose 10 windows are all alike (so that both vector
// paths cover them), each written r0 left, r0 right, r1 left, r1 right.
func TestMaxPool2x2Rules(t *testing.T) {
	nan1, nan2 := math.Float32frombits(0x7fc00001), math.Float32frombits(0xffc00002)
	negZero := float32(math.Copysign(0, -1))
	inf := float32(math.Inf(1))
	cases := []struct {
		name   string
		window [4]float32
		want   int // the winner's position in window
	}{
		{"first of ties", [4]float32{1, 3, 3, 3}, 1},
		{"all equal", [4]float32{2, 2, 2, 2}, 0},
		{"-0 before +0", [4]float32{negZero, 0, -1, 0}, 0},
		{"+0 before -0", [4]float32{-1, 0, negZero, negZero}, 1},
		{"maximum in r1 left", [4]float32{-inf, -1, 5, 4}, 2},
		{"r1 right", [4]float32{1, 2, 3, 4}, 3},
		{"+Inf", [4]float32{inf, inf, 1, 2}, 0},
		{"-Inf everywhere", [4]float32{-inf, -inf, -inf, -inf}, 0},
		{"NaN first stays", [4]float32{nan1, 5, inf, 6}, 0},
		{"NaN beats Inf", [4]float32{inf, nan1, 7, 8}, 1},
		{"last NaN wins", [4]float32{nan1, 1, nan2, 2}, 2},
		{"last NaN wins, r1 right", [4]float32{1, nan2, 2, nan1}, 3},
	}
	const ow = 10 // outputs per row
	for _, p := range vecPaths() {
		t.Run(p.String(), func(t *testing.T) {
			defer setVecPath(p)()
			for _, c := range cases {
				// Every window of the 2×20 plane is this case.
				g := PoolGeom{H: 2, W: 2 * ow, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: 1, OutW: ow}
				x := make([]float32, 2*2*ow)
				for o := range ow {
					x[2*o], x[2*o+1], x[2*ow+2*o], x[2*ow+2*o+1] = c.window[0], c.window[1], c.window[2], c.window[3]
				}
				out, arg := make([]float32, ow), make([]int32, ow)
				MaxPool2d(g, x, out, arg)
				at := []int{0, 1, 2 * ow, 2*ow + 1}[c.want]
				for o := range ow {
					wantArg := int32(2*o + at)
					if arg[o] != wantArg || math.Float32bits(out[o]) != math.Float32bits(c.window[c.want]) {
						t.Errorf("%s: window %v gives %v at %d, want %v at %d", c.name, c.window, out[o], arg[o], c.window[c.want], wantArg)
						break
					}
				}
			}
		})
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

// BenchmarkMaxPool2x2 times the training max pool (values and indices) of a
// 2×2 stride-2 window over a batch of planes on each vector path, one
// thread: LeNet-5's two pools (64×6×28×28 and 64×16×10×10) and a
// ResNet-sized 64×64×32×32. The "generic" path is the reference Go loop,
// and the others report their speed-up over it (x-generic) when it ran
// first; bytes are the input read plus values and indices written.
func BenchmarkMaxPool2x2(b *testing.B) {
	for _, s := range []struct{ n, c, h, w int }{{64, 6, 28, 28}, {64, 16, 10, 10}, {64, 64, 32, 32}} {
		g := PoolGeom{H: s.h, W: s.w, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: s.h / 2, OutW: s.w / 2}
		planes, in, on := s.n*s.c, s.h*s.w, g.OutH*g.OutW
		x := randSlice(newRand(1), planes*in)
		out, arg := make([]float32, planes*on), make([]int32, planes*on)
		var genericNs float64 // ns/op of the generic path
		for _, p := range vecPaths() {
			b.Run(fmt.Sprintf("%dx%dx%dx%d/%v", s.n, s.c, s.h, s.w, p), func(b *testing.B) {
				defer setVecPath(p)()
				b.SetBytes(int64(4 * planes * (in + 2*on)))
				for b.Loop() {
					for i := range planes {
						MaxPool2d(g, x[i*in:(i+1)*in], out[i*on:(i+1)*on], arg[i*on:(i+1)*on])
					}
				}
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				if p == isaGeneric {
					genericNs = ns
				} else if genericNs > 0 {
					b.ReportMetric(genericNs/ns, "x-generic")
				}
			})
		}
	}
}

// TestMaxPool2x2Short checks that MaxPool2d's 2×2 path panics with the
// kernels' message on every vector path when the plane or an output is one
// element short, even with spare capacity behind it (which slicing would
// not catch).
func TestMaxPool2x2Short(t *testing.T) {
	g := PoolGeom{H: 6, W: 40, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: 3, OutW: 20}
	n, on := g.H*g.W, g.OutH*g.OutW
	short := func(n int) []float32 { return make([]float32, n+64)[:n-1] }
	const msg = "kernels: MaxPool2d: "
	for _, p := range vecPaths() {
		t.Run(p.String(), func(t *testing.T) {
			defer setVecPath(p)()
			x, out, arg := make([]float32, n), make([]float32, on), make([]int32, on)
			mustPanicPrefix(t, msg, func() { MaxPool2d(g, short(n), out, arg) })
			mustPanicPrefix(t, msg, func() { MaxPool2d(g, x, short(on), arg) })
			mustPanicPrefix(t, msg, func() { MaxPool2d(g, x, out, make([]int32, on+64)[:on-1]) })
		})
	}
}

// TestAffineReLUMaxPool2x2 checks the batch-norm + ReLU + 2×2 max pool
// kernel on every vector path against AffineReLUPlanes followed by
// MaxPool2d on the same path, bit for bit (values, NaN payloads, the sign
// of zeros, indices), on the planes and values of TestMaxPool2x2 with
// scales and shifts of both signs, zero included.
func TestAffineReLUMaxPool2x2(t *testing.T) {
	for _, p := range vecPaths() {
		t.Run(p.String(), func(t *testing.T) {
			defer setVecPath(p)()
			r := newRand(51)
			scales := []float32{1, -1, 0, 0.37, -2.5, 1e-3}
			for it := range 2000 {
				h, w := 2+r.IntN(40), 2+r.IntN(82)
				g := PoolGeom{H: h, W: w, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: h / 2, OutW: w / 2}
				if it%5 == 0 {
					g.OutH, g.OutW = r.IntN(g.OutH+1), 1+r.IntN(g.OutW)
				}
				a, b := scales[r.IntN(len(scales))], 2*r.Float32()-1
				x := poolValues(r, h*w, it%4)
				z := make([]float32, len(x))
				AffineReLUPlanes(1, len(x), z, len(x), a, b, x, len(x))
				on := g.OutH * g.OutW
				want, wantArg := make([]float32, on), make([]int32, on)
				MaxPool2d(g, z, want, wantArg)
				out := newGuarded(on, 17)
				arg := make([]int32, on)
				AffineReLUMaxPool2x2(g, a, b, x, out.body, arg)
				name := fmt.Sprintf("%d×%d → %d×%d, a %v b %v, values %d", h, w, g.OutH, g.OutW, a, b, it%4)
				out.checkGuards(t, name)
				for i := range want {
					if math.Float32bits(out.body[i]) != math.Float32bits(want[i]) || arg[i] != wantArg[i] {
						t.Fatalf("%s: out[%d] = %v (%#x) at %d, want %v (%#x) at %d", name, i,
							out.body[i], math.Float32bits(out.body[i]), arg[i], want[i], math.Float32bits(want[i]), wantArg[i])
					}
				}
			}
		})
	}
}

// TestUnpool2x2Masked checks the pooled-gradient scatter on every vector
// path against its reference loop, bit for bit: windows from a real max
// pool (so every winner is inside its window), pooled values with ties
// at zero, NaNs and negatives (masked out), gradients with −0, ±Inf and
// NaNs, planes with a last row or column no window covers and fewer
// outputs than the plane holds, and a destination full of NaNs first (a
// cell left unwritten shows).
func TestUnpool2x2Masked(t *testing.T) {
	for _, p := range vecPaths() {
		t.Run(p.String(), func(t *testing.T) {
			defer setVecPath(p)()
			r := newRand(52)
			for it := range 2000 {
				h, w := 2+r.IntN(40), 2+r.IntN(82)
				g := PoolGeom{H: h, W: w, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: h / 2, OutW: w / 2}
				if it%5 == 0 {
					g.OutH, g.OutW = 1+r.IntN(g.OutH), 1+r.IntN(g.OutW)
				}
				on := g.OutH * g.OutW
				out, arg := make([]float32, on), make([]int32, on)
				MaxPool2d(g, poolValues(r, h*w, it%4), out, arg)
				gr := poolValues(r, on, 1+it%3)
				want := make([]float32, h*w)
				unpool2x2MaskedGeneric(g, gr, out, arg, want)
				got := newGuarded(h*w, 17)
				for i := range got.body {
					got.body[i] = float32(math.NaN())
				}
				Unpool2x2Masked(g, gr, out, arg, got.body)
				name := fmt.Sprintf("%d×%d → %d×%d, values %d", h, w, g.OutH, g.OutW, it%4)
				got.checkGuards(t, name)
				for i := range want {
					if math.Float32bits(got.body[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%s: dst[%d] = %v (%#x), want %v (%#x)", name, i,
							got.body[i], math.Float32bits(got.body[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		})
	}
}

// BenchmarkUnpool2x2Masked times the pooled-gradient scatter of
// mnist-cnn's first block (a channel of 128 planes of 28×28) on each
// vector path.
func BenchmarkUnpool2x2Masked(b *testing.B) {
	for _, p := range vecPaths() {
		b.Run(p.String(), func(b *testing.B) {
			defer setVecPath(p)()
			r := newRand(55)
			const n = 128
			g := PoolGeom{H: 28, W: 28, KH: 2, KW: 2, StrideH: 2, StrideW: 2, OutH: 14, OutW: 14}
			on, s := g.OutH*g.OutW, g.H*g.W
			out, arg := make([]float32, n*on), make([]int32, n*on)
			for i := range n {
				MaxPool2d(g, poolValues(r, s, 1), out[i*on:(i+1)*on], arg[i*on:(i+1)*on])
			}
			gr, dst := poolValues(r, n*on, 1), make([]float32, n*s)
			for b.Loop() {
				Unpool2x2MaskedPlanes(n, g, gr, out, arg, on, dst, s)
			}
		})
	}
}
