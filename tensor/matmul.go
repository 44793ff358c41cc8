package tensor

import (
	"github.com/fovea-ml/fovea/internal/kernels"
)

// MatMul returns the matrix product of a and b: (m,k)·(k,n) → (m,n), or
// batched (B,m,k)·(B,k,n) → (B,m,n), or (B,m,k)·(k,n) → (B,m,n) with b
// shared across the batch.
func MatMul(a, b *Tensor) *Tensor {
	switch {
	case a.Dims() == 2 && b.Dims() == 2:
		return MatMulT(a, b, false, false)
	case a.Dims() == 3 && (b.Dims() == 2 || (b.Dims() == 3 && b.shape[0] == a.shape[0])):
		batch, m, k := a.shape[0], a.shape[1], a.shape[2]
		kb, n := b.Dim(-2), b.Dim(-1)
		if k != kb {
			break
		}
		a, b = a.Contiguous(), b.Contiguous()
		out := arenaOf(a, b).Empty(batch, m, n)
		ad, bd := a.Data(), b.Data()
		kernels.For(batch, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				bs := bd
				if b.Dims() == 3 {
					bs = bd[i*k*n : (i+1)*k*n]
				}
				kernels.GemmSerial(false, false, m, n, k, 1, ad[i*m*k:(i+1)*m*k], k, bs, n, 0, out.data[i*m*n:(i+1)*m*n], n)
			}
		})
		return out
	}
	panic(ShapeErrorf("tensor: MatMul of shapes %v and %v", a.shape, b.shape))
}

// MatMulT returns op(a)·op(b) for 2-D a and b, where op transposes its
// argument when the matching flag is set. It reads transposed operands in
// place, without copying them.
func MatMulT(a, b *Tensor, transA, transB bool) *Tensor {
	if a.Dims() != 2 || b.Dims() != 2 {
		panic(ShapeErrorf("tensor: MatMulT of shapes %v and %v: want 2-D", a.shape, b.shape))
	}
	a, b = a.Contiguous(), b.Contiguous()
	m, k := a.shape[0], a.shape[1]
	if transA {
		m, k = k, m
	}
	kb, n := b.shape[0], b.shape[1]
	if transB {
		kb, n = n, kb
	}
	if k != kb {
		panic(ShapeErrorf("tensor: MatMulT of shapes %v (trans %v) and %v (trans %v): inner sizes differ", a.shape, transA, b.shape, transB))
	}
	out := arenaOf(a, b).Empty(m, n)
	kernels.Gemm(transA, transB, m, n, k, 1, a.Data(), a.shape[1], b.Data(), b.shape[1], 0, out.data, n)
	return out
}
