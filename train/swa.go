package train

import (
	"fmt"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Stochastic weight averaging (Izmailov et al. 2018, "Averaging Weights
// Leads to Wider Optima and Better Generalization"; PyTorch's
// torch.optim.swa_utils): from epoch [Config.SWAStart] on, [Fit] keeps the
// running mean of the weights at the end of each epoch, optionally trains
// those epochs at a constant [Config.SWALR], and at the end puts the mean
// into the model and recomputes its batch-norm statistics
// ([UpdateBatchNorm]), which the averaged weights have never produced.

// averagePrefix starts the names of the averaged weights in a training
// checkpoint: checkpoint.OptimizerPrefix + "swa." + parameter name. Model
// loaders skip the optimizer prefix, so such a file still loads as a model.
const averagePrefix = "swa."

// averager keeps the running mean of a model's parameters.
type averager struct {
	params []nn.Named[*autograd.Var]
	mean   []*tensor.Tensor // one per parameter, same shape
	n      int              // weights averaged so far
}

func newAverager(model nn.Layer) *averager {
	a := &averager{params: nn.Params(model)}
	for _, p := range a.params {
		a.mean = append(a.mean, tensor.Zeros(p.Value.Value.Shape()...))
	}
	return a
}

// add folds the model's current weights into the mean:
// mean += (w − mean) / (n+1), computed in float64 per element.
func (a *averager) add() {
	a.n++
	k := 1 / float64(a.n)
	for i, p := range a.params {
		w := p.Value.Value.Contiguous().Data()
		m := a.mean[i].Data()
		for j := range m {
			m[j] = float32(float64(m[j]) + (float64(w[j])-float64(m[j]))*k)
		}
	}
}

// apply copies the mean into the model's parameters.
func (a *averager) apply() {
	for i, p := range a.params {
		p.Value.Value.CopyFrom(a.mean[i])
	}
}

// tensors returns the means named for a checkpoint (without the optimizer
// prefix, which the checkpointer adds).
func (a *averager) tensors() []nn.Named[*tensor.Tensor] {
	out := make([]nn.Named[*tensor.Tensor], len(a.params))
	for i, p := range a.params {
		out[i] = nn.Named[*tensor.Tensor]{Name: averagePrefix + p.Name, Value: a.mean[i]}
	}
	return out
}

// load restores the mean of n weights from a checkpoint's tensors (named
// as [averager.tensors] names them); every parameter must be there.
func (a *averager) load(path string, saved []nn.Named[*tensor.Tensor], n int) error {
	if n == 0 {
		return nil
	}
	names := make([]string, len(a.params))
	for i, p := range a.params {
		names[i] = p.Name
	}
	if err := loadNamed(path, saved, averagePrefix, names, a.mean, fmt.Sprintf("averages %d epochs' weights", n)); err != nil {
		return err
	}
	a.n = n
	return nil
}

// loadNamed copies the checkpoint tensors saved named prefix+names[i] into
// dst[i], for every i: a missing one or one of another shape is an error
// naming path and what the run does (for the message: "averages its
// weights").
func loadNamed(path string, saved []nn.Named[*tensor.Tensor], prefix string, names []string, dst []*tensor.Tensor, what string) error {
	byName := make(map[string]*tensor.Tensor, len(saved))
	for _, t := range saved {
		byName[t.Name] = t.Value
	}
	for i, name := range names {
		t, ok := byName[prefix+name]
		switch {
		case !ok:
			return fmt.Errorf("train: resume from %s: the run %s but the checkpoint lacks the average of %q", path, what, name)
		case !tensor.SameShape(t, dst[i]):
			return fmt.Errorf("train: resume from %s: the average of %q has shape %v, the model's is %v", path, name, t.Shape(), dst[i].Shape())
		}
		dst[i].CopyFrom(t)
	}
	return nil
}

// finishSWA puts the average of avg into model, recomputes its batch-norm
// statistics over one pass of loader's batches and evaluates it.
func finishSWA(model nn.Layer, avg *averager, loader *data.Loader, testSet *data.Dataset, cfg *Config) *SWAResult {
	avg.apply()
	r := &SWAResult{From: cfg.SWAStart, Averaged: avg.n}
	r.BNBatches = UpdateBatchNorm(model, loader)
	if testSet != nil {
		r.TestLoss, r.TestAcc = Evaluate(model, testSet, cfg.EvalBatchSize)
	}
	return r
}

// UpdateBatchNorm recomputes the running mean and variance of every batch
// normalization layer of model in training mode (frozen ones keep theirs,
// as in [Fit]) from one pass over loader's batches without gradients: each
// becomes the plain average over the batches of the batch statistics
// (PyTorch's update_bn, momentum None). Weight averaging needs it, since
// the averaged weights never produced the statistics the layers hold. It
// returns the number of batches and leaves the model in evaluation mode.
func UpdateBatchNorm(model nn.Layer, loader *data.Loader) int {
	var bns []*nn.BatchNorm
	setTraining(model)
	nn.Walk(model, func(_ string, l nn.Layer) {
		if bn, ok := l.(*nn.BatchNorm); ok && bn.Training && bn.RunningMean != nil {
			bns = append(bns, bn)
		}
	})
	momentum := make([]float32, len(bns))
	for i, bn := range bns {
		momentum[i] = bn.Momentum
		bn.RunningMean.Fill(0)
		bn.RunningVar.Fill(1)
	}
	tape := &autograd.Tape{NoGrad: true, Arena: tensor.NewArena()}
	batches := 0
	for b := range loader.Epoch(0) {
		tape.Arena.Reset()
		// running = (1 − 1/k)·running + (1/k)·batch is the mean of the
		// first k batches' statistics.
		for _, bn := range bns {
			bn.Momentum = 1 / float32(batches+1)
		}
		model.Forward(tape.Const(b.X))
		batches++
	}
	for i, bn := range bns {
		bn.Momentum = momentum[i]
	}
	nn.SetTraining(model, false)
	return batches
}
