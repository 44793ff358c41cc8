package onnx

import (
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
)

// Matrix products: Gemm and MatMul.

// importGemm imports alpha·A'·B' + beta·C of 2-D A and B (transposed by
// transA, transB) and an optional bias C.
func importGemm(c *nodeCtx) runFunc {
	c.needIn(2, 3)
	alpha, beta := c.floatAttr("alpha", 1), c.floatAttr("beta", 1)
	ta, tb := c.intAttr("transA", 0) != 0, c.intAttr("transB", 0) != 0
	return func(_ *Model, in []value) []value {
		a, b, bias := floatIn(in, 0), floatIn(in, 1), optFloatIn(in, 2)
		if a.Value.Dims() != 2 || b.Value.Dims() != 2 {
			panic(fmt.Sprintf("Gemm of %v and %v: want 2-D matrices", a.Shape(), b.Shape()))
		}
		if !ta && tb && alpha == 1 && (bias == nil || beta == 1 && bias.Value.Dims() == 1 && bias.Value.Dim(0) == b.Value.Dim(0)) {
			return floatOut(autograd.Linear(a, b, bias)) // PyTorch's nn.Linear
		}
		if ta {
			a = autograd.Permute(a, 1, 0)
		}
		if tb {
			b = autograd.Permute(b, 1, 0)
		}
		y := autograd.MatMul(a, b)
		if alpha != 1 {
			y = autograd.Scale(y, alpha)
		}
		if bias != nil && beta != 0 {
			if beta != 1 {
				bias = autograd.Scale(bias, beta)
			}
			y = autograd.Add(y, bias)
		}
		return floatOut(y)
	}
}

// importMatMul imports (…, K) × (K, N) products.
func importMatMul(c *nodeCtx) runFunc {
	c.needIn(2, 2)
	return func(_ *Model, in []value) []value {
		a, b := floatIn(in, 0), floatIn(in, 1)
		if b.Value.Dims() != 2 || a.Value.Dims() < 2 {
			panic(fmt.Sprintf("MatMul of %v and %v: only (…, K) × (K, N) is supported", a.Shape(), b.Shape()))
		}
		if a.Value.Dims() == 2 {
			return floatOut(autograd.MatMul(a, b))
		}
		shape := slices.Clone(a.Shape())
		k := shape[len(shape)-1]
		y := autograd.MatMul(autograd.Reshape(a, -1, k), b)
		shape[len(shape)-1] = b.Value.Dim(1)
		return floatOut(autograd.Reshape(y, shape...))
	}
}
