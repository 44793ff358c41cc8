package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// avx512 is the 16-lane kernel: a group's 64 floats of a patch row (or
// output row) are four quarters of 16, quarter q in segment q/(4/S); the
// columns are separated and interleaved by two-source permutes, the
// padding and the plane's edges handled by masks in k registers. It uses
// AVX-512 F and DQ (the path's features), zmm registers throughout: the
// narrower stores of S = 2 and 4 are extracts, so it needs no AVX-512 VL.
type avx512 struct{}

func (avx512) name() string    { return "AVX512" }
func (avx512) lanes() int      { return 16 }
func (avx512) bytes() int      { return 64 }
func (avx512) segs() []int     { return []int{1, 2, 4} }
func (avx512) vec() VecVirtual { return ZMM() }

func (avx512) zero() VecVirtual {
	v := ZMM()
	VPSUBD(v, v, v) // cancelling: zero, with no input (VPXORD is not marked so in avo)
	return v
}

func (avx512) broadcast(m Mem) VecVirtual {
	v := ZMM()
	VBROADCASTSS(m, v)
	return v
}

// permt2 returns the permute of t1‖t2 by idx, into t1 itself unless keep.
func permt2(t1 VecVirtual, t2 Op, idx VecVirtual, keep bool) VecVirtual {
	d := t1
	if keep {
		d = ZMM()
		VMOVAPS(t1, d)
	}
	VPERMT2PS(t2, idx, d)
	return d
}

func loadIndex(m Mem) VecVirtual {
	v := ZMM()
	VMOVDQU32(m, v)
	return v
}

// inMasks sets k[q] to the columns of quarter q inside the plane: cb + 16·qq
// + lane < w, unsigned (a column left of the plane is huge).
func (avx512) inMasks(g *group) {
	wv := ZMM()
	VPBROADCASTD(g.w.As32(), wv)
	g.k = g.k[:0]
	per := 4 / g.S
	for j := range g.S {
		cb := ZMM()
		VPBROADCASTD(g.seg(j, fCB), cb)
		for qq := range per {
			col := ZMM()
			VPADDD(winoIota.Offset(64*qq), cb, col)
			k := K()
			VPCMPUD(U8(cmpNLE), col, wv, k)
			g.k = append(g.k, k)
		}
	}
}

func (avx512) inRow(g *group, a int, aw GPVirtual) [6]VecVirtual {
	per := 4 / g.S
	var z [4]VecVirtual
	for j := range g.S {
		zero, next := label("zero", a, j), label("loaded", a, j)
		for qq := range per {
			z[j*per+qq] = ZMM()
		}
		r := GP64()
		MOVQ(g.seg(j, fRow0), r)
		if a > 0 {
			ADDQ(U8(a), r)
		}
		CMPQ(r, g.h)
		JAE(LabelRef(zero)) // row0+a < 0 or ≥ h: a row of padding
		MOVQ(g.seg(j, fXOff), r)
		ADDQ(aw, r)
		for qq := range per {
			q := j*per + qq
			VMOVUPS_Z(Mem{Base: g.x, Index: r, Scale: 4, Disp: 64 * qq}, g.k[q], z[q])
		}
		JMP(LabelRef(next))
		Label(zero)
		for qq := range per {
			v := z[j*per+qq]
			VPSUBD(v, v, v) // cancelling: zero, with no input (VPXORD is not marked so in avo)
		}
		Label(next)
	}
	// Floats 2m and 2m+1 of z0‖z1 (and z2‖z3), then every other of those:
	// float 4k+b is column b of tile k; columns 4 and 5 are floats 4k+4 and
	// 4k+5, the even and odd floats shifted by one tile.
	even, odd, shift := loadIndex(permEven), loadIndex(permOdd), loadIndex(permShift)
	e01, o01 := permt2(z[0], z[1], even, true), permt2(z[0], z[1], odd, false)
	e23, o23 := permt2(z[2], z[3], even, true), permt2(z[2], z[3], odd, false)
	return [6]VecVirtual{
		permt2(e01, e23, even, true), permt2(o01, o23, even, true),
		permt2(e01, e23, odd, true), permt2(o01, o23, odd, true),
		permt2(e01, e23, shift, false), permt2(o01, o23, shift, false),
	}
}

func (avx512) vStore(g *group, r VecVirtual, base []GPVirtual, off GPVirtual) {
	for j := range g.S {
		m := Mem{Base: base[j], Index: off, Scale: 1}
		switch g.S {
		case 1:
			VMOVUPS(r, m)
		case 2:
			VEXTRACTF32X8(U8(j), r, m)
		default:
			VEXTRACTF32X4(U8(j), r, m)
		}
	}
}

// mMasks sets k[j] to segment j's lanes: the first ⌈nCols/4⌉ of its L.
func (avx512) mMasks(g *group) {
	g.k = g.k[:0]
	for j := range g.S {
		n := GP64()
		MOVQ(g.seg(j, fNCols), n)
		ADDQ(U8(3), n)
		SHRQ(U8(2), n)
		nv := ZMM()
		VPBROADCASTD(n.As32(), nv)
		k := K()
		VPCMPUD(U8(cmpNLE), winoIota, nv, k)
		if j > 0 {
			KSHIFTLW(U8(j*g.l()), k, k)
		}
		g.k = append(g.k, k)
	}
}

func (avx512) mBase(j, l int) int { return -j * l }

func (avx512) mLoad(g *group, base []GPVirtual, off GPVirtual) VecVirtual {
	z := ZMM()
	for j := range g.S {
		m := Mem{Base: base[j], Index: off, Scale: 1}
		if j == 0 {
			VMOVUPS_Z(m, g.k[0], z)
		} else {
			VMOVUPS(m, g.k[j], z)
		}
	}
	return z
}

// outMasks sets k[q] to quarter q's columns inside its segment's nCols.
func (avx512) outMasks(g *group) {
	g.k = g.k[:0]
	per := 4 / g.S
	for q := range 4 {
		j, qq := q/per, q%per
		nv := ZMM()
		VPBROADCASTD(g.seg(j, fNCols), nv)
		k := K()
		VPCMPUD(U8(cmpNLE), winoIota.Offset(64*qq), nv, k)
		g.k = append(g.k, k)
	}
}

func (avx512) outRow(g *group, i int, iw GPVirtual) {
	// Interleave y[i][0…3]: float 4k+j of the row is column j of tile k.
	lo, hi := loadIndex(interLo), loadIndex(interHi)
	c0, c1 := load(avx512{}, g.slot(tmpY+4*i)), load(avx512{}, g.slot(tmpY+4*i+1))
	e01, e23 := permt2(c0, g.slot(tmpY+4*i+2), lo, true), permt2(c0, g.slot(tmpY+4*i+2), hi, false)
	o01, o23 := permt2(c1, g.slot(tmpY+4*i+3), lo, true), permt2(c1, g.slot(tmpY+4*i+3), hi, false)
	z := []VecVirtual{permt2(e01, o01, lo, true), permt2(e01, o01, hi, false),
		permt2(e23, o23, lo, true), permt2(e23, o23, hi, false)}
	per := 4 / g.S
	zero := g.s.zero()
	for j := range g.S {
		skip := label("skip", i, j)
		CMPQ(g.seg(j, fNRows), U8(i))
		JLE(LabelRef(skip))
		r := GP64()
		MOVQ(g.seg(j, fYOff), r)
		ADDQ(iw, r)
		vs := z[j*per : (j+1)*per]
		g.epilogue(label(i, j), vs, zero, func(qq int, v VecVirtual) {
			t := ZMM()
			VMOVUPS_Z(Mem{Base: g.add, Index: r, Scale: 4, Disp: 64 * qq}, g.k[j*per+qq], t)
			VADDPS(t, v, v)
		})
		for qq, v := range vs {
			VMOVUPS(v, g.k[j*per+qq], Mem{Base: g.y, Index: r, Scale: 4, Disp: 64 * qq})
		}
		Label(skip)
	}
}
