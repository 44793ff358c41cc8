package optim

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/tensor"
)

// DefaultAdamWWeightDecay is torch.optim.AdamW's default weight decay. It is
// not applied implicitly: a zero [AdamConfig.WeightDecay] means no decay, so
// pass this value to get PyTorch's default.
const DefaultAdamWWeightDecay = 0.01

// AdamConfig holds the hyperparameters of [Adam] and [AdamW], named as in
// torch.optim.Adam. A zero Beta1, Beta2 or Eps means PyTorch's default (0.9,
// 0.999 and 1e-8), so those cannot be set to exactly zero. A zero
// WeightDecay means none, for AdamW too (see [DefaultAdamWWeightDecay]).
type AdamConfig struct {
	LR          float64 // learning rate
	Beta1       float64 // decay of the first-moment average (default 0.9)
	Beta2       float64 // decay of the second-moment average (default 0.999)
	Eps         float64 // added to the denominator (default 1e-8)
	WeightDecay float64 // L2 penalty (Adam) or decoupled decay (AdamW)
}

// withDefaults replaces zero betas and eps with PyTorch's defaults.
func (c AdamConfig) withDefaults() AdamConfig {
	if c.Beta1 == 0 {
		c.Beta1 = 0.9
	}
	if c.Beta2 == 0 {
		c.Beta2 = 0.999
	}
	if c.Eps == 0 {
		c.Eps = 1e-8
	}
	return c
}

func (c AdamConfig) validate() error {
	switch {
	case c.LR < 0:
		return fmt.Errorf("optim: invalid Adam learning rate %g", c.LR)
	case c.Beta1 < 0 || c.Beta1 >= 1:
		return fmt.Errorf("optim: invalid Adam beta1 %g (want 0 ≤ beta1 < 1)", c.Beta1)
	case c.Beta2 < 0 || c.Beta2 >= 1:
		return fmt.Errorf("optim: invalid Adam beta2 %g (want 0 ≤ beta2 < 1)", c.Beta2)
	case c.Eps < 0:
		return fmt.Errorf("optim: invalid Adam eps %g", c.Eps)
	case c.WeightDecay < 0:
		return fmt.Errorf("optim: invalid Adam weight decay %g", c.WeightDecay)
	}
	return nil
}

// Adam is the Adam optimizer with L2 weight decay, following
// torch.optim.Adam (amsgrad and maximize off). Per parameter p with
// gradient g, at its t-th step (t from 1):
//
//	g = g + weightDecay·p
//	m = beta1·m + (1 − beta1)·g
//	v = beta2·v + (1 − beta2)·g²
//	p = p − lr/(1 − beta1^t) · m / (√v / √(1 − beta2^t) + eps)
//
// AdamW, built by [NewAdamW], replaces the first line by the decoupled decay
// p = p·(1 − lr·weightDecay).
type Adam struct {
	params    []*autograd.Var
	cfg       AdamConfig
	decoupled bool // AdamW
	// Per-parameter state, aligned with params: the moment averages (nil
	// before the parameter's first step) and its step count t.
	expAvg, expAvgSq []*tensor.Tensor
	steps            []int
	// mult[i] scales the rate of params[i], wdMult[i] its weight decay;
	// nil means 1 for all.
	mult, wdMult []float64
}

// NewAdam returns an Adam optimizer over params. It panics on an invalid
// configuration.
func NewAdam(params []*autograd.Var, cfg AdamConfig) *Adam { return newAdam(params, cfg, false) }

// AdamW is [Adam] with decoupled weight decay (Loshchilov & Hutter),
// following torch.optim.AdamW.
type AdamW = Adam

// NewAdamW returns an AdamW optimizer over params: Adam with decoupled
// weight decay, p = p·(1 − lr·weightDecay) before each update, as
// torch.optim.AdamW. It panics on an invalid configuration. Note that a zero
// cfg.WeightDecay means no decay (see [DefaultAdamWWeightDecay]).
func NewAdamW(params []*autograd.Var, cfg AdamConfig) *AdamW { return newAdam(params, cfg, true) }

func newAdam(params []*autograd.Var, cfg AdamConfig, decoupled bool) *Adam {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		panic(err.Error())
	}
	return &Adam{
		params:    params,
		cfg:       cfg,
		decoupled: decoupled,
		expAvg:    make([]*tensor.Tensor, len(params)),
		expAvgSq:  make([]*tensor.Tensor, len(params)),
		steps:     make([]int, len(params)),
	}
}

// LR returns the current learning rate.
func (o *Adam) LR() float64 { return o.cfg.LR }

// SetLR sets the learning rate of the following steps.
func (o *Adam) SetLR(lr float64) { o.cfg.LR = lr }

// SetLRMultipliers gives params[i] the rate mult[i]·LR ([PerParamLR]).
func (o *Adam) SetLRMultipliers(mult []float64) {
	checkMultipliers(len(o.params), mult)
	o.mult = mult
}

// SetWDMultipliers gives params[i] the weight decay
// mult[i]·WeightDecay ([PerParamWD]).
func (o *Adam) SetWDMultipliers(mult []float64) {
	checkMultipliers(len(o.params), mult)
	o.wdMult = mult
}

// ZeroGrad zeroes every parameter's gradient.
func (o *Adam) ZeroGrad() {
	for _, p := range o.params {
		p.ZeroGrad()
	}
}

// Step applies one Adam (or AdamW) update to every parameter that requires a
// gradient and has one.
func (o *Adam) Step() {
	cfg := o.cfg
	for i, p := range o.params {
		val, grad, ok := active(p)
		if !ok {
			continue
		}
		if o.expAvg[i] == nil {
			o.expAvg[i] = tensor.New(p.Value.Shape()...)
			o.expAvgSq[i] = tensor.New(p.Value.Shape()...)
		}
		o.steps[i]++
		t := float64(o.steps[i])
		lr := lrOf(cfg.LR, o.mult, i)
		// Scalars in float64 as PyTorch computes them in Python, then
		// rounded to float32 for the tensor arithmetic.
		c := kernels.AdamCoef{
			Beta1:    float32(cfg.Beta1),
			Beta2:    float32(cfg.Beta2),
			OneMinB1: float32(1 - cfg.Beta1),
			OneMinB2: float32(1 - cfg.Beta2),
			StepSize: float32(lr / (1 - math.Pow(cfg.Beta1, t))),
			BC2Sqrt:  float32(math.Sqrt(1 - math.Pow(cfg.Beta2, t))),
			Eps:      float32(cfg.Eps),
			Decay:    1,
		}
		wd := lrOf(cfg.WeightDecay, o.wdMult, i)
		if o.decoupled {
			c.Decay = float32(1 - lr*wd)
		} else {
			c.WD = float32(wd)
		}
		m, v := o.expAvg[i].Data(), o.expAvgSq[i].Data()
		if n := len(val); n < parallelMin {
			kernels.AdamUpdate(val, grad[:n], m, v, c)
		} else {
			adamParallel(val, grad, m, v, c)
		}
	}
}

// adamParallel runs kernels.AdamUpdate (the update in PyTorch's order of
// operations) over the worker pool. It is a separate function so that only
// this path allocates its closure.
func adamParallel(p, g, m, v []float32, c kernels.AdamCoef) {
	parallel(len(p), func(lo, hi int) { kernels.AdamUpdate(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], c) })
}
