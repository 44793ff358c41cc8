// Command vec generates vec_amd64.s and vec_stubs_amd64.go, the AVX-512 and
// AVX2+FMA bodies of the elementwise kernels in package kernels (vec.go,
// vec_planes.go).
// Run it through `go generate ./internal/kernels` (see gen_vec.go).
//
// The functions of main.go handle only whole vectors: the float32 kernels
// process len(dst) rounded down to the vector width (16 lanes for AVX-512,
// 8 for AVX2), the float64-accumulating reductions len(x) rounded down to
// the float64 width (8 or 4). The Go wrappers in vec_amd64.go pass slices
// of such lengths and finish the tail with the reference loop. The planes
// kernels of planes.go (vec_planes.go) run the same bodies over n strided
// planes and handle each plane's partial last vector themselves.
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
		binary(s, "addTo", "dst = x + y", func(x, y Op, t VecVirtual) {
			VMOVUPS(x, t)
			VADDPS(y, t, t)
		})
		binary(s, "subTo", "dst = x - y", func(x, y Op, t VecVirtual) {
			VMOVUPS(x, t)
			VSUBPS(y, t, t)
		})
		binary(s, "mulTo", "dst = x * y", func(x, y Op, t VecVirtual) {
			VMOVUPS(x, t)
			VMULPS(y, t, t)
		})
		elementwise(s, "axpy", "func(alpha float32, x, y []float32)", "y += alpha·x (fused)", "y", []string{"x", "y"}, axpyBody)
		elementwise(s, "scalTo", "func(dst []float32, alpha float32, x []float32)", "dst = alpha·x", "dst", []string{"x"}, scalBody)
		elementwise(s, "affineTo", "func(dst []float32, a, b float32, x []float32)", "dst = a·x + b (fused)", "dst", []string{"x"}, affineBody)
		elementwise(s, "axpbyDev", "func(dst []float32, a float32, x []float32, b float32, y []float32, mu, c float32)", "dst = a·x + b·(y-mu) + c (fused)", "dst", []string{"x", "y"}, axpbyDevBody)
		elementwise(s, "reluTo", "func(dst, x []float32)", "dst = max(x, 0) with NaN kept and -0 mapped to +0", "dst", []string{"x"}, reluBody)
		elementwise(s, "reluBackward", "func(dx, g, x []float32)", "dx = g where x > 0, else 0", "dx", []string{"g", "x"}, reluBackwardBody)
		elementwise(s, "sgdBuf", "func(buf, g, p []float32, wd, mom, damp float32)", "buf = buf·mom + damp·(g + wd·p) (unfused, as the Go loop rounds)", "buf", []string{"buf", "g", "p"}, sgdBufBody)
		elementwise(s, "sgdStep", "func(p, buf []float32, lr float32)", "p = p − lr·buf", "p", []string{"p", "buf"}, sgdStepBody)
		elementwise(s, "adamM", "func(m, g, p []float32, decay, wd, beta1, oneMinB1 float32)", "m = m·beta1 + oneMinB1·(g + wd·(p·decay)) (unfused)", "m", []string{"m", "g", "p"}, adamMBody)
		elementwise(s, "adamV", "func(v, g, p []float32, decay, wd, beta2, oneMinB2 float32)", "v = v·beta2 + oneMinB2·(gi·gi), gi = g + wd·(p·decay) (unfused)", "v", []string{"v", "g", "p"}, adamVBody)
		elementwise(s, "adamStep", "func(p, m, v []float32, decay, stepSize, bc2Sqrt, eps float32)", "p = p·decay − stepSize·(m/(√v/bc2Sqrt + eps)) (unfused)", "p", []string{"p", "m", "v"}, adamStepBody)
		elementwise(s, "geluTo", "func(dst, x []float32)", "dst = GELU(x), as geluGeneric", "dst", []string{"x"}, geluBody)
		elementwise(s, "geluBackward", "func(dx, g, x []float32)", "dx = g·GELU'(x), as geluBackwardGeneric", "dx", []string{"g", "x"}, geluBackwardBody)
		elementwise(s, "sgdNesterov", "func(p, g, buf []float32, lr, wd, mom float32)", "p = p − lr·((g + wd·p) + mom·buf) (unfused)", "p", []string{"p", "g", "buf"}, sgdNesterovBody)
		for _, r := range reductions {
			reduce64(s, r)
		}
	}
	for _, s := range isas {
		planes(s)
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

// A body is an elementwise kernel's arithmetic, shared by its whole-slice
// and planes variants: called inside the function after the pointers are
// loaded, it emits the per-call setup (parameters broadcast into vectors)
// and returns the step, which computes one vector of the result into t
// from the input vectors in (memory operands or registers).
type body func(s isa) func(in []Op, t VecVirtual)

// elementwise emits a float32 kernel named name+s.name with the given
// signature whose slices are out (written) and ins (read), all of len(out)
// elements, over whole vectors.
func elementwise(s isa, name, sig, doc string, out string, ins []string, mk body) {
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
	step := mk(s)
	loop(n, s.bytes/4, ptrs, s.bytes, func(k int) {
		ops := make([]Op, len(bases))
		for i, b := range bases {
			ops[i] = Mem{Base: b, Disp: k * s.bytes}
		}
		t := s.vec()
		step(ops, t)
		VMOVUPS(t, Mem{Base: o, Disp: k * s.bytes})
	})
	VZEROUPPER()
	RET()
}

func binary(s isa, name, doc string, op func(x, y Op, t VecVirtual)) {
	elementwise(s, name, "func(dst, x, y []float32)", doc, "dst", []string{"x", "y"}, func(isa) func([]Op, VecVirtual) {
		return func(in []Op, t VecVirtual) { op(in[0], in[1], t) }
	})
}

func axpyBody(s isa) func([]Op, VecVirtual) {
	a := broadcastSS(s, "alpha")
	return func(in []Op, t VecVirtual) {
		VMOVUPS(in[1], t)
		VFMADD231PS(in[0], a, t)
	}
}

func scalBody(s isa) func([]Op, VecVirtual) {
	a := broadcastSS(s, "alpha")
	return func(in []Op, t VecVirtual) {
		VMULPS(in[0], a, t)
	}
}

func affineBody(s isa) func([]Op, VecVirtual) {
	a, b := broadcastSS(s, "a"), broadcastSS(s, "b")
	return func(in []Op, t VecVirtual) {
		VMOVUPS(in[0], t)
		VFMADD213PS(b, a, t)
	}
}

// affineReLUBody is affineBody followed by reluBody's arithmetic on the
// result: the same bits as the two kernels one after the other.
func affineReLUBody(s isa) func([]Op, VecVirtual) {
	affine := affineBody(s)
	zero := s.vec()
	VXORPS(zero, zero, zero)
	return func(in []Op, t VecVirtual) {
		affine(in, t)
		relu(t, zero, t)
	}
}

// affineAddReLUBody is affineBody, then addTo's and reluBody's arithmetic
// on the result: the same bits as the three kernels one after the other
// (batch normalization, a residual sum and its ReLU).
func affineAddReLUBody(s isa) func([]Op, VecVirtual) {
	affine := affineBody(s)
	zero := s.vec()
	VXORPS(zero, zero, zero)
	return func(in []Op, t VecVirtual) {
		affine(in[:1], t)
		VADDPS(in[1], t, t)
		relu(t, zero, t)
	}
}

func axpbyDevBody(s isa) func([]Op, VecVirtual) {
	a, b, mu, c := broadcastSS(s, "a"), broadcastSS(s, "b"), broadcastSS(s, "mu"), broadcastSS(s, "c")
	return func(in []Op, t VecVirtual) {
		VMOVUPS(in[1], t)
		VSUBPS(mu, t, t)
		VFMADD213PS(c, b, t)
		VFMADD231PS(in[0], a, t)
	}
}

// axpbyDevReLUBody is axpbyDevBody with x masked by r > 0 first
// (reluBackwardBody's arithmetic, inputs x, r, y): the same bits as
// ReLU's backward into a buffer and axpbyDev over it.
func axpbyDevReLUBody(s isa) func([]Op, VecVirtual) {
	axpbyDev := axpbyDevBody(s)
	zero := s.vec()
	VXORPS(zero, zero, zero)
	return func(in []Op, t VecVirtual) {
		g := s.vec()
		reluMask(s, in[0], in[1], zero, g)
		axpbyDev([]Op{g, in[2]}, t)
	}
}

// The SGD bodies round as the plain Go update does (sgdBufGeneric …): a
// separate multiply and add for every term, no fused multiply-add, so the
// vector and scalar paths give the same bits.

func sgdBufBody(s isa) func([]Op, VecVirtual) {
	wd, mom, damp := broadcastSS(s, "wd"), broadcastSS(s, "mom"), broadcastSS(s, "damp")
	return func(in []Op, t VecVirtual) {
		u := s.vec()
		VMULPS(in[2], wd, t) // wd·p
		VADDPS(in[1], t, t)  // d = g + wd·p
		VMULPS(damp, t, t)   // damp·d
		VMULPS(in[0], mom, u)
		VADDPS(t, u, t) // buf·mom + damp·d
	}
}

func sgdStepBody(s isa) func([]Op, VecVirtual) {
	lr := broadcastSS(s, "lr")
	return func(in []Op, t VecVirtual) {
		u := s.vec()
		VMULPS(in[1], lr, u)
		VMOVUPS(in[0], t)
		VSUBPS(u, t, t)
	}
}

func sgdNesterovBody(s isa) func([]Op, VecVirtual) {
	lr, wd, mom := broadcastSS(s, "lr"), broadcastSS(s, "wd"), broadcastSS(s, "mom")
	return func(in []Op, t VecVirtual) {
		u := s.vec()
		VMULPS(in[0], wd, t) // wd·p
		VADDPS(in[1], t, t)  // d = g + wd·p
		VMULPS(in[2], mom, u)
		VADDPS(u, t, t) // d + mom·buf
		VMULPS(lr, t, t)
		VMOVUPS(in[0], u)
		VSUBPS(t, u, t) // p − lr·d
	}
}

// The Adam bodies round as the plain Go update does (adamStepGeneric …):
// separate multiplies and adds, an IEEE square root and division, so the
// vector and scalar paths give the same bits. adamGrad emits
// t = g + wd·(p·decay).
func adamGrad(s isa, p, g Op, decay, wd, t VecVirtual) {
	VMULPS(p, decay, t) // pi = p·decay
	VMULPS(wd, t, t)
	VADDPS(g, t, t)
}

func adamMBody(s isa) func([]Op, VecVirtual) {
	decay, wd, b1, omb1 := broadcastSS(s, "decay"), broadcastSS(s, "wd"), broadcastSS(s, "beta1"), broadcastSS(s, "oneMinB1")
	return func(in []Op, t VecVirtual) {
		u := s.vec()
		adamGrad(s, in[2], in[1], decay, wd, t)
		VMULPS(omb1, t, t)
		VMULPS(in[0], b1, u)
		VADDPS(t, u, t) // m·beta1 + oneMinB1·gi
	}
}

func adamVBody(s isa) func([]Op, VecVirtual) {
	decay, wd, b2, omb2 := broadcastSS(s, "decay"), broadcastSS(s, "wd"), broadcastSS(s, "beta2"), broadcastSS(s, "oneMinB2")
	return func(in []Op, t VecVirtual) {
		u := s.vec()
		adamGrad(s, in[2], in[1], decay, wd, t)
		VMULPS(t, t, t) // gi·gi
		VMULPS(omb2, t, t)
		VMULPS(in[0], b2, u)
		VADDPS(t, u, t) // v·beta2 + oneMinB2·(gi·gi)
	}
}

func adamStepBody(s isa) func([]Op, VecVirtual) {
	decay, step, bc2, eps := broadcastSS(s, "decay"), broadcastSS(s, "stepSize"), broadcastSS(s, "bc2Sqrt"), broadcastSS(s, "eps")
	return func(in []Op, t VecVirtual) {
		u := s.vec()
		VSQRTPS(in[2], t)
		VDIVPS(bc2, t, t) // √v / bc2Sqrt
		VADDPS(eps, t, t) // denom
		VMOVUPS(in[1], u)
		VDIVPS(t, u, t)         // m / denom
		VMULPS(step, t, t)      // stepSize·(m/denom)
		VMULPS(in[0], decay, u) // pi = p·decay
		VSUBPS(t, u, t)         // pi − …
	}
}

func reluBody(s isa) func([]Op, VecVirtual) {
	zero := s.vec()
	VXORPS(zero, zero, zero)
	return func(in []Op, t VecVirtual) { relu(in[0], zero, t) }
}

// relu emits t = max(x, 0) with NaN kept and -0 mapped to +0; zero holds
// zeros.
func relu(x Op, zero, t VecVirtual) {
	// MAXPS returns its second (Intel) source when either is NaN or both
	// are zero: x then. Adding +0 turns -0 into +0.
	VMAXPS(x, zero, t)
	VADDPS(zero, t, t)
}

// cmpLTOQ is the VCMPPS predicate "less than, ordered, quiet".
const cmpLTOQ = 0x11

func reluBackwardBody(s isa) func([]Op, VecVirtual) {
	zero := s.vec()
	VXORPS(zero, zero, zero)
	return func(in []Op, t VecVirtual) { reluMask(s, in[0], in[1], zero, t) }
}

// reluMask emits t = g where 0 < x, else +0 (false for NaN x): ReLU's
// backward masking of g by its output (or input) x; zero holds zeros. On
// AVX-512 the vectors are whole ZMM registers and the compare goes into a
// k register; on AVX2 it is reluMaskAnd.
func reluMask(s isa, g, x Op, zero, t VecVirtual) {
	if s.bytes == 64 {
		k := K()
		VCMPPS(U8(cmpLTOQ), x, zero, k) // 0 < x, false for NaN
		VMOVUPS_Z(g, k, t)
		return
	}
	reluMaskAnd(g, x, zero, t)
}

// reluMaskAnd is reluMask with the compare into a vector of all-ones
// lanes and an AND, in VEX-encoded XMM or YMM registers: AVX2's way, and
// AVX-512's for half a ZMM register (a compare of a YMM register into a k
// register would need AVX-512 VL).
func reluMaskAnd(g, x Op, zero, t VecVirtual) {
	VCMPPS(U8(cmpLTOQ), x, zero, t)
	VANDPS(g, t, t)
}

// A reduction is a float64-accumulating reduction over float32 slices ins
// (all of len(ins[0]), or of the same planes), in a whole-slice kernel or a
// planes kernel (planes.go). params are its parameters (a planes kernel's
// without its tail mask), mu says whether one is the float64 mu, relu
// whether one is the ReLU output r that masks g (widen.reluMasked), and outs
// is the number of sums it returns. body adds one vector of terms to each
// of the accumulators acc (outs of them).
type reduction struct {
	name, params, doc string
	ins               []string
	mu, relu          bool
	outs              int
	body              func(w widen, in []Op, acc []VecVirtual)
}

// The terms of the reductions: a body calls these on its accumulators.

// addSum adds x to acc and returns it.
func addSum(x, acc VecVirtual) VecVirtual {
	VADDPD(x, acc, acc)
	return x
}

// addSqDev adds (x−mu)² to acc and returns x−mu.
func addSqDev(w widen, x Op, acc VecVirtual) VecVirtual {
	t := w.dev(x)
	VFMADD231PD(t, t, acc)
	return t
}

// addDotDev adds g·(x−mu) to acc, g already widened.
func addDotDev(w widen, g VecVirtual, x Op, acc VecVirtual) {
	t := w.dev(x)
	VFMADD231PD(g, t, acc)
}

// reductions are the whole-slice kernels of vec.go.
var reductions = []reduction{
	{"sum64", "x []float32", "Σ x in float64", []string{"x"}, false, false, 1,
		func(w widen, in []Op, acc []VecVirtual) {
			VADDPD(w.cvt(in[0]), acc[0], acc[0])
		}},
	{"sqDevSum64", "x []float32, mu float64", "Σ (x-mu)² in float64", []string{"x"}, true, false, 1,
		func(w widen, in []Op, acc []VecVirtual) {
			addSqDev(w, in[0], acc[0])
		}},
	{"dotDev64", "g, x []float32, mu float64", "Σ g·(x-mu) in float64", []string{"g", "x"}, true, false, 1,
		func(w widen, in []Op, acc []VecVirtual) {
			addDotDev(w, w.cvt(in[0]), in[1], acc[0])
		}},
}

// planesReductions are the planes kernels of vec_planes.go, batch
// normalization's passes: each returns two sums computed in one pass, with
// the arithmetic of the whole-slice kernels above (the same float64 terms
// in the same lanes).
var planesReductions = []reduction{
	{"devSums64", "n, s int, x []float32, xStride int, mu float64", "Σ (x-mu) and Σ (x-mu)² in float64", []string{"x"}, true, false, 2,
		func(w widen, in []Op, acc []VecVirtual) {
			addSum(addSqDev(w, in[0], acc[1]), acc[0])
		}},
	{"sumDotDev64", "n, s int, g []float32, gStride int, x []float32, xStride int, mu float64", "Σ g and Σ g·(x-mu) in float64", []string{"g", "x"}, true, false, 2,
		func(w widen, in []Op, acc []VecVirtual) {
			addDotDev(w, addSum(w.cvt(in[0]), acc[0]), in[1], acc[1])
		}},
	{"sumDotDev64ReLU", "n, s int, g []float32, gStride int, r []float32, rStride int, x []float32, xStride int, mu float64",
		"Σ g' and Σ g'·(x-mu) in float64, g' = g where r > 0, else 0", []string{"g", "r", "x"}, true, true, 2,
		func(w widen, in []Op, acc []VecVirtual) {
			addDotDev(w, addSum(w.reluMasked(in[0], in[1]), acc[0]), in[2], acc[1])
		}},
}

// widen emits the float64 arithmetic of a reduction step on s: cvt widens
// the s.bytes/8 float32 of an operand to float64, dev is cvt(x) − mu. In a
// masked tail step (mask set), dev's lanes outside the mask are zero, so
// that every term there is zero (the masked loads give zeros for cvt).
type widen struct {
	s    isa
	mu   VecVirtual
	mask func(t VecVirtual) // zeroes the lanes a tail step leaves out; nil for whole vectors
	zero VecVirtual         // zeros for reluMasked's compare (newWiden)
}

// newWiden returns the widen of reduction r on s, with mu and the zeros
// of its ReLU mask loaded when r has them.
func newWiden(s isa, r reduction) widen {
	w := widen{s: s}
	if r.mu {
		w.mu = loadMu(s)
	}
	if r.relu {
		w.zero = newVec(s.bytes / 2) // as wide as the float32 of a step
		VXORPS(w.zero, w.zero, w.zero)
	}
	return w
}

func (w widen) cvt(x Op) VecVirtual {
	t := w.s.vec()
	VCVTPS2PD(x, t)
	return t
}

func (w widen) dev(x Op) VecVirtual {
	t := w.cvt(x)
	VSUBPD(w.mu, t, t)
	if w.mask != nil {
		w.mask(t)
	}
	return t
}

// reluMasked widens g where r > 0 and +0 elsewhere (reluMask's values),
// masking the float32 of g (half a vector) before widening them. A tail
// step's lanes outside the mask are zero already (masked loads of r and
// g).
func (w widen) reluMasked(g, r Op) VecVirtual {
	m := newVec(w.s.bytes / 2)
	reluMaskAnd(g, r, w.zero, m)
	t := w.s.vec()
	VCVTPS2PD(m, t)
	return t
}

// loadMu broadcasts the float64 parameter mu into a new vector.
func loadMu(s isa) VecVirtual {
	p := s.vec()
	b, err := Param("mu").Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSD(b.Addr, p)
	return p
}

// reduce64 emits r's whole-vector kernel, which widens each element to
// float64 and accumulates in unroll float64 vectors, returning their total.
func reduce64(s isa, r reduction) {
	TEXT(r.name+s.name, NOSPLIT, "func("+r.params+") float64")
	Pragma("noescape")
	lanes := s.bytes / 8
	Doc(fmt.Sprintf("%s%s returns %s over len(%s) rounded down to %d, accumulating in %d×%d float64 lanes.", r.name, s.name, r.doc, r.ins[0], lanes, unroll, lanes))
	n := Load(Param(r.ins[0]).Len(), GP64())
	var ptrs []Register
	for _, in := range r.ins {
		ptrs = append(ptrs, Load(Param(in).Base(), GP64()))
	}
	w := newWiden(s, r)
	acc := zeroAccs(s, r.outs)
	// Each vector of float64 reads half a vector of float32.
	loop(n, lanes, ptrs, s.bytes/2, func(k int) {
		ops := make([]Op, len(ptrs))
		for i, b := range ptrs {
			ops[i] = Mem{Base: b, Disp: k * s.bytes / 2}
		}
		r.body(w, ops, acc[k])
	})
	returnTotals(s, acc)
}

// zeroAccs returns unroll sets of outs new float64 accumulators set to
// zero: acc[k][j] is slot k's accumulator of sum j.
func zeroAccs(s isa, outs int) [][]VecVirtual {
	acc := make([][]VecVirtual, unroll)
	for k := range acc {
		for range outs {
			a := s.vec()
			VXORPD(a, a, a)
			acc[k] = append(acc[k], a)
		}
	}
	return acc
}

// returnTotals adds up each sum's accumulators, lanes and slots, and
// returns the totals in order.
func returnTotals(s isa, acc [][]VecVirtual) {
	var totals []VecVirtual
	for j := range acc[0] {
		totals = append(totals, total(s, acc[0][j], acc[1][j], acc[2][j], acc[3][j]))
	}
	VZEROUPPER()
	for j, x := range totals {
		Store(x, ReturnIndex(j))
	}
	RET()
}

// total emits the sum of the lanes of a0 to a3 (unroll accumulators) into
// the low lane of the XMM register it returns.
func total(s isa, a0, a1, a2, a3 VecVirtual) VecVirtual {
	VADDPD(a1, a0, a0)
	VADDPD(a3, a2, a2)
	VADDPD(a2, a0, a0)
	y := a0
	if s.bytes == 64 {
		y = YMM()
		VEXTRACTF64X4(U8(1), a0, y)
		VADDPD(a0.AsY(), y, y)
	}
	x := XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPD(y.AsX(), x, x)
	h := XMM()
	VUNPCKHPD(x, x, h)
	VADDSD(h, x, x)
	return x
}
