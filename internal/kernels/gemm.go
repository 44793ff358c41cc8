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
func Gemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(true, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// GemmSerial is [Gemm] on the calling goroutine only, for callers that
// already run one GEMM per worker (a convolution over a batch, say).
func GemmSerial(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gemm(false, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Block sizes: a kc×nc panel of B (256×512 floats = 512 KiB) stays in L2
// while every row of A streams past it.
const (
	gemmKC = 256
	gemmNC = 512
)

// scratch recycles the buffers that hold a transposed copy of B.
var scratch = sync.Pool{New: func() any { return new([]float32) }}

func gemm(parallel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
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
	scaleRows(m, n, beta, c, ldc)
	if k == 0 || alpha == 0 {
		return
	}
	// The inner loop walks rows of B, so a transposed B is copied to k×n first.
	if transB {
		buf := scratch.Get().(*[]float32)
		defer scratch.Put(buf)
		if cap(*buf) < k*n {
			*buf = make([]float32, k*n)
		}
		bt := (*buf)[:k*n]
		for j := 0; j < n; j++ {
			row := b[j*ldb : j*ldb+k]
			for p, v := range row {
				bt[p*n+j] = v
			}
		}
		b, ldb = bt, n
	}
	body := func(i0, i1, j0, j1 int) {
		for p0 := 0; p0 < k; p0 += gemmKC {
			p1 := min(p0+gemmKC, k)
			for jb := j0; jb < j1; jb += gemmNC {
				jb1 := min(jb+gemmNC, j1)
				for i := i0; i < i1; i++ {
					gemmRow(transA, i, p0, p1, jb, jb1, alpha, a, lda, b, ldb, c[i*ldc:])
				}
			}
		}
	}
	switch {
	case !parallel || Threads() == 1 || m*n*k < 1<<15:
		body(0, m, 0, n)
	case m >= 2*Threads() || m >= n:
		For(m, 1, func(lo, hi int) { body(lo, hi, 0, n) })
	default:
		For(n, 64, func(lo, hi int) { body(0, m, lo, hi) })
	}
}

// gemmRow adds alpha·A[i, p0:p1]·B[p0:p1, j0:j1] to crow[j0:j1], four rows of B
// at a time so each element of C is loaded and stored once per four FMAs.
func gemmRow(transA bool, i, p0, p1, j0, j1 int, alpha float32, a []float32, lda int, b []float32, ldb int, crow []float32) {
	at := func(p int) float32 {
		if transA {
			return alpha * a[p*lda+i]
		}
		return alpha * a[i*lda+p]
	}
	cr := crow[j0:j1]
	p := p0
	for ; p+4 <= p1; p += 4 {
		a0, a1, a2, a3 := at(p), at(p+1), at(p+2), at(p+3)
		b0 := b[p*ldb+j0 : p*ldb+j1]
		b1 := b[(p+1)*ldb+j0 : (p+1)*ldb+j1]
		b2 := b[(p+2)*ldb+j0 : (p+2)*ldb+j1]
		b3 := b[(p+3)*ldb+j0 : (p+3)*ldb+j1]
		b0, b1, b2, b3 = b0[:len(cr)], b1[:len(cr)], b2[:len(cr)], b3[:len(cr)]
		for j := range cr {
			cr[j] += a0*b0[j] + a1*b1[j] + a2*b2[j] + a3*b3[j]
		}
	}
	for ; p < p1; p++ {
		av := at(p)
		if av == 0 {
			continue
		}
		br := b[p*ldb+j0 : p*ldb+j1]
		br = br[:len(cr)]
		for j := range cr {
			cr[j] += av * br[j]
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
