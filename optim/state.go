package optim

import (
	"fmt"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// State is what an optimizer has learned besides the parameters, for a
// checkpoint that resumes training exactly: its buffers, named
// "<parameter>.<buffer>" with PyTorch's buffer names ("fc.weight.momentum"
// for [SGD]; "fc.weight.exp_avg" and "fc.weight.exp_avg_sq" for [Adam]),
// and the per-parameter step counts of optimizers that keep them (Adam's
// bias correction). A parameter that has not taken a step yet has no
// buffers and no count.
type State struct {
	Tensors []nn.Named[*tensor.Tensor]
	Steps   map[string]int
}

// Stateful is an optimizer whose state can be saved and restored; [SGD],
// [Adam] and [AdamW] are. names[i] names the i-th parameter the optimizer
// was built with (its state-dict name).
type Stateful interface {
	Optimizer
	// State returns the optimizer's state. The tensors are shared, not
	// copied: save them before the next Step.
	State(names []string) State
	// LoadState replaces the optimizer's state by s, copying its tensors.
	// It returns an error, and changes nothing, if s has a tensor or count
	// for no parameter, one of the wrong shape, or an unknown buffer.
	LoadState(names []string, s State) error
}

// Buffer names, as in PyTorch's optimizer state_dict.
const (
	bufMomentum = "momentum"
	bufExpAvg   = "exp_avg"
	bufExpAvgSq = "exp_avg_sq"
)

// checkNames panics unless there is one name per parameter.
func checkNames(names []string, n int) {
	if len(names) != n {
		panic(fmt.Sprintf("optim: %d names for %d parameters", len(names), n))
	}
}

// collect names the non-nil buffers of each kind.
func collect(names []string, bufs map[string][]*tensor.Tensor, kinds ...string) []nn.Named[*tensor.Tensor] {
	var out []nn.Named[*tensor.Tensor]
	for i, name := range names {
		for _, k := range kinds {
			if t := bufs[k][i]; t != nil {
				out = append(out, nn.Named[*tensor.Tensor]{Name: name + "." + k, Value: t})
			}
		}
	}
	return out
}

// restore matches s's tensors to the parameters and buffer kinds, checks
// their shapes against shapes[i] and returns fresh copies by kind, aligned
// with names.
func restore(names []string, shapes [][]int, s State, kinds ...string) (map[string][]*tensor.Tensor, error) {
	index := make(map[string]int, len(names))
	for i, n := range names {
		index[n] = i
	}
	out := map[string][]*tensor.Tensor{}
	for _, k := range kinds {
		out[k] = make([]*tensor.Tensor, len(names))
	}
	for _, t := range s.Tensors {
		dot := strings.LastIndexByte(t.Name, '.')
		if dot < 0 {
			return nil, fmt.Errorf("optim: state tensor %q is not named <parameter>.<buffer>", t.Name)
		}
		param, kind := t.Name[:dot], t.Name[dot+1:]
		i, ok := index[param]
		if !ok {
			return nil, fmt.Errorf("optim: state tensor %q is for no parameter of this optimizer", t.Name)
		}
		bufs, ok := out[kind]
		if !ok {
			return nil, fmt.Errorf("optim: state tensor %q: this optimizer has no buffer %q (has %s)", t.Name, kind, strings.Join(kinds, ", "))
		}
		if !slices.Equal(t.Value.Shape(), shapes[i]) {
			return nil, fmt.Errorf("optim: state tensor %q has shape %v, parameter %q %v", t.Name, t.Value.Shape(), param, shapes[i])
		}
		c := tensor.New(shapes[i]...)
		c.CopyFrom(t.Value)
		bufs[i] = c
	}
	for name := range s.Steps {
		if _, ok := index[name]; !ok {
			return nil, fmt.Errorf("optim: step count for %q, which is no parameter of this optimizer", name)
		}
	}
	return out, nil
}

// paramShapes returns the shape of each parameter.
func paramShapes(params []*autograd.Var) [][]int {
	out := make([][]int, len(params))
	for i, p := range params {
		out[i] = p.Value.Shape()
	}
	return out
}

// State returns the momentum buffers (none without momentum).
func (o *SGD) State(names []string) State {
	checkNames(names, len(o.params))
	return State{Tensors: collect(names, map[string][]*tensor.Tensor{bufMomentum: o.momentum}, bufMomentum)}
}

// LoadState restores the momentum buffers saved by [SGD.State].
func (o *SGD) LoadState(names []string, s State) error {
	checkNames(names, len(o.params))
	if len(s.Steps) > 0 {
		return fmt.Errorf("optim: SGD keeps no step counts, the state has %d (saved by another optimizer?)", len(s.Steps))
	}
	bufs, err := restore(names, paramShapes(o.params), s, bufMomentum)
	if err != nil {
		return err
	}
	o.momentum = bufs[bufMomentum]
	return nil
}

// State returns the moment averages and the step count of every parameter
// that has taken a step.
func (o *Adam) State(names []string) State {
	checkNames(names, len(o.params))
	s := State{
		Tensors: collect(names, map[string][]*tensor.Tensor{bufExpAvg: o.expAvg, bufExpAvgSq: o.expAvgSq}, bufExpAvg, bufExpAvgSq),
		Steps:   map[string]int{},
	}
	for i, n := range o.steps {
		if n > 0 {
			s.Steps[names[i]] = n
		}
	}
	return s
}

// LoadState restores the moment averages and step counts saved by
// [Adam.State]. Each parameter needs both averages and a step count, or
// none of the three.
func (o *Adam) LoadState(names []string, s State) error {
	checkNames(names, len(o.params))
	bufs, err := restore(names, paramShapes(o.params), s, bufExpAvg, bufExpAvgSq)
	if err != nil {
		return err
	}
	steps := make([]int, len(o.params))
	for i, n := range names {
		steps[i] = s.Steps[n]
		m, v := bufs[bufExpAvg][i] != nil, bufs[bufExpAvgSq][i] != nil
		if m != v || m != (steps[i] > 0) {
			return fmt.Errorf("optim: Adam state of %q is incomplete: it needs exp_avg, exp_avg_sq and a positive step count together", n)
		}
	}
	o.expAvg, o.expAvgSq, o.steps = bufs[bufExpAvg], bufs[bufExpAvgSq], steps
	return nil
}
