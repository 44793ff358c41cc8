package optim

import (
	"fmt"

	"github.com/fovea-ml/fovea/internal/kernels"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// SGDConfig holds the hyperparameters of [SGD], named as in
// torch.optim.SGD. All default to zero.
type SGDConfig struct {
	LR          float64 // learning rate
	Momentum    float64 // momentum factor; 0 disables the momentum buffer
	Dampening   float64 // dampening of the gradient added to the buffer
	WeightDecay float64 // L2 penalty, added to the gradient
	Nesterov    bool    // Nesterov momentum; needs Momentum > 0 and Dampening 0
}

func (c SGDConfig) validate() error {
	switch {
	case c.LR < 0:
		return fmt.Errorf("optim: invalid SGD learning rate %g", c.LR)
	case c.Momentum < 0:
		return fmt.Errorf("optim: invalid SGD momentum %g", c.Momentum)
	case c.WeightDecay < 0:
		return fmt.Errorf("optim: invalid SGD weight decay %g", c.WeightDecay)
	case c.Nesterov && (c.Momentum <= 0 || c.Dampening != 0):
		return fmt.Errorf("optim: Nesterov momentum needs momentum > 0 and zero dampening (have momentum %g, dampening %g)", c.Momentum, c.Dampening)
	}
	return nil
}

// SGD is stochastic gradient descent with optional momentum, Nesterov
// momentum and L2 weight decay, following torch.optim.SGD. Per parameter p
// with gradient g, each step computes
//
//	d = g + weightDecay·p
//	buf = d                                  (first step)
//	buf = momentum·buf + (1 − dampening)·d   (later steps)
//	d = d + momentum·buf                     (Nesterov)
//	d = buf                                  (otherwise, if momentum ≠ 0)
//	p = p − lr·d
type SGD struct {
	params []*autograd.Var
	cfg    SGDConfig
	// momentum[i] is params[i]'s momentum buffer, nil before its first
	// step or when momentum is off.
	momentum []*tensor.Tensor
	// mult[i] scales the rate of params[i], wdMult[i] its weight decay;
	// nil means 1 for all.
	mult, wdMult []float64
}

// NewSGD returns an SGD optimizer over params. It panics on an invalid
// configuration (negative values, Nesterov without momentum or with
// dampening).
func NewSGD(params []*autograd.Var, cfg SGDConfig) *SGD {
	if err := cfg.validate(); err != nil {
		panic(err.Error())
	}
	return &SGD{params: params, cfg: cfg, momentum: make([]*tensor.Tensor, len(params))}
}

// LR returns the current learning rate.
func (o *SGD) LR() float64 { return o.cfg.LR }

// SetLR sets the learning rate of the following steps.
func (o *SGD) SetLR(lr float64) { o.cfg.LR = lr }

// SetLRMultipliers gives params[i] the rate mult[i]·LR ([PerParamLR]).
func (o *SGD) SetLRMultipliers(mult []float64) {
	checkMultipliers(len(o.params), mult)
	o.mult = mult
}

// SetWDMultipliers gives params[i] the weight decay
// mult[i]·WeightDecay ([PerParamWD]).
func (o *SGD) SetWDMultipliers(mult []float64) {
	checkMultipliers(len(o.params), mult)
	o.wdMult = mult
}

// ZeroGrad zeroes every parameter's gradient.
func (o *SGD) ZeroGrad() {
	for _, p := range o.params {
		p.ZeroGrad()
	}
}

// Step applies one SGD update to every parameter that requires a gradient
// and has one.
func (o *SGD) Step() {
	c := sgdCoef{
		wd:       float32(o.cfg.WeightDecay),
		mom:      float32(o.cfg.Momentum),
		damp:     float32(1 - o.cfg.Dampening),
		nesterov: o.cfg.Nesterov,
	}
	for i, p := range o.params {
		val, grad, ok := active(p)
		if !ok {
			continue
		}
		var buf []float32
		c.first = false
		c.lr = float32(lrOf(o.cfg.LR, o.mult, i))
		c.wd = float32(lrOf(o.cfg.WeightDecay, o.wdMult, i))
		if o.cfg.Momentum != 0 {
			if o.momentum[i] == nil {
				o.momentum[i] = tensor.New(p.Value.Shape()...)
				c.first = true
			}
			buf = o.momentum[i].Data()
		}
		if n := len(val); n < parallelMin {
			sgdUpdate(val, grad, buf, c)
		} else {
			sgdParallel(val, grad, buf, c)
		}
	}
}

// sgdParallel runs sgdUpdate over the worker pool. It is a separate function
// so that only this path allocates its closure.
func sgdParallel(p, g, buf []float32, c sgdCoef) {
	parallel(len(p), func(lo, hi int) {
		var b []float32
		if buf != nil {
			b = buf[lo:hi]
		}
		sgdUpdate(p[lo:hi], g[lo:hi], b, c)
	})
}

// sgdCoef holds one step's float32 coefficients.
type sgdCoef struct {
	lr, wd, mom, damp float32 // damp is 1 − dampening
	nesterov, first   bool    // first: buf holds no history yet
}

// sgdUpdate is the SGD update of one parameter slice; buf is nil without
// momentum.
func sgdUpdate(p, g, buf []float32, c sgdCoef) {
	g = g[:len(p)]
	if buf == nil {
		for i, pi := range p {
			p[i] = pi - c.lr*(g[i]+c.wd*pi)
		}
		return
	}
	buf = buf[:len(p)]
	if !c.first {
		kernels.SGDMomentum(p, g, buf, c.lr, c.wd, c.mom, c.damp, c.nesterov) // the loop below, vectorized
		return
	}
	for i, pi := range p {
		d := g[i] + c.wd*pi
		b := d
		if !c.first {
			b = buf[i]*c.mom + c.damp*d
		}
		buf[i] = b
		if c.nesterov {
			d += c.mom * b
		} else {
			d = b
		}
		p[i] = pi - c.lr*d
	}
}
