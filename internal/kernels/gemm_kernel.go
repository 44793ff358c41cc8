package kernels

import "sync/atomic"

// gemmKernel is one register-blocked micro-kernel, the packed layout it
// reads and the cache blocking that suits it.
//
// fn sets the mr×nr tile c (row stride ldc) to a·b + beta·c, where a is a
// packed mr-row panel and b a packed nr-column panel, both k ≥ 1 steps
// long (see packA and packB); beta == 0 does not read c. c must hold at
// least (mr-1)·ldc + nr elements.
type gemmKernel struct {
	name   string
	mr, nr int
	// kc is the depth of a packed panel, chosen so an mr×kc panel of A
	// fits in L1 with room to spare; nc·kc floats of packed B fit in L2;
	// mc bounds the packed A block (it streams, so mc is large).
	kc, mc, nc int
	fn         func(k int, a, b, c []float32, ldc int, beta float32)
	// ind, when non-nil, is the indirect variant of fn with beta 0: row p
	// of B is b[offs[p] : offs[p]+nr] instead of a packed panel row (see
	// SmallConv). b must hold offs[p]+nr values for every p < k; the
	// callers check that once for a whole table of offsets.
	ind func(k int, a, b []float32, offs []int, c []float32, ldc int)
}

// genericGemmKernel is the plain Go micro-kernel, used under the noasm tag
// and on CPUs without AVX2 and FMA.
var genericGemmKernel = &gemmKernel{
	name: "generic", mr: 4, nr: 4,
	kc: 256, mc: 1024, nc: 512,
	fn: sgemmKernelGeneric4x4, ind: sgemmIndGeneric4x4,
}

// sgemmIndGeneric4x4 is the indirect 4×4 micro-kernel in plain Go (see
// gemmKernel.ind).
func sgemmIndGeneric4x4(k int, a, b []float32, offs []int, c []float32, ldc int) {
	var acc [4][4]float32
	for p, o := range offs[:k] {
		av, bv := a[p*4:p*4+4:p*4+4], b[o:o+4:o+4]
		for i := range 4 {
			for j := range 4 {
				acc[i][j] += av[i] * bv[j]
			}
		}
	}
	for i := range acc {
		copy(c[i*ldc:i*ldc+4], acc[i][:])
	}
}

// sgemmKernelGeneric4x4 is the 4×4 micro-kernel in plain Go: the loop of
// the generated kernels' doc comments with the accumulators in locals.
func sgemmKernelGeneric4x4(k int, a, b, c []float32, ldc int, beta float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	a, b = a[:4*k], b[:4*k]
	for p := 0; p < len(a); p += 4 {
		av, bv := a[p:p+4:p+4], b[p:p+4:p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	acc := [4][4]float32{
		{c00, c01, c02, c03},
		{c10, c11, c12, c13},
		{c20, c21, c22, c23},
		{c30, c31, c32, c33},
	}
	for i := range acc {
		row := c[i*ldc : i*ldc+4]
		for j, v := range acc[i] {
			if beta != 0 {
				v += beta * row[j]
			}
			row[j] = v
		}
	}
}

// gemmKernels lists the micro-kernels this build and CPU can run, best
// first; the generic one is always last.
var gemmKernels = append(asmGemmKernels(), genericGemmKernel)

// dotKernel is an mr×nr tile of row dot products for the weight gradient
// of the direct convolutions: fn adds to the mr·nr·lanes accumulators c
//
//	c[(i·nr+j)·lanes + p%lanes] += a[i·lda+p] · b[offs[j]+p]  (p < k)
//
// where k is a multiple of lanes and b holds offs[j]+k values for every
// j < nr (the callers check that once per table of offsets). The lanes of
// each pair are summed once all calls are done.
type dotKernel struct {
	name          string
	mr, nr, lanes int
	fn            func(k int, a []float32, lda int, b []float32, offs []int, c []float32)
}

// genericDotKernel is the plain Go dot kernel.
var genericDotKernel = &dotKernel{name: "generic", mr: 2, nr: 4, lanes: 4, fn: sdotGeneric}

// sdotGeneric is genericDotKernel's fn: four lanes, so that it sums in the
// same order as the assembly kernels (by lane, then the lanes).
func sdotGeneric(k int, a []float32, lda int, b []float32, offs []int, c []float32) {
	for i := range 2 {
		ar := a[i*lda : i*lda+k]
		for j, o := range offs[:4] {
			br := b[o : o+k]
			acc := c[(i*4+j)*4 : (i*4+j)*4+4 : (i*4+j)*4+4]
			for p := 0; p < k; p += 4 {
				acc[0] += ar[p] * br[p]
				acc[1] += ar[p+1] * br[p+1]
				acc[2] += ar[p+2] * br[p+2]
				acc[3] += ar[p+3] * br[p+3]
			}
		}
	}
}

// dotKernels lists the dot kernels this build and CPU can run, best first.
var dotKernels = append(asmDotKernels(), genericDotKernel)

// activeDotKernel returns the dot kernel of the path the GEMMs run (see
// activeGemmKernel).
func activeDotKernel() *dotKernel {
	path := activeGemmKernel(1, 1).path()
	for _, k := range dotKernels {
		if k.path() == path {
			return k
		}
	}
	return genericDotKernel
}

// gemmForced, when non-nil, is the kernel every GEMM uses (a test hook).
var gemmForced atomic.Pointer[gemmKernel]

// gemmForcedPath, when non-empty, restricts the choice to one path.
var gemmForcedPath atomic.Pointer[string]

// activeGemmKernel picks the micro-kernel for an m×n product: among the
// kernels of the best path (they all run near peak in L1), the one whose
// tiles waste the least work on padding, ties going to the first listed.
func activeGemmKernel(m, n int) *gemmKernel {
	if k := gemmForced.Load(); k != nil {
		return k
	}
	path := gemmKernels[0].path()
	if p := gemmForcedPath.Load(); p != nil {
		path = *p
	}
	return bestFit(m, n, path, func(*gemmKernel) bool { return true })
}

// bestFit returns, among the kernels of path that ok accepts, the one whose
// tiles waste the least work on padding for an m×n product, ties going to
// the first listed; nil if there is none.
func bestFit(m, n int, path string, ok func(*gemmKernel) bool) *gemmKernel {
	var best *gemmKernel
	bestPadded := 0
	for _, k := range gemmKernels {
		if k.path() != path || !ok(k) {
			continue
		}
		padded := ceilDiv(m, k.mr) * k.mr * ceilDiv(n, k.nr) * k.nr
		// Demand a clear gain (over 3%) before leaving the default.
		if best == nil || padded*103 < bestPadded*100 {
			best, bestPadded = k, padded
		}
	}
	return best
}

// forceGemmKernel makes every GEMM use the kernel named name, or choose
// only among the kernels of the path name ("avx512", "avx2", "generic"), until the
// returned function is called; it reports false if this build or CPU has
// no such kernel. For tests and benchmarks only.
func forceGemmKernel(name string) (restore func(), ok bool) {
	for _, k := range gemmKernels {
		if k.name == name {
			prev := gemmForced.Swap(k)
			return func() { gemmForced.Store(prev) }, true
		}
	}
	for _, k := range gemmKernels {
		if k.path() == name {
			prevK, prevP := gemmForced.Swap(nil), gemmForcedPath.Swap(&name)
			return func() { gemmForced.Store(prevK); gemmForcedPath.Store(prevP) }, true
		}
	}
	return func() {}, false
}

// gemmPaths lists the distinct paths of gemmKernels, best first.
func gemmPaths() []string {
	var ps []string
	for _, k := range gemmKernels {
		if len(ps) == 0 || ps[len(ps)-1] != k.path() {
			ps = append(ps, k.path())
		}
	}
	return ps
}
