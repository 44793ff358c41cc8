// Package train is Fovea's training loop: [Fit] runs epochs of mini-batch
// gradient descent over a data set and evaluates on a test set after each,
// reporting progress as it goes; [Evaluate] measures loss and accuracy.
//
// The loop in [Fit] has the shape of llm.c's: for each batch of each
// epoch, one training step at the scheduled learning rate (forward pass in
// training mode, loss, backward pass, optional gradient clipping, optimizer
// update: [Stepper]), then the hooks that follow the run — progress
// display, checkpoints, weight averaging, [Config.OnEpoch] — each in a
// function of its own (hooks.go); run.go holds what the loop works with and
// where it stands. Errors come only from invalid configuration
// ([ConfigError]); a NaN loss stops training with an error naming the epoch
// and step.
//
// With [Config.CheckpointPath], Fit saves the whole training state ([State])
// every few steps, atomically and checksummed; [ReadState] and
// [Config.Resume] continue such a run bit for bit as if it had never
// stopped.
package train

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// EpochStats are the measurements of one epoch.
type EpochStats struct {
	Epoch        int     `json:"epoch"` // from 1
	TrainLoss    float64 `json:"train_loss"`
	TrainAcc     float64 `json:"train_accuracy"` // fraction in [0, 1]
	TestLoss     float64 `json:"test_loss"`
	TestAcc      float64 `json:"test_accuracy"`
	LR           float64 `json:"lr"`                      // at the end of the epoch
	ImagesPerSec float64 `json:"train_images_per_second"` // training throughput
	Seconds      float64 `json:"epoch_seconds"`           // training and evaluation
	Elapsed      float64 `json:"elapsed_seconds"`         // since Fit started
}

// Result is the outcome of [Fit].
type Result struct {
	Epochs  []EpochStats
	Elapsed time.Duration
	// SWA describes the averaged model with which Fit left the model, when
	// [Config.SWAStart] was set; nil otherwise.
	SWA *SWAResult
	// Step says how the training steps ran: compiled, or eagerly and why
	// ([Stepper.Compiled]).
	Step string
}

// SWAResult is the outcome of stochastic weight averaging.
type SWAResult struct {
	From     int     `json:"from_epoch"` // first epoch averaged
	Averaged int     `json:"epochs"`     // epochs averaged
	TestLoss float64 `json:"test_loss"`  // of the averaged model; 0 without a test set
	TestAcc  float64 `json:"test_accuracy"`
	// BNBatches is the number of batches UpdateBatchNorm ran.
	BNBatches int `json:"bn_batches"`
}

// Final returns the last epoch's statistics.
func (r Result) Final() EpochStats {
	if len(r.Epochs) == 0 {
		return EpochStats{}
	}
	return r.Epochs[len(r.Epochs)-1]
}

// Fit trains model on trainSet for cfg.Epochs epochs, evaluating on testSet
// (which may be nil) after each. With cfg.CheckpointPath it saves the
// training state as it goes, and with cfg.Resume it continues a run from
// such a checkpoint.
func Fit(model nn.Layer, trainSet, testSet *data.Dataset, cfg Config) (Result, error) {
	r, err := newRun(model, trainSet, testSet, cfg)
	if err != nil {
		return Result{}, err
	}
	defer r.unfreeze()
	for ; r.epoch <= r.cfg.Epochs; r.epoch++ {
		r.startEpoch()
		for b := range r.loader.EpochFrom(r.epoch-1, r.done) {
			if err := r.step(b); err != nil { // forward, loss, backward, update
				return r.res, err
			}
			if err := r.hooks.step(r); err != nil { // progress, checkpoint
				return r.res, err
			}
		}
		st := r.endEpoch()                              // statistics, evaluation
		if err := r.hooks.endEpoch(r, st); err != nil { // progress, averaging, checkpoint, OnEpoch
			return r.res, err
		}
	}
	r.finish()
	return r.res, nil
}

// Evaluate returns the mean cross-entropy loss and the accuracy of model on
// ds, in evaluation mode and without recording gradients. The model is left
// in evaluation mode.
func Evaluate(model nn.Layer, ds *data.Dataset, batchSize int) (loss, accuracy float64) {
	if ds.Len() == 0 {
		return math.NaN(), math.NaN()
	}
	nn.SetTraining(model, false)
	ce := nn.CrossEntropyLoss{}
	loader := &data.Loader{Source: ds, BatchSize: max(batchSize, 1)}
	tape := &autograd.Tape{NoGrad: true, Arena: tensor.NewArena()}
	var lossSum float64
	var correct int
	for b := range loader.Epoch(0) {
		tape.Arena.Reset()
		logits := model.Forward(tape.Const(b.X))
		lossSum += float64(ce.Loss(logits, b.Y).Value.Item()) * float64(len(b.Y))
		correct += countCorrect(logits, b.Y)
	}
	return lossSum / float64(ds.Len()), float64(correct) / float64(ds.Len())
}

// countCorrect counts the rows of logits (N, C) whose largest entry is at
// the label.
func countCorrect(logits *autograd.Var, labels []int) int {
	z := logits.Value.Contiguous().Data() // (N, C)
	c := logits.Value.Dim(1)
	n := 0
	for i, y := range labels {
		row := z[i*c : (i+1)*c]
		best := 0 // the first of equal maxima, as tensor.ArgMax
		for j, v := range row[1:] {
			if v > row[best] {
				best = j + 1
			}
		}
		if best == y {
			n++
		}
	}
	return n
}

// Trainable returns the parameters of model that require gradients: all of
// them unless some were frozen with [Freeze].
func Trainable(model nn.Layer) []*autograd.Var {
	var out []*autograd.Var
	for _, p := range nn.ParamVars(model) {
		if p.RequiresGrad() {
			out = append(out, p)
		}
	}
	return out
}

// Freeze stops gradients to every parameter of model whose state-dict name
// starts with one of prefixes followed by "." or the end of the name
// ("layer1" freezes layer1.0.conv1.weight but not layer10.…), for
// fine-tuning. [Fit] also keeps a layer whose parameters are all frozen in
// evaluation mode, so a frozen batch norm uses its running statistics. It returns the names frozen, and an error naming a prefix
// that matches no parameter.
func Freeze(model nn.Layer, prefixes ...string) ([]string, error) {
	var frozen []string
	params := nn.Params(model)
	for _, pre := range prefixes {
		hit := false
		for _, p := range params {
			if p.Name == pre || strings.HasPrefix(p.Name, pre+".") {
				p.Value.SetRequiresGrad(false)
				frozen = append(frozen, p.Name)
				hit = true
			}
		}
		if !hit {
			return nil, fmt.Errorf("train: freeze %q matches no parameter (names look like %s)", pre, exampleNames(params))
		}
	}
	return frozen, nil
}

// exampleNames lists a few parameter names for error messages.
func exampleNames(params []nn.Named[*autograd.Var]) string {
	var names []string
	for i, p := range params {
		if i == 3 {
			names = append(names, "…")
			break
		}
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

// Logits returns the output of model (before any softmax) for every
// example of ds, one row per example, in evaluation mode without
// gradients. The model is left in evaluation mode.
func Logits(model nn.Layer, ds *data.Dataset, batchSize int) [][]float32 {
	nn.SetTraining(model, false)
	loader := &data.Loader{Source: ds, BatchSize: max(batchSize, 1)}
	tape := &autograd.Tape{NoGrad: true, Arena: tensor.NewArena()}
	out := make([][]float32, 0, ds.Len())
	for b := range loader.Epoch(0) {
		tape.Arena.Reset()
		z := model.Forward(tape.Const(b.X)).Value.Contiguous() // (N, classes)
		k := z.Shape()[1]
		d := z.Data()
		for i := range len(b.Y) {
			out = append(out, slices.Clone(d[i*k:(i+1)*k]))
		}
	}
	return out
}

// Predict returns the softmax class probabilities of model for every
// example of ds, one row per example: [Logits] with a softmax per row.
func Predict(model nn.Layer, ds *data.Dataset, batchSize int) [][]float32 {
	rows := Logits(model, ds, batchSize)
	for _, r := range rows {
		for k, p := range metrics.Softmax(r, 1) {
			r[k] = float32(p)
		}
	}
	return rows
}

// setTraining puts model in training mode, except layers whose parameters
// are all frozen: a frozen batch norm keeps normalizing with its running
// statistics instead of re-estimating them from the new data (Keras's
// semantics of trainable = False; without it a fine-tuned network's
// evaluation would use statistics its frozen weights never saw).
func setTraining(model nn.Layer) {
	nn.SetTraining(model, true)
	nn.Walk(model, func(_ string, l nn.Layer) {
		t, ok := l.(nn.Trainable)
		p, hasParams := l.(nn.ParamOwner)
		if !ok || !hasParams {
			return
		}
		own := p.OwnParams()
		for _, n := range own {
			if n.Value.RequiresGrad() {
				return
			}
		}
		if len(own) > 0 {
			t.SetTraining(false)
		}
	})
}
