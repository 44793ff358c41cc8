package autograd

import (
	"math"
	"slices"

	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/tensor"
)

// CrossEntropyOpts configures [CrossEntropy]. The zero value is plain
// cross-entropy, as PyTorch's defaults.
type CrossEntropyOpts struct {
	// LabelSmoothing ε in [0, 1] replaces each one-hot target with
	// (1 − ε)·onehot + ε/C, PyTorch's label_smoothing.
	LabelSmoothing float32
	// Weight rescales each class (length C); nil weighs every class 1.
	Weight []float32
}

// classification checks the (N, C) scores, N labels in [0, C) and an
// optional per-class weight shared by the classification losses, and
// returns N and C.
func classification(op string, x *Var, labels []int, weight []float32) (n, c int) {
	if x.Value.Dims() != 2 {
		panic(tensor.ShapeErrorf("autograd: %s of input %v: want (N, C)", op, x.Shape()))
	}
	n, c = x.Value.Dim(0), x.Value.Dim(1)
	if len(labels) != n {
		panic(tensor.ShapeErrorf("autograd: %s: %d labels for input %v", op, len(labels), x.Shape()))
	}
	if weight != nil && len(weight) != c {
		panic(tensor.ShapeErrorf("autograd: %s: %d class weights for %d classes", op, len(weight), c))
	}
	for i, y := range labels {
		if y < 0 || y >= c {
			panic(tensor.ShapeErrorf("autograd: %s: labels[%d] = %d out of range [0, %d)", op, i, y, c))
		}
	}
	return n, c
}

// classWeight returns weight[k], or 1 when weight is nil.
func classWeight(weight []float32, k int) float64 {
	if weight == nil {
		return 1
	}
	return float64(weight[k])
}

// CrossEntropy returns the mean cross-entropy between softmax(logits) and
// the target classes, exactly PyTorch's F.cross_entropy with reduction
// "mean":
//
//	logits (N, C), labels (N) → scalar
//	q_ic = (1−ε)·w[yᵢ]·[c = yᵢ] + (ε/C)·w[c]
//	loss = Σᵢ Σ_c q_ic·(−log softmax(logitsᵢ)_c) / Σᵢ w[yᵢ]
//
// with w the class weights (all 1 when nil) and ε the label smoothing. The
// smoothing term is weighted and divided by the target weights as PyTorch
// does. Log-softmax and the negative log-likelihood are fused; the gradient
// of row i is (Σ_c q_ic · softmaxᵢ − qᵢ) / Σᵢ w[yᵢ]. It panics on a label
// outside [0, C).
func CrossEntropy(logits *Var, labels []int, opt CrossEntropyOpts) *Var {
	n, c := classification("CrossEntropy", logits, labels, opt.Weight)
	ce := newCrossEntropy(n, c, labels, opt)
	probs := make([]float32, n*c) // softmax (N, C), kept for the backward pass
	loss := ce.forward(logits.Value.Contiguous().Data(), probs)
	return recordOnce(tensor.Scalar(loss), func(g *tensor.Tensor) {
		dz := logits.Value.Arena().New(n, c)
		ce.backward(float64(g.Item()), probs, dz.Data())
		logits.addGrad(dz)
	}, logits)
}

// CrossEntropyGrad returns CrossEntropy(logits, labels, opt)'s value and
// writes its gradient with respect to logits (N, C) into dz (N, C), the
// same numbers to the bit, without a node in the graph: a training step
// seeds logits' backward pass with dz ([Var.BackwardWith]) and allocates
// nothing for its loss. The softmax's scratch comes from logits' arena.
func CrossEntropyGrad(logits *Var, labels []int, opt CrossEntropyOpts, dz *tensor.Tensor) float32 {
	n, c := classification("CrossEntropy", logits, labels, opt.Weight)
	if !slices.Equal(dz.Shape(), logits.Value.Shape()) {
		panic(tensor.ShapeErrorf("autograd: CrossEntropyGrad: gradient %v for logits %v", dz.Shape(), logits.Shape()))
	}
	ce := newCrossEntropy(n, c, labels, opt)
	probs := logits.Value.Arena().Empty(n * c).Data()
	loss := ce.forward(logits.Value.Contiguous().Data(), probs)
	ce.backward(1, probs, dz.Data())
	return loss
}

// crossEntropy is the arithmetic of [CrossEntropy] for one batch.
type crossEntropy struct {
	n, c   int
	labels []int
	weight []float32
	eps    float64 // label smoothing
	wAll   float64 // Σ_c w[c]
	wSum   float64 // Σᵢ w[yᵢ], set by forward
}

// newCrossEntropy checks opt's label smoothing and prepares the sums.
func newCrossEntropy(n, c int, labels []int, opt CrossEntropyOpts) crossEntropy {
	eps := float64(opt.LabelSmoothing)
	if eps < 0 || eps > 1 {
		panic(tensor.ShapeErrorf("autograd: CrossEntropy: label smoothing %g outside [0, 1]", eps))
	}
	wAll := float64(c)
	if opt.Weight != nil {
		wAll = 0
		for _, v := range opt.Weight {
			wAll += float64(v)
		}
	}
	return crossEntropy{n: n, c: c, labels: labels, weight: opt.Weight, eps: eps, wAll: wAll}
}

// forward returns the mean loss of the logits zs (N, C), writing their
// softmax into probs (N·C).
func (ce *crossEntropy) forward(zs, probs []float32) float32 {
	c, eps := ce.c, ce.eps
	var total, wSum float64
	for i, y := range ce.labels {
		row, p := zs[i*c:(i+1)*c], probs[i*c:(i+1)*c]
		lse := kernels.SoftmaxRowLSE(row, p, c, 1) // log Σ exp(row)
		wy := classWeight(ce.weight, y)
		wSum += wy
		total += (1 - eps) * wy * (lse - float64(row[y]))
		if eps > 0 {
			var smooth float64 // Σ_c w[c]·(−log p_c)
			for k, z := range row {
				smooth += classWeight(ce.weight, k) * (lse - float64(z))
			}
			total += eps / float64(c) * smooth
		}
	}
	ce.wSum = wSum
	return float32(total / wSum)
}

// backward writes g times the gradient of the loss with respect to the
// logits into ds (N·C), from forward's softmax probs.
func (ce *crossEntropy) backward(g float64, probs, ds []float32) {
	c, eps := ce.c, ce.eps
	scale := g / ce.wSum
	for i, y := range ce.labels {
		wy := classWeight(ce.weight, y)
		qSum := (1-eps)*wy + eps/float64(c)*ce.wAll // Σ_c q_ic
		d, p := ds[i*c:(i+1)*c], probs[i*c:(i+1)*c]
		for k := range d {
			q := eps / float64(c) * classWeight(ce.weight, k)
			if k == y {
				q += (1 - eps) * wy
			}
			d[k] = float32(scale * (qSum*float64(p[k]) - q))
		}
	}
}

// NLLLoss returns the mean negative log-likelihood of the target classes,
// PyTorch's F.nll_loss with reduction "mean":
//
//	logProbs (N, C), labels (N) → scalar
//	loss = −Σᵢ w[yᵢ]·logProbs[i, yᵢ] / Σᵢ w[yᵢ]
//
// with w the class weights (all 1 when weight is nil). Only the target
// entries receive a gradient, −w[yᵢ]/Σw. It panics on a label outside
// [0, C).
func NLLLoss(logProbs *Var, labels []int, weight []float32) *Var {
	_, c := classification("NLLLoss", logProbs, labels, weight)
	lp := logProbs.Value.Contiguous().Data()
	var total, wSum float64
	for i, y := range labels {
		wy := classWeight(weight, y)
		wSum += wy
		total -= wy * float64(lp[i*c+y])
	}
	return recordOnce(tensor.Scalar(float32(total/wSum)), func(g *tensor.Tensor) {
		scale := float64(g.Item()) / wSum
		dx := logProbs.Value.Arena().New(logProbs.Value.Shape()...)
		ds := dx.Data()
		for i, y := range labels {
			ds[i*c+y] = float32(-scale * classWeight(weight, y))
		}
		logProbs.addGrad(dx)
	}, logProbs)
}

// MSELoss returns the mean squared error mean((pred − target)²) over all
// elements; pred and target must have the same shape. The gradient is
// ±2(pred − target)/size for pred and target respectively.
func MSELoss(pred, target *Var) *Var {
	if !slices.Equal(pred.Shape(), target.Shape()) {
		panic(tensor.ShapeErrorf("autograd: MSELoss of prediction %v and target %v: shapes differ", pred.Shape(), target.Shape()))
	}
	ps, ts := pred.Value.Contiguous().Data(), target.Value.Contiguous().Data()
	var total float64
	for i, p := range ps {
		d := float64(p - ts[i])
		total += d * d
	}
	size := float64(len(ps))
	return recordOnce(tensor.Scalar(float32(total/size)), func(g *tensor.Tensor) {
		scale := float32(2 * float64(g.Item()) / size)
		dp := pred.Value.Arena().New(pred.Value.Shape()...)
		ds := dp.Data()
		for i, p := range ps {
			ds[i] = scale * (p - ts[i])
		}
		pred.addGrad(dp)
		if target.requiresGrad {
			target.addGrad(tensor.Neg(dp))
		}
	}, pred, target)
}

// BCEWithLogits returns the mean binary cross-entropy between σ(logits)
// and targets in [0, 1], PyTorch's F.binary_cross_entropy_with_logits with
// reduction "mean". logits and targets have the same shape; posWeight
// (nil for none) weighs the positive term per class along the last axis,
// as PyTorch's pos_weight broadcasts. Per element, in the stable form
// PyTorch uses,
//
//	l = (1 − t)·x + (1 + (pw − 1)·t)·softplus(−x)
//	softplus(−x) = max(−x, 0) + log(1 + e^−|x|)
//	∂l/∂x = (1 − t) − (1 + (pw − 1)·t)·σ(−x)
//	∂l/∂t = −x + (pw − 1)·softplus(−x)
func BCEWithLogits(logits, targets *Var, posWeight []float32) *Var {
	if !slices.Equal(logits.Shape(), targets.Shape()) {
		panic(tensor.ShapeErrorf("autograd: BCEWithLogits of logits %v and targets %v: shapes differ", logits.Shape(), targets.Shape()))
	}
	last := 1
	if posWeight != nil {
		if logits.Value.Dims() == 0 || logits.Value.Dim(-1) != len(posWeight) {
			panic(tensor.ShapeErrorf("autograd: BCEWithLogits: %d positive weights for logits %v", len(posWeight), logits.Shape()))
		}
		last = len(posWeight)
	}
	pw := func(k int) float64 { // the positive weight of flat element k
		if posWeight == nil {
			return 1
		}
		return float64(posWeight[k%last])
	}
	xs, ts := logits.Value.Contiguous().Data(), targets.Value.Contiguous().Data()
	softplusNeg := func(x float64) float64 { return max(-x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }
	var total float64
	for k, x := range xs {
		u, t := float64(x), float64(ts[k])
		total += (1-t)*u + (1+(pw(k)-1)*t)*softplusNeg(u)
	}
	size := float64(len(xs))
	return recordOnce(tensor.Scalar(float32(total/size)), func(g *tensor.Tensor) {
		scale := float64(g.Item()) / size
		if logits.requiresGrad {
			dx := logits.Value.Arena().New(logits.Value.Shape()...)
			ds := dx.Data()
			for k, x := range xs {
				u, t := float64(x), float64(ts[k])
				ds[k] = float32(scale * ((1 - t) - (1+(pw(k)-1)*t)*sigmoid(-u)))
			}
			logits.addGrad(dx)
		}
		if targets.requiresGrad {
			dt := targets.Value.Arena().New(targets.Value.Shape()...)
			ds := dt.Data()
			for k, x := range xs {
				u := float64(x)
				ds[k] = float32(scale * (-u + (pw(k)-1)*softplusNeg(u)))
			}
			targets.addGrad(dt)
		}
	}, logits, targets)
}
