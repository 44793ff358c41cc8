package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// avx2 is the 8-lane kernel: a group's 32 floats of a patch row (or output
// row) are eight chunks of 4, one tile's columns 0…3 each, chunk m in
// segment m/(8/S); ymm p holds chunks p and p+4 (its 128-bit halves), so a
// 4×4 transpose within the halves separates (or interleaves) the columns
// and leaves the tiles in order. Loads are masked (VMASKMOVPS) to the plane;
// the output stores are plain for whole chunks inside the plane and masked
// for a partial one. Every register is one of the 16 that VEX encodes.
type avx2 struct{}

func (avx2) name() string    { return "AVX2" }
func (avx2) lanes() int      { return 8 }
func (avx2) bytes() int      { return 32 }
func (avx2) segs() []int     { return []int{1, 2} }
func (avx2) vec() VecVirtual { return YMM() }

func (avx2) zero() VecVirtual {
	v := YMM()
	VXORPS(v, v, v)
	return v
}

func (avx2) broadcast(m Mem) VecVirtual {
	v := YMM()
	VBROADCASTSS(m, v)
	return v
}

// broadcastGP returns r (32 bits) in every lane of a new xmm.
func broadcastGP(r Register) VecVirtual {
	x := XMM()
	VMOVD(r, x)
	VPBROADCASTD(x, x)
	return x
}

// inMasks stores chunk m's mask to slot tmpMask+m: cb + 4·mm + lane < w,
// unsigned, compared as signed with the sign bits flipped.
func (avx2) inMasks(g *group) {
	r := GP32()
	MOVL(g.w.As32(), r)
	XORL(U32(0x80000000), r)
	wx := broadcastGP(r)
	per := 8 / g.S
	for m := range 8 {
		j, mm := m/per, m%per
		cb := XMM()
		VPBROADCASTD(g.seg(j, fCB), cb)
		VPADDD(winoIota.Offset(16*mm), cb, cb)
		VPXOR(signBit, cb, cb)
		VPCMPGTD(cb, wx, cb)
		VMOVDQU(cb, g.slot(tmpMask+m))
	}
}

// transpose4 returns the 4×4 transposes of the 128-bit halves of y0…y3.
func transpose4(y0, y2 VecVirtual, y1op, y3op Op) [4]VecVirtual {
	t0, t1, t2, t3 := YMM(), YMM(), YMM(), YMM()
	VUNPCKLPS(y1op, y0, t0)
	VUNPCKHPS(y1op, y0, t1)
	VUNPCKLPS(y3op, y2, t2)
	VUNPCKHPS(y3op, y2, t3)
	r := [4]VecVirtual{YMM(), YMM(), YMM(), YMM()}
	VUNPCKLPD(t2, t0, r[0])
	VUNPCKHPD(t2, t0, r[1])
	VUNPCKLPD(t3, t1, r[2])
	VUNPCKHPD(t3, t1, r[3])
	return r
}

func (avx2) inRow(g *group, a int, aw GPVirtual) [6]VecVirtual {
	per := 8 / g.S
	var c [8]VecVirtual
	for j := range g.S {
		zero, next := label("zero", a, j), label("loaded", a, j)
		for mm := range per {
			c[j*per+mm] = XMM()
		}
		r := GP64()
		MOVQ(g.seg(j, fRow0), r)
		if a > 0 {
			ADDQ(U8(a), r)
		}
		CMPQ(r, g.h)
		JAE(LabelRef(zero))
		MOVQ(g.seg(j, fXOff), r)
		ADDQ(aw, r)
		for mm := range per {
			m := j*per + mm
			mask := XMM()
			VMOVDQU(g.slot(tmpMask+m), mask)
			VMASKMOVPS(Mem{Base: g.x, Index: r, Scale: 4, Disp: 16 * mm}, mask, c[m])
		}
		JMP(LabelRef(next))
		Label(zero)
		for mm := range per {
			v := c[j*per+mm]
			VXORPS(v, v, v)
		}
		Label(next)
	}
	var y [4]VecVirtual
	for p := range 4 {
		y[p] = YMM()
		VINSERTF128(U8(1), c[p+4], c[p].AsY(), y[p])
	}
	cols := transpose4(y[0], y[2], y[1], y[3])
	// Columns 4 and 5 of tile k are columns 0 and 1 of tile k+1.
	idx := YMM()
	VMOVDQU(shiftAVX2[g.S], idx)
	c4, c5 := YMM(), YMM()
	VPERMPS(cols[0], idx, c4)
	VPERMPS(cols[1], idx, c5)
	return [6]VecVirtual{cols[0], cols[1], cols[2], cols[3], c4, c5}
}

func (avx2) vStore(g *group, r VecVirtual, base []GPVirtual, off GPVirtual) {
	m0 := Mem{Base: base[0], Index: off, Scale: 1}
	if g.S == 1 {
		VMOVUPS(r, m0)
		return
	}
	VMOVUPS(r.AsX(), m0)
	VEXTRACTF128(U8(1), r, Mem{Base: base[1], Index: off, Scale: 1})
}

// mMasks sets masks[j] to segment j's lanes: the first ⌈nCols/4⌉.
func (avx2) mMasks(g *group) {
	g.masks = g.masks[:0]
	for j := range g.S {
		n := GP64()
		MOVQ(g.seg(j, fNCols), n)
		ADDQ(U8(3), n)
		SHRQ(U8(2), n)
		nv := broadcastGP(n.As32())
		if g.S == 1 {
			y := YMM()
			VPBROADCASTD(nv, y)
			nv = y
		}
		VPCMPGTD(winoIota, nv, nv)
		g.masks = append(g.masks, nv)
	}
}

func (avx2) mBase(int, int) int { return 0 }

func (avx2) mLoad(g *group, base []GPVirtual, off GPVirtual) VecVirtual {
	if g.S == 1 {
		y := YMM()
		VMASKMOVPS(Mem{Base: base[0], Index: off, Scale: 1}, g.masks[0], y)
		return y
	}
	lo, hi, y := XMM(), XMM(), YMM()
	VMASKMOVPS(Mem{Base: base[0], Index: off, Scale: 1}, g.masks[0], lo)
	VMASKMOVPS(Mem{Base: base[1], Index: off, Scale: 1}, g.masks[1], hi)
	VINSERTF128(U8(1), hi, lo.AsY(), y)
	return y
}

func (avx2) outMasks(*group) {}

func (avx2) outRow(g *group, i int, iw GPVirtual) {
	c0, c2 := load(avx2{}, g.slot(tmpY+4*i)), load(avx2{}, g.slot(tmpY+4*i+2))
	r := transpose4(c0, c2, g.slot(tmpY+4*i+1), g.slot(tmpY+4*i+3))
	per := 8 / g.S
	zero := XMM()
	VXORPS(zero, zero, zero)
	for j := range g.S {
		skip := label("skip", i, j)
		CMPQ(g.seg(j, fNRows), U8(i))
		JLE(LabelRef(skip))
		rr := GP64()
		MOVQ(g.seg(j, fYOff), rr)
		ADDQ(iw, rr)
		for mm := range per {
			m := j*per + mm
			x := XMM()
			if m < 4 {
				VMOVAPS(r[m].AsX(), x)
			} else {
				VEXTRACTF128(U8(1), r[m-4], x)
			}
			partial, next := label("partial", i, m), label("stored", i, m)
			ym := Mem{Base: g.y, Index: rr, Scale: 4, Disp: 16 * mm}
			am := Mem{Base: g.add, Index: rr, Scale: 4, Disp: 16 * mm}
			cnt := GP64() // the chunk's columns inside the plane
			MOVQ(g.seg(j, fNCols), cnt)
			if mm > 0 {
				SUBQ(U8(4*mm), cnt)
			}
			CMPQ(cnt, U8(0))
			JLE(LabelRef(next))
			CMPQ(cnt, U8(4))
			JL(LabelRef(partial))
			g.epilogue(label("full", i, m), []VecVirtual{x}, zero, func(_ int, v VecVirtual) { VADDPS(am, v, v) })
			VMOVUPS(x, ym)
			JMP(LabelRef(next))
			Label(partial)
			mask := broadcastGP(cnt.As32())
			VPCMPGTD(winoIota, mask, mask)
			g.epilogue(label("part", i, m), []VecVirtual{x}, zero, func(_ int, v VecVirtual) {
				t := XMM()
				VMASKMOVPS(am, mask, t)
				VADDPS(t, v, v)
			})
			VMASKMOVPS(x, mask, ym)
			Label(next)
		}
		Label(skip)
	}
}
