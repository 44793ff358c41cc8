package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/report"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// trainFlags are the flags of `fovea train`; the defaults are the recipe
// that takes the default model past 99% on MNIST.
type trainFlags struct {
	model, data, optimizer, schedule, out string
	testData, size, augment, init         string
	resume, configFile                    string
	history, report                       string
	cpuprofile                            string
	freeze, lrMult, wdMult, trainUntil    []string
	epochs, batch, threads, channels      int
	trainLimit, testLimit                 int
	checkpointEvery, keepLast             int
	swaStart, lookahead                   int
	lr, weightDecay, valSplit, swaLR      float64
	momentum, lookaheadDecay              float64
	labelSmoothing                        float32
	seed                                  uint64
	json, quiet, force, noCompile         bool
	printConfig                           bool
	// fromConfig maps the flags --config set to where in it (see
	// applyConfig).
	fromConfig map[string]string
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model (default: the MNIST CNN on the embedded MNIST)",
		Example: `  fovea train
  fovea train --model lenet5 --epochs 5 --optimizer sgd --lr 0.05 --schedule cosine
  fovea train --data fashion-mnist:../shared/datasets/fashion-mnist --out fashion.safetensors
  fovea train --model resnet20 --data cifar10-train-jpeg.tar.gz --test-data cifar10-test-jpeg.tar.gz \
      --augment cifar --optimizer sgd --lr 0.1 --weight-decay 5e-4 --epochs 30
  fovea train --model resnet20 --data photos/ --size 64 --augment photo --val-split 0.2
  fovea train --model resnet20 --data npz:breastmnist.npz --init pretrained.safetensors --freeze conv,bn
  fovea train --model resnet20 --data npz:breastmnist.npz --init pretrained.safetensors --lr-mult fc=1,*=0.1
  fovea train --model resnet20 --data cifar10:DIR --out r20.safetensors --checkpoint-every 200 --keep-last 3
  fovea train --resume r20.step0004200.safetensors
  fovea train --config recipes/cifar10-resnet20.yaml --epochs 10
  fovea train --config r20.safetensors --seed 2 --print-config
  fovea train --model resnet20 --data cifar10:DIR --init r20.safetensors --epochs 20 --swa-start 1 --swa-lr 0.01`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The recipe file sets the flags' variables, which are f's.
			if err := applyConfig(&f, cmd); err != nil {
				return err
			}
			return f.blame(runTrain(f, cmd))
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", models.DefaultMNIST, "architecture to train: a zoo name (see fovea models) or a .yaml spec file (docs/spec.md)")
	fl.StringVar(&f.data, "data", "mnist", "dataset: mnist (embedded), mnist:DIR, fashion-mnist:DIR, idx:DIR, cifar10:DIR,\ncifar100:DIR, npz:FILE, or a folder or .tar/.tar.gz archive of images in one\nsub-folder per class (optionally train/ and test/ or val/ splits)")
	fl.StringVar(&f.testData, "test-data", "", "test set from another spec or path (default: the test split of --data)")
	fl.Float64Var(&f.valSplit, "val-split", 0.2, "fraction held out (stratified) for testing when the data has no test split")
	fl.StringVar(&f.size, "size", "", "resize images of a folder to HxW (default: the model's input size)")
	fl.IntVar(&f.channels, "channels", 0, "image channels for folders: 1 or 3 (0: from the images)")
	fl.StringVar(&f.augment, "augment", "none", "augmentation preset ("+strings.Join(augment.PresetNames(), ", ")+")\nor a list such as crop:4,hflip,jitter:0.2 (see package augment)")
	fl.StringVar(&f.init, "init", "", "checkpoint to initialize from: tensors matching by name and shape are loaded,\nthe rest (a head for other classes) stays freshly initialized")
	fl.StringSliceVar(&f.freeze, "freeze", nil, "parameter-name prefixes to keep fixed (e.g. conv,bn,layers.0), with --init")
	fl.StringSliceVar(&f.lrMult, "lr-mult", nil, "discriminative learning rates: PREFIX=FACTOR rules scaling the rate of the parameters\nunder a name prefix or matching a pattern with * or ? ('*norm*.bias=64'), * for the rest,\nfirst match wins (e.g. fc=1,*=0.1)")
	fl.IntVar(&f.epochs, "epochs", 3, "passes over the training set")
	fl.IntVar(&f.batch, "batch-size", 128, "examples per optimizer step")
	fl.Float64Var(&f.lr, "lr", 0.01, "learning rate (peak rate for onecycle)")
	fl.StringVar(&f.optimizer, "optimizer", "adamw", "sgd (Nesterov momentum, --momentum), adam or adamw")
	fl.Float64Var(&f.momentum, "momentum", 0.9, "SGD's Nesterov momentum, in (0, 1)")
	fl.StringVar(&f.schedule, "schedule", "onecycle", "learning-rate schedule: constant, step, multistep, cosine, onecycle, or\ntriangular[:PEAK:START:END] (airbench's: linear from START·lr to lr over the first PEAK\nof the steps, then down to END·lr; default 0.23:0.2:0.07)")
	fl.Float64Var(&f.weightDecay, "weight-decay", 1e-4, "weight decay (decoupled for adamw)")
	fl.StringSliceVar(&f.trainUntil, "train-until", nil, "PREFIX=EPOCHS rules (as --lr-mult's): train the covered parameters in the first EPOCHS\nepochs only, then freeze them (airbench's whitening bias: 0.bias=3)")
	fl.StringSliceVar(&f.wdMult, "wd-mult", nil, "weight-decay multipliers, in --lr-mult's rules (e.g. '*norm*.bias=0.015625')")
	fl.Float32Var(&f.labelSmoothing, "label-smoothing", 0.1, "cross-entropy label smoothing in [0, 1)")
	fl.IntVar(&f.swaStart, "swa-start", 0, "stochastic weight averaging: average the weights at the end of this epoch and every\nlater one, save the average with batch-norm statistics recomputed (0: off)")
	fl.Float64Var(&f.swaLR, "swa-lr", 0, "constant learning rate of the averaged epochs, with --swa-start (0: keep the schedule)")
	fl.IntVar(&f.lookahead, "lookahead", 0, "every N steps move a moving average of the weights (and batch-norm statistics) toward\nthem and set them to it, airbench's Lookahead; the weights end as the average (0: off)")
	fl.Float64Var(&f.lookaheadDecay, "lookahead-decay", 0.95, "the average's decay per step: decay^N·(step/steps)³ at each --lookahead update")
	fl.Uint64Var(&f.seed, "seed", 1, "seed for initialization and shuffling")
	fl.IntVar(&f.threads, "threads", 0, "worker threads (0: all cores)")
	fl.StringVar(&f.out, "out", "", "checkpoint file to write, replaced if it exists (default: MODEL-DATA.safetensors in the\ncurrent folder, e.g. mnist-cnn-mnist.safetensors, or MODEL-DATA-2.safetensors and so on\nwhen an earlier run has it)")
	fl.BoolVar(&f.force, "force", false, "without --out, replace the checkpoint of the default name (and its step checkpoints)\ninstead of numbering a new one")
	fl.IntVar(&f.trainLimit, "train-limit", 0, "use only N training images drawn at random with --seed (0: all), for quick trials")
	fl.IntVar(&f.testLimit, "test-limit", 0, "use only N test images, a fixed random subset (the one eval --limit N uses; 0: all)")
	fl.BoolVar(&f.json, "json", false, "print the final metrics as one JSON object on stdout")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress output")
	fl.BoolVar(&f.noCompile, "no-compile", false, "run every training step eagerly instead of replaying the step recorded on the\nfirst batch (the same numbers; for comparison and debugging)")
	fl.StringVar(&f.cpuprofile, "cpuprofile", "", "write a pprof CPU profile of the run to this file (go tool pprof)")
	fl.IntVar(&f.checkpointEvery, "checkpoint-every", 0, "save the full training state every N steps and at each epoch end,\nas OUT.stepNNNNNNN.safetensors beside --out (0: none)")
	fl.IntVar(&f.keepLast, "keep-last", 0, "keep only the last K step checkpoints (0: all)")
	fl.StringVar(&f.history, "history", "", "write the per-epoch history to FILE.csv and FILE.json (an extension .csv or .json\nis replaced), rewritten after every epoch (default: none)")
	fl.StringVar(&f.report, "report", "", "write loss.png, accuracy.png, lr.png and index.html of the run into this folder")
	fl.StringVar(&f.configFile, "config", "", "recipe file: a YAML mapping of these flags' names to values (docs/training.md), or a\ncheckpoint of fovea train to repeat its recipe; flags given as well override it")
	fl.BoolVar(&f.printConfig, "print-config", false, "print the effective recipe (--config, flags and defaults) as a recipe file and exit")
	fl.StringVar(&f.resume, "resume", "", "continue the run that wrote this step checkpoint, bit for bit; the recipe\ncomes from the checkpoint (recipe flags may be repeated, not changed)")
	return cmd
}

// trainRecipe is what `fovea train` stores in a step checkpoint
// ([checkpoint.KeyTrainRecipe]) to rebuild the run on --resume: every
// flag that changes the numbers, and the run's settings (threads, out,
// checkpointing), which a resumed run keeps unless told otherwise.
type trainRecipe struct {
	Model          string   `json:"model"`
	Data           string   `json:"data"`
	TestData       string   `json:"test_data,omitempty"`
	ValSplit       float64  `json:"val_split"`
	Size           string   `json:"size,omitempty"`
	Channels       int      `json:"channels,omitempty"`
	Augment        string   `json:"augment"`
	Init           string   `json:"init,omitempty"`
	Freeze         []string `json:"freeze,omitempty"`
	LRMult         []string `json:"lr_mult,omitempty"`
	WDMult         []string `json:"wd_mult,omitempty"`
	TrainUntil     []string `json:"train_until,omitempty"`
	Momentum       float64  `json:"momentum,omitempty"`
	Lookahead      int      `json:"lookahead,omitempty"`
	LookaheadDecay float64  `json:"lookahead_decay,omitempty"`
	Epochs         int      `json:"epochs"`
	BatchSize      int      `json:"batch_size"`
	LR             float64  `json:"lr"`
	Optimizer      string   `json:"optimizer"`
	Schedule       string   `json:"schedule"`
	WeightDecay    float64  `json:"weight_decay"`
	LabelSmoothing float32  `json:"label_smoothing"`
	Seed           uint64   `json:"seed"`
	TrainLimit     int      `json:"train_limit,omitempty"`
	TestLimit      int      `json:"test_limit,omitempty"`
	SWAStart       int      `json:"swa_start,omitempty"`
	SWALR          float64  `json:"swa_lr,omitempty"`

	Threads         int    `json:"threads"`
	NoCompile       bool   `json:"no_compile,omitempty"`
	Out             string `json:"out"`
	CheckpointEvery int    `json:"checkpoint_every"`
	KeepLast        int    `json:"keep_last,omitempty"`
}

// recipeField ties a flag to its field in trainFlags and in trainRecipe.
type recipeField struct {
	flag          string
	setting       bool // a run setting, not part of the recipe proper
	inFlags, inRe any  // pointers to fields of the same type
}

// fields lists the flags of the recipe and the run's settings, with
// pointers to their fields in f and r.
func (r *trainRecipe) fields(f *trainFlags) []recipeField {
	return []recipeField{
		{"model", false, &f.model, &r.Model}, {"data", false, &f.data, &r.Data},
		{"test-data", false, &f.testData, &r.TestData}, {"val-split", false, &f.valSplit, &r.ValSplit},
		{"size", false, &f.size, &r.Size}, {"channels", false, &f.channels, &r.Channels},
		{"augment", false, &f.augment, &r.Augment}, {"init", false, &f.init, &r.Init},
		{"freeze", false, &f.freeze, &r.Freeze}, {"lr-mult", false, &f.lrMult, &r.LRMult},
		{"wd-mult", false, &f.wdMult, &r.WDMult}, {"momentum", false, &f.momentum, &r.Momentum},
		{"train-until", false, &f.trainUntil, &r.TrainUntil},
		{"lookahead", false, &f.lookahead, &r.Lookahead}, {"lookahead-decay", false, &f.lookaheadDecay, &r.LookaheadDecay},
		{"epochs", false, &f.epochs, &r.Epochs},
		{"batch-size", false, &f.batch, &r.BatchSize}, {"lr", false, &f.lr, &r.LR},
		{"optimizer", false, &f.optimizer, &r.Optimizer}, {"schedule", false, &f.schedule, &r.Schedule},
		{"weight-decay", false, &f.weightDecay, &r.WeightDecay}, {"label-smoothing", false, &f.labelSmoothing, &r.LabelSmoothing},
		{"seed", false, &f.seed, &r.Seed}, {"train-limit", false, &f.trainLimit, &r.TrainLimit},
		{"test-limit", false, &f.testLimit, &r.TestLimit},
		{"swa-start", false, &f.swaStart, &r.SWAStart}, {"swa-lr", false, &f.swaLR, &r.SWALR},
		{"threads", true, &f.threads, &r.Threads}, {"out", true, &f.out, &r.Out},
		{"no-compile", true, &f.noCompile, &r.NoCompile},
		{"checkpoint-every", true, &f.checkpointEvery, &r.CheckpointEvery}, {"keep-last", true, &f.keepLast, &r.KeepLast},
	}
}

// defaultRecipe is the recipe a stored one is read over: the defaults of
// the keys a recipe written before them lacks (and omitempty leaves out
// when zero), which are not zero.
func defaultRecipe() trainRecipe {
	return trainRecipe{Momentum: 0.9, LookaheadDecay: 0.95}
}

// recipeOf returns f's recipe.
func recipeOf(f *trainFlags) trainRecipe {
	var r trainRecipe
	for _, fd := range r.fields(f) {
		reflect.ValueOf(fd.inRe).Elem().Set(reflect.ValueOf(fd.inFlags).Elem())
	}
	return r
}

// resumeRecipe replaces f's recipe by the one stored in st. A recipe flag
// given on the command line must agree with it; a setting flag given
// overrides it.
func resumeRecipe(f *trainFlags, cmd *cobra.Command, st *train.State) error {
	fl := cmd.Flags()
	js, ok := st.Metadata[checkpoint.KeyTrainRecipe]
	if !ok {
		return fmt.Errorf("--resume %s: the checkpoint has no %q: it was not written by fovea train", f.resume, checkpoint.KeyTrainRecipe)
	}
	r := defaultRecipe()
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		return fmt.Errorf("--resume %s: metadata %q: %v", f.resume, checkpoint.KeyTrainRecipe, err)
	}
	if fl.Changed("init") {
		return fmt.Errorf("--init cannot be combined with --resume: a resumed run's weights come from the checkpoint")
	}
	for _, fd := range r.fields(f) {
		given, stored := reflect.ValueOf(fd.inFlags).Elem(), reflect.ValueOf(fd.inRe).Elem()
		switch {
		case !fl.Changed(fd.flag) && f.fromConfig[fd.flag] == "":
			given.Set(stored)
		case fd.setting:
			// A setting given on the command line wins.
			if fd.flag == "threads" && f.threads != r.Threads {
				fmt.Fprintf(os.Stderr, "note: --threads %d differs from the %d threads of the interrupted run: the result will be close to, not bit-identical with, an uninterrupted run\n", f.threads, r.Threads)
			}
		case !reflect.DeepEqual(given.Interface(), stored.Interface()):
			return fmt.Errorf("--%s %v conflicts with the recipe of %s (--%s %v): a resumed run keeps its recipe; leave the flag out",
				fd.flag, given.Interface(), f.resume, fd.flag, stored.Interface())
		}
	}
	return nil
}

// runTrain is `fovea train`: check the flags, load the data, build the
// model, train it, save it and say how it did.
func runTrain(f trainFlags, cmd *cobra.Command) error {
	resume, err := readResume(&f, cmd)
	if err != nil {
		return err
	}
	if f.printConfig { // checked as a run would check it, not run
		if _, err := f.config(); err != nil {
			return err
		}
		if _, err := f.checkInput(); err != nil {
			return err
		}
		return printConfig(os.Stdout, &f)
	}
	if err := setThreads(f.threads); err != nil {
		return err
	}
	stop, err := startCPUProfile(f.cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if err := f.resolveOut(); err != nil {
		return err
	}
	in, err := f.checkInput()
	if err != nil {
		return err
	}
	start := time.Now()
	d, err := f.prepareData(in)
	if err != nil {
		return err
	}
	model, meta, err := f.buildModel(d, cfg.LRMult, cfg.WDMult, resume)
	if err != nil {
		return err
	}
	if err := f.configure(&cfg, d, meta, resume); err != nil {
		return err
	}
	if !f.quiet {
		f.printHeader(model, d, in.pipeline, cfg)
	}
	res, err := train.Fit(model, d.train, d.test, cfg)
	if err != nil {
		return err
	}
	if err := f.save(model, meta, res, d.train.Name); err != nil {
		return err
	}
	return f.printResult(res, time.Since(start))
}

// readResume reads the --resume checkpoint, if given, and takes its recipe
// into f.
func readResume(f *trainFlags, cmd *cobra.Command) (*train.State, error) {
	if f.resume == "" {
		return nil, nil
	}
	st, err := train.ReadState(f.resume)
	if err != nil {
		return nil, fmt.Errorf("--resume: %w", err)
	}
	if err := resumeRecipe(f, cmd, st); err != nil {
		return nil, err
	}
	return st, nil
}

// config returns the train.Config of f's recipe flags, checked by
// [train.Config.Validate] (its errors in flag names, see flagError). The
// checkpoint path is --out or its default name, which resolveOut may
// number and configure sets.
func (f *trainFlags) config() (train.Config, error) {
	// train.Config reads 0 as "the default" in these; a flag of 0 is a mistake.
	switch {
	case f.epochs == 0:
		return train.Config{}, fmt.Errorf("--epochs 0: must be at least 1")
	case f.batch == 0:
		return train.Config{}, fmt.Errorf("--batch-size 0: must be at least 1")
	case f.lr == 0:
		return train.Config{}, fmt.Errorf("--lr 0: must be a positive number")
	case f.momentum == 0:
		return train.Config{}, fmt.Errorf("--momentum 0: must be in (0, 1)")
	case f.lookaheadDecay == 0:
		return train.Config{}, fmt.Errorf("--lookahead-decay 0: must be in (0, 1]")
	}
	lrMult, err := train.ParseLRMults(f.lrMult)
	if err != nil {
		return train.Config{}, fmt.Errorf("--lr-mult: %w", err)
	}
	wdMult, err := train.ParseWDMults(f.wdMult)
	if err != nil {
		return train.Config{}, fmt.Errorf("--wd-mult: %w", err)
	}
	trainUntil, err := train.ParseTrainUntil(f.trainUntil)
	if err != nil {
		return train.Config{}, fmt.Errorf("--train-until: %w", err)
	}
	cfg := train.Config{
		Epochs: f.epochs, BatchSize: f.batch, LR: f.lr, Optimizer: f.optimizer, Schedule: f.schedule,
		WeightDecay: f.weightDecay, LabelSmoothing: f.labelSmoothing, Seed: f.seed,
		LRMult: lrMult, WDMult: wdMult, TrainUntil: trainUntil, Momentum: f.momentum, Lookahead: f.lookahead, LookaheadDecay: f.lookaheadDecay, SWAStart: f.swaStart, SWALR: f.swaLR, NoCompile: f.noCompile,
		CheckpointEvery: f.checkpointEvery, KeepLast: f.keepLast,
	}
	if f.checkpointEvery != 0 { // --checkpoint-every 0: no checkpoints
		cfg.CheckpointPath = cmp.Or(f.out, defaultOut(f.model, f.data))
	}
	return cfg, flagError(cfg.Validate())
}

// configFlags names the flag behind each train.Config field that
// Config.Validate can report. Without --checkpoint-every, runs have no
// checkpoint path.
var configFlags = map[string]string{
	"Epochs": "epochs", "BatchSize": "batch-size", "LR": "lr", "Optimizer": "optimizer", "Schedule": "schedule",
	"WeightDecay": "weight-decay", "LabelSmoothing": "label-smoothing", "Momentum": "momentum",
	"Lookahead": "lookahead", "LookaheadDecay": "lookahead-decay", "SWAStart": "swa-start", "SWALR": "swa-lr",
	"CheckpointEvery": "checkpoint-every", "KeepLast": "keep-last", "CheckpointPath": "checkpoint-every",
}

// flagError words a *train.ConfigError with the flags' names ("--lr -1:
// must be a positive number", "--swa-lr needs --swa-start"); other errors
// are returned as they are.
func flagError(err error) error {
	var e *train.ConfigError
	if !errors.As(err, &e) {
		return err
	}
	flag, ok := configFlags[e.Field]
	switch {
	case !ok:
		return err
	case e.Needs != "":
		return fmt.Errorf("--%s needs --%s", flag, configFlags[e.Needs])
	case e.Limit != "":
		return fmt.Errorf("--%s %#v: %s (--%s)", flag, e.Value, e.Rule, configFlags[e.Limit])
	}
	return fmt.Errorf("--%s %#v: %s", flag, e.Value, e.Rule)
}

// resolveOut gives a fresh run without --out its default checkpoint name
// (a resumed one keeps its recipe's), numbered past an earlier run's
// unless --force, and checks that its folder exists.
func (f *trainFlags) resolveOut() error {
	if f.out == "" {
		f.out = defaultOut(f.model, f.data)
		if !f.force {
			free, err := freeDefaultOut(f.out)
			if err != nil {
				return err
			}
			if free != f.out {
				fmt.Fprintf(os.Stderr, "note: %s is an earlier run's; writing %s (--force replaces it, --out names the file)\n", f.out, free)
				f.out = free
			}
		}
	}
	return checkOutFolder("out", f.out)
}

// trainInput is what the model and the image flags ask of the images.
type trainInput struct {
	input    [3]int // the model's (C, H, W)
	anySize  bool   // whether the model takes other sizes too
	size     [2]int // H, W to load folders at
	pipeline augment.Pipeline
}

// checkInput reads the model's input and the flags on images, before any
// data is loaded.
func (f *trainFlags) checkInput() (trainInput, error) {
	var in trainInput
	var err error
	if in.input, in.anySize, err = modelInput(f.model); err != nil {
		return in, fmt.Errorf("--model: %w", err)
	}
	if in.pipeline, err = augment.Parse(f.augment); err != nil {
		return in, fmt.Errorf("--augment: %w", err)
	}
	if in.size, err = parseSize("size", f.size); err != nil {
		return in, err
	}
	if own := [2]int{in.input[1], in.input[2]}; in.size == ([2]int{}) {
		in.size = own
	} else if !in.anySize && in.size != own {
		return in, fmt.Errorf("--size %s: model %s takes %dx%d images only", f.size, f.model, in.input[1], in.input[2])
	}
	if err := in.pipeline.Check(in.size[0], in.size[1]); err != nil {
		return in, fmt.Errorf("--augment: %w", err)
	}
	switch {
	case f.channels != 0 && f.channels != 1 && f.channels != 3:
		return in, fmt.Errorf("--channels %d: must be 1 or 3 (or 0 to follow the images)", f.channels)
	case !(f.valSplit >= 0 && f.valSplit < 1):
		return in, fmt.Errorf("--val-split %g: must be in [0, 1)", f.valSplit)
	case len(f.freeze) > 0 && f.init == "":
		return in, fmt.Errorf("--freeze needs --init: freezing freshly initialized layers trains nothing useful")
	}
	return in, nil
}

// trainData is the data of a run, normalized for the model.
type trainData struct {
	train, test *data.Dataset
	spec        *models.DataSpec // what eval needs to rebuild the test set without --data
	mean, std   []float32        // of the training set, per channel
	// transform augments a training image and normalizes it last; nil
	// without augmentation (the training set is normalized in place).
	transform func([]float32, *rand.Rand)
	// transformAt replaces transform when an augmentation needs the
	// example and epoch (altflip).
	transformAt func([]float32, *rand.Rand, data.ExampleInfo)
}

// prepareData loads the training and test sets, samples --train-limit and
// --test-limit of them, checks their size against the model and
// normalizes them.
func (f *trainFlags) prepareData(in trainInput) (*trainData, error) {
	trainSet, testSet, spec, err := f.loadSplits(in.size)
	if err != nil {
		return nil, err
	}
	if f.trainLimit < 0 || f.testLimit < 0 {
		return nil, fmt.Errorf("--train-limit and --test-limit must not be negative")
	}
	trainSet = sample(trainSet, f.trainLimit, f.seed)
	testSet = sample(testSet, f.testLimit, evalSampleSeed) // the images `fovea eval --limit` picks
	if got := trainSet.Shape(); !in.anySize && (got[1] != in.input[1] || got[2] != in.input[2]) {
		return nil, fmt.Errorf("--model %s takes %dx%d images but --data %s has %dx%d", f.model, in.input[1], in.input[2], f.data, got[1], got[2])
	}
	d := &trainData{train: trainSet, test: testSet, spec: spec}
	d.normalize(in.pipeline)
	return d, nil
}

// loadSplits loads --data and --test-data at size, or holds out
// --val-split of the training set when there is no test set, and
// describes them for eval.
func (f *trainFlags) loadSplits(size [2]int) (trainSet, testSet *data.Dataset, spec *models.DataSpec, err error) {
	lopt := data.LoadOptions{FolderOptions: data.FolderOptions{Size: size, Channels: f.channels}}
	if trainSet, testSet, err = loadData(f.data, lopt); err != nil {
		return nil, nil, nil, err
	}
	if f.testData != "" {
		s := trainSet.Shape()
		testSet, err = data.LoadTest(f.testData, data.LoadOptions{FolderOptions: data.FolderOptions{Size: [2]int{s[1], s[2]}, Channels: s[0]}})
		if err == nil {
			err = data.AlignClasses(trainSet, testSet)
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("--test-data %s: %w", f.testData, err)
		}
	}
	spec = &models.DataSpec{Data: f.data, DataAbs: absSpec(f.data), TestData: f.testData, TestDataAbs: absSpec(f.testData),
		Size: [2]int{trainSet.H, trainSet.W}, Channels: trainSet.C}
	if testSet == nil {
		if f.valSplit == 0 {
			return nil, nil, nil, fmt.Errorf("--data %s has no test split: give --test-data or a --val-split fraction", f.data)
		}
		trainSet, testSet = data.StratifiedSplit(trainSet, f.valSplit, f.seed)
		spec.ValSplit, spec.Seed = f.valSplit, f.seed
	}
	return trainSet, testSet, spec, nil
}

// normalize normalizes both sets with the training set's own statistics;
// they travel with the checkpoint so eval and predict prepare input the
// same way. With augmentation the training images stay in [0, 1] for the
// transforms and are normalized as the pipeline's last step.
func (d *trainData) normalize(pipeline augment.Pipeline) {
	d.mean, d.std = d.train.MeanStd()
	for i := range d.std {
		d.std[i] = max(d.std[i], 1e-3) // a constant channel
	}
	if len(pipeline) > 0 {
		s := d.train.Shape()
		full := append(pipeline, augment.Normalize{Mean: d.mean, Std: d.std})
		if full.Indexed() {
			d.transformAt = full.FuncAt(s[0], s[1], s[2])
		} else {
			d.transform = full.Func(s[0], s[1], s[2])
		}
	} else {
		d.train.Normalize(d.mean, d.std)
	}
	d.test.Normalize(d.mean, d.std)
}

// buildModel builds --model for the data with its starting weights — from
// --init, or on --resume from the checkpoint (loaded by train.Fit), with
// the same layers frozen — and describes it for its checkpoint.
func (f *trainFlags) buildModel(d *trainData, lrMult, wdMult []train.LRMult, resume *train.State) (nn.Layer, models.Meta, error) {
	opt := models.Options{NumClasses: d.train.NumClasses, InChannels: d.train.C, Seed: f.seed}
	model, meta, err := models.Build(f.model, opt)
	if err != nil {
		return nil, meta, fmt.Errorf("--model: %w", err)
	}
	if resume == nil {
		if err := initFromData(model, f.model, d); err != nil {
			return nil, meta, err
		}
	}
	switch {
	case resume != nil:
		if _, err := train.Freeze(model, f.freeze...); err != nil {
			return nil, meta, fmt.Errorf("--freeze: %w", err)
		}
	case f.init != "":
		if err := initFrom(model, f.init, f.freeze, f.quiet); err != nil {
			return nil, meta, err
		}
	}
	// train.Fit makes this check too; here it fails before any output.
	if _, err := train.LRMultipliers(model, lrMult); err != nil {
		return nil, meta, fmt.Errorf("--lr-mult: %w", err)
	}
	if _, err := train.WDMultipliers(model, wdMult); err != nil {
		return nil, meta, fmt.Errorf("--wd-mult: %w", err)
	}
	meta.InputShape = d.train.Shape()
	meta.Classes, meta.Mean, meta.Std, meta.Data = d.train.ClassNames, d.mean, d.std, d.spec
	return model, meta, nil
}

// initFromData runs the data-dependent initialization of a zoo model that
// has one (models.Info.InitData: airbench94's whitening layer) on the
// first models.InitDataImages training images, normalized as the model
// sees them.
func initFromData(model nn.Layer, name string, d *trainData) error {
	info, err := models.Lookup(name)
	if err != nil || info.InitData == nil {
		return nil // a spec file, or a model without one
	}
	n, s := min(d.train.Len(), models.InitDataImages), d.train.Shape()
	chw, hw := s[0]*s[1]*s[2], s[1]*s[2]
	x := make([]float32, n*chw)
	for i := range n {
		img := x[i*chw : (i+1)*chw]
		d.train.Example(i, img)
		if d.transform != nil || d.transformAt != nil { // the images are normalized by the pipeline's last step
			for c := range s[0] {
				for j := range hw {
					img[c*hw+j] = (img[c*hw+j] - d.mean[c]) * (1 / d.std[c]) // as augment.Normalize
				}
			}
		}
	}
	if err := info.InitData(model, tensor.FromSlice(x, n, s[0], s[1], s[2])); err != nil {
		return fmt.Errorf("--model %s: initialization from the training images: %w", name, err)
	}
	return nil
}

// configure completes cfg with the augmentation, the progress output, the
// state to resume, the checkpoints' path and metadata (the model and the
// recipe that rebuilds the run on --resume), and --history rewritten after
// each epoch.
func (f *trainFlags) configure(cfg *train.Config, d *trainData, meta models.Meta, resume *train.State) error {
	cfg.Transform, cfg.TransformAt, cfg.Resume = d.transform, d.transformAt, resume
	if !f.quiet {
		cfg.Progress, cfg.Interactive = os.Stderr, term.IsTerminal(int(os.Stderr.Fd()))
	}
	if f.history != "" {
		cfg.OnEpoch = f.historyWriter(resume)
	}
	if f.checkpointEvery == 0 {
		return nil
	}
	md, err := f.metadata(meta)
	if err != nil {
		return err
	}
	cfg.CheckpointPath, cfg.CheckpointMeta = f.out, md
	return nil
}

// metadata returns the checkpoint metadata of the run: meta's, and the
// recipe (with the threads the run has), which --resume and --config
// read back.
func (f *trainFlags) metadata(meta models.Meta) (map[string]string, error) {
	md, err := meta.Metadata()
	if err != nil {
		return nil, err
	}
	r := recipeOf(f)
	r.Threads = tensor.Threads()
	js, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	md[checkpoint.KeyTrainRecipe] = string(js)
	return md, nil
}

// historyWriter returns an OnEpoch that rewrites --history with the epochs
// so far (those of the resumed run's first).
func (f *trainFlags) historyWriter(resume *train.State) func(train.EpochStats) {
	var done []train.EpochStats
	if resume != nil {
		done = slices.Clone(resume.Epochs)
	}
	return func(st train.EpochStats) {
		done = append(done, st)
		if err := train.SaveHistory(f.history, done); err != nil {
			fmt.Fprintln(os.Stderr, "warning: --history:", err)
		}
	}
}

// printHeader says on stderr what is about to be trained, and how.
func (f *trainFlags) printHeader(model nn.Layer, d *trainData, pipeline augment.Pipeline, cfg train.Config) {
	s := d.train.Shape()
	fmt.Fprintf(os.Stderr, "training %s (%d parameters) on %s: %d train / %d test images of %dx%dx%d in %d classes, %d epochs, batch %d, %s lr %g %s, augment %s\n",
		f.model, nn.NumParams(model), d.train.Name, d.train.Len(), d.test.Len(), s[0], s[1], s[2], d.train.NumClasses,
		f.epochs, f.batch, f.optimizer, f.lr, f.schedule, pipeline)
	if f.swaStart > 0 {
		rate := "the schedule's learning rate"
		if f.swaLR > 0 {
			rate = fmt.Sprintf("learning rate %g", f.swaLR)
		}
		fmt.Fprintf(os.Stderr, "weight averaging (SWA) of epochs %d–%d at %s\n", f.swaStart, f.epochs, rate)
	}
	if len(cfg.LRMult) > 0 {
		fmt.Fprintf(os.Stderr, "learning-rate multipliers (first match wins): %s\n", strings.Join(f.lrMult, ", "))
	}
	if st := cfg.Resume; st != nil {
		fmt.Fprintf(os.Stderr, "resuming from %s: %d epochs and %d steps done (global step %d)\n",
			st.Path, st.Epoch, st.Step, st.GlobalStep)
	}
}

// save writes the model to --out, and --history and --report when asked.
func (f *trainFlags) save(model nn.Layer, meta models.Meta, res train.Result, dataName string) error {
	md, err := f.metadata(meta)
	if err != nil {
		return err
	}
	if err := checkpoint.Save(f.out, model, md); err != nil {
		return err
	}
	if f.history != "" {
		if err := train.SaveHistory(f.history, res.Epochs); err != nil {
			return fmt.Errorf("--history: %w", err)
		}
	}
	if f.report == "" {
		return nil
	}
	sections, err := report.TrainingSections(res.Epochs)
	if err == nil {
		_, err = report.WriteDir(f.report, fmt.Sprintf("Training %s on %s", f.model, dataName), sections...)
	}
	if err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	return nil
}

// printResult prints the test accuracy and loss of the saved model (the
// weight average under SWA) on stdout, as a line or with --json an object.
func (f *trainFlags) printResult(res train.Result, elapsed time.Duration) error {
	final := res.Final()
	testAcc, testLoss, what := final.TestAcc, final.TestLoss, fmt.Sprintf("after %d epochs", f.epochs)
	if a := res.SWA; a != nil {
		testAcc, testLoss = a.TestAcc, a.TestLoss
		what = fmt.Sprintf("of the weight average of epochs %d–%d", a.From, a.From+a.Averaged-1)
	}
	if f.json {
		out := map[string]any{
			"test_accuracy": testAcc, "test_loss": testLoss, "epochs": f.epochs,
			"elapsed_seconds": elapsed.Seconds(), "train_images_per_second": meanThroughput(res),
			"model": f.model, "checkpoint": f.out, "step": res.Step,
		}
		if res.SWA != nil {
			out["swa"] = res.SWA
			out["last_epoch_test_accuracy"] = final.TestAcc
		}
		return printJSON(out)
	}
	fmt.Printf("test accuracy %.2f%%, test loss %.4f %s; elapsed %s; %.0f train img/s; saved %s\n",
		100*testAcc, testLoss, what, elapsed.Round(100*time.Millisecond), meanThroughput(res), f.out)
	if strings.Contains(res.Step, "eager: ") {
		// The compiler declined (the reason names the layer): say so.
		fmt.Fprintf(os.Stderr, "note: training steps ran eagerly: %s\n", res.Step)
	}
	return nil
}

// meanThroughput is the training images per second over all epochs.
func meanThroughput(r train.Result) float64 {
	var s float64
	for _, e := range r.Epochs {
		s += e.ImagesPerSec
	}
	return s / float64(max(len(r.Epochs), 1))
}

// initFrom loads the tensors of the checkpoint at path that fit model by
// name and shape, then freezes the parameters under the given prefixes.
func initFrom(model nn.Layer, path string, freeze []string, quiet bool) error {
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--init: %w", err)
	}
	m, err := checkpoint.LoadMatching(model, f)
	if err != nil {
		return fmt.Errorf("--init: %w", err)
	}
	frozen, err := train.Freeze(model, freeze...)
	if err != nil {
		return fmt.Errorf("--freeze: %w", err)
	}
	if !quiet {
		fmt.Fprintf(os.Stderr, "initialized %d tensors from %s", len(m.Loaded), path)
		if fresh := append(m.Shape, m.Missing...); len(fresh) > 0 {
			fmt.Fprintf(os.Stderr, "; newly initialized: %s", strings.Join(fresh, ", "))
		}
		if len(frozen) > 0 {
			fmt.Fprintf(os.Stderr, "; frozen: %d parameters", len(frozen))
		}
		fmt.Fprintln(os.Stderr)
	}
	return nil
}

// evalSampleSeed picks the test subset of --test-limit and of eval's
// --limit, so both measure the same images.
const evalSampleSeed = 0

// sample returns n examples of ds drawn at random with seed, in ds's order
// (folders are sorted by class: a prefix would hold one class), or ds
// itself when n is 0 or not smaller than its size.
func sample(ds *data.Dataset, n int, seed uint64) *data.Dataset {
	if n <= 0 || n >= ds.Len() {
		return ds
	}
	idx := rand.New(rand.NewPCG(seed, 0x11a1)).Perm(ds.Len())[:n]
	slices.Sort(idx)
	sub := ds.Subset(idx)
	sub.Name = fmt.Sprintf("%s (%d of %d)", ds.Name, n, ds.Len())
	return sub
}

// modelInput returns the input shape of a registry model or a spec file
// and whether the model also takes other image sizes.
func modelInput(nameOrSpec string) (input [3]int, anySize bool, err error) {
	if models.IsSpecPath(nameOrSpec) {
		spec, err := models.ReadSpec(nameOrSpec)
		if err != nil {
			return input, false, err
		}
		return spec.Input(), false, nil
	}
	info, err := models.Lookup(nameOrSpec)
	if err != nil {
		return input, false, err
	}
	return info.Input, info.AnySize, nil
}
