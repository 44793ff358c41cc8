// Command wino generates wino_amd64.s and wino_stubs_amd64.go, the AVX-512
// and AVX2 bodies of Winograd F(4×4, 3×3)'s input and output transforms
// (Winograd43 in winograd43.go, called from winograd43_amd64.go). Run it
// through `go generate ./internal/kernels` (see gen_wino.go).
//
// A vector holds one value of lanes tiles (16 for AVX-512, 8 for AVX2), and
// a kernel call runs over one channel of the whole batch in groups of such
// vectors. A group is S segments (S = 1, 2 or 4) of L = lanes/S lanes, each
// segment a run of consecutive tiles of one tile row, described by a table
// the caller builds (four int64 fields per segment, below): the caller packs
// short tile rows (ResNet's 28², 14² and 7² planes) several to a vector.
//
// The input kernels (winoInput<S><ISA>) compute V = Bᵀ·d·B of each tile's
// 6×6 patch d. For each of the 6 patch rows a segment's columns are loaded
// as 4·L contiguous floats (64 bytes per AVX-512 quarter, 16 per AVX2
// chunk), with the columns and rows outside the plane masked to zero (the
// padding), and the stride-4 columns of the tiles are separated by
// permutes: tile k's patch column b is float 4k+b, so a segment of L lanes
// holds at most L−1 tiles (column 4 and 5 of the last come from beyond).
// Then the transform along the columns (Bᵀ·d) and along the rows (·B), each
// step stored to the aligned scratch tmp, and the 36 values of every lane
// to V's rows ξ = 0…35 at vs floats apart, each segment's lanes at its
// first tile. The stores are whole vectors: lanes past a segment's tiles
// write garbage to the tiles that follow, which later segments (the table
// is in ascending tile order) overwrite, or to the 16 floats of padding the
// caller leaves after each row of V.
//
// The output kernels (winoOutput<S><ISA>) compute Y = Aᵀ·M·A of each tile's
// 36 products M (rows ξ of M, ms floats apart, masked to the segment's
// tiles), then add the residual add (when len(add) > 0) and apply ReLU
// (when relu), and store the 4×4 outputs of each tile, interleaving the
// four columns back with permutes, masked to the plane.
//
// The arithmetic is the Go reference's (inputTVec, outputTVec, addTo,
// reluTo on the AVX-512 and AVX2 paths), operation for operation: the same
// additions, subtractions and fused multiply-adds (axpbyDev(dst, a, x, b,
// y, 0, 0) is fma(a, x, fma(b, y, +0)), and fma(1, y, +0) is y + 0), on the
// same operands in the same order, so both give the same bits (the signs of
// zeros included; which payload a NaN result carries when several operands
// are NaNs is not matched or tested).
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/gotypes"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// A table has segBytes per segment, int64 fields at these offsets.
//
// Input: xOff, the float offset in x of the segment's first patch's
// top-left (row row0, column cb, either negative in the padding); row0; cb;
// t, the segment's first tile in V's rows. A segment with row0 ≤ −6 loads
// nothing (the table's filler).
//
// Output: yOff, the float offset in y (and add) of the first tile's
// top-left output; nRows, the output rows of the segment's tiles (at most
// 4); nCols, its output columns; t, its first tile in M's rows. Its lanes
// are its ⌈nCols/4⌉ tiles; a filler has nRows = nCols = 0.
const (
	segBytes              = 32
	fXOff, fRow0, fCB, fT = 0, 8, 16, 24
	fYOff, fNRows, fNCols = 0, 8, 16
)

// Scratch slots (vectors from the aligned tmp): the input kernels' patch
// columns d and Bᵀ·d, then (AVX2) the 8 chunks' column masks; the output
// kernels' Aᵀ·M rows q and results y.
const (
	tmpD, tmpT, tmpMask = 0, 36, 72
	tmpQ, tmpY          = 0, 24
)

// cmpNLE is the VPCMPUD predicate "greater than" (not less or equal).
const cmpNLE = 6

// Constants in memory.
var (
	winoIota                             Mem    // int32 0…63
	permEven, permOdd, permShift         Mem    // dword indices 0, 2, …, 30; 1, 3, …, 31; 2, 4, …, 30, 0
	interLo, interHi                     Mem    // 0, 16, 1, 17, …, 7, 23; 8, 24, …, 15, 31
	shiftAVX2                            [3]Mem // by S: lane k ← k+1 (within each segment)
	signBit                              Mem    // 0x80000000
	cFour, cMinus5, cMinus4, cTwo, cMin2 Mem
	cEight                               Mem
)

func main() {
	ConstraintExpr("!noasm,!gccgo,!safe")
	defineConstants()
	for _, s := range []isa{avx512{}, avx2{}} {
		for _, S := range s.segs() {
			input(s, S)
		}
		for _, S := range s.segs() {
			output(s, S)
		}
	}
	Generate()
}

func defineConstants() {
	var iota, even, odd, shift, lo, hi []uint32
	for i := range 64 {
		iota = append(iota, uint32(i))
	}
	for i := range 16 {
		even = append(even, uint32(2*i))
		odd = append(odd, uint32(2*i+1))
		shift = append(shift, uint32(2*i+2)%32)
		lo = append(lo, uint32(i/2+16*(i%2)))
		hi = append(hi, uint32(8+i/2+16*(i%2)))
	}
	winoIota = dwords("winoIota", iota...)
	permEven = dwords("winoPermEven", even...)
	permOdd = dwords("winoPermOdd", odd...)
	permShift = dwords("winoPermShift", shift...)
	interLo = dwords("winoInterLo", lo...)
	interHi = dwords("winoInterHi", hi...)
	shiftAVX2[1] = dwords("winoShift1AVX2", 1, 2, 3, 4, 5, 6, 7, 7)
	shiftAVX2[2] = dwords("winoShift2AVX2", 1, 2, 3, 3, 5, 6, 7, 7)
	signBit = dwords("winoSignBit", 0x80000000, 0x80000000, 0x80000000, 0x80000000)
	cFour = float("winoFour", 4)
	cMinus5 = float("winoMinus5", -5)
	cMinus4 = float("winoMinus4", -4)
	cTwo = float("winoTwo", 2)
	cMin2 = float("winoMinus2", -2)
	cEight = float("winoEight", 8)
}

// dwords emits a read-only global of 32-bit values.
func dwords(name string, vs ...uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i, v := range vs {
		DATA(4*i, U32(v))
	}
	return m
}

// float emits a read-only float32 (as its bits: avo prints F32(4) as
// $(4), which the assembler reads as an integer).
func float(name string, v float32) Mem {
	return dwords(name, math.Float32bits(v))
}

// isa emits one instruction set's parts of the kernels.
type isa interface {
	name() string
	lanes() int
	bytes() int // of a vector
	segs() []int
	vec() VecVirtual
	zero() VecVirtual
	broadcast(m Mem) VecVirtual // a float32 in every lane
	// inMasks computes the group's column masks for the loads.
	inMasks(g *group)
	// inRow loads patch row a of every segment and returns its columns
	// 0…5, lane k holding tile k's.
	inRow(g *group, a int, aw GPVirtual) [6]VecVirtual
	// vStore stores one V row's lanes, each segment's at base[j] + off.
	vStore(g *group, r VecVirtual, base []GPVirtual, off GPVirtual)
	// mMasks computes the group's lane masks for the loads of M.
	mMasks(g *group)
	// mBase is the offset in floats of segment j's base for mLoad from
	// its first tile (segments of l lanes).
	mBase(j, l int) int
	// mLoad loads one row of M, each segment's lanes from base[j] + off.
	mLoad(g *group, base []GPVirtual, off GPVirtual) VecVirtual
	// outMasks computes the group's column masks for the stores.
	outMasks(g *group)
	// outRow stores output row i of the group's tiles from y[i][0…3]
	// (tmp vectors), adding add and applying ReLU on the way.
	outRow(g *group, i int, iw GPVirtual)
}

// group holds the registers a kernel shares between its parts.
type group struct {
	s   isa
	S   int       // segments per vector
	tab GPVirtual // the group's first segment
	tmp GPVirtual // the 64-byte aligned scratch
	x   GPVirtual // input: the plane of the batch's first image
	h   GPVirtual // input: the plane's rows
	w   GPVirtual // input: its columns
	k   []Register
	// output
	y, add, addN, relu GPVirtual
	masks              []VecVirtual // AVX2: M's lane masks
}

func (g *group) seg(j, field int) Mem { return Mem{Base: g.tab, Disp: j*segBytes + field} }
func (g *group) l() int               { return g.s.lanes() / g.S }

// slot returns scratch vector i.
func (g *group) slot(i int) Mem { return Mem{Base: g.tmp, Disp: i * g.s.bytes()} }

// label returns a label name unique within the function.
func label(parts ...any) string {
	s := "l"
	for _, p := range parts {
		s += fmt.Sprint("_", p)
	}
	return s
}

// gp loads the parameter component c into a new 64-bit register.
func gp(c gotypes.Component) GPVirtual {
	r := GP64()
	Load(c, r)
	return r
}

// paramAddr returns the address of the parameter name.
func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// alignedTmp loads tmp's base rounded up to 64 bytes.
func alignedTmp() GPVirtual {
	t := gp(Param("tmp").Base())
	ADDQ(U8(63), t)
	ANDQ(I8(-64), t)
	return t
}

// consts holds the transforms' broadcast constants.
type consts struct {
	zero, four, minus5, minus4, two, minus2, eight VecVirtual
}

func inputConsts(s isa) *consts {
	return &consts{zero: s.zero(), four: s.broadcast(cFour), minus5: s.broadcast(cMinus5), minus4: s.broadcast(cMinus4),
		two: s.broadcast(cTwo), minus2: s.broadcast(cMin2)}
}

func outputConsts(s isa) *consts {
	return &consts{zero: s.zero(), two: s.broadcast(cTwo), four: s.broadcast(cFour), eight: s.broadcast(cEight)}
}

// load returns op in a new register.
func load(s isa, op Op) VecVirtual {
	v := s.vec()
	VMOVUPS(op, v)
	return v
}

// last marks an operand's last use: an op that computes into a register
// may take a register so marked as its destination.
type last struct{ VecVirtual }

// plain returns op without its last mark.
func plain(op Op) Op {
	if l, ok := op.(last); ok {
		return l.VecVirtual
	}
	return op
}

// own returns op in a register the caller may overwrite: op itself when it
// is a register at its last use, else a copy.
func own(s isa, op Op) VecVirtual {
	if l, ok := op.(last); ok {
		return l.VecVirtual
	}
	return load(s, op)
}

// axpby emits fma(a, x, fma(b, y, +0)), axpbyDev(dst, a, x, b, y, 0, 0) of
// the vector path: t = y; t = b·t + 0; t = a·x + t. b nil is 1 (t = y + 0).
func axpby(s isa, c *consts, a VecVirtual, x Op, b VecVirtual, y Op) VecVirtual {
	var t VecVirtual
	if b == nil {
		// 0 + y: the sum is y's whichever the order (a NaN y's payload).
		t = s.vec()
		VADDPS(plain(y), c.zero, t)
	} else {
		t = own(s, y)
		VFMADD213PS(c.zero, b, t)
	}
	VFMADD231PS(plain(x), a, t)
	return t
}

// add emits addTo's x + y (x the first operand); sub subTo's x − y.
func add(s isa, x, y Op) VecVirtual {
	t := own(s, x)
	VADDPS(plain(y), t, t)
	return t
}

func sub(s isa, x, y Op) VecVirtual {
	t := own(s, x)
	VSUBPS(plain(y), t, t)
	return t
}

// inputT emits inputTVec: r0…r5 = Bᵀ·(d0…d5), handing each to out in
// order.
func inputT(s isa, c *consts, d [6]Op, out func(i int, r VecVirtual)) {
	r0 := axpby(s, c, c.four, d[0], c.minus5, d[2])
	VADDPS(d[4], r0, r0)
	out(0, r0)
	sum := add(s, d[3], d[4])
	u := add(s, d[1], d[2])
	out(1, axpby(s, c, c.minus4, u, nil, sum))
	e := sub(s, d[4], d[3])
	w := sub(s, d[1], d[2])
	out(2, axpby(s, c, c.four, w, nil, e))
	f := sub(s, d[4], d[2])
	h := sub(s, d[3], d[1])
	out(3, axpby(s, c, c.two, h, nil, f))
	out(4, axpby(s, c, c.minus2, h, nil, f))
	r5 := axpby(s, c, c.four, d[1], c.minus5, d[3])
	VADDPS(d[5], r5, r5)
	out(5, r5)
}

// outputT emits outputTVec: y0…y3 = Aᵀ·(m0…m5), handing each to out in
// order. Registers marked last may be overwritten.
func outputT(s isa, c *consts, m [6]Op, out func(i int, y VecVirtual)) {
	s12 := add(s, plain(m[1]), m[2])
	d12 := sub(s, m[1], m[2])
	s34 := add(s, plain(m[3]), m[4])
	d34 := sub(s, m[3], m[4])
	y0 := add(s, m[0], s12)
	VADDPS(s34, y0, y0)
	out(0, y0)
	// fma(1, x, t) is x + t.
	y1 := load(s, d34)
	VFMADD213PS(c.zero, c.two, y1)
	VADDPS(d12, y1, y1)
	out(1, y1)
	y2 := s34 // its last use
	VFMADD213PS(c.zero, c.four, y2)
	VADDPS(s12, y2, y2)
	out(2, y2)
	y3 := d34 // its last use
	VFMADD213PS(c.zero, c.eight, y3)
	VADDPS(d12, y3, y3)
	VADDPS(plain(m[5]), y3, y3)
	out(3, y3)
}

// input emits winoInput<S><ISA>.
func input(s isa, S int) {
	name := fmt.Sprintf("winoInput%d%s", S, s.name())
	TEXT(name, NOSPLIT, "func(x, v []float32, tab []int, w, h, vs int, tmp []float32)")
	Pragma("noescape")
	Doc(name+" is Winograd43's input transform (inputUnit) of one channel in groups of",
		fmt.Sprintf("%d segments of %d lanes: for each segment of tab (xOff, row0, cb, t), the", S, s.lanes()/S),
		"patches of its tiles in the planes x of width w and height h (zero outside),",
		"transformed, to v[ξ·vs + t + k] for ξ < 36. See _asm/wino for the table and",
		"the stores past a segment's tiles; the caller checks the slices' lengths.")
	g := &group{s: s, S: S}
	g.x = gp(Param("x").Base())
	v := gp(Param("v").Base())
	g.tab = gp(Param("tab").Base())
	n := gp(Param("tab").Len())
	end := GP64()
	LEAQ(Mem{Base: g.tab, Index: n, Scale: 8}, end)
	g.w = gp(Param("w"))
	g.h = gp(Param("h"))
	g.tmp = alignedTmp()
	vsb := gp(Param("vs"))
	SHLQ(U8(2), vsb)

	Label("group")
	CMPQ(g.tab, end)
	JAE(LabelRef("done"))
	s.inMasks(g)
	Comment("The patch rows, their columns separated.")
	aw := GP64() // a·w
	XORQ(aw, aw)
	for a := range 6 {
		if a > 0 {
			ADDQ(g.w, aw)
		}
		cols := s.inRow(g, a, aw)
		for b, c := range cols {
			VMOVUPS(c, g.slot(tmpD+6*a+b))
		}
	}
	Comment("Along the columns: slot tmpT+6a'+b holds (Bᵀ·d)[a'][b].")
	c := inputConsts(s)
	for b := range 6 {
		var d [6]Op
		for a := range 6 {
			d[a] = g.slot(tmpD + 6*a + b)
		}
		inputT(s, c, d, func(i int, r VecVirtual) { VMOVUPS(r, g.slot(tmpT+6*i+b)) })
	}
	Comment("Along the rows, into V.")
	base := make([]GPVirtual, S)
	for j := range S {
		base[j] = GP64()
		MOVQ(g.seg(j, fT), base[j])
		LEAQ(Mem{Base: v, Index: base[j], Scale: 4}, base[j])
	}
	off := GP64()
	XORQ(off, off)
	c = inputConsts(s)
	for a := range 6 {
		var d [6]Op
		for b := range 6 {
			d[b] = g.slot(tmpT + 6*a + b)
		}
		next := 0
		inputT(s, c, d, func(i int, r VecVirtual) {
			if i != next {
				panic("inputT: outputs out of order")
			}
			next++
			s.vStore(g, r, base, off)
			if 6*a+i < 35 {
				ADDQ(vsb, off)
			}
		})
	}
	ADDQ(U32(S*segBytes), g.tab)
	JMP(LabelRef("group"))
	Label("done")
	VZEROUPPER()
	RET()
}

// output emits winoOutput<S><ISA>.
func output(s isa, S int) {
	name := fmt.Sprintf("winoOutput%d%s", S, s.name())
	TEXT(name, NOSPLIT, "func(m, y, add []float32, tab []int, ms, outW int, relu bool, tmp []float32)")
	Pragma("noescape")
	Doc(name+" is Winograd43's output transform (outputUnit) of one channel in groups of",
		fmt.Sprintf("%d segments of %d lanes: for each segment of tab (yOff, nRows, nCols, t),", S, s.lanes()/S),
		"Aᵀ·M·A of its tiles' products m[ξ·ms + t + k], plus add[…] when len(add) > 0,",
		"then max(·, 0) when relu, to the nRows×nCols outputs at y[yOff + i·outW + j].",
		"See _asm/wino; the caller checks the slices' lengths.")
	g := &group{s: s, S: S}
	mb := gp(Param("m").Base())
	g.tab = gp(Param("tab").Base())
	n := gp(Param("tab").Len())
	end := GP64()
	LEAQ(Mem{Base: g.tab, Index: n, Scale: 8}, end)
	g.tmp = alignedTmp()
	msb := gp(Param("ms"))
	SHLQ(U8(2), msb)

	Label("group")
	CMPQ(g.tab, end)
	JAE(LabelRef("done"))
	s.mMasks(g)
	Comment("Along the columns of each row of M: slot tmpQ+4a+j holds q[a][j].")
	L := g.l()
	base := make([]GPVirtual, S)
	for j := range S {
		base[j] = GP64()
		MOVQ(g.seg(j, fT), base[j])
		if d := s.mBase(j, L); d != 0 {
			ADDQ(I8(int8(d)), base[j])
		}
		LEAQ(Mem{Base: mb, Index: base[j], Scale: 4}, base[j])
	}
	off := GP64()
	XORQ(off, off)
	c := outputConsts(s)
	for a := range 6 {
		var m [6]Op
		for b := range 6 {
			m[b] = last{s.mLoad(g, base, off)}
			if 6*a+b < 35 {
				ADDQ(msb, off)
			}
		}
		outputT(s, c, m, func(j int, q VecVirtual) { VMOVUPS(q, g.slot(tmpQ+4*a+j)) })
	}
	Comment("Along the rows: slot tmpY+4i+j holds y[i][j].")
	c = outputConsts(s)
	for j := range 4 {
		var q [6]Op
		for a := range 6 {
			q[a] = g.slot(tmpQ + 4*a + j)
		}
		outputT(s, c, q, func(i int, y VecVirtual) { VMOVUPS(y, g.slot(tmpY+4*i+j)) })
	}
	Comment("The output rows: columns interleaved, residual, ReLU, stores.")
	s.outMasks(g)
	g.y = gp(Param("y").Base())
	g.add = gp(Param("add").Base())
	g.addN = gp(Param("add").Len())
	g.relu = GP64()
	MOVBQZX(paramAddr("relu"), g.relu)
	iw := GP64() // i·outW
	XORQ(iw, iw)
	for i := range 4 {
		if i > 0 {
			ADDQ(paramAddr("outW"), iw)
		}
		s.outRow(g, i, iw)
	}
	ADDQ(U32(S*segBytes), g.tab)
	JMP(LabelRef("group"))
	Label("done")
	VZEROUPPER()
	RET()
}

// epilogue emits, on the vectors vs of an output row, the residual add
// (when len(add) > 0: addTo(v, v, add[…]) with addTo's operand order,
// addTo(q, v) adding vector q's) and ReLU (when relu, with reluTo's
// arithmetic); zero holds zeros, id makes the labels unique.
func (g *group) epilogue(id string, vs []VecVirtual, zero VecVirtual, addTo func(q int, v VecVirtual)) {
	noAdd, noReLU := "noadd"+id, "norelu"+id
	TESTQ(g.addN, g.addN)
	JZ(LabelRef(noAdd))
	for q, v := range vs {
		addTo(q, v)
	}
	Label(noAdd)
	TESTQ(g.relu, g.relu)
	JZ(LabelRef(noReLU))
	for _, v := range vs {
		// reluTo: MAXPS returns its second (Intel) source when either is
		// NaN or both are zero, then + 0 turns −0 into +0.
		VMAXPS(v, zero, v)
		VADDPS(zero, v, v)
	}
	Label(noReLU)
}
