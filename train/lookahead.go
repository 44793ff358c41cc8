package train

import (
	"math"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Lookahead weight averaging, airbench's LookaheadState (Jordan 2024,
// after Zhang et al. 2019, "Lookahead Optimizer"): the run keeps an
// exponential moving average of the model's state — parameters and
// batch-norm running statistics — and every [Config.Lookahead] steps moves
// the average toward the weights and the weights back onto the average:
//
//	decay = base^every · (t/T)³    (t: optimizer steps so far, T: the run's)
//	ema   = lerp(ema, w, 1 − decay);  w = ema
//
// so early steps follow the weights and late ones average ever more
// strongly; after the run's last step the weights take the average
// (decay 1). The average starts as a copy of the model.

// lookaheadPrefix starts the names of the average in a training
// checkpoint: checkpoint.OptimizerPrefix + "lookahead." + state-dict name.
const lookaheadPrefix = "lookahead."

// defaultLookaheadDecay is airbench's base decay per step.
const defaultLookaheadDecay = 0.95

// lookahead is the average of a run's model state.
type lookahead struct {
	every int
	base  float64
	total int                        // the run's optimizer steps
	state []nn.Named[*tensor.Tensor] // the model's float tensors, live
	ema   []*tensor.Tensor           // their average
}

// newLookahead starts the average of model's parameters and buffers (all
// but num_batches_tracked, a count) at their current values.
func newLookahead(model nn.Layer, every int, base float64, total int) *lookahead {
	l := &lookahead{every: every, base: base, total: total}
	for _, t := range nn.StateDict(model) {
		if strings.HasSuffix(t.Name, "num_batches_tracked") {
			continue
		}
		l.state = append(l.state, t)
		l.ema = append(l.ema, t.Value.Clone())
	}
	return l
}

// step runs the averaging due after optimizer step t (counted from 1).
func (l *lookahead) step(t int) {
	if t%l.every == 0 {
		l.update(math.Pow(l.base, float64(l.every)) * math.Pow(float64(t)/float64(l.total), 3))
	}
	if t == l.total {
		l.update(1)
	}
}

// update sets ema = lerp(ema, w, 1 − decay) and w = ema for every tensor,
// with torch.lerp's two forms (the one for weights ≥ ½ ends exactly at w).
func (l *lookahead) update(decay float64) {
	wt := float32(1 - decay)
	for i, t := range l.state {
		w, e := t.Value.Contiguous().Data(), l.ema[i].Data()
		for j, x := range w {
			if wt < 0.5 {
				e[j] += wt * (x - e[j])
			} else {
				e[j] = x - (x-e[j])*(1-wt)
			}
			w[j] = e[j]
		}
	}
}

// tensors returns the average named for a checkpoint (without the
// optimizer prefix, which the checkpointer adds).
func (l *lookahead) tensors() []nn.Named[*tensor.Tensor] {
	out := make([]nn.Named[*tensor.Tensor], len(l.state))
	for i, t := range l.state {
		out[i] = nn.Named[*tensor.Tensor]{Name: lookaheadPrefix + t.Name, Value: l.ema[i]}
	}
	return out
}

// load restores the average from a checkpoint's tensors (named as
// [lookahead.tensors] names them); every tensor must be there.
func (l *lookahead) load(path string, saved []nn.Named[*tensor.Tensor]) error {
	names := make([]string, len(l.state))
	for i, t := range l.state {
		names[i] = t.Name
	}
	return loadNamed(path, saved, lookaheadPrefix, names, l.ema, "averages its weights (lookahead)")
}
