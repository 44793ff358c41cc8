package train

import (
	"math"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestLookahead checks the averaging against the formula: nothing between
// the intervals, ema = ema + (1 − decay)·(w − ema) with decay =
// base^every·(t/T)³ and the weights set to it on every interval, and at
// the last step the weights take the average; a batch norm's running
// statistics are averaged, its count is not.
func TestLookahead(t *testing.T) {
	bn := nn.NewBatchNorm1d(1)
	m := nn.NewSequential(nn.NewLinear(tensor.NewRNG(1), 1, 1, false), bn)
	w := nn.Params(m)[0].Value.Value.Data()
	w[0] = 1
	l := newLookahead(m, 2, 0.9, 4)
	set := func(v float32) { w[0], bn.RunningMean.Data()[0], bn.NumBatchesTracked.Data()[0] = v, v, v }
	set(3)
	l.step(1)
	if w[0] != 3 {
		t.Fatalf("step 1 of every 2 changed the weight to %v", w[0])
	}
	l.step(2)
	decay := 0.81 * math.Pow(2.0/4, 3)
	want := float32(1 + (1-decay)*(3-1))
	if math.Abs(float64(w[0]-want)) > 1e-6 || w[0] != l.ema[0].Data()[0] {
		t.Fatalf("after step 2: weight %v, average %v, want both %v", w[0], l.ema[0].Data()[0], want)
	}
	if bn.RunningMean.Data()[0] == 3 || bn.NumBatchesTracked.Data()[0] != 3 {
		t.Errorf("running mean %v (averaged from 0: want < 3), count %v (want 3, untouched)", bn.RunningMean.Data()[0], bn.NumBatchesTracked.Data()[0])
	}
	set(10)
	l.step(3)
	l.step(4) // decay 0.81, then the final decay 1: the weights take the average
	want = want + float32(1-0.81)*(10-want)
	if math.Abs(float64(w[0]-want)) > 1e-5 {
		t.Fatalf("after the last step: weight %v, want the average %v", w[0], want)
	}
}

// TestRecipeNormalized checks that recipes compare by meaning: a state
// written before Momentum and LookaheadDecay existed (0) matches a run at
// their defaults, Adam's momentum and a decay without lookahead do not
// count.
func TestRecipeNormalized(t *testing.T) {
	cfg := Config{Optimizer: "sgd", Momentum: 0.9, LookaheadDecay: 0.95}
	cfg.defaults()
	old := cfg.recipe()
	old.Momentum, old.LookaheadDecay = 0, 0 // as a state written before the fields
	if got := cfg.recipe(); got != old.normalized() {
		t.Errorf("a state without momentum: %+v, the run's %+v", old.normalized(), got)
	}
	adam := Config{Optimizer: "adamw", Momentum: 0.5}
	adam.defaults()
	if m := adam.recipe().Momentum; m != 0 {
		t.Errorf("adamw recipe momentum %v, want 0 (unused)", m)
	}
	look := Config{Optimizer: "sgd", Lookahead: 5}
	look.defaults()
	if d := look.recipe().LookaheadDecay; d != defaultLookaheadDecay {
		t.Errorf("lookahead decay %v, want the default %v", d, defaultLookaheadDecay)
	}
}
