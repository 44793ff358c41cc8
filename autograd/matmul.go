package autograd

import (
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/tensor"
)

// MatMul returns a·b for 2-D a (m,k) and b (k,n).
func MatMul(a, b *Var) (res *Var) {
	defer func() { emit(ops.MatMul, nil, res, a, b) }()
	return record(func() *tensor.Tensor { return tensor.MatMulT(a.Value, b.Value, false, false) }, func(g *tensor.Tensor) {
		if a.requiresGrad { // dA = G·Bᵀ  (m,n)(n,k)
			a.addGrad(tensor.MatMulT(g, b.Value, false, true))
		}
		if b.requiresGrad { // dB = Aᵀ·G  (k,m)(m,n)
			b.addGrad(tensor.MatMulT(a.Value, g, true, false))
		}
	}, a, b)
}

// Linear returns x·wᵀ + b for x (N, in), w (out, in) and b (out; nil for
// none), PyTorch's nn.Linear layout.
func Linear(x, w, b *Var) (res *Var) {
	defer func() { emit(ops.Linear, nil, res, x, w, b) }()
	if x.Value.Dims() != 2 || w.Value.Dims() != 2 || x.Value.Dim(1) != w.Value.Dim(1) {
		panic(tensor.ShapeErrorf("autograd: Linear of input %v with weight %v: want (N, in) and (out, in)", x.Shape(), w.Shape()))
	}
	if b != nil && (b.Value.Dims() != 1 || b.Value.Dim(0) != w.Value.Dim(0)) {
		panic(tensor.ShapeErrorf("autograd: Linear bias %v for weight %v", b.Shape(), w.Shape()))
	}
	return record(func() *tensor.Tensor {
		y := tensor.MatMulT(x.Value, w.Value, false, true) // (N, out)
		if b != nil {
			addRows(y.Data(), b.Value.Contiguous().Data())
		}
		return y
	}, func(g *tensor.Tensor) {
		if x.requiresGrad { // dX = G·W  (N,out)(out,in)
			x.addGrad(tensor.MatMulT(g, w.Value, false, false))
		}
		if w.requiresGrad { // dW = Gᵀ·X  (out,N)(N,in)
			w.addGrad(tensor.MatMulT(g, x.Value, true, false))
		}
		if b != nil && b.requiresGrad { // db = Σ_N G
			b.addGrad(sumRows(g))
		}
	}, x, w, b)
}

// addRows adds bias to every row of the row-major matrix y.
func addRows(y, bias []float32) {
	for r := 0; r < len(y); r += len(bias) {
		row := y[r : r+len(bias)]
		for j, v := range bias {
			row[j] += v
		}
	}
}

// sumRows returns the column sums of g (N, out): (out), from g's arena,
// the numbers of tensor.Sum(g, 0) (float32 sums, rows in order) without
// its index bookkeeping.
func sumRows(g *tensor.Tensor) *tensor.Tensor {
	n, m := g.Dim(0), g.Dim(1)
	gd := g.Contiguous().Data()
	db := g.Arena().New(m)
	dd := db.Data()
	for i := range n {
		for j, v := range gd[i*m : (i+1)*m] {
			dd[j] += v
		}
	}
	return db
}
