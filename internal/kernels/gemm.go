package kernels

import "sync"

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or its transpose: op(A) is m×k, op(B) is k×n and C is m×n.
// lda, ldb and ldc are the row strides of A, B and C as stored (A is stored
// k×m when transA, B is stored n×k when transB). beta == 0 overwrites C
// without reading it, so C may hold garbage. The work is spread over the
// worker pool.
//
// The reference it must equal (up to float32 summation order) is
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += A(i, p) * B(p, j)
//			}
//			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
//		}
//	}
//
// # Implementation
//
// The product is computed BLIS style. For each kc-deep slice of k, an
// mc×kc block of A (scaled by alpha) is packed into mr-row panels and then,
// for each nc-wide block of columns, a kc×nc block of B is packed into
// nr-column panels that stay in L2. A register-blocked micro-kernel
// (assembly for AVX-512 and AVX2+FMA, plain Go otherwise; see
// [gemmKernel]) multiplies one mr×kc panel of A, which stays in L1, by each
// kc×nr panel of B in turn and writes an mr×nr tile of C. Tiles that stick
// out of C are computed into a scratch tile and copied. The parallel
// version splits C into one block of columns (or rows) per thread, each
// with its own packing buffers.
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	GemmEx(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, GemmOpts{TransA: transA, TransB: transB, Parallel: true})
}

// GemmSerial is [Gemm] on the calling goroutine only, for callers that
// already run one GEMM per worker (a convolution over a batch, say).
func GemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	GemmEx(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, GemmOpts{TransA: transA, TransB: transB})
}

// Epilogue is work fused into a GEMM and applied to each finished tile of C
// while it is still in cache. The zero value (and a nil *Epilogue) does
// nothing. With it, element (i, j) of C ends as
//
//	v := alpha*AB[i][j] + beta*C[i][j] // beta == 0: C is not read
//	v += RowBias[i]                    // if RowBias != nil (len ≥ m)
//	v += ColBias[j]                    // if ColBias != nil (len ≥ n)
//	v += Add[i*LdAdd+j]                // if Add != nil (a residual, m×n with row stride LdAdd ≥ n)
//	if ReLU {
//		v = max(v, 0)                  // as ReLUTo: NaN stays NaN, −0 becomes +0
//	}
//	C[i][j] = v
//
// in exactly that order. A convolution in the (out channels × pixels)
// layout uses RowBias for its bias; a linear layer computing x·Wᵀ uses
// ColBias. Add must not overlap C (to add C's old contents use beta = 1).
type Epilogue struct {
	RowBias, ColBias []float32
	Add              []float32
	LdAdd            int
	ReLU             bool
}

func (e *Epilogue) active() bool {
	return e != nil && (e.RowBias != nil || e.ColBias != nil || e.Add != nil || e.ReLU)
}

// checked returns e, or nil when it does nothing, after checking that its
// operands cover an m×n product; it panics otherwise.
func (e *Epilogue) checked(m, n int) *Epilogue {
	if !e.active() {
		return nil
	}
	if e.RowBias != nil && len(e.RowBias) < m {
		panic("kernels: gemm: epilogue RowBias is shorter than m")
	}
	if e.ColBias != nil && len(e.ColBias) < n {
		panic("kernels: gemm: epilogue ColBias is shorter than n")
	}
	if e.Add != nil {
		checkLen("Add", e.Add, m, n, e.LdAdd)
	}
	return e
}

// apply runs the epilogue over the h×w tile of c at (i, j); c is the whole
// matrix with row stride ldc, and (ei, ej) is where c starts within the
// matrix the epilogue describes (a thread's block of a parallel product).
func (e *Epilogue) apply(c []float32, ldc, i, j, h, w, ei, ej int) {
	// The vector kernels (AffineTo with a = 1 is an exact add) do each
	// step over a row of the tile while it is in L1.
	for r := i; r < i+h; r++ {
		row := c[r*ldc+j : r*ldc+j+w]
		if e.RowBias != nil {
			affineTo(row, 1, e.RowBias[r+ei], row)
		}
		if e.ColBias != nil {
			addTo(row, row, e.ColBias[j+ej:j+ej+w])
		}
		if e.Add != nil {
			addTo(row, row, e.Add[(r+ei)*e.LdAdd+j+ej:(r+ei)*e.LdAdd+j+ej+w])
		}
		if e.ReLU {
			reluTo(row, row)
		}
	}
}

// GemmOpts are the options of [GemmEx]. The zero value multiplies A and B
// as stored, with no epilogue, on the calling goroutine.
type GemmOpts struct {
	// TransA and TransB use A (stored k×m) and B (stored n×k) transposed,
	// as Gemm's transA and transB.
	TransA, TransB bool
	// Epilogue is fused into the product (nil: none); see [Epilogue] for
	// the exact order of operations.
	Epilogue *Epilogue
	// Parallel spreads the product over the worker pool ([Gemm]); without
	// it the product runs on the calling goroutine ([GemmSerial]).
	Parallel bool
}

// GemmEx computes C = alpha·op(A)·op(B) + beta·C as [Gemm] does, with the
// transposes, the fused epilogue and the parallelism given by o:
//
//	kernels.GemmEx(m, n, k, 1, a, k, b, n, 0, c, n, kernels.GemmOpts{Epilogue: ep, Parallel: true})
//
// The epilogue runs even when k == 0 or alpha == 0.
func GemmEx(m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, o GemmOpts) {
	if m == 0 || n == 0 {
		return
	}
	transA, transB, ep := o.TransA, o.TransB, o.Epilogue
	checkLen("C", c, m, n, ldc)
	if transA {
		checkLen("A", a, k, m, lda)
	} else {
		checkLen("A", a, m, k, lda)
	}
	if transB {
		checkLen("B", b, n, k, ldb)
	} else {
		checkLen("B", b, k, n, ldb)
	}
	ep = ep.checked(m, n)
	if k == 0 || alpha == 0 {
		scaleRows(m, n, beta, c, ldc)
		if ep != nil {
			ep.apply(c, ldc, 0, 0, m, n, 0, 0)
		}
		return
	}
	kern := activeGemmKernel(m, n)
	threads := 1
	if o.Parallel && 2*m*n*k >= gemmParallelFlops {
		threads = Threads()
	}
	if threads == 1 {
		gemmSerial(kern, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep, 0, 0)
		return
	}
	// One block of C per thread, each packed and computed independently:
	// splitting the columns makes every thread pack all of A, splitting the
	// rows all of B. Pick the split that packs less per thread, weighting
	// the strided (transposing) packs by their measured cost.
	pm, pn := ceilDiv(m, kern.mr), ceilDiv(n, kern.nr)
	costA, costB := 5, 5 // per element: packA always scatters, packB transposes
	if !transB {
		costB = 1 // packB copies rows
	}
	byCols := m*costA + ceilDiv(pn, threads)*kern.nr*costB
	byRows := ceilDiv(pm, threads)*kern.mr*costA + n*costB
	job := gemmJobs.Get().(*gemmJob)
	*job = gemmJob{kern: kern, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
		a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc, ep: ep,
		byCols: job.byCols, byRows: job.byRows}
	if (byCols <= byRows && pn >= threads) || pm < threads {
		For(pn, max(1, pn/threads), job.byCols)
	} else {
		For(pm, max(1, pm/threads), job.byRows)
	}
	job.a, job.b, job.c, job.ep = nil, nil, nil, nil
	gemmJobs.Put(job)
}

// gemmJob carries one parallel product to the worker pool. Jobs are pooled
// and their loop bodies are made once per job, so a parallel GEMM
// allocates nothing.
type gemmJob struct {
	kern           *gemmKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	ep             *Epilogue
	byCols, byRows func(lo, hi int)
}

var gemmJobs = sync.Pool{New: func() any {
	j := new(gemmJob)
	// byCols computes the block of C in column panels [lo, hi).
	j.byCols = func(lo, hi int) {
		nr := j.kern.nr
		j0, j1 := lo*nr, min(hi*nr, j.n)
		var bs []float32
		if j.transB {
			bs = j.b[j0*j.ldb:]
		} else {
			bs = j.b[j0:]
		}
		gemmSerial(j.kern, j.transA, j.transB, j.m, j1-j0, j.k, j.alpha, j.a, j.lda, bs, j.ldb, j.beta, j.c[j0:], j.ldc, j.ep, 0, j0)
	}
	// byRows computes the block of C in row panels [lo, hi).
	j.byRows = func(lo, hi int) {
		mr := j.kern.mr
		i0, i1 := lo*mr, min(hi*mr, j.m)
		var as []float32
		if j.transA {
			as = j.a[i0:]
		} else {
			as = j.a[i0*j.lda:]
		}
		gemmSerial(j.kern, j.transA, j.transB, i1-i0, j.n, j.k, j.alpha, as, j.lda, j.b, j.ldb, j.beta, j.c[i0*j.ldc:], j.ldc, j.ep, i0, 0)
	}
	return j
}}

// gemmParallelFlops is the size (2·m·n·k) below which Gemm stays on one
// thread: waking a worker costs more than it saves.
const gemmParallelFlops = 1 << 20

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// gemmScratch holds one thread's packing buffers.
type gemmScratch struct {
	a, b, tile []float32
	seg        []int // packConvBImages's column runs
}

var gemmScratchPool = sync.Pool{New: func() any { return new(gemmScratch) }}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// gemmSerial is the blocked product on the calling goroutine; the
// arguments are already checked, k > 0 and alpha != 0.
// (ei, ej) is where c starts within the matrix the epilogue ep describes.
func gemmSerial(kern *gemmKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue, ei, ej int) {
	mr, nr := kern.mr, kern.nr
	kc := min(k, kern.kc)
	// Balance the k slices so the last one is not a sliver.
	kc = ceilDiv(k, ceilDiv(k, kc))
	// Likewise for the rows of A, in whole panels.
	mc := ceilDiv(ceilDiv(m, ceilDiv(m, kern.mc)), mr) * mr
	nc := min(ceilDiv(n, nr)*nr, kern.nc)

	s := gemmScratchPool.Get().(*gemmScratch)
	defer gemmScratchPool.Put(s)
	s.a = grow(s.a, mc*kc)
	s.b = grow(s.b, kc*nc)
	s.tile = grow(s.tile, mr*nr)
	ap, bp, tile := s.a, s.b, s.tile

	for i0 := 0; i0 < m; i0 += mc {
		i1 := min(i0+mc, m)
		for p0 := 0; p0 < k; p0 += kc {
			p1 := min(p0+kc, k)
			kb := p1 - p0
			bt := float32(1)
			if p0 == 0 {
				bt = beta
			}
			var tileEp *Epilogue
			if p1 == k {
				tileEp = ep
			}
			packA(mr, transA, alpha, a, lda, i0, i1, p0, p1, ap)
			for j0 := 0; j0 < n; j0 += nc {
				j1 := min(j0+nc, n)
				packB(nr, transB, b, ldb, p0, p1, j0, j1, bp)
				// Macro-kernel: each A panel (L1) against every B panel (L2).
				for i := i0; i < i1; i += mr {
					h := min(mr, i1-i)
					pa := ap[(i-i0)*kb : (i-i0+mr)*kb]
					for j := j0; j < j1; j += nr {
						w := min(nr, j1-j)
						pb := bp[(j-j0)*kb : (j-j0+nr)*kb]
						if h == mr && w == nr {
							kern.fn(kb, pa, pb, c[i*ldc+j:], ldc, bt)
						} else {
							kern.fn(kb, pa, pb, tile, nr, 0)
							mergeTile(tile, nr, c[i*ldc+j:], ldc, h, w, bt)
						}
						if tileEp != nil {
							tileEp.apply(c, ldc, i, j, h, w, ei, ej)
						}
					}
				}
			}
		}
	}
}

// mergeTile stores the h×w corner of tile into c as tile + beta·c (beta == 0
// does not read c).
func mergeTile(tile []float32, ldt int, c []float32, ldc, h, w int, beta float32) {
	for r := 0; r < h; r++ {
		src := tile[r*ldt : r*ldt+w]
		dst := c[r*ldc : r*ldc+w]
		switch beta {
		case 0:
			copy(dst, src)
		case 1:
			for x, v := range src {
				dst[x] += v
			}
		default:
			for x, v := range src {
				dst[x] = v + beta*dst[x]
			}
		}
	}
}

// packA copies alpha·op(A)[i0:i1, p0:p1] into dst as mr-row panels: panel q
// holds element (i0+q·mr+r, p0+p) at q·mr·kb + p·mr + r, with rows past i1
// zero.
func packA(mr int, trans bool, alpha float32, a []float32, lda, i0, i1, p0, p1 int, dst []float32) {
	kb := p1 - p0
	for i := i0; i < i1; i += mr {
		h := min(mr, i1-i)
		panel := dst[(i-i0)*kb : (i-i0+mr)*kb]
		if trans {
			// A is stored k×m: each k step is a contiguous run of rows.
			for p := 0; p < kb; p++ {
				src := a[(p0+p)*lda+i : (p0+p)*lda+i+h]
				d := panel[p*mr : p*mr+mr]
				for r, v := range src {
					d[r] = alpha * v
				}
				clear(d[h:])
			}
			continue
		}
		for r := 0; r < h; r++ {
			scatter(panel, r, mr, a[(i+r)*lda+p0:(i+r)*lda+p1], alpha)
		}
		if h < mr {
			for p := 0; p < kb; p++ {
				clear(panel[p*mr+h : p*mr+mr])
			}
		}
	}
}

// packB copies op(B)[p0:p1, j0:j1] into dst as nr-column panels: panel q
// holds element (p0+p, j0+q·nr+x) at q·nr·kb + p·nr + x, with columns past
// j1 zero.
func packB(nr int, trans bool, b []float32, ldb, p0, p1, j0, j1 int, dst []float32) {
	kb := p1 - p0
	for j := j0; j < j1; j += nr {
		w := min(nr, j1-j)
		panel := dst[(j-j0)*kb : (j-j0+nr)*kb]
		if !trans {
			for p := 0; p < kb; p++ {
				d := panel[p*nr : p*nr+nr]
				copy(d, b[(p0+p)*ldb+j:(p0+p)*ldb+j+w])
				clear(d[w:])
			}
			continue
		}
		// B is stored n×k: each column of op(B) is a contiguous row.
		for x := 0; x < w; x++ {
			scatter(panel, x, nr, b[(j+x)*ldb+p0:(j+x)*ldb+p1], 1)
		}
		if w < nr {
			for p := 0; p < kb; p++ {
				clear(panel[p*nr+w : p*nr+nr])
			}
		}
	}
}

// scaleRows multiplies the m×n matrix c by beta; beta == 0 stores zeros.
func scaleRows(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

func checkLen(name string, s []float32, rows, cols, ld int) {
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols || len(s) < (rows-1)*ld+cols {
		panic("kernels: gemm: matrix " + name + " is shorter than its dimensions say")
	}
}
