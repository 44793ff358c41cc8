// Package optim updates parameters from their gradients: the optimizers
// [SGD], [Adam] and [AdamW] (behind the small [Optimizer] interface), the
// learning-rate schedules behind [Schedule], and [ClipGradNorm].
//
// The update rules are PyTorch 1.13's torch.optim.SGD, Adam and AdamW
// (single-tensor path, float32 arithmetic in the same order), so that a
// training run can be checked step by step against a PyTorch reference.
//
// An optimizer holds the parameters it was built with. [Optimizer.Step]
// skips every parameter whose Grad is nil or that does not require a
// gradient (a frozen layer); such a parameter's state stays untouched until
// it first takes part in a step. State buffers (momentum, Adam moments) are
// allocated on a parameter's first step and reused afterwards, so a steady
// training loop does not allocate in Step. They are kept in slices aligned
// with the parameter list; [Stateful] exports them by parameter name, with
// the step counts, for a checkpoint that resumes training exactly.
//
// A [Schedule] maps an optimizer step count to a learning rate; a training
// loop applies it with
//
//	opt.SetLR(sched.LR(step))
//
// before each Step. [New] and [ParseSchedule] build both from command-line
// names.
//
// # Error handling
//
// Invalid configurations passed to the New* constructors are programmer
// errors and panic with an "optim: " message; [New] and [ParseSchedule],
// which take user input, return errors instead. A gradient whose size does
// not match its parameter panics.
package optim

import (
	"fmt"
	"math"
	"strings"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/internal/kernels"
)

// Optimizer updates a fixed set of parameters from their gradients.
type Optimizer interface {
	// Step applies one update to every parameter that requires a gradient
	// and has one.
	Step()
	// ZeroGrad zeroes the accumulated gradient of every parameter, keeping
	// the buffers for reuse.
	ZeroGrad()
	// LR returns the current learning rate.
	LR() float64
	// SetLR sets the learning rate used by the following steps.
	SetLR(lr float64)
}

// PerParamLR is implemented by optimizers whose parameters can each have
// their own learning rate: params[i] steps with mult[i]·LR, as PyTorch's
// parameter groups with per-group rates that a schedule scales together
// (discriminative learning rates for fine-tuning). [SGD], [Adam] and
// [AdamW] implement it.
type PerParamLR interface {
	// SetLRMultipliers sets one multiplier per parameter, in the order the
	// optimizer was built with; nil gives every parameter the rate LR.
	// It panics if the length differs from the number of parameters or a
	// multiplier is negative or not finite.
	SetLRMultipliers(mult []float64)
}

// PerParamWD is implemented by optimizers whose parameters can each have
// their own weight decay: params[i] decays with mult[i]·WeightDecay (L2 for
// SGD and Adam, decoupled for AdamW), as PyTorch's parameter groups with
// per-group weight_decay. [SGD], [Adam] and [AdamW] implement it.
type PerParamWD interface {
	// SetWDMultipliers sets one multiplier per parameter, in the order the
	// optimizer was built with; nil gives every parameter WeightDecay. It
	// panics as SetLRMultipliers does.
	SetWDMultipliers(mult []float64)
}

// checkMultipliers panics unless mult is nil or holds n finite,
// non-negative values.
func checkMultipliers(n int, mult []float64) {
	if mult == nil {
		return
	}
	if len(mult) != n {
		panic(fmt.Sprintf("optim: %d learning-rate multipliers for %d parameters", len(mult), n))
	}
	for i, m := range mult {
		if !(m >= 0) || math.IsInf(m, 0) {
			panic(fmt.Sprintf("optim: invalid learning-rate multiplier %g for parameter %d", m, i))
		}
	}
}

// lrOf returns the rate of parameter i: lr scaled by mult[i] when
// multipliers are set. The weight decay of parameter i is lrOf(wd,
// wdMult, i) alike.
func lrOf(lr float64, mult []float64, i int) float64 {
	if mult == nil {
		return lr
	}
	return lr * mult[i]
}

// DefaultMomentum is the SGD momentum of [New] when [Settings.Momentum] is
// zero: 0.9 (Nesterov).
const DefaultMomentum = 0.9

// Names lists the optimizer names accepted by [New].
var Names = []string{"sgd", "adam", "adamw"}

// New builds the optimizer named name ("sgd", "adam" or "adamw", case
// insensitive) over params with learning rate lr and weight decay
// weightDecay, the defaults a command-line flag selects:
//
//   - "sgd": [SGD] with Nesterov momentum 0.9 ([NewWith] sets another),
//     weight decay as an L2 term added to the gradient;
//   - "adam": [Adam] with betas (0.9, 0.999), eps 1e-8, L2 weight decay;
//   - "adamw": [AdamW] with the same betas and eps and decoupled weight decay
//     (pass [DefaultAdamWWeightDecay] for PyTorch's default).
//
// It returns an error naming the value for an unknown name or an invalid
// learning rate or weight decay.
func New(name string, params []*autograd.Var, lr, weightDecay float64) (Optimizer, error) {
	return NewWith(name, params, Settings{LR: lr, WeightDecay: weightDecay})
}

// Settings are the hyper-parameters a command line sets for [NewWith].
type Settings struct {
	LR, WeightDecay float64
	// Momentum is SGD's (Nesterov) momentum factor in [0, 1); 0 means
	// [DefaultMomentum]. The Adam optimizers ignore it.
	Momentum float64
}

// NewWith is [New] with the SGD momentum of s.
func NewWith(name string, params []*autograd.Var, s Settings) (Optimizer, error) {
	lr, weightDecay := s.LR, s.WeightDecay
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "sgd":
		mom := s.Momentum
		if mom == 0 {
			mom = DefaultMomentum
		}
		if !(mom > 0 && mom < 1) {
			return nil, fmt.Errorf("optim: invalid SGD momentum %g (want 0 < momentum < 1)", mom)
		}
		cfg := SGDConfig{LR: lr, Momentum: mom, Nesterov: true, WeightDecay: weightDecay}
		if err := cfg.validate(); err != nil {
			return nil, err
		}
		return NewSGD(params, cfg), nil
	case "adam", "adamw":
		cfg := AdamConfig{LR: lr, WeightDecay: weightDecay}
		if err := cfg.withDefaults().validate(); err != nil {
			return nil, err
		}
		if strings.EqualFold(strings.TrimSpace(name), "adamw") {
			return NewAdamW(params, cfg), nil
		}
		return NewAdam(params, cfg), nil
	}
	return nil, fmt.Errorf("optim: unknown optimizer %q (valid: %s)", name, strings.Join(Names, ", "))
}

// parallelMin is the tensor size from which an update loop is split over
// the kernels worker pool; grain is the smallest chunk.
const (
	parallelMin = 1 << 16
	grain       = 1 << 14
)

// active reports whether p takes part in a step, and returns its value and
// gradient data. It panics if the sizes differ.
func active(p *autograd.Var) (val, grad []float32, ok bool) {
	if p == nil || p.Grad == nil || !p.RequiresGrad() {
		return nil, nil, false
	}
	val, grad = p.Value.Data(), p.Grad.Data()
	if len(val) != len(grad) {
		panic(fmt.Sprintf("optim: gradient of shape %v for a parameter of shape %v", p.Grad.Shape(), p.Value.Shape()))
	}
	return val, grad, true
}

// parallel runs fn over [0, n) on the worker pool. Callers run small loops
// directly instead, so that no closure is allocated for them.
func parallel(n int, fn func(lo, hi int)) { kernels.For(n, grain, fn) }
