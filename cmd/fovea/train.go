package main

import (
	"fmt"
	"math"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/train"
)

// trainFlags are the flags of `fovea train`; the defaults are the recipe
// that takes the default model past 99% on MNIST.
type trainFlags struct {
	model, data, optimizer, schedule, out string
	epochs, batch, threads                int
	trainLimit, testLimit                 int
	lr, weightDecay                       float64
	labelSmoothing                        float32
	seed                                  uint64
	json, quiet                           bool
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a model (default: the MNIST CNN on the embedded MNIST)",
		Example: `  fovea train
  fovea train --model lenet5 --epochs 5 --optimizer sgd --lr 0.05 --schedule cosine
  fovea train --data fashion-mnist:../shared/datasets/fashion-mnist --out fashion.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", models.DefaultMNIST, "architecture to train (see `fovea models`)")
	fl.StringVar(&f.data, "data", "mnist", "dataset: mnist (embedded), mnist:DIR, fashion-mnist:DIR, or a folder of IDX files")
	fl.IntVar(&f.epochs, "epochs", 3, "passes over the training set")
	fl.IntVar(&f.batch, "batch-size", 128, "examples per optimizer step")
	fl.Float64Var(&f.lr, "lr", 0.01, "learning rate (peak rate for onecycle)")
	fl.StringVar(&f.optimizer, "optimizer", "adamw", "sgd (momentum 0.9, Nesterov), adam or adamw")
	fl.StringVar(&f.schedule, "schedule", "onecycle", "learning-rate schedule: constant, step, multistep, cosine or onecycle")
	fl.Float64Var(&f.weightDecay, "weight-decay", 1e-4, "weight decay (decoupled for adamw)")
	fl.Float32Var(&f.labelSmoothing, "label-smoothing", 0.1, "cross-entropy label smoothing in [0, 1)")
	fl.Uint64Var(&f.seed, "seed", 1, "seed for initialization and shuffling")
	fl.IntVar(&f.threads, "threads", 0, "worker threads (0: all cores)")
	fl.StringVar(&f.out, "out", "fovea-mnist.safetensors", "checkpoint file to write")
	fl.IntVar(&f.trainLimit, "train-limit", 0, "use only the first N training images (0: all), for quick trials")
	fl.IntVar(&f.testLimit, "test-limit", 0, "use only the first N test images (0: all)")
	fl.BoolVar(&f.json, "json", false, "print the final metrics as one JSON object on stdout")
	fl.BoolVar(&f.quiet, "quiet", false, "no progress output")
	return cmd
}

func runTrain(f trainFlags) error {
	if err := setThreads(f.threads); err != nil {
		return err
	}
	if err := oneOf("optimizer", f.optimizer, "sgd", "adam", "adamw"); err != nil {
		return err
	}
	if err := oneOf("schedule", f.schedule, "constant", "step", "multistep", "cosine", "onecycle"); err != nil {
		return err
	}
	if f.epochs < 1 {
		return fmt.Errorf("--epochs %d: must be at least 1", f.epochs)
	}
	if f.batch < 1 {
		return fmt.Errorf("--batch-size %d: must be at least 1", f.batch)
	}
	if !(f.lr > 0) || math.IsInf(f.lr, 0) {
		return fmt.Errorf("--lr %g: must be a positive number", f.lr)
	}
	if !(f.weightDecay >= 0) || math.IsInf(f.weightDecay, 0) {
		return fmt.Errorf("--weight-decay %g: must be a non-negative number", f.weightDecay)
	}
	if !(f.labelSmoothing >= 0 && f.labelSmoothing < 1) {
		return fmt.Errorf("--label-smoothing %g: must be in [0, 1)", f.labelSmoothing)
	}
	if f.out == "" {
		return fmt.Errorf("--out: a checkpoint path is required")
	}
	info, err := models.Lookup(f.model)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	start := time.Now()
	trainSet, testSet, err := loadData(f.data)
	if err != nil {
		return err
	}
	if f.trainLimit < 0 || f.testLimit < 0 {
		return fmt.Errorf("--train-limit and --test-limit must not be negative")
	}
	if f.trainLimit > 0 && f.trainLimit < trainSet.Len() {
		trainSet = trainSet.Head(f.trainLimit)
	}
	if f.testLimit > 0 && f.testLimit < testSet.Len() {
		testSet = testSet.Head(f.testLimit)
	}
	if got := trainSet.Shape(); got[1] != info.Input[1] || got[2] != info.Input[2] {
		return fmt.Errorf("--model %s takes %dx%d images but --data %s has %dx%d", f.model, info.Input[1], info.Input[2], f.data, got[1], got[2])
	}
	// Normalize with the training set's own statistics; they travel with
	// the checkpoint so eval and predict prepare input the same way.
	mean, std := trainSet.MeanStd()
	trainSet.Normalize(mean, std)
	testSet.Normalize(mean, std)

	opt := models.Options{NumClasses: trainSet.NumClasses, InChannels: trainSet.C, Seed: f.seed}
	model, err := models.New(f.model, opt)
	if err != nil {
		return err
	}
	var progress = os.Stderr
	cfg := train.Config{
		Epochs: f.epochs, BatchSize: f.batch, LR: f.lr, Optimizer: f.optimizer, Schedule: f.schedule,
		WeightDecay: f.weightDecay, LabelSmoothing: f.labelSmoothing, Seed: f.seed,
		Progress: progress, Interactive: term.IsTerminal(int(progress.Fd())),
	}
	if f.quiet {
		cfg.Progress = nil
	}
	if !f.quiet {
		fmt.Fprintf(os.Stderr, "training %s (%d parameters) on %s: %d train / %d test images, %d epochs, batch %d, %s lr %g %s\n",
			f.model, nn.NumParams(model), trainSet.Name, trainSet.Len(), testSet.Len(), f.epochs, f.batch, f.optimizer, f.lr, f.schedule)
	}
	res, err := train.Fit(model, trainSet, testSet, cfg)
	if err != nil {
		return err
	}
	s := trainSet.Shape()
	meta := models.Meta{Model: f.model, Options: opt, Classes: trainSet.ClassNames, InputShape: s, Mean: mean, Std: std}
	if err := models.Save(f.out, model, meta); err != nil {
		return err
	}
	final := res.Final()
	elapsed := time.Since(start)
	if f.json {
		return printJSON(map[string]any{
			"test_accuracy": final.TestAcc, "test_loss": final.TestLoss, "epochs": f.epochs,
			"elapsed_seconds": elapsed.Seconds(), "train_images_per_second": meanThroughput(res),
			"model": f.model, "checkpoint": f.out,
		})
	}
	fmt.Printf("test accuracy %.2f%%, test loss %.4f after %d epochs; elapsed %s; %.0f train img/s; saved %s\n",
		100*final.TestAcc, final.TestLoss, f.epochs, elapsed.Round(100*time.Millisecond), meanThroughput(res), f.out)
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
