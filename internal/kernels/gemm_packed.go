package kernels

import "sync"

// PackedA is the A operand of repeated products (a layer's weights, say),
// packed once into the panel layout of the micro-kernel chosen for it, so
// that [GemmPacked] and [GemmConv] only pack B. It is read-only once made
// and may be shared by concurrent products.
//
// Layout: for each kc-deep slice [p0, p1) of k (all slices but the last are
// kc deep), the mp×(p1−p0) block starting at data[p0·mp] holds the mr-row
// panels of A exactly as packA writes them (mp is m rounded up to whole
// panels; the padding rows are zero).
type PackedA struct {
	kern     *gemmKernel
	m, k, kc int
	mp       int
	data     []float32
}

// Rows returns m, the rows of the packed matrix (and of C).
func (pa *PackedA) Rows() int { return pa.m }

// Depth returns k, the columns of the packed matrix (the rows of B).
func (pa *PackedA) Depth() int { return pa.k }

// PackA packs the m×k row-major matrix a (row stride lda) for products with
// about n columns each: n picks the micro-kernel (see activeGemmKernel), as
// a GEMM of that width would, so pass the width one thread will compute.
func PackA(m, n, k int, a []float32, lda int) *PackedA {
	pa := new(PackedA)
	pa.Pack(m, n, k, a, lda)
	return pa
}

// Pack is [PackA] into pa, reusing its memory when it is large enough.
func (pa *PackedA) Pack(m, n, k int, a []float32, lda int) {
	checkLen("A", a, m, k, lda)
	kern := activeGemmKernel(m, max(n, 1))
	*pa = PackedA{kern: kern, m: m, k: k, data: pa.data[:0]}
	if m == 0 || k == 0 {
		return
	}
	kc := min(k, kern.kc)
	kc = ceilDiv(k, ceilDiv(k, kc)) // balanced, as gemmSerial does
	pa.kc = kc
	pa.mp = ceilDiv(m, kern.mr) * kern.mr
	pa.data = grow(pa.data, pa.mp*k)
	for p0 := 0; p0 < k; p0 += kc {
		packA(kern.mr, false, 1, a, lda, 0, m, p0, min(p0+kc, k), pa.data[p0*pa.mp:])
	}
}

// bSource is the B operand of a packed product: a k×n row-major matrix, or
// (conv) the implicit im2col matrix of one image, read from x with row
// stride rs and channel stride ps (see padDims).
type bSource struct {
	b      []float32
	ldb    int
	conv   bool
	g      ConvGeom
	rs, ps int
	is     int // image stride when the columns span several images
}

// pack writes op(B)[p0:p1, j0:j1] into dst as packB does.
func (s *bSource) pack(nr, p0, p1, j0, j1 int, dst []float32, sc *gemmScratch) {
	if !s.conv {
		packB(nr, false, s.b, s.ldb, p0, p1, j0, j1, dst)
		return
	}
	sc.seg = packConvBImages(&s.g, s.b, s.rs, s.ps, s.is, nr, p0, p1, j0, j1, dst, sc.seg)
}

// GemmPacked computes C = A·B followed by the epilogue ep (nil for none),
// where A is packed (m×k), B is k×n row-major with row stride ldb and C is
// m×n with row stride ldc, which is overwritten. parallel spreads the work
// over the worker pool.
func GemmPacked(pa *PackedA, n int, b []float32, ldb int, c []float32, ldc int, ep *Epilogue, parallel bool) {
	if pa.m == 0 || n == 0 {
		return
	}
	checkLen("B", b, pa.k, n, ldb)
	src := bSource{b: b, ldb: ldb}
	gemmPacked(pa, &src, n, c, ldc, ep, parallel, 1)
}

// GemmConv computes the convolution of one image x (g.C×g.H×g.W) with the
// packed weights A (m × g.C·g.KH·g.KW) as an implicit GEMM:
// C = A·Im2col(g, x) followed by the epilogue ep (nil for none), C being
// m × (g.OutH·g.OutW) with row stride ldc. The columns of the unfolded
// input are packed straight from x into the micro-kernel's panels, with no
// unfolded matrix in memory. pad is scratch of at least [ConvPadSize](g)
// floats (nil when that is 0) that receives a zero-padded copy of x first.
func GemmConv(pa *PackedA, g ConvGeom, x, pad []float32, c []float32, ldc int, ep *Epilogue, parallel bool) {
	n := g.OutH * g.OutW
	if pa.m == 0 || n == 0 {
		return
	}
	if pa.k != g.C*g.KH*g.KW {
		panic("kernels: GemmConv: packed weights do not match the geometry")
	}
	if len(x) < g.C*g.H*g.W {
		panic("kernels: GemmConv: input is shorter than its geometry says")
	}
	src := bSource{b: x, conv: true, g: g}
	hp, wp, inPlace := padDims(g)
	if inPlace {
		src.rs, src.ps = g.W, g.H*g.W
	} else {
		if len(pad) < g.C*hp*wp {
			panic("kernels: GemmConv: padding scratch is shorter than ConvPadSize")
		}
		PadImage(g, x, pad)
		src.b, src.rs, src.ps = pad, wp, hp*wp
	}
	// Packing a column of the unfolded input costs more than copying a
	// matrix row: the cost model of the parallel split weighs it so.
	gemmPacked(pa, &src, n, c, ldc, ep, parallel, 2)
}

// gemmPacked checks C and the epilogue and runs the product, split over
// the threads by columns (each thread packs its own columns of B) or by
// rows of A (each packs all of B), whichever costs less per thread.
// costB weighs packing one element of B against one multiply-add.
func gemmPacked(pa *PackedA, src *bSource, n int, c []float32, ldc int, ep *Epilogue, parallel bool, costB int) {
	m, k := pa.m, pa.k
	checkLen("C", c, m, n, ldc)
	ep = ep.checked(m, n)
	if k == 0 {
		scaleRows(m, n, 0, c, ldc)
		if ep != nil {
			ep.apply(c, ldc, 0, 0, m, n, 0, 0)
		}
		return
	}
	kern := pa.kern
	pm, pn := pa.mp/kern.mr, ceilDiv(n, kern.nr)
	threads := 1
	if parallel && 2*m*n*k >= gemmParallelFlops {
		threads = Threads()
	}
	if threads == 1 {
		s := gemmScratchPool.Get().(*gemmScratch)
		gemmPackedBlock(pa, src, 0, pm, 0, n, c, ldc, ep, s)
		gemmScratchPool.Put(s)
		return
	}
	// Per-thread cost in multiply-adds: the padded tiles it computes plus
	// the B elements it packs (weighted by costB; scaled by 16, roughly the
	// multiply-adds one packed float costs in time).
	w := 16 * costB
	colsPer := ceilDiv(pn, threads) * kern.nr
	byCols := colsPer*pa.mp*k + colsPer*k*w
	rowsPer := ceilDiv(pm, threads) * kern.mr
	byRows := rowsPer*pn*kern.nr*k + n*k*w
	job := packedJobs.Get().(*packedJob)
	job.pa, job.src, job.n, job.c, job.ldc, job.ep = pa, *src, n, c, ldc, ep
	if (byCols <= byRows && pn >= threads) || pm < threads {
		For(pn, max(1, pn/threads), job.byCols)
	} else {
		For(pm, max(1, pm/threads), job.byRows)
	}
	job.pa, job.src, job.c, job.ep = nil, bSource{}, nil, nil
	packedJobs.Put(job)
}

// packedJob carries one parallel packed product to the worker pool; its
// loop bodies are made once, so a parallel product allocates nothing.
type packedJob struct {
	pa             *PackedA
	src            bSource
	n              int
	c              []float32
	ldc            int
	ep             *Epilogue
	byCols, byRows func(lo, hi int)
}

var packedJobs = sync.Pool{New: func() any {
	j := new(packedJob)
	j.byCols = func(lo, hi int) {
		nr := j.pa.kern.nr
		s := gemmScratchPool.Get().(*gemmScratch)
		gemmPackedBlock(j.pa, &j.src, 0, j.pa.mp/j.pa.kern.mr, lo*nr, min(hi*nr, j.n), j.c, j.ldc, j.ep, s)
		gemmScratchPool.Put(s)
	}
	j.byRows = func(lo, hi int) {
		s := gemmScratchPool.Get().(*gemmScratch)
		gemmPackedBlock(j.pa, &j.src, lo, hi, 0, j.n, j.c, j.ldc, j.ep, s)
		gemmScratchPool.Put(s)
	}
	return j
}}

// gemmPackedBlock computes rows [q0·mr, q1·mr) ∩ [0, m) and columns
// [j0, j1) of C = A·B (overwriting C) and applies ep to each finished tile;
// c is the whole matrix, ep indexes it as such.
func gemmPackedBlock(pa *PackedA, src *bSource, q0, q1, j0, j1 int, c []float32, ldc int, ep *Epilogue, s *gemmScratch) {
	kern := pa.kern
	mr, nr := kern.mr, kern.nr
	m, k, kc := pa.m, pa.k, pa.kc
	nc := min(ceilDiv(j1-j0, nr)*nr, kern.nc)
	s.b = grow(s.b, kc*nc)
	s.tile = grow(s.tile, mr*nr)
	bp, tile := s.b, s.tile
	for p0 := 0; p0 < k; p0 += kc {
		p1 := min(p0+kc, k)
		kb := p1 - p0
		ab := pa.data[p0*pa.mp : p0*pa.mp+pa.mp*kb]
		bt := float32(1)
		if p0 == 0 {
			bt = 0
		}
		var tileEp *Epilogue
		if p1 == k {
			tileEp = ep
		}
		for jb := j0; jb < j1; jb += nc {
			je := min(jb+nc, j1)
			src.pack(nr, p0, p1, jb, je, bp, s)
			for q := q0; q < q1; q++ {
				i := q * mr
				h := min(mr, m-i)
				pa := ab[q*mr*kb : (q+1)*mr*kb]
				for j := jb; j < je; j += nr {
					w := min(nr, je-j)
					pb := bp[(j-jb)*kb : (j-jb+nr)*kb]
					if h == mr && w == nr {
						kern.fn(kb, pa, pb, c[i*ldc+j:], ldc, bt)
					} else {
						kern.fn(kb, pa, pb, tile, nr, 0)
						mergeTile(tile, nr, c[i*ldc+j:], ldc, h, w, bt)
					}
					if tileEp != nil {
						tileEp.apply(c, ldc, i, j, h, w, 0, 0)
					}
				}
			}
		}
	}
}
