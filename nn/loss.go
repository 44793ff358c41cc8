package nn

import "github.com/fovea-ml/fovea/autograd"

// CrossEntropyLoss is PyTorch's nn.CrossEntropyLoss with mean reduction.
// The zero value is plain cross-entropy.
//
//	logits (N, C), labels (N) in [0, C) → scalar
type CrossEntropyLoss struct {
	// LabelSmoothing ε in [0, 1] mixes each one-hot target with the
	// uniform distribution: (1 − ε)·onehot + ε/C.
	LabelSmoothing float32
	// Weight rescales each class (length C); nil weighs every class 1.
	Weight []float32
}

// Loss returns the mean cross-entropy of logits against labels; see
// [autograd.CrossEntropy] for the exact formula.
func (l CrossEntropyLoss) Loss(logits *autograd.Var, labels []int) *autograd.Var {
	return autograd.CrossEntropy(logits, labels, autograd.CrossEntropyOpts{LabelSmoothing: l.LabelSmoothing, Weight: l.Weight})
}

// MSELoss is the mean squared error, PyTorch's nn.MSELoss.
//
//	pred, target (any shape, equal) → scalar
type MSELoss struct{}

// Loss returns mean((pred − target)²).
func (MSELoss) Loss(pred, target *autograd.Var) *autograd.Var { return autograd.MSELoss(pred, target) }

// BCEWithLogitsLoss is the binary cross-entropy of σ(logits), PyTorch's
// nn.BCEWithLogitsLoss with mean reduction.
//
//	logits, targets (…, C) in [0, 1] → scalar
type BCEWithLogitsLoss struct {
	// PosWeight weighs the positive term per class along the last axis
	// (length C); nil for none.
	PosWeight []float32
}

// Loss returns the mean binary cross-entropy; see [autograd.BCEWithLogits].
func (l BCEWithLogitsLoss) Loss(logits, targets *autograd.Var) *autograd.Var {
	return autograd.BCEWithLogits(logits, targets, l.PosWeight)
}
