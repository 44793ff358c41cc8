// Command vec generates vec_amd64.s and vec_stubs_amd64.go, the AVX-512 and
// AVX2+FMA bodies of the elementwise kernels in package kernels (vec.go).
// Run it through `go generate ./internal/kernels` (see gen_vec.go).
//
// Every function here handles only whole vectors: the float32 kernels
// process len(dst) rounded down to the vector width (16 lanes for AVX-512,
// 8 for AVX2), the float64-accumulating reductions len(x) rounded down to
// the float64 width (8 or 4). The Go wrappers in vec_amd64.go pass slices
// of such lengths and finish the tail with the reference loop.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// isa is one instruction-set path: its name suffix, the vector size in
// bytes and a constructor for its vector registers.
type isa struct {
	name  string
	bytes int
	vec   func() VecVirtual
}

var isas = []isa{
	{"AVX512", 64, ZMM},
	{"AVX2", 32, YMM},
}

// unroll is how many vectors the main loop of every kernel handles per
// iteration; a second loop takes one vector at a time.
const unroll = 4

func main() {
	ConstraintExpr("!noasm,!gccgo,!safe")
	for _, s := range isas {
		binary(s, "addTo", "dst = x + y", func(x, y Mem, t VecVirtual) {
			VMOVUPS(x, t)
			VADDPS(y, t, t)
		})
		binary(s, "subTo", "dst = x - y", func(x, y Mem, t VecVirtual) {
			VMOVUPS(x, t)
			VSUBPS(y, t, t)
		})
		binary(s, "mulTo", "dst = x * y", func(x, y Mem, t VecVirtual) {
			VMOVUPS(x, t)
			VMULPS(y, t, t)
		})
		axpy(s)
		scalTo(s)
		affineTo(s)
		axpbyDev(s)
		reluTo(s)
		reluBackward(s)
		reduce64(s, "sum64", "func(x []float32) float64", "Σ x in float64", []string{"x"}, nil,
			func(in []Mem, _ VecVirtual, acc VecVirtual) {
				t := s.vec()
				VCVTPS2PD(in[0], t)
				VADDPD(t, acc, acc)
			})
		reduce64(s, "sqDevSum64", "func(x []float32, mu float64) float64", "Σ (x-mu)² in float64", []string{"x"}, []string{"mu"},
			func(in []Mem, mu VecVirtual, acc VecVirtual) {
				t := s.vec()
				VCVTPS2PD(in[0], t)
				VSUBPD(mu, t, t)
				VFMADD231PD(t, t, acc)
			})
		reduce64(s, "dotDev64", "func(g, x []float32, mu float64) float64", "Σ g·(x-mu) in float64", []string{"g", "x"}, []string{"mu"},
			func(in []Mem, mu VecVirtual, acc VecVirtual) {
				t, u := s.vec(), s.vec()
				VCVTPS2PD(in[1], t)
				VSUBPD(mu, t, t)
				VCVTPS2PD(in[0], u)
				VFMADD231PD(u, t, acc)
			})
	}
	Generate()
}

// broadcastSS loads the float32 parameter name into every lane of a new
// vector register.
func broadcastSS(s isa, name string) VecVirtual {
	v := s.vec()
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(b.Addr, v)
	return v
}

// loop emits the two loops over n float32 (or, for reductions, float64)
// elements of width lanes per vector: unroll vectors per iteration, then
// one. step(k) emits the work for the k-th vector of the current position;
// ptrs advance by stride bytes per vector.
func loop(n Register, lanes int, ptrs []Register, stride int, step func(k int)) {
	Label("loop4")
	CMPQ(n, U32(unroll*lanes))
	JB(LabelRef("loop1"))
	for k := range unroll {
		step(k)
	}
	for _, p := range ptrs {
		ADDQ(U32(unroll*stride), p)
	}
	SUBQ(U32(unroll*lanes), n)
	JMP(LabelRef("loop4"))

	Label("loop1")
	CMPQ(n, U32(lanes))
	JB(LabelRef("done"))
	step(0)
	for _, p := range ptrs {
		ADDQ(U32(stride), p)
	}
	SUBQ(U32(lanes), n)
	JMP(LabelRef("loop1"))
	Label("done")
}

// elementwise emits a float32 kernel named name+s.name with the given
// signature whose slices are outs (written) and ins (read), all of
// len(outs[0]) elements; body computes one vector of the result from the
// input vectors' memory operands into t.
func elementwise(s isa, name, sig, doc string, out string, ins []string, setup func(), body func(in []Mem, t VecVirtual)) {
	TEXT(name+s.name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s%s computes %s over whole %d-byte vectors of len(%s) rounded down to %d.", name, s.name, doc, s.bytes, out, s.bytes/4))
	n := Load(Param(out).Len(), GP64())
	o := Load(Param(out).Base(), GP64())
	ptrs := []Register{o}
	var bases []Register
	for _, in := range ins {
		p := Load(Param(in).Base(), GP64())
		bases = append(bases, p)
		ptrs = append(ptrs, p)
	}
	if setup != nil {
		setup()
	}
	loop(n, s.bytes/4, ptrs, s.bytes, func(k int) {
		mems := make([]Mem, len(bases))
		for i, b := range bases {
			mems[i] = Mem{Base: b, Disp: k * s.bytes}
		}
		t := s.vec()
		body(mems, t)
		VMOVUPS(t, Mem{Base: o, Disp: k * s.bytes})
	})
	VZEROUPPER()
	RET()
}

func binary(s isa, name, doc string, op func(x, y Mem, t VecVirtual)) {
	elementwise(s, name, "func(dst, x, y []float32)", doc, "dst", []string{"x", "y"}, nil, func(in []Mem, t VecVirtual) {
		op(in[0], in[1], t)
	})
}

func axpy(s isa) {
	var a VecVirtual
	elementwise(s, "axpy", "func(alpha float32, x, y []float32)", "y += alpha·x (fused)", "y", []string{"x", "y"},
		func() { a = broadcastSS(s, "alpha") },
		func(in []Mem, t VecVirtual) {
			VMOVUPS(in[1], t)
			VFMADD231PS(in[0], a, t)
		})
}

func scalTo(s isa) {
	var a VecVirtual
	elementwise(s, "scalTo", "func(dst []float32, alpha float32, x []float32)", "dst = alpha·x", "dst", []string{"x"},
		func() { a = broadcastSS(s, "alpha") },
		func(in []Mem, t VecVirtual) {
			VMULPS(in[0], a, t)
		})
}

func affineTo(s isa) {
	var a, b VecVirtual
	elementwise(s, "affineTo", "func(dst []float32, a, b float32, x []float32)", "dst = a·x + b (fused)", "dst", []string{"x"},
		func() { a, b = broadcastSS(s, "a"), broadcastSS(s, "b") },
		func(in []Mem, t VecVirtual) {
			VMOVUPS(in[0], t)
			VFMADD213PS(b, a, t)
		})
}

func axpbyDev(s isa) {
	var a, b, mu, c VecVirtual
	elementwise(s, "axpbyDev", "func(dst []float32, a float32, x []float32, b float32, y []float32, mu, c float32)", "dst = a·x + b·(y-mu) + c (fused)", "dst", []string{"x", "y"},
		func() {
			a, b, mu, c = broadcastSS(s, "a"), broadcastSS(s, "b"), broadcastSS(s, "mu"), broadcastSS(s, "c")
		},
		func(in []Mem, t VecVirtual) {
			VMOVUPS(in[1], t)
			VSUBPS(mu, t, t)
			VFMADD213PS(c, b, t)
			VFMADD231PS(in[0], a, t)
		})
}

func reluTo(s isa) {
	var zero VecVirtual
	elementwise(s, "reluTo", "func(dst, x []float32)", "dst = max(x, 0) with NaN kept and -0 mapped to +0", "dst", []string{"x"},
		func() {
			zero = s.vec()
			VXORPS(zero, zero, zero)
		},
		func(in []Mem, t VecVirtual) {
			// MAXPS returns its second (Intel) source when either is NaN or
			// both are zero: x then. Adding +0 turns -0 into +0.
			VMAXPS(in[0], zero, t)
			VADDPS(zero, t, t)
		})
}

// cmpLTOQ is the VCMPPS predicate "less than, ordered, quiet".
const cmpLTOQ = 0x11

func reluBackward(s isa) {
	var zero VecVirtual
	elementwise(s, "reluBackward", "func(dx, g, x []float32)", "dx = g where x > 0, else 0", "dx", []string{"g", "x"},
		func() {
			zero = s.vec()
			VXORPS(zero, zero, zero)
		},
		func(in []Mem, t VecVirtual) {
			if s.bytes == 64 {
				k := K()
				VCMPPS(U8(cmpLTOQ), in[1], zero, k) // 0 < x, false for NaN
				VMOVUPS_Z(in[0], k, t)
				return
			}
			VCMPPS(U8(cmpLTOQ), in[1], zero, t)
			VANDPS(in[0], t, t)
		})
}

// reduce64 emits a reduction over float32 slices named by ins (all of
// len(ins[0])) that widens each element to float64 and accumulates in
// unroll float64 vectors, returning their total. f64s names float64
// parameters broadcast into vectors (at most one, passed to body).
func reduce64(s isa, name, sig, doc string, ins, f64s []string, body func(in []Mem, p VecVirtual, acc VecVirtual)) {
	TEXT(name+s.name, NOSPLIT, sig)
	Pragma("noescape")
	lanes := s.bytes / 8
	Doc(fmt.Sprintf("%s%s returns %s over len(%s) rounded down to %d, accumulating in %d×%d float64 lanes.", name, s.name, doc, ins[0], lanes, unroll, lanes))
	n := Load(Param(ins[0]).Len(), GP64())
	var ptrs []Register
	for _, in := range ins {
		ptrs = append(ptrs, Load(Param(in).Base(), GP64()))
	}
	var p VecVirtual
	for _, f := range f64s {
		p = s.vec()
		b, err := Param(f).Resolve()
		if err != nil {
			panic(err)
		}
		VBROADCASTSD(b.Addr, p)
	}
	acc := make([]VecVirtual, unroll)
	for i := range acc {
		acc[i] = s.vec()
		VXORPD(acc[i], acc[i], acc[i])
	}
	// Each vector of float64 reads half a vector of float32.
	loop(n, lanes, ptrs, s.bytes/2, func(k int) {
		mems := make([]Mem, len(ptrs))
		for i, b := range ptrs {
			mems[i] = Mem{Base: b, Disp: k * s.bytes / 2}
		}
		body(mems, p, acc[k])
	})
	VADDPD(acc[1], acc[0], acc[0])
	VADDPD(acc[3], acc[2], acc[2])
	VADDPD(acc[2], acc[0], acc[0])
	y := acc[0]
	if s.bytes == 64 {
		y = YMM()
		VEXTRACTF64X4(U8(1), acc[0], y)
		VADDPD(acc[0].AsY(), y, y)
	}
	x := XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPD(y.AsX(), x, x)
	h := XMM()
	VUNPCKHPD(x, x, h)
	VADDSD(h, x, x)
	VZEROUPPER()
	Store(x, ReturnIndex(0))
	RET()
}
