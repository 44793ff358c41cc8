package nn

import (
	"slices"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// BatchNorm normalizes each channel with batch statistics in training and
// running statistics in evaluation, then applies a learned scale and shift
// (Ioffe and Szegedy 2015), with PyTorch's semantics; see
// [autograd.BatchNorm].
//
//	BatchNorm2d: x (N, C, H, W) → same shape
//	BatchNorm1d: x (N, C) or (N, C, L) → same shape
//	weight, bias, running_mean, running_var (C); num_batches_tracked (1)
type BatchNorm struct {
	Weight, Bias *autograd.Var // γ and β (C); nil for affine=False
	// RunningMean and RunningVar (C) are updated in place by every
	// training-mode Forward.
	RunningMean, RunningVar *tensor.Tensor
	// NumBatchesTracked counts training-mode Forward calls. It is a
	// one-element float32 tensor; PyTorch stores an int64 scalar, so a
	// checkpoint converter casts it.
	NumBatchesTracked *tensor.Tensor
	Momentum, Eps     float32
	Training          bool

	kind  string // "BatchNorm2d" or "BatchNorm1d", for messages
	ranks []int  // accepted input ranks; empty accepts any of 2 or more
}

// NewBatchNorm2d returns batch normalization over the C channels of NCHW
// input with PyTorch's defaults: weight 1, bias 0, running mean 0, running
// variance 1, momentum 0.1, eps 1e-5, in training mode.
func NewBatchNorm2d(c int) *BatchNorm { return newBatchNorm("BatchNorm2d", c, 4) }

// NewBatchNorm1d returns batch normalization over the C features of (N, C)
// or (N, C, L) input with PyTorch's defaults, as [NewBatchNorm2d].
func NewBatchNorm1d(c int) *BatchNorm { return newBatchNorm("BatchNorm1d", c, 2, 3) }

func newBatchNorm(kind string, c int, ranks ...int) *BatchNorm {
	if c < 1 {
		panic(tensor.ShapeErrorf("nn: %s with %d channels: must be positive", kind, c))
	}
	return &BatchNorm{
		Weight:            autograd.Param(tensor.Ones(c)),
		Bias:              autograd.Param(tensor.Zeros(c)),
		RunningMean:       tensor.Zeros(c),
		RunningVar:        tensor.Ones(c),
		NumBatchesTracked: tensor.Zeros(1),
		Momentum:          0.1,
		Eps:               1e-5,
		Training:          true,
		kind:              kind,
		ranks:             ranks,
	}
}

// Forward normalizes x; in training mode it also updates the running
// statistics and NumBatchesTracked.
func (l *BatchNorm) Forward(x *autograd.Var) *autograd.Var {
	return l.forward(x, false, nil)
}

// ForwardReLU is ReLU(l.Forward(x)) as one fused operation
// ([autograd.BatchNormReLU]): the same values and gradients, one tensor
// kept instead of two, fewer passes over memory.
func (l *BatchNorm) ForwardReLU(x *autograd.Var) *autograd.Var {
	return l.forward(x, true, nil)
}

// ForwardReLUMaxPool is pool.Forward(ReLU(l.Forward(x))) as one fused
// operation ([autograd.BatchNormReLUMaxPool2d]): the same values and
// gradients, neither the normalized nor the rectified tensor kept.
func (l *BatchNorm) ForwardReLUMaxPool(x *autograd.Var, pool *MaxPool2d) *autograd.Var {
	return l.forward(x, true, pool)
}

// ForwardAddReLU is ReLU(l.Forward(x) + add) as one fused operation
// ([autograd.BatchNormAddReLU]), a residual block's end: the same values
// and gradients, only the result kept.
func (l *BatchNorm) ForwardAddReLU(x, add *autograd.Var) *autograd.Var {
	return l.forwardWith(x, func(x, w, b *autograd.Var) *autograd.Var {
		return autograd.BatchNormAddReLU(x, w, b, l.RunningMean, l.RunningVar, l.Training, l.Momentum, l.Eps, add)
	})
}

func (l *BatchNorm) forward(x *autograd.Var, relu bool, pool *MaxPool2d) *autograd.Var {
	return l.forwardWith(x, func(x, w, b *autograd.Var) *autograd.Var {
		if pool != nil {
			return autograd.BatchNormReLUMaxPool2d(x, w, b, l.RunningMean, l.RunningVar, l.Training, l.Momentum, l.Eps, pool.Params)
		}
		bn := autograd.BatchNorm
		if relu {
			bn = autograd.BatchNormReLU
		}
		return bn(x, w, b, l.RunningMean, l.RunningVar, l.Training, l.Momentum, l.Eps)
	})
}

// forwardWith checks x against l and runs op, the normalization (fused
// with what follows it) on x and l's weight and bias, counting the batch.
func (l *BatchNorm) forwardWith(x *autograd.Var, op func(x, w, b *autograd.Var) *autograd.Var) *autograd.Var {
	kind := l.kind
	if kind == "" {
		kind = "BatchNorm"
	}
	shape := x.Shape()
	if len(shape) < 2 || (len(l.ranks) > 0 && !slices.Contains(l.ranks, len(shape))) {
		panic(tensor.ShapeErrorf("nn: %s input of shape %v: want a number of dimensions in %v", kind, shape, l.ranks))
	}
	c := -1
	switch {
	case l.RunningMean != nil:
		c = l.RunningMean.Dim(0)
	case l.Weight != nil:
		c = l.Weight.Value.Dim(0)
	}
	if c >= 0 && shape[1] != c {
		panic(tensor.ShapeErrorf("nn: %s with %d channels got input of shape %v (%d channels on axis 1)", kind, c, shape, shape[1]))
	}
	y := op(x, l.Weight, l.Bias)
	if l.Training && l.NumBatchesTracked != nil {
		n := l.NumBatchesTracked
		autograd.Effect(x, func() { n.Set(n.At(0)+1, 0) }) // again on every compiled step
	}
	return y
}

// SetTraining switches between batch statistics (true) and running
// statistics (false).
func (l *BatchNorm) SetTraining(on bool) { l.Training = on }

// OwnParams lists weight and bias (none when not affine).
func (l *BatchNorm) OwnParams() []Named[*autograd.Var] {
	var ps []Named[*autograd.Var]
	if l.Weight != nil {
		ps = append(ps, Named[*autograd.Var]{Name: "weight", Value: l.Weight})
	}
	if l.Bias != nil {
		ps = append(ps, Named[*autograd.Var]{Name: "bias", Value: l.Bias})
	}
	return ps
}

// OwnBuffers lists running_mean, running_var and num_batches_tracked.
func (l *BatchNorm) OwnBuffers() []Named[*tensor.Tensor] {
	bs := []Named[*tensor.Tensor]{{Name: "running_mean", Value: l.RunningMean}, {Name: "running_var", Value: l.RunningVar}}
	if l.NumBatchesTracked != nil {
		bs = append(bs, Named[*tensor.Tensor]{Name: "num_batches_tracked", Value: l.NumBatchesTracked})
	}
	return bs
}
