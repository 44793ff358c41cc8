package train_test

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// dropoutNet is a small CNN with every kind of state a resume must carry:
// batch-norm statistics, two dropout layers with generators of their own.
func dropoutNet(seed uint64) nn.Layer {
	rng := tensor.NewRNG(seed)
	return nn.NewSequential(
		nn.NewConv2d(rng, nn.Conv2dConfig{In: 1, Out: 6, Kernel: 5, NoBias: true}), // (N, 6, 24, 24)
		nn.NewBatchNorm2d(6),
		nn.ReLU{},
		nn.NewMaxPool2d(4, 4, 0), // (N, 6, 6, 6)
		nn.NewDropout(0.2, seed+1),
		nn.Flatten{},
		nn.NewLinear(rng, 216, 32, true),
		nn.ReLU{},
		nn.NewDropout(0.5, seed+2),
		nn.NewLinear(rng, 32, 10, true),
	)
}

// TestResumeBitIdentical trains 3 epochs uninterrupted, then the same run
// stopped at a mid-epoch checkpoint and continued on a freshly built model
// from the file alone: the final weights, buffers and statistics must be
// the same bits. It covers SGD with momentum and AdamW, each with dropout
// and augmentation, and a schedule that changes every step.
func TestResumeBitIdentical(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(2)
	trainSet, testSet := mnistHead(t, 300, 100)
	pipe, err := augment.Parse("crop:2,noise:0.05")
	if err != nil {
		t.Fatal(err)
	}
	transform := pipe.Func(1, 28, 28)
	for _, c := range []struct {
		opt, sched string
		lr         float64
		every      int
		stopAt     int // resume from the checkpoint of this global step
		look       int // Config.Lookahead
	}{
		{"sgd", "cosine", 0.05, 3, 6, 0},       // mid-epoch 1 (9 steps an epoch)
		{"adamw", "onecycle", 0.003, 4, 12, 0}, // mid-epoch 2
		{"adam", "step", 0.003, 0, 9, 0},       // an epoch end
		// Lookahead averaging, with airbench's schedule, momentum and
		// weight-decay groups: the average is in the checkpoint.
		{"sgd", "triangular", 0.05, 4, 8, 3},
	} {
		name := c.opt
		if c.look > 0 {
			name += "-lookahead"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			base := filepath.Join(dir, "run.safetensors")
			cfg := train.Config{
				Epochs: 3, BatchSize: 32, LR: c.lr, Optimizer: c.opt, Schedule: c.sched, WeightDecay: 1e-3,
				LabelSmoothing: 0.1, Seed: 7, Transform: transform,
			}
			if c.look > 0 {
				cfg.Lookahead, cfg.Momentum, cfg.WDMult = c.look, 0.85, []train.LRMult{{Prefix: "*.bias", Factor: 0.5}}
			}
			ref := dropoutNet(5)
			refRes, err := train.Fit(ref, trainSet, testSet, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if c.look > 0 { // the averaging changes the run
				plain := dropoutNet(5)
				cfg.Lookahead = 0
				if _, err := train.Fit(plain, trainSet, testSet, cfg); err != nil {
					t.Fatal(err)
				}
				cfg.Lookahead = c.look
				if reflect.DeepEqual(nn.StateDict(plain)[0].Value.Data(), nn.StateDict(ref)[0].Value.Data()) {
					t.Errorf("lookahead changed no weight of the first tensor")
				}
			}

			// The checkpointed run must not differ from the plain one.
			cfg.CheckpointPath, cfg.CheckpointEvery, cfg.KeepLast = base, c.every, 0
			cfg.CheckpointMeta = map[string]string{checkpoint.KeyModel: "test"}
			saved := dropoutNet(5)
			if _, err := train.Fit(saved, trainSet, testSet, cfg); err != nil {
				t.Fatal(err)
			}
			sameWeights(t, "with checkpoints", ref, saved)

			st, err := train.ReadState(train.StepPath(base, c.stopAt))
			if err != nil {
				t.Fatal(err)
			}
			if st.GlobalStep != c.stopAt || st.Metadata[checkpoint.KeyModel] != "test" {
				t.Fatalf("state at step %d, metadata %v", st.GlobalStep, st.Metadata)
			}
			if c.opt != "sgd" && len(st.OptimizerSteps) == 0 {
				t.Error("no optimizer step counts saved")
			}
			if len(st.RandomStates) != 2 || len(st.Optim) == 0 {
				t.Errorf("generator states of %d layers, %d optimizer tensors", len(st.RandomStates), len(st.Optim))
			}
			if c.look > 0 {
				floats := 0 // the state but num_batches_tracked, a count
				for _, x := range nn.StateDict(saved) {
					if !strings.HasSuffix(x.Name, "num_batches_tracked") {
						floats++
					}
				}
				if len(st.Lookahead) != floats {
					t.Errorf("%d averaged tensors in the checkpoint, want the model's %d", len(st.Lookahead), floats)
				}
			}
			resumed := dropoutNet(5)
			cfg.CheckpointPath, cfg.CheckpointEvery, cfg.Resume = "", 0, st
			res, err := train.Fit(resumed, trainSet, testSet, cfg)
			if err != nil {
				t.Fatal(err)
			}
			sameWeights(t, "resumed", ref, resumed)
			if len(res.Epochs) != 3 {
				t.Fatalf("%d epochs of statistics, want 3", len(res.Epochs))
			}
			for i, e := range res.Epochs {
				r := refRes.Epochs[i]
				if e.TrainLoss != r.TrainLoss || e.TrainAcc != r.TrainAcc || e.TestLoss != r.TestLoss || e.LR != r.LR {
					t.Errorf("epoch %d: resumed %+v, uninterrupted %+v", i+1, e, r)
				}
			}
		})
	}
}

// sameWeights fails t unless a and b hold bit-identical tensors.
func sameWeights(t *testing.T, what string, a, b nn.Layer) {
	t.Helper()
	sa, sb := nn.StateDict(a), nn.StateDict(b)
	for i := range sa {
		x, y := sa[i].Value.Contiguous().Data(), sb[i].Value.Contiguous().Data()
		for j := range x {
			if math.Float32bits(x[j]) != math.Float32bits(y[j]) {
				t.Errorf("%s: %s[%d] = %v, uninterrupted run %v", what, sa[i].Name, j, y[j], x[j])
				break
			}
		}
	}
}

// TestCheckpointFiles checks the files of a run: names, pruning, what a
// model loader sees, and a resume with a different recipe refused.
func TestCheckpointFiles(t *testing.T) {
	trainSet, _ := mnistHead(t, 200, 0)
	dir := t.TempDir()
	base := filepath.Join(dir, "m.safetensors")
	cfg := train.Config{Epochs: 2, BatchSize: 20, Optimizer: "adamw", Seed: 1,
		CheckpointPath: base, CheckpointEvery: 3, KeepLast: 2}
	model := models.NewLeNet5(models.Options{Seed: 1})
	if _, err := train.Fit(model, trainSet, nil, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := train.Checkpoints(base)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{train.StepPath(base, 18), train.StepPath(base, 20)}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("checkpoints %v, want %v", got, want)
	}
	if filepath.Base(want[0]) != "m.step0000018.safetensors" {
		t.Errorf("step path %s", want[0])
	}
	// A temporary file of an interrupted write is no checkpoint.
	os.WriteFile(filepath.Join(dir, ".m.step0000021.safetensors.tmp-123"), []byte("x"), 0o644)
	if got, _ := train.Checkpoints(base); len(got) != 2 {
		t.Errorf("checkpoints with a temporary file: %v", got)
	}
	// The model loader ignores the optimizer's tensors.
	f, err := checkpoint.ReadFile(want[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.LoadInto(models.NewLeNet5(models.Options{}), f); err != nil {
		t.Error(err)
	}
	st, err := train.ReadState(want[1])
	if err != nil {
		t.Fatal(err)
	}
	if st.Epoch != 2 || st.Step != 0 || len(st.Epochs) != 2 {
		t.Errorf("final state: epoch %d step %d, %d epochs of statistics", st.Epoch, st.Step, len(st.Epochs))
	}
	cfg.LR, cfg.Resume, cfg.CheckpointPath, cfg.CheckpointEvery, cfg.KeepLast = 0.5, st, "", 0, 0
	if _, err := train.Fit(models.NewLeNet5(models.Options{Seed: 1}), trainSet, nil, cfg); err == nil || !strings.Contains(err.Error(), "lr 0.5 (checkpoint: 0.01)") {
		t.Errorf("resume with another lr: %v", err)
	}
	if _, err := train.ReadState(filepath.Join(dir, "nope.safetensors")); err == nil {
		t.Error("ReadState of a missing file succeeded")
	}
}
