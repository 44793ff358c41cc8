package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// stateVersion is the version of the JSON in [checkpoint.KeyTrainState].
const stateVersion = 1

// Recipe is the part of a [Config] that decides the numbers a run
// computes, stored with its checkpoints; a resumed run must use the same.
// (The augmentation, a function in Config, cannot be compared: the caller
// stores its description, as `fovea train` does in
// [checkpoint.KeyTrainRecipe].)
type Recipe struct {
	Epochs         int     `json:"epochs"`
	BatchSize      int     `json:"batch_size"`
	LR             float64 `json:"lr"`
	Optimizer      string  `json:"optimizer"`
	Schedule       string  `json:"schedule"`
	WeightDecay    float64 `json:"weight_decay"`
	LabelSmoothing float32 `json:"label_smoothing"`
	ClipNorm       float64 `json:"clip_norm"`
	Seed           uint64  `json:"seed"`
	LRMult         string  `json:"lr_mult,omitempty"` // the LRMult rules, PREFIX=FACTOR,…
	WDMult         string  `json:"wd_mult,omitempty"` // the WDMult rules
	Momentum       float64 `json:"momentum,omitempty"`
	TrainUntil     string  `json:"train_until,omitempty"` // the TrainUntil rules
	Lookahead      int     `json:"lookahead,omitempty"`
	LookaheadDecay float64 `json:"lookahead_decay,omitempty"`
	SWAStart       int     `json:"swa_start,omitempty"`
	SWALR          float64 `json:"swa_lr,omitempty"`
}

// recipe returns c's Recipe, names and defaults normalized; c has its
// defaults.
func (c *Config) recipe() Recipe {
	return Recipe{
		Epochs: c.Epochs, BatchSize: c.BatchSize, LR: c.LR,
		Optimizer: strings.ToLower(strings.TrimSpace(c.Optimizer)), Schedule: strings.ToLower(strings.TrimSpace(c.Schedule)),
		WeightDecay: c.WeightDecay, LabelSmoothing: c.LabelSmoothing, ClipNorm: c.ClipNorm, Seed: c.Seed,
		LRMult: formatLRMults(c.LRMult), WDMult: formatLRMults(c.WDMult), Momentum: c.Momentum, SWAStart: c.SWAStart, SWALR: c.SWALR,
		Lookahead: c.Lookahead, LookaheadDecay: c.LookaheadDecay, TrainUntil: formatLRMults(c.TrainUntil),
	}.normalized()
}

// normalized returns r with the values that mean "the default" written
// one way: SGD's momentum as its value (0, and a state written before the
// field existed, mean optim.DefaultMomentum), none for the other
// optimizers; the lookahead decay as its value with lookahead on, none
// with it off.
func (r Recipe) normalized() Recipe {
	switch {
	case r.Optimizer != "sgd":
		r.Momentum = 0
	case r.Momentum == 0:
		r.Momentum = optim.DefaultMomentum
	}
	switch {
	case r.Lookahead == 0:
		r.LookaheadDecay = 0
	case r.LookaheadDecay == 0:
		r.LookaheadDecay = defaultLookaheadDecay
	}
	return r
}

// Partial holds the running sums of an epoch interrupted by a checkpoint,
// so the resumed epoch reports the same training loss and accuracy.
type Partial struct {
	LossSum float64 `json:"loss_sum"`
	Correct int     `json:"correct"`
	Seen    int     `json:"seen"`
}

// State is a training run at a checkpoint: where it stands, the recipe it
// follows, and everything besides the weights that the following steps
// depend on. [Fit] writes one to a checkpoint file when
// [Config.CheckpointPath] is set, and continues from one given as
// [Config.Resume], bit for bit as if it had never stopped (at the same
// thread count). Read one with [ReadState].
//
// The scalars are stored as JSON in the file's [checkpoint.KeyTrainState]
// metadata; Model and Optim are its tensors.
//
// The batches of an epoch are a function of the seed and the epoch
// ([data.Loader.Order], and the augmentation's generator is seeded by
// position), so Epoch and Step fix the data still to come. Layers with a
// generator of their own (dropout, [nn.RandomStateOwner]) have its state
// saved in RandomStates and restored on resume.
type State struct {
	Version       int     `json:"version"`
	Config        Recipe  `json:"config"`
	Epoch         int     `json:"epoch"`           // epochs finished
	Step          int     `json:"step"`            // batches finished in epoch Epoch+1
	GlobalStep    int     `json:"global_step"`     // optimizer steps so far: the schedule's position
	StepsPerEpoch int     `json:"steps_per_epoch"` // batches per epoch
	TrainSize     int     `json:"train_size"`      // training examples
	LR            float64 `json:"lr"`              // rate of the last step taken
	// OptimizerSteps are the optimizer's per-parameter step counts (Adam's
	// bias correction), by parameter name.
	OptimizerSteps map[string]int `json:"optimizer_steps,omitempty"`
	// RandomStates are the generator states of the layers that have one
	// (dropout), by layer path.
	RandomStates map[string][]byte `json:"random_states,omitempty"`
	// Partial are the running sums of the interrupted epoch.
	Partial Partial `json:"partial"`
	// Epochs are the statistics of the finished epochs.
	Epochs []EpochStats `json:"epochs"`
	// SWACount is the number of epochs whose weights are in Average
	// (weight averaging, [Config.SWAStart]).
	SWACount int `json:"swa_count,omitempty"`

	// Model holds the model's parameters and buffers by state-dict name.
	Model []nn.Named[*tensor.Tensor] `json:"-"`
	// Optim holds the optimizer's buffers, named as [optim.State] names
	// them (stored in the file under [checkpoint.OptimizerPrefix]).
	Optim []nn.Named[*tensor.Tensor] `json:"-"`
	// Average holds the running mean of the weights under weight
	// averaging, named "swa." + parameter name (stored in the file under
	// [checkpoint.OptimizerPrefix] too).
	Average []nn.Named[*tensor.Tensor] `json:"-"`
	// Lookahead holds the weight average of [Config.Lookahead], named
	// "lookahead." + state-dict name (under the optimizer prefix too).
	Lookahead []nn.Named[*tensor.Tensor] `json:"-"`
	// Metadata is the file's metadata (model description, the caller's
	// recipe).
	Metadata map[string]string `json:"-"`
	// Path is the file the state was read from.
	Path string `json:"-"`
}

// ReadState reads a checkpoint written during training by [Fit] (its
// checksum is verified). It returns an error for a file without
// [checkpoint.KeyTrainState], such as a final model checkpoint.
func ReadState(path string) (*State, error) {
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		return nil, err
	}
	js, ok := f.Metadata[checkpoint.KeyTrainState]
	if !ok {
		return nil, fmt.Errorf("train: %s holds no training state (metadata %q): only the step checkpoints written during training can be resumed", path, checkpoint.KeyTrainState)
	}
	s := &State{Metadata: f.Metadata, Path: path}
	if err := json.Unmarshal([]byte(js), s); err != nil {
		return nil, fmt.Errorf("train: %s: metadata %q: %v", path, checkpoint.KeyTrainState, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("train: %s: training state version %d; this Fovea reads version %d", path, s.Version, stateVersion)
	}
	for _, t := range f.Tensors {
		name, ok := strings.CutPrefix(t.Name, checkpoint.OptimizerPrefix)
		switch {
		case ok && strings.HasPrefix(name, averagePrefix):
			s.Average = append(s.Average, nn.Named[*tensor.Tensor]{Name: name, Value: t.Value})
		case ok && strings.HasPrefix(name, lookaheadPrefix):
			s.Lookahead = append(s.Lookahead, nn.Named[*tensor.Tensor]{Name: name, Value: t.Value})
		case ok:
			s.Optim = append(s.Optim, nn.Named[*tensor.Tensor]{Name: name, Value: t.Value})
		default:
			s.Model = append(s.Model, t)
		}
	}
	return s, nil
}

// check reports whether s can continue a run of cfg (with defaults) over a
// training set of trainSize examples cut into stepsPerEpoch batches.
func (s *State) check(cfg *Config, trainSize, stepsPerEpoch int) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("train: resume from %s: "+format, append([]any{s.Path}, args...)...)
	}
	if r, saved := cfg.recipe(), s.Config.normalized(); r != saved {
		return fail("the configuration differs from the checkpoint's: %s", recipeDiff(saved, r))
	}
	switch {
	case trainSize != s.TrainSize:
		return fail("the training set has %d examples, the checkpoint's run had %d", trainSize, s.TrainSize)
	case stepsPerEpoch != s.StepsPerEpoch:
		return fail("%d batches per epoch, the checkpoint's run had %d", stepsPerEpoch, s.StepsPerEpoch)
	case s.Epoch < 0 || s.Epoch > s.Config.Epochs || s.Step < 0 || s.Step > s.StepsPerEpoch ||
		s.GlobalStep != s.Epoch*s.StepsPerEpoch+s.Step:
		return fail("inconsistent position: epoch %d, step %d, global step %d", s.Epoch, s.Step, s.GlobalStep)
	}
	return nil
}

// recipeDiff lists the fields in which have and want differ.
func recipeDiff(saved, now Recipe) string {
	var diffs []string
	a, _ := json.Marshal(saved)
	b, _ := json.Marshal(now)
	var ma, mb map[string]any
	json.Unmarshal(a, &ma)
	json.Unmarshal(b, &mb)
	for _, k := range slices.Sorted(maps.Keys(ma)) {
		if fmt.Sprint(ma[k]) != fmt.Sprint(mb[k]) {
			diffs = append(diffs, fmt.Sprintf("%s %v (checkpoint: %v)", k, mb[k], ma[k]))
		}
	}
	return strings.Join(diffs, ", ")
}

// StepPath names the checkpoint of global step step for the base path
// base: "run.safetensors" gives "run.step0000120.safetensors".
func StepPath(base string, step int) string {
	stem := strings.TrimSuffix(base, ".safetensors")
	return fmt.Sprintf("%s.step%07d.safetensors", stem, step)
}

// Checkpoints returns the step checkpoints of base ([StepPath]) that exist,
// in step order. Temporary files of a write cut short are not among them.
func Checkpoints(base string) ([]string, error) {
	stem := strings.TrimSuffix(base, ".safetensors")
	matches, err := filepath.Glob(escapeGlob(stem) + ".step*.safetensors")
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	type ckpt struct {
		path string
		step int
	}
	var found []ckpt
	for _, m := range matches {
		num := strings.TrimSuffix(strings.TrimPrefix(m, stem+".step"), ".safetensors")
		if n, err := strconv.Atoi(num); err == nil && n >= 0 && !strings.HasPrefix(num, "+") {
			found = append(found, ckpt{m, n})
		}
	}
	slices.SortFunc(found, func(a, b ckpt) int { return a.step - b.step })
	out := make([]string, len(found))
	for i, c := range found {
		out[i] = c.path
	}
	return out, nil
}

// escapeGlob quotes the glob metacharacters of a literal path.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkpointer writes the training state of a run, and restores it on
// resume.
type checkpointer struct {
	base     string
	every    int // steps between mid-epoch checkpoints; 0: epoch ends only
	keepLast int
	meta     map[string]string
	model    nn.Layer
	opt      optim.Stateful
	names    []string   // of the optimizer's parameters
	avg      *averager  // weight averaging; nil when off
	look     *lookahead // lookahead averaging; nil when off
}

// newCheckpointer returns the checkpointer of a run that writes
// checkpoints (cfg.CheckpointPath) or resumes from one; nil otherwise.
func newCheckpointer(cfg *Config, model nn.Layer, opt optim.Optimizer, avg *averager, look *lookahead) (*checkpointer, error) {
	if cfg.CheckpointPath == "" && cfg.Resume == nil {
		return nil, nil
	}
	// What a checkpoint needs beyond the weights: the optimizer's state
	// (and the layers' random generators, read when it is written).
	so, ok := opt.(optim.Stateful)
	if !ok {
		return nil, fmt.Errorf("train: optimizer %s cannot save its state", cfg.Optimizer)
	}
	return &checkpointer{base: cfg.CheckpointPath, every: cfg.CheckpointEvery, keepLast: cfg.KeepLast,
		meta: cfg.CheckpointMeta, model: model, opt: so, names: trainableNames(model), avg: avg, look: look}, nil
}

// restore puts the model's weights, the optimizer's state, the layers'
// generators and the weight average of st in place.
func (c *checkpointer) restore(st *State) error {
	f := &checkpoint.File{Name: st.Path, Metadata: st.Metadata, Tensors: st.Model}
	if err := checkpoint.LoadInto(c.model, f); err != nil {
		return fmt.Errorf("train: resume: %w", err)
	}
	if err := c.opt.LoadState(c.names, optim.State{Tensors: st.Optim, Steps: st.OptimizerSteps}); err != nil {
		return fmt.Errorf("train: resume from %s: %w", st.Path, err)
	}
	if c.avg != nil {
		if err := c.avg.load(st.Path, st.Average, st.SWACount); err != nil {
			return err
		}
	}
	if c.look != nil {
		if err := c.look.load(st.Path, st.Lookahead); err != nil {
			return err
		}
	}
	return setRandomStates(c.model, st)
}

// save writes s with the model's and optimizer's tensors to its step
// path, atomically, then deletes the step checkpoints beyond keepLast.
func (c *checkpointer) save(s *State) error {
	ost := c.opt.State(c.names)
	s.OptimizerSteps = ost.Steps
	rs, err := randomStates(c.model)
	if err != nil {
		return err
	}
	s.RandomStates = rs
	if c.avg != nil {
		s.SWACount = c.avg.n
	}
	js, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	meta := maps.Clone(c.meta)
	if meta == nil {
		meta = map[string]string{}
	}
	meta[checkpoint.KeyTrainState] = string(js)
	if _, ok := meta[checkpoint.KeyFormatVersion]; !ok {
		meta[checkpoint.KeyFormatVersion] = checkpoint.FormatVersion
	}
	tensors := nn.StateDict(c.model)
	for _, t := range ost.Tensors {
		tensors = append(tensors, nn.Named[*tensor.Tensor]{Name: checkpoint.OptimizerPrefix + t.Name, Value: t.Value})
	}
	if c.avg != nil && c.avg.n > 0 {
		for _, t := range c.avg.tensors() {
			tensors = append(tensors, nn.Named[*tensor.Tensor]{Name: checkpoint.OptimizerPrefix + t.Name, Value: t.Value})
		}
	}
	if c.look != nil {
		for _, t := range c.look.tensors() {
			tensors = append(tensors, nn.Named[*tensor.Tensor]{Name: checkpoint.OptimizerPrefix + t.Name, Value: t.Value})
		}
	}
	path := StepPath(c.base, s.GlobalStep)
	if err := checkpoint.WriteFile(path, tensors, meta); err != nil {
		return err
	}
	return c.prune(path)
}

// prune deletes the step checkpoints before current beyond the last
// keepLast (current included); later ones, left by a run that was resumed
// from an earlier checkpoint, are left alone.
func (c *checkpointer) prune(current string) error {
	if c.keepLast <= 0 {
		return nil
	}
	all, err := Checkpoints(c.base)
	if err != nil {
		return err
	}
	i := slices.Index(all, current)
	if i < 0 {
		return nil
	}
	for _, p := range all[:max(i+1-c.keepLast, 0)] {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("train: %w", err)
		}
	}
	return nil
}

// randomStates returns the generator state of every layer of model that
// has one, by path.
func randomStates(model nn.Layer) (map[string][]byte, error) {
	var m map[string][]byte
	var err error
	nn.Walk(model, func(path string, l nn.Layer) {
		r, ok := l.(nn.RandomStateOwner)
		if !ok || err != nil {
			return
		}
		var b []byte
		if b, err = r.RandomState(); err != nil {
			err = fmt.Errorf("train: checkpoint: layer %q: %w", path, err)
			return
		}
		if m == nil {
			m = map[string][]byte{}
		}
		m[path] = b
	})
	return m, err
}

// setRandomStates restores the generators of model's layers from st; every
// layer with a generator must have its state in st and the other way round.
func setRandomStates(model nn.Layer, st *State) error {
	seen := map[string]bool{}
	var err error
	nn.Walk(model, func(path string, l nn.Layer) {
		r, ok := l.(nn.RandomStateOwner)
		if !ok || err != nil {
			return
		}
		seen[path] = true
		b, ok := st.RandomStates[path]
		if !ok {
			err = fmt.Errorf("train: resume from %s: the checkpoint has no generator state for layer %q", st.Path, path)
			return
		}
		if e := r.SetRandomState(b); e != nil {
			err = fmt.Errorf("train: resume from %s: layer %q: %w", st.Path, path, e)
		}
	})
	if err != nil {
		return err
	}
	for path := range st.RandomStates {
		if !seen[path] {
			return fmt.Errorf("train: resume from %s: the checkpoint has a generator state for layer %q, which this model lacks", st.Path, path)
		}
	}
	return nil
}

// trainableNames returns the state-dict names of [Trainable]'s parameters,
// in the same order.
func trainableNames(model nn.Layer) []string {
	var names []string
	for _, p := range nn.Params(model) {
		if p.Value.RequiresGrad() {
			names = append(names, p.Name)
		}
	}
	return names
}
