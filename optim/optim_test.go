package optim

import (
	"math"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// Tolerances: the optimizers compute in float32 and the references in
// float64, so results agree to float32 rounding over a few steps.
const (
	rtol = 1e-5
	atol = 1e-6
)

func near(got, want float64) bool {
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

func param(vals ...float32) *autograd.Var {
	return autograd.Param(tensor.FromSlice(append([]float32(nil), vals...), len(vals)))
}

func setGrad(p *autograd.Var, g ...float32) {
	p.Grad = tensor.FromSlice(append([]float32(nil), g...), len(g))
}

func checkVals(t *testing.T, what string, p *autograd.Var, want ...float64) {
	t.Helper()
	got := p.Value.Data()
	for i, w := range want {
		if !near(float64(got[i]), w) {
			t.Errorf("%s: p[%d] = %.9g, want %.9g", what, i, got[i], w)
		}
	}
}

// Hand-computed values, lr 0.1 and a constant gradient 1 from p = 1.
func TestSGDHand(t *testing.T) {
	cases := []struct {
		name string
		cfg  SGDConfig
		want []float64 // p after steps 1, 2, 3
	}{
		// p −= 0.1 each step.
		{"plain", SGDConfig{LR: 0.1}, []float64{0.9, 0.8, 0.7}},
		// buf 1, 1.9, 2.71.
		{"momentum", SGDConfig{LR: 0.1, Momentum: 0.9}, []float64{0.9, 0.71, 0.439}},
		// buf 1, 1.9; d = 1 + 0.9·buf = 1.9, 2.71.
		{"nesterov", SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true}, []float64{0.81, 0.539, 0.539 - 0.1*(1+0.9*2.71)}},
		// No dampening on the first step: buf 1, then 0.9 + 0.5 = 1.4, then 1.26 + 0.5 = 1.76.
		{"dampening", SGDConfig{LR: 0.1, Momentum: 0.9, Dampening: 0.5}, []float64{0.9, 0.76, 0.584}},
	}
	for _, c := range cases {
		p := param(1)
		o := NewSGD([]*autograd.Var{p}, c.cfg)
		for step, w := range c.want {
			setGrad(p, 1)
			o.Step()
			checkVals(t, c.name+" step "+string(rune('1'+step)), p, w)
		}
	}
	// Weight decay alone, zero gradient: d = 0.1·p, so p ·= 0.99.
	p := param(1)
	o := NewSGD([]*autograd.Var{p}, SGDConfig{LR: 0.1, WeightDecay: 0.1})
	for _, w := range []float64{0.99, 0.9801} {
		setGrad(p, 0)
		o.Step()
		checkVals(t, "weight decay", p, w)
	}
}

// The problem the multi-step tests run on: four parameters with gradient
// g = a·p + b, recomputed from the current p before each step.
var (
	p0    = []float64{1, -2, 0.5, 3}
	gradA = []float64{1, 0.5, 2, -0.25}
	gradB = []float64{0.1, -0.3, 0, 1}
)

func run(o Optimizer, p *autograd.Var, steps int) {
	for range steps {
		v := p.Value.Data()
		g := make([]float32, len(v))
		for i := range v {
			g[i] = float32(gradA[i]*float64(v[i]) + gradB[i])
		}
		setGrad(p, g...)
		o.Step()
	}
}

func newProblem() *autograd.Var {
	p := make([]float32, len(p0))
	for i, v := range p0 {
		p[i] = float32(v)
	}
	return param(p...)
}

// refSGD is torch.optim.SGD's documented algorithm in float64.
func refSGD(cfg SGDConfig, steps int) []float64 {
	p := append([]float64(nil), p0...)
	buf := make([]float64, len(p))
	for s := range steps {
		for i := range p {
			g := gradA[i]*p[i] + gradB[i] + cfg.WeightDecay*p[i]
			if cfg.Momentum != 0 {
				if s == 0 {
					buf[i] = g
				} else {
					buf[i] = cfg.Momentum*buf[i] + (1-cfg.Dampening)*g
				}
				if cfg.Nesterov {
					g += cfg.Momentum * buf[i]
				} else {
					g = buf[i]
				}
			}
			p[i] -= cfg.LR * g
		}
	}
	return p
}

// refAdam is Adam / AdamW as in the PyTorch documentation, in float64.
func refAdam(cfg AdamConfig, decoupled bool, steps int) []float64 {
	p := append([]float64(nil), p0...)
	m := make([]float64, len(p))
	v := make([]float64, len(p))
	for s := 1; s <= steps; s++ {
		for i := range p {
			g := gradA[i]*p[i] + gradB[i]
			if decoupled {
				p[i] -= cfg.LR * cfg.WeightDecay * p[i]
			} else {
				g += cfg.WeightDecay * p[i]
			}
			m[i] = cfg.Beta1*m[i] + (1-cfg.Beta1)*g
			v[i] = cfg.Beta2*v[i] + (1-cfg.Beta2)*g*g
			mHat := m[i] / (1 - math.Pow(cfg.Beta1, float64(s)))
			vHat := v[i] / (1 - math.Pow(cfg.Beta2, float64(s)))
			p[i] -= cfg.LR * mHat / (math.Sqrt(vHat) + cfg.Eps)
		}
	}
	return p
}

func TestSGDMultiStep(t *testing.T) {
	for _, cfg := range []SGDConfig{
		{LR: 0.1},
		{LR: 0.1, WeightDecay: 0.05},
		{LR: 0.1, Momentum: 0.9},
		{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01},
		{LR: 0.1, Momentum: 0.8, Dampening: 0.3, WeightDecay: 0.05},
	} {
		p := newProblem()
		run(NewSGD([]*autograd.Var{p}, cfg), p, 5)
		checkVals(t, "SGD", p, refSGD(cfg, 5)...)
	}
}

func TestAdamMultiStep(t *testing.T) {
	for _, cfg := range []AdamConfig{
		{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05},
		{LR: 0.01, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1},
	} {
		for _, decoupled := range []bool{false, true} {
			p := newProblem()
			var o Optimizer = NewAdam([]*autograd.Var{p}, cfg)
			if decoupled {
				o = NewAdamW([]*autograd.Var{p}, cfg)
			}
			run(o, p, 7)
			checkVals(t, "Adam", p, refAdam(cfg, decoupled, 7)...)
		}
	}
}

// Adam's first step moves each parameter by lr·sign(g) (up to eps): the
// bias-corrected moments are g and g².
func TestAdamHand(t *testing.T) {
	p := param(1, 2)
	setGrad(p, 0.5, -3)
	NewAdam([]*autograd.Var{p}, AdamConfig{LR: 0.1}).Step()
	checkVals(t, "Adam step 1", p, 0.9, 2.1)

	// AdamW decays first: 1·(1 − 0.1·0.1) = 0.99, then −0.1.
	p = param(1)
	setGrad(p, 0.5)
	NewAdamW([]*autograd.Var{p}, AdamConfig{LR: 0.1, WeightDecay: 0.1}).Step()
	checkVals(t, "AdamW step 1", p, 0.89)
}

// Golden values from PyTorch 1.13 on the same problem, five steps:
//
//	import torch
//	def run(opt_fn, steps=5):
//	    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 3.0]))
//	    a = torch.tensor([1.0, 0.5, 2.0, -0.25]); b = torch.tensor([0.1, -0.3, 0.0, 1.0])
//	    o = opt_fn([p])
//	    for _ in range(steps):
//	        p.grad = (a * p + b).detach()
//	        o.step()
//	    return [float(x) for x in p.detach()]
//	print(run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)))
//	print(run(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.05)))
//	print(run(lambda ps: torch.optim.Adam(ps, lr=0.1, weight_decay=0.05)))
//	print(run(lambda ps: torch.optim.AdamW(ps, lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)))
func TestPyTorchGolden(t *testing.T) {
	cases := []struct {
		name string
		opt  func([]*autograd.Var) Optimizer
		want []float64
	}{
		{"SGD nesterov", func(ps []*autograd.Var) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 0.01})
		}, []float64{-0.22076988220214844, -0.20168167352676392, -0.2081800252199173, 2.4808285236358643}},
		{"SGD dampening", func(ps []*autograd.Var) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.8, Dampening: 0.3, WeightDecay: 0.05})
		}, []float64{0.14035925269126892, -0.8493179082870483, -0.12840421497821808, 2.62277889251709}},
		{"Adam", func(ps []*autograd.Var) Optimizer {
			return NewAdam(ps, AdamConfig{LR: 0.1, WeightDecay: 0.05})
		}, []float64{0.5069095492362976, -1.5021753311157227, 0.02781447023153305, 2.498440980911255}},
		{"AdamW", func(ps []*autograd.Var) Optimizer {
			return NewAdamW(ps, AdamConfig{LR: 0.1, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1})
		}, []float64{0.47366538643836975, -1.4166239500045776, 0.02722957730293274, 2.3560166358947754}},
	}
	for _, c := range cases {
		p := newProblem()
		run(c.opt([]*autograd.Var{p}), p, 5)
		checkVals(t, c.name, p, c.want...)
	}
}

// Large parameters take the parallel path; it must agree with the serial
// one element for element.
func TestParallelMatchesSerial(t *testing.T) {
	n := 3*parallelMin + 17
	rng := tensor.NewRNG(1)
	val := tensor.Normal(rng, 0, 1, n)
	grad := tensor.Normal(rng, 0, 1, n)
	for _, mk := range []func([]*autograd.Var) Optimizer{
		func(ps []*autograd.Var) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4})
		},
		func(ps []*autograd.Var) Optimizer { return NewAdamW(ps, AdamConfig{LR: 0.01, WeightDecay: 0.01}) },
	} {
		big := autograd.Param(val.Clone())
		big.Grad = grad.Clone()
		// The same numbers as many small parameters, all below parallelMin.
		var small []*autograd.Var
		for lo := 0; lo < n; lo += 1000 {
			hi := min(lo+1000, n)
			p := autograd.Param(tensor.FromSlice(append([]float32(nil), val.Data()[lo:hi]...), hi-lo))
			p.Grad = tensor.FromSlice(append([]float32(nil), grad.Data()[lo:hi]...), hi-lo)
			small = append(small, p)
		}
		ob, os := mk([]*autograd.Var{big}), mk(small)
		for range 3 {
			ob.Step()
			os.Step()
		}
		b := big.Value.Data()
		for k, p := range small {
			for i, v := range p.Value.Data() {
				if v != b[k*1000+i] {
					t.Fatalf("element %d: parallel %v, serial %v", k*1000+i, b[k*1000+i], v)
				}
			}
		}
	}
}

// Frozen parameters and parameters without a gradient are left alone, and
// their state starts fresh when they first take part.
func TestSkipsFrozenAndGradless(t *testing.T) {
	frozen, noGrad, live := param(1), param(2), param(3)
	frozen.SetRequiresGrad(false)
	setGrad(frozen, 5)
	params := []*autograd.Var{frozen, noGrad, live}
	for _, o := range []Optimizer{
		NewSGD(params, SGDConfig{LR: 0.1, Momentum: 0.9}),
		NewAdam(params, AdamConfig{LR: 0.1}),
		NewAdamW(params, AdamConfig{LR: 0.1, WeightDecay: 0.5}),
	} {
		frozen.Value.Data()[0], noGrad.Value.Data()[0], live.Value.Data()[0] = 1, 2, 3
		noGrad.Grad = nil
		setGrad(live, 1)
		for range 3 {
			o.Step()
		}
		if f, g, l := frozen.Value.Data()[0], noGrad.Value.Data()[0], live.Value.Data()[0]; f != 1 || g != 2 || l == 3 {
			t.Errorf("%T: frozen %v (want 1), gradless %v (want 2), live %v (want moved from 3)", o, f, g, l)
		}
		if frozen.Grad.Data()[0] != 5 {
			t.Errorf("%T changed a frozen parameter's gradient", o)
		}
	}
	// A parameter that joins late gets first-step semantics: SGD momentum
	// starts from its gradient, so p moves by exactly lr·g.
	o := NewSGD(params, SGDConfig{LR: 0.1, Momentum: 0.9})
	o.Step()
	noGrad.Value.Data()[0] = 2
	setGrad(noGrad, 1)
	o.Step()
	checkVals(t, "late SGD", noGrad, 1.9)
	// Adam's step count is per parameter: the first step is lr·sign(g).
	a := NewAdam(params, AdamConfig{LR: 0.1})
	noGrad.Grad = nil
	a.Step()
	a.Step()
	setGrad(noGrad, 1)
	noGrad.Value.Data()[0] = 2
	a.Step()
	checkVals(t, "late Adam", noGrad, 1.9)
}

// After the first step allocates the state, steps do not allocate.
func TestStepDoesNotAllocate(t *testing.T) {
	p, q := param(1, 2, 3), param(4, 5)
	setGrad(p, 0.1, 0.2, 0.3)
	setGrad(q, -1, 1)
	params := []*autograd.Var{p, q}
	for _, o := range []Optimizer{
		NewSGD(params, SGDConfig{LR: 0.01, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4}),
		NewAdam(params, AdamConfig{LR: 0.01}),
		NewAdamW(params, AdamConfig{LR: 0.01, WeightDecay: 0.01}),
	} {
		o.Step()
		if n := testing.AllocsPerRun(10, o.Step); n != 0 {
			t.Errorf("%T.Step allocates %v times per step", o, n)
		}
	}
}

func TestZeroGradAndLR(t *testing.T) {
	p := param(1, 2)
	setGrad(p, 3, 4)
	for _, o := range []Optimizer{NewSGD([]*autograd.Var{p}, SGDConfig{LR: 0.5}), NewAdam([]*autograd.Var{p}, AdamConfig{LR: 0.5})} {
		if o.LR() != 0.5 {
			t.Errorf("%T.LR() = %v, want 0.5", o, o.LR())
		}
		o.SetLR(0.25)
		if o.LR() != 0.25 {
			t.Errorf("%T.LR() after SetLR(0.25) = %v", o, o.LR())
		}
		setGrad(p, 3, 4)
		g := p.Grad
		o.ZeroGrad()
		if p.Grad != g || g.Data()[0] != 0 || g.Data()[1] != 0 {
			t.Errorf("%T.ZeroGrad: grad %v, want zeros in the same buffer", o, p.Grad.Data())
		}
	}
	// SetLR takes effect: plain SGD moves by the new lr.
	p = param(1)
	o := NewSGD([]*autograd.Var{p}, SGDConfig{LR: 1})
	o.SetLR(0.5)
	setGrad(p, 1)
	o.Step()
	checkVals(t, "SGD after SetLR", p, 0.5)
}

func TestInvalidConfigPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"nesterov without momentum": func() { NewSGD(nil, SGDConfig{LR: 0.1, Nesterov: true}) },
		"nesterov with dampening":   func() { NewSGD(nil, SGDConfig{LR: 0.1, Momentum: 0.9, Dampening: 0.1, Nesterov: true}) },
		"negative lr":               func() { NewSGD(nil, SGDConfig{LR: -1}) },
		"beta1 = 1":                 func() { NewAdam(nil, AdamConfig{LR: 0.1, Beta1: 1}) },
		"negative weight decay":     func() { NewAdamW(nil, AdamConfig{LR: 0.1, WeightDecay: -1}) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "optim: ") {
					t.Errorf("%s: recovered %v, want an optim: panic", name, r)
				}
			}()
			f()
		}()
	}
}

func TestNew(t *testing.T) {
	p := param(1)
	for name, want := range map[string]string{"sgd": "*optim.SGD", "Adam": "*optim.Adam", "adamw": "*optim.Adam"} {
		o, err := New(name, []*autograd.Var{p}, 0.1, 0.01)
		if err != nil {
			t.Fatalf("New(%q): %v", name, err)
		}
		if got := strings.TrimSpace(typeName(o)); got != want || o.LR() != 0.1 {
			t.Errorf("New(%q) = %s with lr %v, want %s with lr 0.1", name, got, o.LR(), want)
		}
	}
	if o, _ := New("sgd", nil, 0.1, 0); !o.(*SGD).cfg.Nesterov || o.(*SGD).cfg.Momentum != 0.9 {
		t.Errorf("New(sgd) config %+v, want Nesterov momentum 0.9", o.(*SGD).cfg)
	}
	if o, _ := New("adamw", nil, 0.1, 0.01); !o.(*Adam).decoupled {
		t.Error("New(adamw) is not decoupled")
	}
	if o, _ := New("adam", nil, 0.1, 0.01); o.(*Adam).decoupled {
		t.Error("New(adam) is decoupled")
	}
	_, err := New("rmsprop", nil, 0.1, 0)
	if err == nil || !strings.Contains(err.Error(), `"rmsprop"`) || !strings.Contains(err.Error(), "sgd, adam, adamw") {
		t.Errorf("New(rmsprop) error %v, want one naming the value and the valid names", err)
	}
	if _, err := New("adam", nil, -1, 0); err == nil {
		t.Error("New(adam) with negative lr: no error")
	}
}

func typeName(o Optimizer) string {
	switch o.(type) {
	case *SGD:
		return "*optim.SGD"
	case *Adam:
		return "*optim.Adam"
	}
	return "?"
}

func TestClipGradNorm(t *testing.T) {
	a, b, frozen, none := param(0, 0), param(0), param(0), param(0)
	frozen.SetRequiresGrad(false)
	params := []*autograd.Var{a, b, frozen, none}
	set := func() {
		setGrad(a, 3, 4)
		setGrad(b, 12)
		setGrad(frozen, 100)
	}
	// Norm √(9+16+144) = 13; below maxNorm nothing changes.
	set()
	if n := ClipGradNorm(params, 20); !near(n, 13) {
		t.Errorf("norm %v, want 13", n)
	}
	if g := a.Grad.Data(); g[0] != 3 || g[1] != 4 || b.Grad.Data()[0] != 12 {
		t.Errorf("grads changed below maxNorm: %v %v", g, b.Grad.Data())
	}
	// Above: scaled by 6.5/(13 + 1e-6).
	set()
	if n := ClipGradNorm(params, 6.5); !near(n, 13) {
		t.Errorf("norm %v, want 13", n)
	}
	c := 6.5 / (13 + 1e-6)
	for i, w := range []float64{3 * c, 4 * c} {
		if !near(float64(a.Grad.Data()[i]), w) {
			t.Errorf("a.grad[%d] = %v, want %v", i, a.Grad.Data()[i], w)
		}
	}
	if !near(float64(b.Grad.Data()[0]), 12*c) {
		t.Errorf("b.grad = %v, want %v", b.Grad.Data()[0], 12*c)
	}
	if frozen.Grad.Data()[0] != 100 {
		t.Error("frozen gradient was clipped")
	}
	// The new global norm is maxNorm (up to eps).
	if n := ClipGradNorm(params, 100); !near(n, 6.5) {
		t.Errorf("norm after clipping %v, want 6.5", n)
	}
	// The 1e-6 in the denominator matters for tiny norms: a norm of 1e-6
	// clipped to 1e-6 is halved.
	tiny := param(0)
	setGrad(tiny, 1e-6)
	ClipGradNorm([]*autograd.Var{tiny}, 1e-6)
	if g := float64(tiny.Grad.Data()[0]); math.Abs(g-0.5e-6) > 1e-6*0.5e-6 {
		t.Errorf("tiny grad clipped to %v, want 5e-7", tiny.Grad.Data()[0])
	}
	// A non-finite norm leaves gradients alone.
	setGrad(a, float32(math.Inf(1)), 1)
	if n := ClipGradNorm(params, 1); !math.IsInf(n, 1) || a.Grad.Data()[1] != 1 {
		t.Errorf("inf norm: got %v, grad %v", n, a.Grad.Data())
	}
}

// Minimizing Σ cᵢ(xᵢ − tᵢ)² through autograd converges for every optimizer.
func TestConvergesOnQuadratic(t *testing.T) {
	target := []float32{1, -2, 3, 0.5}
	coef := []float32{1, 4, 0.5, 2}
	for name, mk := range map[string]func([]*autograd.Var) Optimizer{
		"sgd": func(ps []*autograd.Var) Optimizer { return NewSGD(ps, SGDConfig{LR: 0.05}) },
		"sgd-n": func(ps []*autograd.Var) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 0.02, Momentum: 0.9, Nesterov: true})
		},
		"adam":  func(ps []*autograd.Var) Optimizer { return NewAdam(ps, AdamConfig{LR: 0.05}) },
		"adamw": func(ps []*autograd.Var) Optimizer { return NewAdamW(ps, AdamConfig{LR: 0.05, WeightDecay: 1e-4}) },
	} {
		x := autograd.Param(tensor.New(4))
		tv := autograd.Const(tensor.FromSlice(target, 4))
		cv := autograd.Const(tensor.FromSlice(coef, 4))
		o := mk([]*autograd.Var{x})
		sched := CosineWarmup{Base: o.LR(), WarmupSteps: 10, TotalSteps: 1000}
		var loss float32
		for step := range 1000 {
			o.SetLR(sched.LR(step))
			o.ZeroGrad()
			d := autograd.Sub(x, tv)
			l := autograd.Sum(autograd.Mul(cv, autograd.Mul(d, d)))
			loss = l.Value.Data()[0]
			l.Backward()
			o.Step()
		}
		for i, v := range x.Value.Data() {
			if math.Abs(float64(v-target[i])) > 1e-2 {
				t.Errorf("%s: x = %v after 1000 steps (loss %v), want %v", name, x.Value.Data(), loss, target)
				break
			}
		}
	}
}

// A learning-rate multiplier gives a parameter exactly the steps of an
// optimizer built for it alone with the scaled rate, through a changing
// schedule; multiplier 0 leaves it in place.
func TestLRMultipliers(t *testing.T) {
	kinds := []struct {
		name string
		mk   func([]*autograd.Var, float64) Optimizer
	}{
		{"sgd", func(ps []*autograd.Var, lr float64) Optimizer {
			return NewSGD(ps, SGDConfig{LR: lr, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3})
		}},
		{"adam", func(ps []*autograd.Var, lr float64) Optimizer {
			return NewAdam(ps, AdamConfig{LR: lr, WeightDecay: 1e-3})
		}},
		{"adamw", func(ps []*autograd.Var, lr float64) Optimizer {
			return NewAdamW(ps, AdamConfig{LR: lr, WeightDecay: 0.05})
		}},
	}
	rates := []float64{0.1, 0.07, 0.03, 0.011}
	mults := []float64{0.3, 1, 0}
	for _, k := range kinds {
		ps := []*autograd.Var{param(1, -2), param(0.5, 3, -1), param(4)}
		alone := []*autograd.Var{param(1, -2), param(0.5, 3, -1), param(4)}
		o := k.mk(ps, rates[0])
		o.(PerParamLR).SetLRMultipliers(mults)
		refs := make([]Optimizer, len(alone))
		for i := range alone {
			refs[i] = k.mk(alone[i:i+1], rates[0]*mults[i])
		}
		for s, lr := range rates {
			o.SetLR(lr)
			for i := range ps {
				g := make([]float32, ps[i].Value.Size())
				for j := range g {
					g[j] = float32(s+1) * 0.1 * float32(j-i)
				}
				setGrad(ps[i], g...)
				setGrad(alone[i], g...)
				refs[i].SetLR(lr * mults[i])
				refs[i].Step()
			}
			o.Step()
		}
		for i := range ps {
			got, want := ps[i].Value.Data(), alone[i].Value.Data()
			for j := range got {
				if got[j] != want[j] {
					t.Errorf("%s: param %d[%d] = %v with multiplier %g, want %v", k.name, i, j, got[j], mults[i], want[j])
				}
			}
		}
		if v := ps[2].Value.Data()[0]; v != 4 {
			t.Errorf("%s: multiplier 0 moved the parameter to %v", k.name, v)
		}
		// nil restores a single rate.
		o.(PerParamLR).SetLRMultipliers(nil)
		setGrad(ps[2], 1)
		o.Step()
		if v := ps[2].Value.Data()[0]; v == 4 {
			t.Errorf("%s: after SetLRMultipliers(nil) the parameter did not move", k.name)
		}
	}
	for _, bad := range [][]float64{{1, 1}, {1, 1, -0.5}, {1, math.NaN(), 1}, {1, math.Inf(1), 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("SetLRMultipliers(%v) on 3 parameters did not panic", bad)
				}
			}()
			NewSGD([]*autograd.Var{param(1), param(2), param(3)}, SGDConfig{LR: 0.1}).SetLRMultipliers(bad)
		}()
	}
}

// TestWDMultipliers checks per-parameter weight decay: each parameter of
// an optimizer with weight-decay multipliers steps exactly as it would
// alone with weight decay mult·WeightDecay, for SGD, Adam and AdamW.
func TestWDMultipliers(t *testing.T) {
	kinds := []struct {
		name string
		mk   func([]*autograd.Var, float64) Optimizer
	}{
		{"sgd", func(ps []*autograd.Var, wd float64) Optimizer {
			return NewSGD(ps, SGDConfig{LR: 0.05, Momentum: 0.85, Nesterov: true, WeightDecay: wd})
		}},
		{"adam", func(ps []*autograd.Var, wd float64) Optimizer {
			return NewAdam(ps, AdamConfig{LR: 0.05, WeightDecay: wd})
		}},
		{"adamw", func(ps []*autograd.Var, wd float64) Optimizer {
			return NewAdamW(ps, AdamConfig{LR: 0.05, WeightDecay: wd})
		}},
	}
	const wd = 0.03
	mults := []float64{1.0 / 64, 1, 0}
	for _, k := range kinds {
		ps := []*autograd.Var{param(1, -2), param(0.5, 3, -1), param(4)}
		alone := []*autograd.Var{param(1, -2), param(0.5, 3, -1), param(4)}
		o := k.mk(ps, wd)
		o.(PerParamWD).SetWDMultipliers(mults)
		refs := make([]Optimizer, len(alone))
		for i := range alone {
			refs[i] = k.mk(alone[i:i+1], wd*mults[i])
		}
		for s := range 4 {
			for i := range ps {
				g := make([]float32, ps[i].Value.Size())
				for j := range g {
					g[j] = float32(s+1) * 0.1 * float32(j-i)
				}
				setGrad(ps[i], g...)
				setGrad(alone[i], g...)
				refs[i].Step()
			}
			o.Step()
		}
		for i := range ps {
			got, want := ps[i].Value.Data(), alone[i].Value.Data()
			for j := range got {
				if got[j] != want[j] {
					t.Errorf("%s: param %d[%d] = %v with weight-decay multiplier %g, want %v", k.name, i, j, got[j], mults[i], want[j])
				}
			}
		}
	}
}

// TestNewWithMomentum checks that NewWith's momentum reaches SGD, 0 meaning
// DefaultMomentum, and that a momentum of 1 or more is an error.
func TestNewWithMomentum(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, DefaultMomentum}, {0.85, 0.85}} {
		o, err := NewWith("sgd", []*autograd.Var{param(1)}, Settings{LR: 0.1, Momentum: tc.in})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.(*SGD).cfg.Momentum; got != tc.want {
			t.Errorf("momentum %g: SGD has %g, want %g", tc.in, got, tc.want)
		}
	}
	if _, err := NewWith("sgd", []*autograd.Var{param(1)}, Settings{LR: 0.1, Momentum: 1}); err == nil {
		t.Errorf("momentum 1: no error")
	}
}
