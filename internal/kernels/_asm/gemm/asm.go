// Command gemm generates the SGEMM micro-kernels of package kernels:
// register-blocked loops over packed panels of A and B (BLIS style).
//
// Each kernel computes one MR×NR tile of C from a packed MR-strided panel of
// A and a packed NR-strided panel of B:
//
//	for p := 0; p < k; p++ {
//		for i := 0; i < MR; i++ {
//			for j := 0; j < NR; j++ {
//				acc[i][j] += a[p*MR+i] * b[p*NR+j]
//			}
//		}
//	}
//	c[i*ldc+j] = acc[i][j] + beta*c[i*ldc+j] // beta == 0: c is not read
//
// The indirect kernels (sgemmInd…) read row p of B at b[offs[p]:] instead of
// a packed panel: a stride-1 convolution's unfolded input, whose rows are
// shifted runs of the padded image, needs no packing (see SmallConv). The
// dot kernels (sdot…) sum products along rows for the weight gradient.
//
// Run by `go generate ./internal/kernels` from the repository root.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// unroll is how many k steps one pass of the main loop covers.
const unroll = 4

// prefetchB is how many bytes ahead of the current k step the B panel is
// prefetched into L1 (it streams from L2 in the driver's loop order).
const prefetchB = 1024

type kernel struct {
	mr, nv int  // rows of the tile, vectors per row
	wide   bool // AVX-512 (16 lanes, 32 registers) or AVX2 (8 lanes, 16 registers)
	ind    bool // also generate the indirect variant (genIndirect)
}

func (k kernel) lanes() int {
	if k.wide {
		return 16
	}
	return 8
}

func (k kernel) nr() int { return k.nv * k.lanes() }

func (k kernel) name() string {
	isa := "AVX2"
	if k.wide {
		isa = "AVX512"
	}
	return fmt.Sprintf("sgemmKernel%s_%dx%d", isa, k.mr, k.nr())
}

func (k kernel) vec(i int) VecPhysical {
	if k.wide {
		return [...]VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
			Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
	}
	return [...]VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

func main() {
	ConstraintExpr("!noasm,!gccgo,!safe")
	for _, k := range []kernel{
		{mr: 14, nv: 2, wide: true},
		{mr: 12, nv: 2, wide: true, ind: true},
		{mr: 6, nv: 4, wide: true, ind: true},
		{mr: 8, nv: 3, wide: true, ind: true},
		{mr: 6, nv: 2, wide: false, ind: true},
	} {
		gen(k)
		if k.ind {
			genIndirect(k)
		}
	}
	for _, d := range []dotKernel{
		{mr: 4, nr: 6, wide: true},
		{mr: 3, nr: 4, wide: false},
	} {
		genDot(d)
	}
	Generate()
}

func gen(k kernel) {
	mr, nv, nr, vb := k.mr, k.nv, k.nr(), k.lanes()*4
	regs := mr*nv + nv + 1
	if max := map[bool]int{true: 32, false: 16}[k.wide]; regs > max {
		panic(fmt.Sprintf("%s needs %d vector registers", k.name(), regs))
	}
	TEXT(k.name(), NOSPLIT, "func(k int, a, b, c *float32, ldc int, beta float32)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s sets the %d×%d tile c (row stride ldc) to", k.name(), mr, nr),
		"",
		fmt.Sprintf("\tfor i := 0; i < %d; i++ {", mr),
		fmt.Sprintf("\t\tfor j := 0; j < %d; j++ {", nr),
		"\t\t\tvar s float32",
		"\t\t\tfor p := 0; p < k; p++ {",
		fmt.Sprintf("\t\t\t\ts += a[p*%d+i] * b[p*%d+j]", mr, nr),
		"\t\t\t}",
		"\t\t\tif beta != 0 {",
		"\t\t\t\ts += beta * c[i*ldc+j]",
		"\t\t\t}",
		"\t\t\tc[i*ldc+j] = s",
		"\t\t}",
		"\t}",
		"",
		fmt.Sprintf("where a is a packed %d-strided panel and b a packed %d-strided panel, both k", mr, nr),
		"steps long; beta == 0 does not read c (k ≥ 0).",
	)

	acc := func(i, v int) VecPhysical { return k.vec(i*nv + v) }
	bv := func(v int) VecPhysical { return k.vec(mr*nv + v) }
	t := k.vec(mr*nv + nv)
	mov := VMOVUPS

	n, ap, bp, cp, ldc := RCX, RSI, RDI, RDX, R8
	Load(Param("k"), n)
	Load(Param("a"), ap)
	Load(Param("b"), bp)
	Load(Param("c"), cp)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)

	for i := 0; i < mr*nv; i++ {
		r := k.vec(i)
		VXORPS(r, r, r)
	}
	// Warm the C tile's lines while the loop runs.
	row := R9
	MOVQ(cp, row)
	for i := 0; i < mr; i++ {
		for off := 0; off < nr*4; off += 64 {
			PREFETCHT0(Mem{Base: row, Disp: off})
		}
		if i < mr-1 {
			ADDQ(ldc, row)
		}
	}

	step := func(u int, prefetch bool) {
		for v := 0; v < nv; v++ {
			mov(Mem{Base: bp, Disp: (u*nr + v*k.lanes()) * 4}, bv(v))
		}
		if prefetch {
			for off := 0; off < nr*4; off += 64 {
				PREFETCHT0(Mem{Base: bp, Disp: u*nr*4 + prefetchB + off})
			}
		}
		rank1(mr, nv, ap, u, t, bv, acc)
	}

	Comment("Main loop: unroll k steps per pass.")
	SUBQ(U8(unroll), n)
	JL(LabelRef(k.name() + "_tail"))
	Label(k.name() + "_loop")
	for u := 0; u < unroll; u++ {
		step(u, true)
	}
	ADDQ(U32(unroll*mr*4), ap)
	ADDQ(U32(unroll*nr*4), bp)
	SUBQ(U8(unroll), n)
	JGE(LabelRef(k.name() + "_loop"))

	Label(k.name() + "_tail")
	ADDQ(U8(unroll), n)
	JE(LabelRef(k.name() + "_store"))
	Label(k.name() + "_tailloop")
	step(0, false)
	ADDQ(U32(mr*4), ap)
	ADDQ(U32(nr*4), bp)
	DECQ(n)
	JNE(LabelRef(k.name() + "_tailloop"))

	Comment("Store: beta == 0 overwrites, beta == 1 adds, otherwise c = acc + beta*c.")
	Label(k.name() + "_store")
	bits := EAX
	MOVL(betaAddr(), bits)
	TESTL(U32(0x7fffffff), bits)
	JE(LabelRef(k.name() + "_overwrite"))
	CMPL(bits, U32(0x3f800000))
	JE(LabelRef(k.name() + "_add"))

	beta := bv(0)
	VBROADCASTSS(betaAddr(), beta)
	storeTile(mr, nv, vb, cp, ldc, func(i, v int, m Mem) {
		VFMADD231PS(m, beta, acc(i, v))
		mov(acc(i, v), m)
	})

	Label(k.name() + "_add")
	storeTile(mr, nv, vb, cp, ldc, func(i, v int, m Mem) {
		VADDPS(m, acc(i, v), acc(i, v))
		mov(acc(i, v), m)
	})

	Label(k.name() + "_overwrite")
	storeTile(mr, nv, vb, cp, ldc, func(i, v int, m Mem) { mov(acc(i, v), m) })
}

// storeTile emits, for each of the mr rows of a tile at cp (row stride ldc
// in bytes, advanced as it goes) and each of its nv vectors of vb bytes,
// store(i, v, the vector's memory), then VZEROUPPER and RET.
func storeTile(mr, nv, vb int, cp, ldc GPPhysical, store func(i, v int, m Mem)) {
	for i := 0; i < mr; i++ {
		for v := 0; v < nv; v++ {
			store(i, v, Mem{Base: cp, Disp: v * vb})
		}
		if i < mr-1 {
			ADDQ(ldc, cp)
		}
	}
	VZEROUPPER()
	RET()
}

// betaAddr is the stack slot of the beta argument.
func betaAddr() Mem {
	b, err := Param("beta").Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// genIndirect generates the indirect variant of kernel k: the same tile
// and A panel, with row p of B read at b + offs[p] (in floats), nr
// contiguous values, so B needs no packing.
func genIndirect(k kernel) {
	mr, nv, nr, vb := k.mr, k.nv, k.nr(), k.lanes()*4
	name := "sgemmInd" + k.name()[len("sgemmKernel"):]
	TEXT(name, NOSPLIT, "func(k int, a, b *float32, offs *int, c *float32, ldc int)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s sets the %d×%d tile c (row stride ldc) to", name, mr, nr),
		"",
		fmt.Sprintf("\tfor i := 0; i < %d; i++ {", mr),
		fmt.Sprintf("\t\tfor j := 0; j < %d; j++ {", nr),
		"\t\t\tvar s float32",
		"\t\t\tfor p := 0; p < k; p++ {",
		fmt.Sprintf("\t\t\t\ts += a[p*%d+i] * b[offs[p]+j]", mr),
		"\t\t\t}",
		"\t\t\tc[i*ldc+j] = s",
		"\t\t}",
		"\t}",
		"",
		fmt.Sprintf("where a is a packed %d-strided panel k steps long (k ≥ 0) and b holds", mr),
		fmt.Sprintf("offs[p]+%d values for every p.", nr),
	)
	acc := func(i, v int) VecPhysical { return k.vec(i*nv + v) }
	bv := func(v int) VecPhysical { return k.vec(mr*nv + v) }
	t := k.vec(mr*nv + nv)

	n, ap, bp, op, cp, ldc, idx := RCX, RSI, RDI, R10, RDX, R8, R11
	Load(Param("k"), n)
	Load(Param("a"), ap)
	Load(Param("b"), bp)
	Load(Param("offs"), op)
	Load(Param("c"), cp)
	Load(Param("ldc"), ldc)
	SHLQ(U8(2), ldc)
	for i := 0; i < mr*nv; i++ {
		VXORPS(k.vec(i), k.vec(i), k.vec(i))
	}
	step := func(u int) {
		MOVQ(Mem{Base: op, Disp: u * 8}, idx)
		for v := 0; v < nv; v++ {
			VMOVUPS(Mem{Base: bp, Index: idx, Scale: 4, Disp: v * vb}, bv(v))
		}
		rank1(mr, nv, ap, u, t, bv, acc)
	}
	Comment("Main loop: unroll k steps per pass.")
	SUBQ(U8(unroll), n)
	JL(LabelRef(name + "_tail"))
	Label(name + "_loop")
	for u := 0; u < unroll; u++ {
		step(u)
	}
	ADDQ(U32(unroll*mr*4), ap)
	ADDQ(U32(unroll*8), op)
	SUBQ(U8(unroll), n)
	JGE(LabelRef(name + "_loop"))
	Label(name + "_tail")
	ADDQ(U8(unroll), n)
	JE(LabelRef(name + "_store"))
	Label(name + "_tailloop")
	step(0)
	ADDQ(U32(mr*4), ap)
	ADDQ(U32(8), op)
	DECQ(n)
	JNE(LabelRef(name + "_tailloop"))
	Label(name + "_store")
	storeTile(mr, nv, vb, cp, ldc, func(i, v int, m Mem) { VMOVUPS(acc(i, v), m) })
}

// dotKernel is an mr×nr tile of row dot products: mr rows of A against nr
// rows of B, one vector accumulator per pair.
type dotKernel struct {
	mr, nr int
	wide   bool
}

func (d dotKernel) kernel() kernel { return kernel{wide: d.wide} }

func (d dotKernel) name() string {
	isa := "AVX2"
	if d.wide {
		isa = "AVX512"
	}
	return fmt.Sprintf("sdot%s_%dx%d", isa, d.mr, d.nr)
}

// genDot generates a dot kernel: c[(i·nr+j)·L + l] += Σ over p ≡ l (mod L)
// of a[i·lda+p]·b[offs[j]+p], p < k, with L the vector lanes; the caller
// sums each pair's L lanes once all its calls are done. It is the weight
// gradient of a stride-1 convolution: A the rows of dy (wide rows, zero in
// the dropped columns), B's rows the padded input shifted by each tap.
func genDot(d dotKernel) {
	k := d.kernel()
	mr, nr, lanes := d.mr, d.nr, k.lanes()
	vb := lanes * 4
	name := d.name()
	TEXT(name, NOSPLIT, "func(k int, a *float32, lda int, b *float32, offs *int, c *float32)")
	Pragma("noescape")
	Doc(
		fmt.Sprintf("%s adds to the %d×%d×%d accumulators c", name, mr, nr, lanes),
		"",
		fmt.Sprintf("\tfor i := 0; i < %d; i++ {", mr),
		fmt.Sprintf("\t\tfor j := 0; j < %d; j++ {", nr),
		"\t\t\tfor p := 0; p < k; p++ {",
		fmt.Sprintf("\t\t\t\tc[(i*%d+j)*%d+p%%%d] += a[i*lda+p] * b[offs[j]+p]", nr, lanes, lanes),
		"\t\t\t}",
		"\t\t}",
		"\t}",
		"",
		fmt.Sprintf("where k is a multiple of %d.", lanes),
	)
	acc := func(i, j int) VecPhysical { return k.vec(i*nr + j) }
	av := func(i int) VecPhysical { return k.vec(mr*nr + i) }
	t := k.vec(mr*nr + mr)
	if mr*nr+mr+1 > map[bool]int{true: 32, false: 16}[d.wide] {
		panic(name + ": too many vector registers")
	}
	gp := []GPPhysical{RAX, RBX, RDX, RSI, RDI, R8, R9, R10, R11, R13}
	if mr+nr > len(gp) {
		panic(name + ": too many row pointers")
	}
	n, p, tmp, base := RCX, R14, R12, R15
	arow, brow := gp[:mr], gp[mr:mr+nr]

	Comment("Row pointers: A's rows lda apart, B's at the offsets.")
	Load(Param("lda"), tmp)
	SHLQ(U8(2), tmp)
	Load(Param("a"), arow[0])
	for i := 1; i < mr; i++ {
		LEAQ(Mem{Base: arow[i-1], Index: tmp, Scale: 1}, arow[i])
	}
	Load(Param("offs"), base)
	Load(Param("b"), tmp)
	for j := 0; j < nr; j++ {
		MOVQ(Mem{Base: base, Disp: j * 8}, brow[j])
		LEAQ(Mem{Base: tmp, Index: brow[j], Scale: 4}, brow[j])
	}
	for i := 0; i < mr*nr; i++ {
		VXORPS(k.vec(i), k.vec(i), k.vec(i))
	}
	Load(Param("k"), n)
	SHLQ(U8(2), n)
	XORQ(p, p)
	CMPQ(p, n)
	JGE(LabelRef(name + "_store"))
	Label(name + "_loop")
	for i := 0; i < mr; i++ {
		VMOVUPS(Mem{Base: arow[i], Index: p, Scale: 1}, av(i))
	}
	for j := 0; j < nr; j++ {
		VMOVUPS(Mem{Base: brow[j], Index: p, Scale: 1}, t)
		for i := 0; i < mr; i++ {
			VFMADD231PS(t, av(i), acc(i, j))
		}
	}
	ADDQ(U8(vb), p)
	CMPQ(p, n)
	JL(LabelRef(name + "_loop"))

	Label(name + "_store")
	Load(Param("c"), base)
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			m := Mem{Base: base, Disp: (i*nr + j) * vb}
			VADDPS(m, acc(i, j), acc(i, j))
			VMOVUPS(acc(i, j), m)
		}
	}
	VZEROUPPER()
	RET()
}

// rank1 emits k step u's update of the tile: each of the mr values of A's
// packed panel at ap, broadcast into t, times B's nv vectors bv, added to
// the accumulators.
func rank1(mr, nv int, ap GPPhysical, u int, t VecPhysical, bv func(int) VecPhysical, acc func(i, v int) VecPhysical) {
	for i := 0; i < mr; i++ {
		VBROADCASTSS(Mem{Base: ap, Disp: (u*mr + i) * 4}, t)
		for v := 0; v < nv; v++ {
			VFMADD231PS(bv(v), t, acc(i, v))
		}
	}
}
