package train

import (
	"fmt"
	"github.com/fovea-ml/fovea/data"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/optim"
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
	LRMult []LRMult
	// WDMult gives some parameters their own weight decay, a factor of
	// WeightDecay, by the same rules (airbench's batch-norm biases); nil:
	// one weight decay.
	WDMult []LRMult
	// Momentum is SGD's Nesterov momentum in [0, 1); 0 means
	// optim.DefaultMomentum (0.9). Adam and AdamW ignore it.
	Momentum float64
	// TrainUntil freezes the parameters a rule covers (the rules of
	// LRMult, Factor a number of epochs) after that many epochs: they
	// train in epochs 1…Factor only (airbench's whitening bias, 3).
	// A parameter frozen otherwise stays frozen.
	TrainUntil []LRMult
	// Lookahead, if positive, averages the model's state every Lookahead
	// optimizer steps (airbench's Lookahead, see lookahead.go), with the
	// base decay LookaheadDecay per step (0: 0.95). 0: off.
	Lookahead      int
	LookaheadDecay float64
	Seed           uint64 // shuffling order (and augmentation)
	EvalBatchSize  int    // default 500
	// NoCompile trains with eager steps instead of compiled ones
	// ([Stepper.NoCompile]): the same numbers, more allocation per step.
	NoCompile bool

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
	// TransformAt, if set, replaces Transform for augmentations that
	// depend on the example and epoch ([data.Loader.TransformAt]:
	// augment's alternating flip, through augment.Pipeline.FuncAt).
	TransformAt func(x []float32, rng *rand.Rand, ex data.ExampleInfo)

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

// ConfigError is an invalid field of a [Config], as [Config.Validate] and
// [Fit] report it. A caller that sets the fields from options of its own
// (a command's flags) can name the option at fault from Field, Needs and
// Limit.
type ConfigError struct {
	Field string // the field at fault, as Config names it: "LR"
	Value any    // its value, printed with %#v (as %g, strings quoted)
	Rule  string // what is wrong: "must be a positive number"
	// Needs names the field that must be set for Field to be, when the
	// fault is its absence (SWALR needs SWAStart); Limit names the field
	// whose value Value exceeds (SWAStart must not be after Epochs).
	Needs, Limit string
}

// fieldWords are the names of the Config fields in error messages.
var fieldWords = map[string]string{
	"Epochs": "epochs", "BatchSize": "batch size", "LR": "learning rate", "Optimizer": "optimizer",
	"Schedule": "schedule", "WeightDecay": "weight decay", "LabelSmoothing": "label smoothing", "Momentum": "momentum",
	"CheckpointEvery": "checkpoint interval", "KeepLast": "keep-last", "Lookahead": "lookahead interval",
	"LookaheadDecay": "lookahead decay",
	"SWAStart":       "weight averaging from epoch", "SWALR": "weight-averaging learning rate",
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("train: %s %#v: %s", fieldWords[e.Field], e.Value, e.Rule)
}

// Validate reports the first invalid field of c, with the defaults in
// place of zero values, as a *[ConfigError]. [Fit] makes the same checks;
// Validate lets a caller make them before loading the data.
func (c Config) Validate() error {
	c.defaults()
	return c.validate()
}

// validate is Validate for c with its defaults.
func (c *Config) validate() error {
	notNumber := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	name := func(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
	_, schedErr := optim.ParseSchedule(c.Schedule, 1, 1, 0)
	schedRule := "must be one of " + strings.Join(optim.ScheduleNames, ", ")
	if n, _, args := strings.Cut(name(c.Schedule), ":"); args && n == "triangular" && schedErr != nil {
		schedRule = strings.TrimPrefix(schedErr.Error(), "optim: ")
	}
	for _, r := range []struct {
		bad bool
		err ConfigError
	}{
		{c.Epochs < 0, ConfigError{Field: "Epochs", Value: c.Epochs, Rule: "must be at least 1"}},
		{c.BatchSize < 1, ConfigError{Field: "BatchSize", Value: c.BatchSize, Rule: "must be at least 1"}},
		{!(c.LR > 0) || notNumber(c.LR), ConfigError{Field: "LR", Value: c.LR, Rule: "must be a positive number"}},
		{!slices.Contains(optim.Names, name(c.Optimizer)),
			ConfigError{Field: "Optimizer", Value: c.Optimizer, Rule: "must be one of " + strings.Join(optim.Names, ", ")}},
		{schedErr != nil, ConfigError{Field: "Schedule", Value: c.Schedule, Rule: schedRule}},
		{!(c.Momentum >= 0 && c.Momentum < 1), ConfigError{Field: "Momentum", Value: c.Momentum, Rule: "must be in [0, 1) (0: the default 0.9)"}},
		{c.Lookahead < 0, ConfigError{Field: "Lookahead", Value: c.Lookahead, Rule: "must not be negative (0: off)"}},
		{!(c.LookaheadDecay >= 0 && c.LookaheadDecay <= 1), ConfigError{Field: "LookaheadDecay", Value: c.LookaheadDecay, Rule: "must be in (0, 1] (0: the default 0.95)"}},
		{!(c.WeightDecay >= 0) || notNumber(c.WeightDecay),
			ConfigError{Field: "WeightDecay", Value: c.WeightDecay, Rule: "must be a non-negative number"}},
		{!(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1),
			ConfigError{Field: "LabelSmoothing", Value: c.LabelSmoothing, Rule: "must be in [0, 1)"}},
		{c.CheckpointEvery < 0, ConfigError{Field: "CheckpointEvery", Value: c.CheckpointEvery, Rule: "must not be negative"}},
		{c.KeepLast < 0, ConfigError{Field: "KeepLast", Value: c.KeepLast, Rule: "must not be negative"}},
		{c.CheckpointEvery > 0 && c.CheckpointPath == "", ConfigError{Field: "CheckpointEvery", Value: c.CheckpointEvery,
			Rule: "set without a checkpoint path", Needs: "CheckpointPath"}},
		{c.KeepLast > 0 && c.CheckpointPath == "", ConfigError{Field: "KeepLast", Value: c.KeepLast,
			Rule: "set without a checkpoint path", Needs: "CheckpointPath"}},
		{c.SWAStart < 0, ConfigError{Field: "SWAStart", Value: c.SWAStart, Rule: "must not be negative (0: off)"}},
		{c.SWAStart > c.Epochs, ConfigError{Field: "SWAStart", Value: c.SWAStart,
			Rule: fmt.Sprintf("must not be after the last of the %d epochs", c.Epochs), Limit: "Epochs"}},
		{!(c.SWALR >= 0) || notNumber(c.SWALR), ConfigError{Field: "SWALR", Value: c.SWALR, Rule: "must be a non-negative number"}},
		{c.SWALR > 0 && c.SWAStart == 0, ConfigError{Field: "SWALR", Value: c.SWALR,
			Rule: "set without a first epoch to average", Needs: "SWAStart"}},
	} {
		if r.bad {
			return &r.err
		}
	}
	return nil
}
