// Command pool generates pool_amd64.s and pool_stubs_amd64.go, the AVX-512
// and AVX2 bodies of the training max pool's 2×2 stride-2 unpadded window
// (maxPool2x2 in pool2d.go): the maximum of each window and the flat index
// of its winner. Run it through `go generate ./internal/kernels` (see
// gen_pool.go).
//
// A kernel covers a whole plane: for each output row it reads two input
// rows r0, r1 and handles the row's outputs a vector at a time (16 for
// AVX-512, 8 for AVX2). One step loads 2·lanes inputs of each row,
// separates their even and odd elements (the window's left and right
// columns) and then runs the reference loop's four comparisons lane-wise in
// its order, r0 even, r0 odd, r1 even, r1 odd: a later element v replaces
// the best so far when v > best (ordered) or v is NaN, so ties keep the
// earlier element, the last NaN wins and a number never replaces a NaN. The
// winner is tracked as its offset in the window (0, 1, W or W+1) and added
// to the window's first index at the end.
//
// The affine variants (affineReLUMaxPool2x2<ISA>) first map every input v
// to max(a·v + b, 0), with the arithmetic of affineReLUPlanes (one fused
// multiply-add, the maximum with zero, then + 0, which turns −0 into 0):
// batch normalization's output and its ReLU, pooled without being stored.
//
// The last, partial vector of a row is a masked step on AVX-512 (the masks
// come from the caller) and, on AVX2, the row's last whole vector again
// (overlapping outputs already written, with the same values); AVX2 rows of
// 4 to 7 outputs take two overlapping 4-lane steps, so the AVX2 kernel
// needs rows of at least 4 outputs.
package main

import (
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// VCMPPS predicates.
const (
	cmpUnordQ = 0x03 // either operand NaN
	cmpGTOQ   = 0x1e // greater than, ordered, quiet
)

// Constant vectors in memory.
var (
	permEven, permOdd Mem // dword indices 0, 2, …, 30 and 1, 3, …, 31 (AVX-512)
	iota2AVX2         Mem // 0, 2, 4, …, 14 in the AVX2 split's lane order
	iota2AVX2Half     Mem // 0, 2, 4, 6
)

func main() {
	ConstraintExpr("!noasm,!gccgo,!safe")
	permEven = dwords("poolPermEven", 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
	permOdd = dwords("poolPermOdd", 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
	iota2AVX2 = dwords("poolIota2AVX2", 0, 2, 8, 10, 4, 6, 12, 14)
	iota2AVX2Half = dwords("poolIota2AVX2Half", 0, 2, 4, 6)
	maxPool2x2(&avx512{}, false)
	maxPool2x2(avx2{}, false)
	maxPool2x2(&avx512{}, true)
	maxPool2x2(avx2{}, true)
	permZipLo = dwords("poolZipLo", 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
	permZipHi = dwords("poolZipHi", 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)
	iotaEven2AVX2 = dwords("poolIotaEven2AVX2", 0, 2, 4, 6, 8, 10, 12, 14)
	unpool2x2(&unpool512{})
	unpool2x2(unpool2{})
	Generate()
}

// dwords emits a read-only global of 32-bit values.
func dwords(name string, vs ...uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i, v := range vs {
		DATA(4*i, U32(v))
	}
	return m
}

// isa emits one instruction set's parts of a step. Vectors hold lanes
// float32 or int32; masks are whatever the ISA compares into.
type isa interface {
	name() string // the function's suffix
	lanes() int   // outputs per step
	sig() string  // the Go signature (the affine variants add a, b float32)
	vec() VecVirtual
	zero() VecVirtual // a new vector of zeros
	// setup loads the per-call constants after the common ones.
	setup()
	// load returns the 2·lanes floats at m, m+lanes as two vectors; tail
	// selects the masked load of a row's partial last vector.
	load(m Mem, tail bool) (lo, hi VecVirtual)
	// split returns the even and odd elements of lo‖hi, in the order
	// that store undoes.
	split(lo, hi VecVirtual) (even, odd VecVirtual)
	// iota2 is 0, 2, 4, … in split's lane order.
	iota2() Op
	// broadcast returns r (a 32-bit integer) in every lane.
	broadcast(r Register) VecVirtual
	// take sets best = v and sel = code in the lanes where v replaces best.
	take(v, best, sel, code VecVirtual)
	// store writes values and indices (in split's lane order) to out, arg.
	store(best, idx VecVirtual, out, arg Mem, tail bool)
	// narrow returns v (a vector of the kernel's width) at the width of
	// the steps.
	narrow(v VecVirtual) VecVirtual
	// tail emits the steps for the row's outputs j … outW-1 (fewer than
	// lanes) with p.
	tail(p *plane, j, outW GPVirtual)
}

// plane holds a kernel's registers: the current output row's pointers and
// the first flat index of its inputs, and the broadcast window offsets
// (the winner's offset from the window's first element is 0 for r0 even,
// 1 for r0 odd, w for r1 even or w+1).
//
// In the affine variants a, b and zero hold a, b and 0 in every lane.
type plane struct {
	r0, r1, out, arg, base GPVirtual
	one, w, w1             VecVirtual
	affine                 bool
	a, b, zero             VecVirtual
}

// maxPool2x2 emits maxPool2x2<ISA>, or with affine affineReLUMaxPool2x2<ISA>.
func maxPool2x2(s isa, affine bool) {
	name, sig := "maxPool2x2"+s.name(), s.sig()
	if affine {
		name, sig = "affineReLUMaxPool2x2"+s.name(), strings.TrimSuffix(sig, ")")+", a, b float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	if affine {
		Doc(name+" is affineReLUMaxPool2x2Generic on outH×outW outputs of the plane x of width w:",
			"maxPool2x2"+s.name()+" of max(a·x + b, 0), computed as affineReLUPlanes does. The caller",
			"checks the slices' lengths.")
	} else {
		Doc(name+" is maxPool2x2Generic on outH×outW outputs of the plane x of width w:",
			"out[oh·outW+ow] and arg[oh·outW+ow] are the maximum and its flat index in x of",
			"x[2oh·w+2ow], x[2oh·w+2ow+1], x[(2oh+1)·w+2ow], x[(2oh+1)·w+2ow+1]. The caller checks the",
			"slices' lengths.")
	}
	p := &plane{r0: GP64(), r1: GP64(), out: GP64(), arg: GP64(), base: GP64(), affine: affine}
	Load(Param("x").Base(), p.r0)
	Load(Param("out").Base(), p.out)
	Load(Param("arg").Base(), p.arg)
	w, rows, outW := GP64(), GP64(), GP64()
	Load(Param("w"), w)
	Load(Param("outH"), rows)
	Load(Param("outW"), outW)

	p.w = s.broadcast(w.As32())
	one := GP32()
	MOVL(U32(1), one)
	p.one = s.broadcast(one)
	p.w1 = s.vec()
	VPADDD(p.one, p.w, p.w1)
	s.setup()
	if affine {
		p.a, p.b, p.zero = broadcastSS(s, "a"), broadcastSS(s, "b"), s.zero()
	}

	rowLoop(w, rows, outW, s.lanes(), p.r0, p.r1, p.base, []GPVirtual{p.out, p.arg},
		func(j GPVirtual) { p.step(s, j, false) }, func(j GPVirtual) { s.tail(p, j, outW) })
}

// rowLoop emits the loops of a 2×2 kernel over its plane and returns: r0
// and r1 walk the two input rows of an output row (r1 set here from r0 and
// the width w), base the flat index of the row's first window, outs the
// output row's lanes-strided pointers; step emits the outputs j … j+lanes-1
// and tail the rest of a row from j.
func rowLoop(w, rows, outW GPVirtual, lanes int, r0, r1, base GPVirtual, outs []GPVirtual, step, tail func(j GPVirtual)) {
	LEAQ(Mem{Base: r0, Index: w, Scale: 4}, r1) // row 2oh+1
	XORQ(base, base)
	rowBytes := GP64() // bytes from one output row's inputs to the next
	MOVQ(w, rowBytes)
	SHLQ(U8(3), rowBytes)
	outBytes := GP64()
	MOVQ(outW, outBytes)
	SHLQ(U8(2), outBytes)

	Label("row")
	CMPQ(rows, U8(0))
	JE(LabelRef("done"))
	j := GP64()
	XORQ(j, j)
	Label("vec")
	end := GP64()
	LEAQ(Mem{Base: j, Disp: lanes}, end)
	CMPQ(end, outW)
	JA(LabelRef("tail"))
	step(j)
	MOVQ(end, j)
	JMP(LabelRef("vec"))
	Label("tail")
	tail(j)
	ADDQ(rowBytes, r0)
	ADDQ(rowBytes, r1)
	for _, o := range outs {
		ADDQ(outBytes, o)
	}
	LEAQ(Mem{Base: base, Index: w, Scale: 2}, base)
	DECQ(rows)
	JMP(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// step emits the row's outputs j … j+lanes-1 on s (tail: s's partial last
// vector).
func (p *plane) step(s isa, j GPVirtual, tail bool) {
	lo0, hi0 := s.load(Mem{Base: p.r0, Index: j, Scale: 8}, tail)
	lo1, hi1 := s.load(Mem{Base: p.r1, Index: j, Scale: 8}, tail)
	if p.affine {
		for _, v := range []VecVirtual{lo0, hi0, lo1, hi1} {
			a, b, zero := s.narrow(p.a), s.narrow(p.b), s.narrow(p.zero)
			VFMADD213PS(b, a, v) // v = a·v + b
			VMAXPS(v, zero, v)
			VADDPS(zero, v, v)
		}
	}
	best, odd0 := s.split(lo0, hi0)
	even1, odd1 := s.split(lo1, hi1)
	sel := s.zero()
	s.take(odd0, best, sel, s.narrow(p.one))
	s.take(even1, best, sel, s.narrow(p.w))
	s.take(odd1, best, sel, s.narrow(p.w1))
	first := GP64() // flat index of r0[2j]
	LEAQ(Mem{Base: p.base, Index: j, Scale: 2}, first)
	idx := s.broadcast(first.As32())
	VPADDD(s.iota2(), idx, idx)
	VPADDD(sel, idx, idx)
	s.store(best, idx, Mem{Base: p.out, Index: j, Scale: 4}, Mem{Base: p.arg, Index: j, Scale: 4}, tail)
}

// broadcastSS loads the float32 parameter name into every lane of a new
// vector register.
func broadcastSS(s isa, name string) VecVirtual {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	v := s.vec()
	VBROADCASTSS(b.Addr, v)
	return v
}

// avx512 is the 16-lane kernel: even and odd elements by two-source
// permutes (in order), masks in k registers, the partial last vector of a
// row by masked loads and stores. It holds the registers its setup loads:
// the permutes' index vectors and the tail's masks (inLo and inHi for the
// two loads of each row, outMask for the stores).
type avx512 struct {
	even, odd   VecVirtual
	lo, hi, out Register
}

func (avx512) name() string    { return "AVX512" }
func (avx512) lanes() int      { return 16 }
func (avx512) vec() VecVirtual { return ZMM() }
func (avx512) sig() string {
	return "func(x, out []float32, arg []int32, w, outH, outW int, inLo, inHi, outMask uint16)"
}

func (avx512) zero() VecVirtual {
	v := ZMM()
	VPXORD(v, v, v)
	return v
}

func (s *avx512) setup() {
	s.even, s.odd = ZMM(), ZMM()
	VMOVDQU32(permEven, s.even)
	VMOVDQU32(permOdd, s.odd)
	s.lo, s.hi, s.out = maskParam("inLo"), maskParam("inHi"), maskParam("outMask")
}

// maskParam loads the uint16 parameter name into a new mask register.
func maskParam(name string) Register {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	k := K()
	KMOVW(b.Addr, k)
	return k
}

func (s *avx512) load(m Mem, tail bool) (lo, hi VecVirtual) {
	lo, hi = ZMM(), ZMM()
	if tail {
		VMOVUPS_Z(m, s.lo, lo)
		VMOVUPS_Z(m.Offset(64), s.hi, hi)
		return lo, hi
	}
	VMOVUPS(m, lo)
	VMOVUPS(m.Offset(64), hi)
	return lo, hi
}

func (s *avx512) split(lo, hi VecVirtual) (even, odd VecVirtual) {
	even = ZMM()
	VMOVAPS(lo, even)
	VPERMT2PS(hi, s.even, even)
	VPERMT2PS(hi, s.odd, lo)
	return even, lo
}

func (s *avx512) iota2() Op { return s.even }

func (avx512) broadcast(r Register) VecVirtual {
	v := ZMM()
	VPBROADCASTD(r, v)
	return v
}

func (avx512) take(v, best, sel, code VecVirtual) {
	gt, nan := K(), K()
	VCMPPS(U8(cmpGTOQ), best, v, gt)
	VCMPPS(U8(cmpUnordQ), v, v, nan)
	KORW(gt, nan, gt)
	VBLENDMPS(v, best, gt, best)
	VPBLENDMD(code, sel, gt, sel)
}

func (s *avx512) store(best, idx VecVirtual, out, arg Mem, tail bool) {
	if tail {
		VMOVUPS(best, s.out, out)
		VMOVDQU32(idx, s.out, arg)
		return
	}
	VMOVUPS(best, out)
	VMOVDQU32(idx, arg)
}

func (avx512) narrow(v VecVirtual) VecVirtual { return v }

func (s *avx512) tail(p *plane, j, outW GPVirtual) {
	CMPQ(j, outW)
	JE(LabelRef("next"))
	p.step(s, j, true)
	Label("next")
}

// avx2 is the 8-lane kernel (half: its 4-lane steps for short rows): even
// and odd elements by in-lane shuffles, which leave the outputs of a
// 256-bit step in the order 0 1 4 5 2 3 6 7 (two 128-bit halves), put back
// in order by one qword permute of the values and of the indices before
// the store.
type avx2 struct{ half bool }

func (avx2) name() string { return "AVX2" }
func (s avx2) lanes() int {
	if s.half {
		return 4
	}
	return 8
}
func (avx2) sig() string { return "func(x, out []float32, arg []int32, w, outH, outW int)" }
func (s avx2) vec() VecVirtual {
	if s.half {
		return XMM()
	}
	return YMM()
}

func (s avx2) narrow(v VecVirtual) VecVirtual {
	if s.half {
		return v.AsX().(VecVirtual)
	}
	return v
}

func (s avx2) zero() VecVirtual {
	v := s.vec()
	VPXOR(v, v, v)
	return v
}

func (avx2) setup() {}

func (s avx2) load(m Mem, _ bool) (lo, hi VecVirtual) {
	lo, hi = s.vec(), s.vec()
	VMOVUPS(m, lo)
	VMOVUPS(m.Offset(4*s.lanes()), hi)
	return lo, hi
}

// shufEven and shufOdd are the VSHUFPS selectors of elements 0, 2 and 1, 3
// of each 128-bit lane of both sources.
const shufEven, shufOdd = 0x88, 0xdd

func (s avx2) split(lo, hi VecVirtual) (even, odd VecVirtual) {
	even, odd = s.vec(), s.vec()
	VSHUFPS(U8(shufEven), hi, lo, even)
	VSHUFPS(U8(shufOdd), hi, lo, odd)
	return even, odd
}

func (s avx2) iota2() Op {
	if s.half {
		return iota2AVX2Half
	}
	return iota2AVX2
}

func (s avx2) broadcast(r Register) VecVirtual {
	x, v := XMM(), s.vec()
	VMOVD(r, x)
	VPBROADCASTD(x, v)
	return v
}

func (s avx2) take(v, best, sel, code VecVirtual) {
	gt, nan := s.vec(), s.vec()
	VCMPPS(U8(cmpGTOQ), best, v, gt)
	VCMPPS(U8(cmpUnordQ), v, v, nan)
	VORPS(gt, nan, gt)
	VBLENDVPS(gt, v, best, best)
	VBLENDVPS(gt, code, sel, sel)
}

// qwordOrder is the VPERMQ selector 0, 2, 1, 3: lanes 0 1 4 5 2 3 6 7 back
// to 0 … 7.
const qwordOrder = 0xd8

func (s avx2) store(best, idx VecVirtual, out, arg Mem, _ bool) {
	if !s.half {
		VPERMQ(U8(qwordOrder), best, best)
		VPERMQ(U8(qwordOrder), idx, idx)
	}
	VMOVUPS(best, out)
	VMOVDQU(idx, arg)
}

// tail emits the last 8 outputs of a row of at least 8 as one more step,
// or a row of 4 to 7 outputs as the 4-lane steps at 0 and outW-4.
func (s avx2) tail(p *plane, j, outW GPVirtual) {
	CMPQ(j, outW)
	JE(LabelRef("next"))
	CMPQ(outW, U8(8))
	JB(LabelRef("short"))
	MOVQ(outW, j)
	SUBQ(U8(8), j)
	p.step(s, j, false)
	JMP(LabelRef("next"))
	Label("short")
	h := avx2{half: true}
	p.step(h, j, false) // j is 0
	MOVQ(outW, j)
	SUBQ(U8(4), j)
	p.step(h, j, false)
	Label("next")
}
