package optim

import (
	"math"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestStateResume runs 5 steps; a second optimizer that takes over after
// step 2 from the first one's saved state must produce the same bits.
func TestStateResume(t *testing.T) {
	builds := map[string]func([]*autograd.Var) Stateful{
		"sgd":   func(p []*autograd.Var) Stateful { return NewSGD(p, SGDConfig{LR: 0.1, Momentum: 0.9, Nesterov: true}) },
		"adam":  func(p []*autograd.Var) Stateful { return NewAdam(p, AdamConfig{LR: 0.01, WeightDecay: 0.1}) },
		"adamw": func(p []*autograd.Var) Stateful { return NewAdamW(p, AdamConfig{LR: 0.01, WeightDecay: 0.1}) },
	}
	grad := func(step, i int) []float32 {
		return []float32{float32(step) - 1.5, float32(i) + 0.25, -0.5 * float32(step*i)}
	}
	names := []string{"a.weight", "b.weight"}
	for name, build := range builds {
		ref := []*autograd.Var{param(1, 2, 3), param(-1, 0.5, 4)}
		o := build(ref)
		var saved State
		var res []*autograd.Var // the parameters after step 2
		for step := range 5 {
			for i, p := range ref {
				setGrad(p, grad(step, i)...)
			}
			o.Step()
			if step == 1 {
				s := o.State(names)
				saved.Steps = s.Steps
				for _, n := range s.Tensors {
					saved.Tensors = append(saved.Tensors, nn.Named[*tensor.Tensor]{Name: n.Name, Value: n.Value.Clone()})
				}
				res = []*autograd.Var{param(ref[0].Value.Data()...), param(ref[1].Value.Data()...)}
			}
		}
		o2 := build(res)
		if err := o2.LoadState(names, saved); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for step := 2; step < 5; step++ {
			for i, p := range res {
				setGrad(p, grad(step, i)...)
			}
			o2.Step()
		}
		for i := range ref {
			for j, v := range ref[i].Value.Data() {
				if g := res[i].Value.Data()[j]; math.Float32bits(g) != math.Float32bits(v) {
					t.Errorf("%s: param %d[%d] = %v after resume, want %v", name, i, j, g, v)
				}
			}
		}
	}
}

func TestLoadStateRejects(t *testing.T) {
	p := []*autograd.Var{param(1, 2)}
	names := []string{"w"}
	cases := []struct {
		opt  Stateful
		s    State
		want string
	}{
		{NewSGD(p, SGDConfig{LR: 1, Momentum: 0.9}), State{Tensors: namedT("v.momentum", 2)}, "no parameter"},
		{NewSGD(p, SGDConfig{LR: 1, Momentum: 0.9}), State{Tensors: namedT("w.momentum", 3)}, "shape"},
		{NewSGD(p, SGDConfig{LR: 1, Momentum: 0.9}), State{Tensors: namedT("w.exp_avg", 2)}, "no buffer"},
		{NewSGD(p, SGDConfig{LR: 1, Momentum: 0.9}), State{Steps: map[string]int{"w": 1}}, "step counts"},
		{NewAdam(p, AdamConfig{LR: 1}), State{Tensors: namedT("w.exp_avg", 2), Steps: map[string]int{"w": 1}}, "incomplete"},
		{NewAdam(p, AdamConfig{LR: 1}), State{Steps: map[string]int{"x": 1}}, "no parameter"},
	}
	for _, c := range cases {
		if err := c.opt.LoadState(names, c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T %+v: error %v, want %q", c.opt, c.s, err, c.want)
		}
	}
}

func namedT(name string, n int) []nn.Named[*tensor.Tensor] {
	return []nn.Named[*tensor.Tensor]{{Name: name, Value: tensor.New(n)}}
}
