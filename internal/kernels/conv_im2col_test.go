package kernels

import (
	"math"
	"testing"
)

// TestIm2colLd checks Im2colLd against naiveIm2col and Col2imLd against
// naiveCol2im with the matrix embedded at column offset off of a wider
// matrix (row stride ld): the cells of other columns, and guard cells
// around the whole buffer, must keep their sentinels. Im2colLd is a copy,
// so it must match exactly; Col2imLd within naiveCol2im's tolerance.
func TestIm2colLd(t *testing.T) {
	r := newRand(12)
	geoms := append([]ConvGeom(nil), fixedConvGeoms...)
	for len(geoms) < 300 {
		if g, ok := randConvGeom(r); ok {
			geoms = append(geoms, g)
		}
	}
	for gi, g := range geoms {
		hw := g.OutH * g.OutW
		rows := g.C * g.KH * g.KW
		off := gi % 3 * hw
		ld := off + hw + gi%2*hw
		x := randSlice(r, g.C*g.H*g.W)
		want := naiveIm2col(g, x)
		buf := newGuarded(rows*ld, 7)
		Im2colLd(g, x, buf.body[off:], ld)
		buf.checkGuards(t, "Im2colLd")
		for row := range rows {
			for j := range ld {
				got := buf.body[row*ld+j]
				if j >= off && j < off+hw {
					if w := want[row*hw+j-off]; got != w {
						t.Fatalf("Im2colLd %+v: row %d col %d = %v, want %v", g, row, j-off, got, w)
					}
				} else if got != sentinel(7+row*ld+j) {
					t.Fatalf("Im2colLd %+v: wrote outside its columns at row %d col %d", g, row, j)
				}
			}
		}
		// Col2imLd reads only its columns: put NaN elsewhere.
		cols := randSlice(r, rows*hw)
		wide := make([]float32, rows*ld)
		for i := range wide {
			wide[i] = float32(math.NaN())
		}
		for row := range rows {
			copy(wide[row*ld+off:row*ld+off+hw], cols[row*hw:(row+1)*hw])
		}
		dx0 := randSlice(r, len(x))
		dx := newGuarded(len(x), 5)
		copy(dx.body, dx0)
		Col2imLd(g, wide[off:], dx.body, ld)
		dx.checkGuards(t, "Col2imLd")
		wantDx, tol := naiveCol2im(g, cols, dx0)
		for i, v := range dx.body {
			if !(math.Abs(float64(v)-wantDx[i]) <= tol[i]) {
				t.Fatalf("Col2imLd %+v: dx[%d] = %v, want %v ± %g", g, i, v, wantDx[i], tol[i])
			}
		}
	}
}

// TestDeal1x1Ld checks Deal1x1Ld against Col2imLd into a cleared dx, bit
// for bit (a −0 column entry included), on strided 1×1 geometries, with
// the columns embedded in a wider matrix and dx full of stale values.
func TestDeal1x1Ld(t *testing.T) {
	r := newRand(31)
	for _, c := range []struct{ ch, h, w, sh, sw int }{
		{3, 8, 8, 2, 2}, {2, 7, 9, 2, 3}, {4, 5, 6, 3, 1}, {1, 1, 5, 2, 2}, {2, 6, 6, 1, 2},
	} {
		g := ConvGeom{C: c.ch, H: c.h, W: c.w, KH: 1, KW: 1, StrideH: c.sh, StrideW: c.sw, DilH: 1, DilW: 1,
			OutH: (c.h-1)/c.sh + 1, OutW: (c.w-1)/c.sw + 1}
		if !Deal1x1OK(g) {
			t.Fatalf("%+v: Deal1x1OK false", g)
		}
		hw := g.OutH * g.OutW
		ld := hw + 3
		cols := randSlice(r, c.ch*ld)
		cols[1] = float32(math.Copysign(0, -1))
		want := make([]float32, c.ch*c.h*c.w)
		Col2imLd(g, cols, want, ld)
		got := randSlice(r, len(want)) // stale: Deal1x1Ld writes every element
		Deal1x1Ld(g, cols, got, ld)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%+v: dx[%d] = %v, Col2imLd %v", g, i, got[i], want[i])
			}
		}
	}
	if Deal1x1OK(ConvGeom{C: 1, H: 4, W: 4, KH: 1, KW: 1, StrideH: 1, StrideW: 1, OutH: 4, OutW: 4}) {
		t.Error("Deal1x1OK true without a stride")
	}
}
