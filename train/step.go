package train

import (
	"math"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// Stepper performs training steps: forward, loss, backward, optional
// gradient clipping and the optimizer update.
//
// The model's forward pass is compiled: the first step of each input shape
// records it ([autograd.Tape.Record]) and later steps of that shape replay
// the recorded program ([autograd.Program]), running the same kernels on
// the same arena memory with the same results, bit for bit, without
// building the gradient graph again (see compile.go for what it replays
// and what runs eagerly). NoCompile turns this off.
//
// The tensors of each step
// (activations, intermediate gradients) come from a [tensor.Arena] that is
// recycled at the start of the next step, so after the first step training
// allocates almost nothing and the garbage collector stays idle. During
// backward, each intermediate gradient and each saved activation goes back
// to the arena as soon as it has been used for the last time
// ([autograd.BackwardOptions.ReleaseValues]), so later tensors of the same
// step reuse its memory and the arena stays far smaller than the step's
// tensors.
type Stepper struct {
	Model    nn.Layer
	Loss     nn.CrossEntropyLoss
	Opt      optim.Optimizer
	ClipNorm float64 // clip gradients to this global L2 norm; 0 = off
	// KeepValues keeps every activation of a step until the next step
	// instead of releasing each during backward once it is no longer
	// needed: more memory, identical results (for tests and debugging).
	KeepValues bool
	// NoCompile runs every forward pass eagerly, building its gradient
	// graph anew: the reference the compiled step is tested against.
	NoCompile bool

	params   []*autograd.Var
	arena    *tensor.Arena
	compiled compiled
}

// NewStepper returns a Stepper for model trained by opt.
func NewStepper(model nn.Layer, loss nn.CrossEntropyLoss, opt optim.Optimizer) *Stepper {
	return &Stepper{Model: model, Loss: loss, Opt: opt, params: Trainable(model), arena: tensor.NewArena()}
}

// Step trains on one batch x (N, C, H, W) with labels y and returns the
// batch's mean loss and how many of its examples the model classified
// correctly before the update. A non-finite loss skips the update.
func (s *Stepper) Step(x *tensor.Tensor, y []int) (loss float64, correct int) {
	s.arena.Reset()
	logits := s.forward(x) // (N, classes); activations and gradients: arena memory
	// The loss's gradient seeds the backward pass directly: the same
	// numbers as a loss node's (autograd.CrossEntropyGrad), no node.
	dz := logits.Value.Arena().Empty(logits.Shape()...)
	loss = float64(autograd.CrossEntropyGrad(logits, y, autograd.CrossEntropyOpts{LabelSmoothing: s.Loss.LabelSmoothing, Weight: s.Loss.Weight}, dz))
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, 0
	}
	// The logits are released during backward: count before.
	correct = countCorrect(logits, y)
	s.Opt.ZeroGrad()
	logits.BackwardWithOptions(dz, autograd.BackwardOptions{ReleaseValues: !s.KeepValues})
	// Parameters, their gradients and the optimizer state are ordinary
	// memory: they outlive the step.
	if s.ClipNorm > 0 {
		optim.ClipGradNorm(s.params, s.ClipNorm)
	}
	s.Opt.Step()
	return loss, correct
}
