package train

import (
	"cmp"
	"fmt"
	"github.com/fovea-ml/fovea/autograd"
	"math"
	"slices"
	"time"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
)

// run is one call of [Fit]: what it trains with, its hooks, and where it
// stands.
type run struct {
	cfg               Config // with its defaults
	model             nn.Layer
	trainSet, testSet *data.Dataset
	loader            *data.Loader
	steps             int // batches per epoch
	opt               optim.Optimizer
	sched             optim.Schedule
	stepper           *Stepper
	avg               *averager       // weight averaging; nil when off
	look              *lookahead      // lookahead averaging; nil when off
	frozen            []*autograd.Var // the parameters trainUntil froze, trainable again when Fit returns
	ckpt              *checkpointer   // nil without checkpoints or resume
	prog              *progress
	hooks             hooks

	// Where the run stands.
	epoch      int     // the current epoch, from 1
	done       int     // batches finished in the current epoch
	globalStep int     // optimizer steps so far: the schedule's position
	lr         float64 // the rate of the last step
	part       Partial // running sums of the current epoch
	seen       int     // examples this call trained in the current epoch
	start      time.Time
	epochStart time.Time
	res        Result // the history: statistics of the finished epochs
}

// newRun checks cfg, builds what Fit trains with and, with cfg.Resume,
// moves to where the checkpoint's run stopped.
func newRun(model nn.Layer, trainSet, testSet *data.Dataset, cfg Config) (*run, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if trainSet.Len() == 0 {
		return nil, fmt.Errorf("train: training set %s is empty", trainSet.Name)
	}
	r := &run{cfg: cfg, model: model, trainSet: trainSet, testSet: testSet, loader: newLoader(trainSet, &cfg), epoch: 1}
	r.steps = r.loader.NumBatches()
	var err error
	if r.opt, err = newOptimizer(model, &cfg); err != nil {
		return nil, err
	}
	if r.sched, err = optim.ParseSchedule(cfg.Schedule, cfg.LR, r.steps*cfg.Epochs, r.steps); err != nil {
		return nil, err
	}
	if cfg.SWAStart > 0 {
		r.avg = newAverager(model)
	}
	if _, err := paramMultipliers(model, cfg.TrainUntil, "train-until"); err != nil {
		return nil, err
	}
	if cfg.Lookahead > 0 {
		r.look = newLookahead(model, cfg.Lookahead, cmp.Or(cfg.LookaheadDecay, defaultLookaheadDecay), r.steps*cfg.Epochs)
	}
	r.stepper = NewStepper(model, nn.CrossEntropyLoss{LabelSmoothing: cfg.LabelSmoothing}, r.opt)
	r.stepper.ClipNorm = cfg.ClipNorm
	r.stepper.NoCompile = cfg.NoCompile
	r.prog = newProgress(cfg.Progress, cfg.Interactive, cfg.ProgressEvery)
	if r.ckpt, err = newCheckpointer(&cfg, model, r.opt, r.avg, r.look); err != nil {
		return nil, err
	}
	r.start = time.Now()
	if err := r.resume(); err != nil {
		return nil, err
	}
	r.addHooks()
	return r, nil
}

// newLoader cuts trainSet into shuffled batches, dropping a last partial
// batch unless the set is smaller than one batch.
func newLoader(trainSet *data.Dataset, cfg *Config) *data.Loader {
	return &data.Loader{Source: trainSet, BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed,
		DropLast: trainSet.Len() >= cfg.BatchSize, Transform: cfg.Transform, TransformAt: cfg.TransformAt}
}

// newOptimizer returns cfg's optimizer of the trainable parameters of
// model, with their learning-rate multipliers.
func newOptimizer(model nn.Layer, cfg *Config) (optim.Optimizer, error) {
	params := Trainable(model)
	if len(params) == 0 {
		return nil, fmt.Errorf("train: every parameter of the model is frozen")
	}
	opt, err := optim.NewWith(cfg.Optimizer, params, optim.Settings{LR: cfg.LR, WeightDecay: cfg.WeightDecay, Momentum: cfg.Momentum})
	if err != nil {
		return nil, err
	}
	if len(cfg.LRMult) > 0 {
		mult, err := LRMultipliers(model, cfg.LRMult)
		if err != nil {
			return nil, err
		}
		pp, ok := opt.(optim.PerParamLR)
		if !ok {
			return nil, fmt.Errorf("train: optimizer %s cannot take learning-rate multipliers", cfg.Optimizer)
		}
		pp.SetLRMultipliers(mult)
	}
	if len(cfg.WDMult) > 0 {
		mult, err := WDMultipliers(model, cfg.WDMult)
		if err != nil {
			return nil, err
		}
		pp, ok := opt.(optim.PerParamWD)
		if !ok {
			return nil, fmt.Errorf("train: optimizer %s cannot take weight-decay multipliers", cfg.Optimizer)
		}
		pp.SetWDMultipliers(mult)
	}
	return opt, nil
}

// resume continues the run that wrote cfg.Resume, if set: it checks that
// the state fits this run, restores the model, optimizer, generators and
// average, and takes the state's position — epochs and batches done, the
// global step, the interrupted epoch's sums, the finished epochs'
// statistics. Either way it sets the rate of the last step taken.
func (r *run) resume() error {
	if st := r.cfg.Resume; st != nil {
		if err := st.check(&r.cfg, r.trainSet.Len(), r.steps); err != nil {
			return err
		}
		if err := r.ckpt.restore(st); err != nil {
			return err
		}
		r.epoch, r.done, r.globalStep, r.part = st.Epoch+1, st.Step, st.GlobalStep, st.Partial
		r.res.Epochs = slices.Clone(st.Epochs)
	}
	r.lr = r.rate(max(r.globalStep-1, 0), r.epoch-1+min(r.done, 1))
	return nil
}

// rate is the learning rate of global step i, in epoch epoch: the
// schedule's, or SWALR in the averaged epochs when set.
func (r *run) rate(i, epoch int) float64 {
	if r.cfg.SWALR > 0 && epoch >= r.cfg.SWAStart {
		return r.cfg.SWALR
	}
	return r.sched.LR(i)
}

// startEpoch starts the clock and the count of examples of epoch r.epoch,
// puts the model in training mode and runs the epoch-start hooks. A
// resumed epoch starts after the r.done batches trained before the
// checkpoint; augmentation is seeded by position, so the ones that follow
// are the same.
func (r *run) startEpoch() {
	r.epochStart = time.Now()
	r.seen = 0
	r.trainUntil()
	setTraining(r.model)
	r.hooks.startEpoch(r)
}

// trainUntil freezes the parameters whose cfg.TrainUntil epochs are over
// before epoch r.epoch.
func (r *run) trainUntil() {
	if len(r.cfg.TrainUntil) == 0 {
		return
	}
	for _, p := range nn.Params(r.model) {
		for _, rule := range r.cfg.TrainUntil {
			if rule.covers(p.Name) {
				if r.epoch > int(rule.Factor) && p.Value.RequiresGrad() {
					p.Value.SetRequiresGrad(false)
					r.frozen = append(r.frozen, p.Value)
				}
				break
			}
		}
	}
}

// unfreeze makes the parameters trainUntil froze trainable again, as they
// were when Fit began.
func (r *run) unfreeze() {
	for _, p := range r.frozen {
		p.SetRequiresGrad(true)
	}
	r.frozen = nil
}

// step trains on batch b at the scheduled rate ([Stepper.Step]: forward,
// loss, backward, update) and adds its loss and hits to the epoch's sums.
func (r *run) step(b data.Batch) error {
	r.lr = r.rate(r.globalStep, r.epoch)
	r.opt.SetLR(r.lr)
	loss, correct := r.stepper.Step(b.X, b.Y)
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return fmt.Errorf("train: loss became %g at epoch %d step %d (learning rate %g too high?)", loss, r.epoch, r.globalStep, r.lr)
	}
	n := len(b.Y)
	r.part.LossSum += loss * float64(n)
	r.part.Correct += correct
	r.part.Seen += n
	r.seen += n
	r.globalStep++
	r.done++
	if r.look != nil {
		r.look.step(r.globalStep)
	}
	return nil
}

// endEpoch measures epoch r.epoch — training loss, accuracy and
// throughput, then the test set's loss and accuracy — and adds the
// statistics to the history in r.res.
func (r *run) endEpoch() EpochStats {
	trainTime := time.Since(r.epochStart)
	st := EpochStats{
		Epoch: r.epoch, TrainLoss: r.part.LossSum / float64(r.part.Seen), TrainAcc: float64(r.part.Correct) / float64(r.part.Seen),
		LR: r.lr, ImagesPerSec: float64(r.seen) / trainTime.Seconds(),
	}
	r.part, r.done = Partial{}, 0
	if r.testSet != nil {
		st.TestLoss, st.TestAcc = Evaluate(r.model, r.testSet, r.cfg.EvalBatchSize)
	}
	st.Seconds = time.Since(r.epochStart).Seconds()
	st.Elapsed = time.Since(r.start).Seconds()
	r.res.Epochs = append(r.res.Epochs, st)
	return st
}

// finish ends the run: under weight averaging the model gets the average,
// with its batch-norm statistics recomputed, and is evaluated.
func (r *run) finish() {
	if r.avg != nil && r.avg.n > 0 {
		r.res.SWA = finishSWA(r.model, r.avg, r.loader, r.testSet, &r.cfg)
		r.prog.swa(*r.res.SWA, r.testSet != nil)
	}
	r.res.Elapsed = time.Since(r.start)
	r.res.Step = r.stepper.Compiled()
}

// state is the run's [State] after epochs finished epochs and done batches
// of the next.
func (r *run) state(epochs, done int) *State {
	return &State{
		Version: stateVersion, Config: r.cfg.recipe(), Epoch: epochs, Step: done, GlobalStep: r.globalStep,
		StepsPerEpoch: r.steps, TrainSize: r.trainSet.Len(), LR: r.lr,
		Partial: r.part, Epochs: r.res.Epochs,
	}
}
