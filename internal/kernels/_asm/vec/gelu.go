package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The GELU kernels (gelu.go in package kernels): the same float32
// operations as geluGeneric and geluBackwardGeneric, in the same order and
// without fusing, so both give the same bits. The constants are read from
// memory (a 64-byte block each, the value in every lane), which leaves the
// registers to the four unrolled vectors.

// geluConsts names the constants' blocks in geluTable, in order.
var geluConsts = []struct {
	name string
	v    float32
}{
	{"sqrtHalf", 0.70710678118654752440}, {"one", 1}, {"half", 0.5}, {"mhalf", -0.5},
	{"m4", -4}, {"p4", 4},
	{"a1", -1.60960333262415e-02}, {"a3", -2.95459980854025e-03}, {"a5", -7.34990630326855e-04},
	{"a7", -5.69250639462346e-05}, {"a9", -2.10102402082508e-06}, {"a11", 2.77068142495902e-08},
	{"a13", -2.72614225801306e-10},
	{"b0", -1.42647390514189e-02}, {"b2", -7.37332916720468e-03}, {"b4", -1.68282697438203e-03},
	{"b6", -2.13374055278905e-04}, {"b8", -1.45660718464996e-05},
	{"invSqrt2Pi", 0.39894228040143267794},
	{"expMin", -87}, {"log2e", 1.44269504088896341}, {"ln2Hi", 0.693359375}, {"ln2Lo", -2.12194440e-4},
	{"p0", 1.9875691500e-4}, {"p1", 1.3981999507e-3}, {"p2", 8.3334519073e-3}, {"p3", 4.1665795894e-2},
	{"p4e", 1.6666665459e-1}, {"p5", 5.0000001201e-1},
}

// geluTable is the constants' global, and geluIdx their block numbers.
var (
	geluTable Mem
	geluIdx   = map[string]int{}
	bias127   Mem
)

// geluData emits the constants' global (once).
func geluData() {
	if geluTable.Symbol.Name != "" {
		return
	}
	geluTable = GLOBL("geluConsts", RODATA|NOPTR)
	for i, c := range geluConsts {
		geluIdx[c.name] = i
		for l := range 16 {
			DATA(64*i+4*l, U32(math.Float32bits(c.v)))
		}
	}
	bias127 = GLOBL("geluBias127", RODATA|NOPTR)
	for l := range 16 {
		DATA(4*l, U32(127))
	}
}

// gc returns constant name's block as a memory operand.
func gc(name string) Mem {
	i, ok := geluIdx[name]
	if !ok {
		panic("gelu: no constant " + name)
	}
	return geluTable.Offset(64 * i)
}

// erf emits e = erf32(z) (z is clobbered: it holds the clamped value).
func erf(s isa, z, e VecVirtual) {
	VMAXPS(gc("m4"), z, z) // max32(z, −4): −4 for NaN, as MAXPS's second source
	VMINPS(gc("p4"), z, z)
	x2 := s.vec()
	VMULPS(z, z, x2)
	VMULPS(gc("a13"), x2, e)
	VADDPS(gc("a11"), e, e)
	for _, a := range []string{"a9", "a7", "a5", "a3", "a1"} {
		VMULPS(x2, e, e)
		VADDPS(gc(a), e, e)
	}
	VMULPS(z, e, e)
	q := s.vec()
	VMULPS(gc("b8"), x2, q)
	VADDPS(gc("b6"), q, q)
	for _, b := range []string{"b4", "b2", "b0"} {
		VMULPS(x2, q, q)
		VADDPS(gc(b), q, q)
	}
	VDIVPS(q, e, e) // e = p/q
}

// geluBody is geluGeneric: dst = float32(0.5·v)·(1 + erf32(v·√½)).
func geluBody(s isa) func([]Op, VecVirtual) {
	geluData()
	return func(in []Op, t VecVirtual) {
		v, z := s.vec(), s.vec()
		VMOVUPS(in[0], v)
		VMULPS(gc("sqrtHalf"), v, z)
		erf(s, z, t)
		VADDPS(gc("one"), t, t)
		h := s.vec()
		VMULPS(gc("half"), v, h)
		VMULPS(t, h, t)
	}
}

// geluBackwardBody is geluBackwardGeneric: dx = g·(cdf + float32(v·pdf)),
// cdf = 0.5·(1 + erf32(v·√½)), pdf = (1/√(2π))·expNeg32(float32(−0.5·v)·v).
func geluBackwardBody(s isa) func([]Op, VecVirtual) {
	geluData()
	return func(in []Op, t VecVirtual) {
		v, z, cdf := s.vec(), s.vec(), s.vec()
		VMOVUPS(in[1], v)
		VMULPS(gc("sqrtHalf"), v, z)
		erf(s, z, cdf)
		VADDPS(gc("one"), cdf, cdf)
		VMULPS(gc("half"), cdf, cdf)
		a := s.vec()
		VMULPS(gc("mhalf"), v, a)
		VMULPS(v, a, a)
		expNeg(s, a, t)
		VMULPS(gc("invSqrt2Pi"), t, t) // pdf
		VMULPS(v, t, t)
		VADDPS(cdf, t, t)
		VMULPS(in[0], t, t)
	}
}

// expNeg emits p = expNeg32(x) (x is clobbered).
func expNeg(s isa, x, p VecVirtual) {
	VMAXPS(gc("expMin"), x, x)
	n := s.vec()
	VMULPS(gc("log2e"), x, n)
	VADDPS(gc("half"), n, n)
	if s.bytes == 64 {
		VRNDSCALEPS(U8(1), n, n) // floor
	} else {
		VROUNDPS(U8(1), n, n)
	}
	u, r := s.vec(), s.vec()
	VMULPS(gc("ln2Hi"), n, u)
	VSUBPS(u, x, r)
	VMULPS(gc("ln2Lo"), n, u)
	VSUBPS(u, r, r)
	r2 := s.vec()
	VMULPS(r, r, r2)
	VMULPS(gc("p0"), r, p)
	VADDPS(gc("p1"), p, p)
	for _, c := range []string{"p2", "p3", "p4e", "p5"} {
		VMULPS(r, p, p)
		VADDPS(gc(c), p, p)
	}
	VMULPS(r2, p, p)
	VADDPS(r, p, p)
	VADDPS(gc("one"), p, p)
	VCVTTPS2DQ(n, u) // n is whole: truncation is exact
	VPADDD(bias127, u, u)
	VPSLLD(U8(23), u, u)
	VMULPS(u, p, p)
}
