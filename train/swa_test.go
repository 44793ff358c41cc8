package train_test

import (
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// TestUpdateBatchNorm checks the recomputed statistics against their
// definition, in float64: the running mean is the mean of the batches'
// means and the running variance the mean of their unbiased variances
// (PyTorch's update_bn), whatever the statistics were before; the momentum
// is restored and the model left in evaluation mode.
func TestUpdateBatchNorm(t *testing.T) {
	const n, c, hw, batch = 10, 2, 3, 4 // batches of 4, 4 and 2 examples
	ds := &data.Dataset{Name: "bn", X: make([]float32, n*c*hw*hw), Y: make([]int, n), C: c, H: hw, W: hw, NumClasses: 1}
	rng := tensor.NewRNG(3)
	for i := range ds.X {
		ds.X[i] = float32(rng.NormFloat64()*2 + 1)
	}
	bn := nn.NewBatchNorm2d(c)
	bn.RunningMean.Fill(5)
	bn.RunningVar.Fill(7)
	model := nn.NewSequential(bn)

	got := train.UpdateBatchNorm(model, &data.Loader{Source: ds, BatchSize: batch})
	if got != 3 {
		t.Fatalf("UpdateBatchNorm ran %d batches, want 3", got)
	}
	for ch := range c {
		var meanSum, varSum float64
		for lo := 0; lo < n; lo += batch {
			var vals []float64
			for i := lo; i < min(lo+batch, n); i++ {
				for j := range hw * hw {
					vals = append(vals, float64(ds.X[(i*c+ch)*hw*hw+j]))
				}
			}
			var mu float64
			for _, v := range vals {
				mu += v
			}
			mu /= float64(len(vals))
			var sq float64
			for _, v := range vals {
				sq += (v - mu) * (v - mu)
			}
			meanSum += mu
			varSum += sq / float64(len(vals)-1)
		}
		wantMean, wantVar := meanSum/3, varSum/3
		if m := float64(bn.RunningMean.At(ch)); math.Abs(m-wantMean) > 1e-5 {
			t.Errorf("channel %d: running mean %v, want %v", ch, m, wantMean)
		}
		if v := float64(bn.RunningVar.At(ch)); math.Abs(v-wantVar) > 1e-5*wantVar {
			t.Errorf("channel %d: running variance %v, want %v", ch, v, wantVar)
		}
	}
	if bn.Momentum != 0.1 || bn.Training {
		t.Errorf("after UpdateBatchNorm: momentum %v (want 0.1), training %v (want false)", bn.Momentum, bn.Training)
	}
}

// bnNet is a conv layer, a batch norm and a linear head on MNIST digits,
// so that averaging has statistics to recompute.
func bnNet() *nn.Sequential {
	r := tensor.NewRNG(1)
	return nn.NewSequential(
		nn.NewConv2d(r, nn.Conv2dConfig{In: 1, Out: 2, Kernel: 3, Stride: 2, Padding: 1, NoBias: true}), // (N, 2, 14, 14)
		nn.NewBatchNorm2d(2),
		nn.ReLU{},
		nn.Flatten{},
		nn.NewLinear(r, 2*14*14, 10, true),
	)
}

// snapshot copies the model's parameters, by name.
func snapshot(model nn.Layer) map[string][]float32 {
	out := map[string][]float32{}
	for _, p := range nn.Params(model) {
		out[p.Name] = append([]float32(nil), p.Value.Value.Contiguous().Data()...)
	}
	return out
}

// TestFitSWA trains 5 epochs averaging from epoch 3 at a constant rate:
// the model Fit returns must hold the float64 mean of the weights at the
// ends of epochs 3, 4 and 5 (taken in OnEpoch), batch-norm statistics
// recomputed for those weights, the averaged epochs must run at SWALR, and
// the reported accuracy must be the averaged model's.
func TestFitSWA(t *testing.T) {
	ds, _ := mnistHead(t, 64, 0)
	cfg := train.Config{Epochs: 5, BatchSize: 16, LR: 0.1, Optimizer: "sgd", Schedule: "cosine", Seed: 2,
		SWAStart: 3, SWALR: 0.03}
	model := bnNet()
	var ends []map[string][]float32
	cfg.OnEpoch = func(st train.EpochStats) {
		if st.Epoch >= 3 {
			ends = append(ends, snapshot(model))
		}
	}
	res, err := train.Fit(model, ds, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Epochs {
		if e.Epoch >= 3 && e.LR != 0.03 {
			t.Errorf("epoch %d ran at learning rate %v, want the SWA rate 0.03", e.Epoch, e.LR)
		}
		if e.Epoch < 3 && e.LR == 0.03 {
			t.Errorf("epoch %d ran at the SWA rate before averaging started", e.Epoch)
		}
	}
	if res.SWA == nil || res.SWA.From != 3 || res.SWA.Averaged != 3 || res.SWA.BNBatches != 4 {
		t.Fatalf("SWA result %+v, want epochs 3–5 averaged and 4 batches for the statistics", res.SWA)
	}
	final := snapshot(model)
	for name, w := range final {
		for j := range w {
			var mean float64
			for _, e := range ends {
				mean += float64(e[name][j])
			}
			mean /= float64(len(ends))
			if math.Abs(float64(w[j])-mean) > 1e-6*max(1, math.Abs(mean)) {
				t.Fatalf("%s[%d] = %v, want the mean of the epoch ends %v", name, j, w[j], mean)
			}
		}
	}
	// The statistics are those of the averaged weights: recomputing them
	// changes nothing, and the averaged model's accuracy is what Fit says.
	bn := model.Layers[1].(*nn.BatchNorm)
	rm, rv := append([]float32(nil), bn.RunningMean.Data()...), append([]float32(nil), bn.RunningVar.Data()...)
	train.UpdateBatchNorm(model, &data.Loader{Source: ds, BatchSize: 16, Shuffle: true, Seed: 2, DropLast: true})
	for ch := range rm {
		if math.Abs(float64(rm[ch]-bn.RunningMean.At(ch))) > 1e-6 || math.Abs(float64(rv[ch]-bn.RunningVar.At(ch))) > 1e-6 {
			t.Errorf("channel %d: statistics %v/%v, recomputed %v/%v", ch, rm[ch], rv[ch], bn.RunningMean.At(ch), bn.RunningVar.At(ch))
		}
	}
	loss, acc := train.Evaluate(model, ds, 500)
	if loss != res.SWA.TestLoss || acc != res.SWA.TestAcc {
		t.Errorf("averaged model: loss %v accuracy %v, Fit reported %v %v", loss, acc, res.SWA.TestLoss, res.SWA.TestAcc)
	}
}

// TestSWAResume stops an averaging run after epoch 4 (two epochs averaged)
// and mid-epoch 5, and continues each on a fresh model: the final averaged
// weights and statistics must be the uninterrupted run's bits.
func TestSWAResume(t *testing.T) {
	trainSet, testSet := mnistHead(t, 200, 50)
	cfg := train.Config{Epochs: 5, BatchSize: 32, LR: 0.05, Optimizer: "sgd", Schedule: "cosine", Seed: 4,
		SWAStart: 3, SWALR: 0.02}
	ref := dropoutNet(3)
	refRes, err := train.Fit(ref, trainSet, testSet, cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(t.TempDir(), "swa.safetensors")
	cfg.CheckpointPath, cfg.CheckpointEvery = base, 2
	if _, err := train.Fit(dropoutNet(3), trainSet, testSet, cfg); err != nil {
		t.Fatal(err)
	}
	for _, stop := range []struct{ step, averaged int }{{24, 2}, {28, 2}, {12, 0}} { // 6 steps an epoch
		st, err := train.ReadState(train.StepPath(base, stop.step))
		if err != nil {
			t.Fatal(err)
		}
		if st.SWACount != stop.averaged || (stop.averaged > 0) != (len(st.Average) > 0) {
			t.Fatalf("step %d: %d epochs averaged, %d averaged tensors; want %d epochs", stop.step, st.SWACount, len(st.Average), stop.averaged)
		}
		resumed := dropoutNet(3)
		c := cfg
		c.CheckpointPath, c.CheckpointEvery, c.Resume = "", 0, st
		res, err := train.Fit(resumed, trainSet, testSet, c)
		if err != nil {
			t.Fatal(err)
		}
		sameWeights(t, "resumed at step "+strconv.Itoa(stop.step), ref, resumed)
		if *res.SWA != *refRes.SWA {
			t.Errorf("resumed at step %d: %+v, uninterrupted %+v", stop.step, *res.SWA, *refRes.SWA)
		}
	}
}

func TestSWAInvalidConfig(t *testing.T) {
	ds, _ := mnistHead(t, 8, 0)
	for _, c := range []struct {
		cfg  train.Config
		want string
	}{
		{train.Config{Epochs: 3, SWAStart: 4}, "weight averaging from epoch 4"},
		{train.Config{Epochs: 3, SWAStart: -1}, "weight averaging from epoch -1"},
		{train.Config{Epochs: 3, SWAStart: 1, SWALR: -0.1}, "learning rate -0.1"},
		{train.Config{Epochs: 3, SWAStart: 1, SWALR: math.NaN()}, "learning rate NaN"},
		{train.Config{Epochs: 3, SWALR: 0.1}, "without a first epoch"},
	} {
		_, err := train.Fit(bnNet(), ds, nil, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.cfg, err, c.want)
		}
	}
}
