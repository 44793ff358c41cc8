// Package train is Fovea's training loop: [Fit] runs epochs of mini-batch
// gradient descent over a data set and evaluates on a test set after each,
// reporting progress as it goes; [Evaluate] measures loss and accuracy.
//
// The loop in [Fit] is meant to be read top to bottom: for each batch, a
// forward pass in training mode, the loss, the backward pass, optional
// gradient clipping, the learning rate for this step, and the optimizer
// step. Errors come only from invalid configuration; a NaN loss stops
// training with an error naming the epoch and step.
//
// With [Config.CheckpointPath], Fit saves the whole training state ([State])
// every few steps, atomically and checksummed; [ReadState] and
// [Config.Resume] continue such a run bit for bit as if it had never
// stopped.
package train

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// Config is a training recipe. The zero value of each field picks the
// default in its comment.
type Config struct {
	Epochs         int     // default 1
	BatchSize      int     // default 64
	LR             float64 // base (or peak, for one-cycle) learning rate; default 0.01
	Optimizer      string  // "sgd", "adam" or "adamw"; default "sgd"
	Schedule       string  // "constant", "step", "multistep", "cosine" or "onecycle"; default "constant"
	WeightDecay    float64
	LabelSmoothing float32
	ClipNorm       float64 // clip gradients to this global L2 norm; 0 = off
	// LRMult gives some parameters their own learning rate, a factor of
	// the scheduled one (discriminative learning rates); nil: one rate.
	LRMult        []LRMult
	Seed          uint64 // shuffling order (and augmentation)
	EvalBatchSize int    // default 500

	// SWAStart, if positive, turns on stochastic weight averaging (see
	// swa.go): the weights at the end of epoch SWAStart and of every epoch
	// after it are averaged, and when the last epoch is done the model
	// gets the average, with its batch-norm statistics recomputed by one
	// pass over the (augmented) training set. 0: no averaging.
	SWAStart int
	// SWALR, if positive, is the constant learning rate of the averaged
	// epochs (SWAStart on), replacing the schedule there; 0 keeps the
	// schedule.
	SWALR float64

	// Transform, if set, augments each training example (C*H*W values in
	// CHW order) on the loader's workers; see package augment. It must
	// leave values in the range the model expects (normalize last).
	Transform func(x []float32, rng *rand.Rand)

	// Progress receives progress output; nil means none. When Interactive
	// is set it draws a live progress bar (for a terminal), otherwise it
	// prints a plain line every ProgressEvery (default 10 s) and one per
	// epoch.
	Progress      io.Writer
	Interactive   bool
	ProgressEvery time.Duration

	// OnEpoch, if set, is called after each epoch's evaluation.
	OnEpoch func(EpochStats)

	// CheckpointPath, if set, names the checkpoints of the training state
	// ([State]): "run.safetensors" gives run.step0000120.safetensors after
	// global step 120 ([StepPath]). One is written, atomically, every
	// CheckpointEvery optimizer steps and at the end of each epoch (after
	// its evaluation); CheckpointEvery 0 means at epoch ends only. Each
	// holds the model's tensors, the optimizer's and CheckpointMeta.
	CheckpointPath  string
	CheckpointEvery int
	// KeepLast, if positive, keeps only the last KeepLast step checkpoints,
	// deleting older ones after each write; 0 keeps all.
	KeepLast int
	// CheckpointMeta is added to the metadata of each checkpoint (the model
	// description of models.Meta, a caller's recipe).
	CheckpointMeta map[string]string

	// Resume, if set, continues the run that wrote it (see [ReadState])
	// instead of starting afresh: Fit loads its weights into model, which
	// must be freshly built as for the original run, restores the
	// optimizer, the schedule's position and the dropout generators, and
	// trains the remaining batches of the interrupted epoch and the
	// epochs after it. The Config must match the state's [Recipe]. The
	// Result lists the epochs finished before the checkpoint too.
	Resume *State
}

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

func (c *Config) defaults() {
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.BatchSize == 0 {
		c.BatchSize = 64
	}
	if c.LR == 0 {
		c.LR = 0.01
	}
	if c.Optimizer == "" {
		c.Optimizer = "sgd"
	}
	if c.Schedule == "" {
		c.Schedule = "constant"
	}
	if c.EvalBatchSize == 0 {
		c.EvalBatchSize = 500
	}
	if c.ProgressEvery == 0 {
		c.ProgressEvery = 10 * time.Second
	}
}

func (c *Config) validate(trainSet *data.Dataset) error {
	switch {
	case c.Epochs < 0:
		return fmt.Errorf("train: epochs %d must be positive", c.Epochs)
	case c.BatchSize < 1:
		return fmt.Errorf("train: batch size %d must be positive", c.BatchSize)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("train: learning rate %g must be a positive number", c.LR)
	case c.WeightDecay < 0:
		return fmt.Errorf("train: weight decay %g must not be negative", c.WeightDecay)
	case c.LabelSmoothing < 0 || c.LabelSmoothing >= 1:
		return fmt.Errorf("train: label smoothing %g must be in [0, 1)", c.LabelSmoothing)
	case trainSet.Len() == 0:
		return fmt.Errorf("train: training set %s is empty", trainSet.Name)
	case c.CheckpointEvery < 0:
		return fmt.Errorf("train: checkpoint interval %d must not be negative", c.CheckpointEvery)
	case c.KeepLast < 0:
		return fmt.Errorf("train: keep-last %d must not be negative", c.KeepLast)
	case c.CheckpointPath == "" && (c.CheckpointEvery > 0 || c.KeepLast > 0):
		return fmt.Errorf("train: checkpoint interval or keep-last set without a checkpoint path")
	case c.SWAStart < 0 || c.SWAStart > c.Epochs:
		return fmt.Errorf("train: weight averaging from epoch %d: must be between 1 and the %d epochs (0: off)", c.SWAStart, c.Epochs)
	case !(c.SWALR >= 0) || math.IsInf(c.SWALR, 0):
		return fmt.Errorf("train: weight-averaging learning rate %g must be a non-negative number", c.SWALR)
	case c.SWALR > 0 && c.SWAStart == 0:
		return fmt.Errorf("train: weight-averaging learning rate %g set without a first epoch to average", c.SWALR)
	}
	return nil
}

// Fit trains model on trainSet for cfg.Epochs epochs, evaluating on testSet
// (which may be nil) after each. With cfg.CheckpointPath it saves the
// training state as it goes, and with cfg.Resume it continues a run from
// such a checkpoint.
func Fit(model nn.Layer, trainSet, testSet *data.Dataset, cfg Config) (Result, error) {
	cfg.defaults()
	if err := cfg.validate(trainSet); err != nil {
		return Result{}, err
	}
	params := Trainable(model)
	if len(params) == 0 {
		return Result{}, fmt.Errorf("train: every parameter of the model is frozen")
	}
	opt, err := optim.New(cfg.Optimizer, params, cfg.LR, cfg.WeightDecay)
	if err != nil {
		return Result{}, err
	}
	if len(cfg.LRMult) > 0 {
		mult, err := LRMultipliers(model, cfg.LRMult)
		if err != nil {
			return Result{}, err
		}
		pp, ok := opt.(optim.PerParamLR)
		if !ok {
			return Result{}, fmt.Errorf("train: optimizer %s cannot take learning-rate multipliers", cfg.Optimizer)
		}
		pp.SetLRMultipliers(mult)
	}
	loader := &data.Loader{Source: trainSet, BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed, DropLast: true,
		Transform: cfg.Transform}
	if trainSet.Len() < cfg.BatchSize {
		loader.DropLast = false
	}
	steps := loader.NumBatches()
	sched, err := optim.ParseSchedule(cfg.Schedule, cfg.LR, steps*cfg.Epochs, steps)
	if err != nil {
		return Result{}, err
	}
	// rate is the learning rate of global step i, in epoch epoch.
	rate := func(i, epoch int) float64 {
		if cfg.SWALR > 0 && epoch >= cfg.SWAStart {
			return cfg.SWALR
		}
		return sched.LR(i)
	}
	var avg *averager
	if cfg.SWAStart > 0 {
		avg = newAverager(model)
	}
	stepper := NewStepper(model, nn.CrossEntropyLoss{LabelSmoothing: cfg.LabelSmoothing}, opt)
	stepper.ClipNorm = cfg.ClipNorm
	prog := newProgress(cfg.Progress, cfg.Interactive, cfg.ProgressEvery)

	// What a checkpoint needs beyond the weights: the optimizer's state
	// (and the layers' random generators, read when it is written).
	var ckpt *checkpointer
	if cfg.CheckpointPath != "" || cfg.Resume != nil {
		so, ok := opt.(optim.Stateful)
		if !ok {
			return Result{}, fmt.Errorf("train: optimizer %s cannot save its state", cfg.Optimizer)
		}
		ckpt = &checkpointer{base: cfg.CheckpointPath, keepLast: cfg.KeepLast, meta: cfg.CheckpointMeta,
			model: model, opt: so, names: trainableNames(model), avg: avg}
	}

	var res Result
	start := time.Now()
	first, skip, step := 1, 0, 0
	var part Partial
	if st := cfg.Resume; st != nil {
		if err := resume(st, &cfg, trainSet.Len(), steps, ckpt); err != nil {
			return res, err
		}
		first, skip, step, part = st.Epoch+1, st.Step, st.GlobalStep, st.Partial
		res.Epochs = slices.Clone(st.Epochs)
	}
	// lr is the rate of the last step.
	lr := rate(max(step-1, 0), first-1+min(skip, 1))
	state := func(epoch, done int) *State {
		return &State{
			Version: stateVersion, Config: cfg.recipe(), Epoch: epoch, Step: done, GlobalStep: step,
			StepsPerEpoch: steps, TrainSize: trainSet.Len(), LR: lr,
			Partial: part, Epochs: res.Epochs,
		}
	}
	for epoch := first; epoch <= cfg.Epochs; epoch++ {
		epochStart := time.Now()
		setTraining(model)
		prog.startEpoch(epoch, cfg.Epochs, steps)
		prog.done = skip
		// A resumed epoch starts after the batches trained before the
		// checkpoint; augmentation is seeded by position, so the ones
		// that follow are the same.
		done, seenHere := skip, 0
		for b := range loader.EpochFrom(epoch-1, skip) {
			lr = rate(step, epoch)
			opt.SetLR(lr)

			lv, ok := stepper.Step(b.X, b.Y)
			if math.IsNaN(lv) || math.IsInf(lv, 0) {
				return res, fmt.Errorf("train: loss became %g at epoch %d step %d (learning rate %g too high?)", lv, epoch, step, lr)
			}

			n := len(b.Y)
			part.LossSum += lv * float64(n)
			part.Correct += ok
			part.Seen += n
			seenHere += n
			step++
			done++
			prog.step(part.LossSum/float64(part.Seen), float64(part.Correct)/float64(part.Seen), seenHere)
			// Mid-epoch checkpoint; the epoch's last step is saved after
			// the evaluation below.
			if ckpt != nil && cfg.CheckpointPath != "" && cfg.CheckpointEvery > 0 && step%cfg.CheckpointEvery == 0 && done < steps {
				if err := ckpt.save(state(epoch-1, done)); err != nil {
					return res, err
				}
			}
		}
		skip = 0
		trainTime := time.Since(epochStart)
		st := EpochStats{
			Epoch: epoch, TrainLoss: part.LossSum / float64(part.Seen), TrainAcc: float64(part.Correct) / float64(part.Seen),
			LR: lr, ImagesPerSec: float64(seenHere) / trainTime.Seconds(),
		}
		part = Partial{}
		if testSet != nil {
			st.TestLoss, st.TestAcc = Evaluate(model, testSet, cfg.EvalBatchSize)
		}
		st.Seconds = time.Since(epochStart).Seconds()
		st.Elapsed = time.Since(start).Seconds()
		res.Epochs = append(res.Epochs, st)
		prog.endEpoch(st, testSet != nil)
		if avg != nil && epoch >= cfg.SWAStart {
			avg.add()
		}
		if ckpt != nil && cfg.CheckpointPath != "" {
			if err := ckpt.save(state(epoch, 0)); err != nil {
				return res, err
			}
		}
		if cfg.OnEpoch != nil {
			cfg.OnEpoch(st)
		}
	}
	if avg != nil && avg.n > 0 {
		res.SWA = finishSWA(model, avg, loader, testSet, &cfg)
		prog.swa(*res.SWA, testSet != nil)
	}
	res.Elapsed = time.Since(start)
	return res, nil
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

// resume checks st against the run about to start and restores the
// model's weights, the optimizer's state and the layers' generators.
func resume(st *State, cfg *Config, trainSize, steps int, ckpt *checkpointer) error {
	if err := st.check(cfg, trainSize, steps); err != nil {
		return err
	}
	f := &checkpoint.File{Name: st.Path, Metadata: st.Metadata, Tensors: st.Model}
	if err := checkpoint.LoadInto(ckpt.model, f); err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if err := ckpt.opt.LoadState(ckpt.names, optim.State{Tensors: st.Optim, Steps: st.OptimizerSteps}); err != nil {
		return fmt.Errorf("train: resume from %s: %w", st.Path, err)
	}
	if ckpt.avg != nil {
		if err := ckpt.avg.load(st.Path, st.Average, st.SWACount); err != nil {
			return err
		}
	}
	return setRandomStates(ckpt.model, st)
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
	n := 0
	for i, p := range tensor.ArgMax(logits.Value, 1) {
		if p == labels[i] {
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
