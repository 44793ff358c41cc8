package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The unpool kernels (unpool2x2Masked<ISA>) undo the 2×2 pool for its
// backward pass: for every output o of a plane (row oh, column ow) with
// window start i0 = 2oh·w + 2ow, the value v = 0 + g[o] where out[o] > 0
// (the ReLU's mask at the winner) and +0 elsewhere goes to the window's
// winner arg[o] and zeros to its other three elements, row by row: each
// step reads lanes outputs and writes 2·lanes elements of the two input
// rows, so no plane needs clearing first. A step splits v by the winner's
// offset in its window (0, 1, w or w+1) into the even and odd columns of
// the two rows and interleaves them. Rows and columns that no window
// covers are the caller's.

// Interleave permutations of AVX-512's two-table permutes: elements
// 0, 16, 1, 17, … 7, 23 and 8, 24, … 15, 31 of e‖o.
var permZipLo, permZipHi Mem

// iotaEven2AVX2 is 0, 2, …, 14 in order (the AVX2 unpool loads its
// outputs in order, unlike the pool's split).
var iotaEven2AVX2 Mem

// unpoolISA emits one instruction set's parts of an unpool step.
type unpoolISA interface {
	name() string
	lanes() int
	sig() string
	vec() VecVirtual
	zero() VecVirtual
	setup()
	broadcast(r Register) VecVirtual
	iota2() Op
	// loadOut loads lanes floats (g or out) and lanes int32 (arg).
	loadF(m Mem, tail bool) VecVirtual
	loadI(m Mem, tail bool) VecVirtual
	// keepPositive returns 0 + g where out > 0, else +0.
	keepPositive(g, out, zero VecVirtual) VecVirtual
	// pick returns v where sel == code, else +0.
	pick(v, sel, code, zero VecVirtual) VecVirtual
	// storeZip writes e0, o0, e1, o1, … (2·lanes floats) to m.
	storeZip(e, o VecVirtual, m Mem, tail bool)
	narrow(v VecVirtual) VecVirtual
	tail(u *unplane, j, outW GPVirtual)
}

// unplane holds an unpool kernel's registers: the current output row's
// pointers, the two input rows' and the window's first flat index, and
// the broadcast offsets 1, w, w+1 and zero.
type unplane struct {
	g, out, arg, r0, r1, base GPVirtual
	one, w, w1, zero          VecVirtual
}

// unpool2x2 emits unpool2x2Masked<ISA>.
func unpool2x2(s unpoolISA) {
	name := "unpool2x2Masked" + s.name()
	TEXT(name, NOSPLIT, s.sig())
	Pragma("noescape")
	Doc(name+" is unpool2x2MaskedGeneric on the outH×outW outputs g, out, arg of a 2×2",
		"stride-2 pool of a plane dst of width w: it writes dst's rows 0 … 2outH−1, columns",
		"0 … 2outW−1. The caller checks the slices' lengths.")
	u := &unplane{g: GP64(), out: GP64(), arg: GP64(), r0: GP64(), r1: GP64(), base: GP64()}
	Load(Param("g").Base(), u.g)
	Load(Param("out").Base(), u.out)
	Load(Param("arg").Base(), u.arg)
	Load(Param("dst").Base(), u.r0)
	w, rows, outW := GP64(), GP64(), GP64()
	Load(Param("w"), w)
	Load(Param("outH"), rows)
	Load(Param("outW"), outW)
	u.w = s.broadcast(w.As32())
	one := GP32()
	MOVL(U32(1), one)
	u.one = s.broadcast(one)
	u.w1 = s.vec()
	VPADDD(u.one, u.w, u.w1)
	u.zero = s.zero()
	s.setup()

	rowLoop(w, rows, outW, s.lanes(), u.r0, u.r1, u.base, []GPVirtual{u.g, u.out, u.arg},
		func(j GPVirtual) { u.step(s, j, false) }, func(j GPVirtual) { s.tail(u, j, outW) })
}

// step emits the row's outputs j … j+lanes-1 on s (tail: s's partial
// last vector).
func (u *unplane) step(s unpoolISA, j GPVirtual, tail bool) {
	gv := s.loadF(Mem{Base: u.g, Index: j, Scale: 4}, tail)
	ov := s.loadF(Mem{Base: u.out, Index: j, Scale: 4}, tail)
	sel := s.loadI(Mem{Base: u.arg, Index: j, Scale: 4}, tail)
	zero := s.narrow(u.zero)
	v := s.keepPositive(gv, ov, zero)
	first := GP64() // flat index of the window of output j
	LEAQ(Mem{Base: u.base, Index: j, Scale: 2}, first)
	idx := s.broadcast(first.As32())
	VPADDD(s.iota2(), idx, idx)
	VPSUBD(idx, sel, sel) // the winner's offset in its window
	e0 := s.pick(v, sel, zero, zero)
	o0 := s.pick(v, sel, s.narrow(u.one), zero)
	e1 := s.pick(v, sel, s.narrow(u.w), zero)
	o1 := s.pick(v, sel, s.narrow(u.w1), zero)
	s.storeZip(e0, o0, Mem{Base: u.r0, Index: j, Scale: 8}, tail)
	s.storeZip(e1, o1, Mem{Base: u.r1, Index: j, Scale: 8}, tail)
}

// unpool512 is the 16-lane unpool: masks in k registers, the partial last
// vector of a row by masked loads and stores (outMask for the outputs,
// inLo and inHi for the two halves of each input row's run).
type unpool512 struct {
	zipLo, zipHi, even Register
	lo, hi, outM       Register
}

func (unpool512) name() string    { return "AVX512" }
func (unpool512) lanes() int      { return 16 }
func (unpool512) vec() VecVirtual { return ZMM() }
func (unpool512) sig() string {
	return "func(g, out []float32, arg []int32, dst []float32, w, outH, outW int, inLo, inHi, outMask uint16)"
}

func (unpool512) zero() VecVirtual {
	v := ZMM()
	VPXORD(v, v, v)
	return v
}

func (s *unpool512) setup() {
	s.zipLo, s.zipHi, s.even = ZMM(), ZMM(), ZMM()
	VMOVDQU32(permZipLo, s.zipLo)
	VMOVDQU32(permZipHi, s.zipHi)
	VMOVDQU32(permEven, s.even)
	s.lo, s.hi, s.outM = maskParam("inLo"), maskParam("inHi"), maskParam("outMask")
}

func (unpool512) broadcast(r Register) VecVirtual {
	v := ZMM()
	VPBROADCASTD(r, v)
	return v
}

func (s *unpool512) iota2() Op { return s.even }

func (s *unpool512) loadF(m Mem, tail bool) VecVirtual {
	v := ZMM()
	if tail {
		VMOVUPS_Z(m, s.outM, v)
	} else {
		VMOVUPS(m, v)
	}
	return v
}

func (s *unpool512) loadI(m Mem, tail bool) VecVirtual {
	v := ZMM()
	if tail {
		VMOVDQU32_Z(m, s.outM, v)
	} else {
		VMOVDQU32(m, v)
	}
	return v
}

func (unpool512) keepPositive(g, out, zero VecVirtual) VecVirtual {
	k := K()
	VCMPPS(U8(cmpGTOQ), zero, out, k) // out > 0
	v := ZMM()
	VADDPS_Z(g, zero, k, v) // 0 + g where kept, else +0
	return v
}

func (unpool512) pick(v, sel, code, zero VecVirtual) VecVirtual {
	k := K()
	VPCMPEQD(code, sel, k)
	r := ZMM()
	VMOVAPS_Z(v, k, r)
	return r
}

func (s *unpool512) storeZip(e, o VecVirtual, m Mem, tail bool) {
	lo, hi := ZMM(), ZMM()
	VMOVAPS(e, lo)
	VPERMT2PS(o, s.zipLo, lo)
	VMOVAPS(e, hi)
	VPERMT2PS(o, s.zipHi, hi)
	if tail {
		VMOVUPS(lo, s.lo, m)
		VMOVUPS(hi, s.hi, m.Offset(64))
		return
	}
	VMOVUPS(lo, m)
	VMOVUPS(hi, m.Offset(64))
}

func (unpool512) narrow(v VecVirtual) VecVirtual { return v }

func (s *unpool512) tail(u *unplane, j, outW GPVirtual) {
	CMPQ(j, outW)
	JE(LabelRef("next"))
	u.step(s, j, true)
	Label("next")
}

// unpool2 is the 8-lane AVX2 unpool (half: its 4-lane steps for short
// rows), on the pool's AVX2 registers; a row's partial last vector is its
// last whole vector again, writing the same values over the ones before,
// so rows need at least 4 outputs.
type unpool2 struct{ avx2 }

func (unpool2) sig() string {
	return "func(g, out []float32, arg []int32, dst []float32, w, outH, outW int)"
}

func (s unpool2) iota2() Op {
	if s.half {
		return iota2AVX2Half
	}
	return iotaEven2AVX2
}

func (s unpool2) loadF(m Mem, _ bool) VecVirtual {
	v := s.vec()
	VMOVUPS(m, v)
	return v
}

func (s unpool2) loadI(m Mem, _ bool) VecVirtual {
	v := s.vec()
	VMOVDQU(m, v)
	return v
}

func (s unpool2) keepPositive(g, out, zero VecVirtual) VecVirtual {
	k, v := s.vec(), s.vec()
	VCMPPS(U8(cmpGTOQ), zero, out, k)
	VADDPS(g, zero, v)
	VANDPS(k, v, v)
	return v
}

func (s unpool2) pick(v, sel, code, _ VecVirtual) VecVirtual {
	k := s.vec()
	VPCMPEQD(code, sel, k)
	VANDPS(v, k, k)
	return k
}

// storeZip interleaves by in-lane unpacks, then puts the 128-bit halves in
// order (the 4-lane steps need no reordering).
func (s unpool2) storeZip(e, o VecVirtual, m Mem, _ bool) {
	a, b := s.vec(), s.vec()
	VUNPCKLPS(o, e, a) // e0 o0 e1 o1 | e4 o4 e5 o5
	VUNPCKHPS(o, e, b) // e2 o2 e3 o3 | e6 o6 e7 o7
	if s.half {
		VMOVUPS(a, m)
		VMOVUPS(b, m.Offset(16))
		return
	}
	lo, hi := YMM(), YMM()
	VPERM2F128(U8(0x20), b, a, lo) // a.lo, b.lo
	VPERM2F128(U8(0x31), b, a, hi) // a.hi, b.hi
	VMOVUPS(lo, m)
	VMOVUPS(hi, m.Offset(32))
}

// tail emits the last 8 outputs of a row of at least 8 as one more step,
// or a row of 4 to 7 outputs as the 4-lane steps at 0 and outW-4.
func (s unpool2) tail(u *unplane, j, outW GPVirtual) {
	CMPQ(j, outW)
	JE(LabelRef("next"))
	CMPQ(outW, U8(8))
	JB(LabelRef("short"))
	MOVQ(outW, j)
	SUBQ(U8(8), j)
	u.step(s, j, false)
	JMP(LabelRef("next"))
	Label("short")
	h := unpool2{avx2{half: true}}
	u.step(h, j, false) // j is 0
	MOVQ(outW, j)
	SUBQ(U8(4), j)
	u.step(h, j, false)
	Label("next")
}
