package train_test

import (
	"bytes"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// mnist decodes the embedded MNIST once for all tests and returns fresh,
// normalized copies of the first nTrain training and nTest test images.
var mnist = sync.OnceValues(func() (*data.Dataset, *data.Dataset) {
	tr, te, err := data.MNIST()
	if err != nil {
		panic(err)
	}
	return tr.Head(10000), te.Head(2000)
})

func mnistHead(t *testing.T, nTrain, nTest int) (trainSet, testSet *data.Dataset) {
	t.Helper()
	tr, te := mnist()
	trainSet, testSet = tr.Head(nTrain), te.Head(nTest)
	mean, std := []float32{data.MNISTMean}, []float32{data.MNISTStd}
	trainSet.Normalize(mean, std)
	testSet.Normalize(mean, std)
	return trainSet, testSet
}

// skipHeavy skips the slowest tests under -short, except in CI.
func skipHeavy(t *testing.T) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("trains a CNN for several seconds; skipped with -short")
	}
}

// TestFitMNISTSubset trains the default CNN with a fixed small-data recipe
// on 2,000 MNIST images (normalized with MNISTMean and MNISTStd). Measured
// on the first 1,000 test images with seed 1 on 2 cores: 94.3% (test loss
// 0.164; 92.2% after epoch 1, 93.3% after epoch 2). The 3 epochs take
// about 8 s on 2 cores.
func TestFitMNISTSubset(t *testing.T) {
	skipHeavy(t)
	trainSet, testSet := mnistHead(t, 2000, 1000)
	model, err := models.New(models.DefaultMNIST, models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	var seen []train.EpochStats
	res, err := train.Fit(model, trainSet, testSet, train.Config{
		Epochs: 3, BatchSize: 64, LR: 0.003, Optimizer: "adamw", Schedule: "onecycle",
		WeightDecay: 1e-4, Seed: 1, Progress: &progress,
		OnEpoch: func(s train.EpochStats) { seen = append(seen, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range res.Epochs {
		t.Logf("epoch %d: train loss %.4f acc %.4f, test loss %.4f acc %.4f, lr %.3g, %.0f img/s",
			e.Epoch, e.TrainLoss, e.TrainAcc, e.TestLoss, e.TestAcc, e.LR, e.ImagesPerSec)
	}
	if len(res.Epochs) != 3 || !slices.Equal(seen, res.Epochs) {
		t.Fatalf("got %d epochs of statistics (%d through OnEpoch), want 3", len(res.Epochs), len(seen))
	}
	final := res.Final()
	const minAcc = 0.91 // measured 0.943
	if final.TestAcc < minAcc {
		t.Errorf("test accuracy %.4f after 3 epochs on 2,000 images, want at least %.2f", final.TestAcc, minAcc)
	}
	if !(final.TestLoss < 0.3) {
		t.Errorf("test loss %.4f, want below 0.3", final.TestLoss)
	}
	if !(res.Epochs[2].TrainLoss < res.Epochs[0].TrainLoss) {
		t.Errorf("train loss did not fall: %.4f in epoch 1, %.4f in epoch 3", res.Epochs[0].TrainLoss, res.Epochs[2].TrainLoss)
	}
	for _, e := range res.Epochs {
		if !(e.ImagesPerSec > 0) || !(e.Seconds > 0) || !(e.Elapsed >= e.Seconds) {
			t.Errorf("epoch %d: throughput %g, seconds %g, elapsed %g", e.Epoch, e.ImagesPerSec, e.Seconds, e.Elapsed)
		}
	}
	// One-cycle anneals to (nearly) zero by the last step.
	if final.LR > 1e-5 || !(res.Epochs[0].LR > 1e-4) {
		t.Errorf("learning rate %g after epoch 1 and %g at the end, want one-cycle's rise and fall", res.Epochs[0].LR, final.LR)
	}
	// Evaluate agrees with what Fit reported and leaves the model in
	// evaluation mode.
	loss, acc := train.Evaluate(model, testSet, 128)
	if acc != final.TestAcc || math.Abs(loss-final.TestLoss) > 1e-6 {
		t.Errorf("Evaluate after Fit: loss %g acc %g; Fit reported loss %g acc %g", loss, acc, final.TestLoss, final.TestAcc)
	}
	// Non-interactive progress: a line per epoch with the test accuracy.
	if n := strings.Count(progress.String(), "test loss"); n != 3 {
		t.Errorf("progress has %d epoch lines, want 3:\n%s", n, progress.String())
	}
}

// fitSmall trains LeNet-5 for two epochs on 256 images and returns the
// result and the final weights.
func fitSmall(t *testing.T, seed uint64) (train.Result, map[string][]float32) {
	t.Helper()
	trainSet, testSet := mnistHead(t, 256, 100)
	model := models.NewLeNet5(models.Options{Seed: seed})
	res, err := train.Fit(model, trainSet, testSet, train.Config{
		Epochs: 2, BatchSize: 32, LR: 0.003, Optimizer: "adamw", Schedule: "onecycle", Seed: seed,
	})
	if err != nil {
		t.Fatal(err)
	}
	w := map[string][]float32{}
	for _, s := range nn.StateDict(model) {
		w[s.Name] = slices.Clone(s.Value.Contiguous().Data())
	}
	return res, w
}

func TestFitDeterministic(t *testing.T) {
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(2)
	r1, w1 := fitSmall(t, 3)
	r2, w2 := fitSmall(t, 3)
	f1, f2 := r1.Final(), r2.Final()
	if f1.TrainLoss != f2.TrainLoss || f1.TestLoss != f2.TestLoss || f1.TestAcc != f2.TestAcc {
		t.Errorf("same seed, same threads, different results: train loss %v vs %v, test loss %v vs %v, acc %v vs %v",
			f1.TrainLoss, f2.TrainLoss, f1.TestLoss, f2.TestLoss, f1.TestAcc, f2.TestAcc)
	}
	for k, v := range w1 {
		if !slices.Equal(v, w2[k]) {
			t.Errorf("same seed: final %s differs", k)
		}
	}
	r3, _ := fitSmall(t, 4)
	if r3.Final().TrainLoss == f1.TrainLoss {
		t.Errorf("seeds 3 and 4 give the same final train loss %v; is the seed used?", f1.TrainLoss)
	}
}

func TestFitInvalidConfig(t *testing.T) {
	trainSet, _ := mnistHead(t, 8, 0)
	empty := trainSet.Head(0)
	for _, c := range []struct {
		name string
		cfg  train.Config
		ds   *data.Dataset
		want string
	}{
		{"negative epochs", train.Config{Epochs: -1}, trainSet, "epochs -1"},
		{"negative batch", train.Config{BatchSize: -5}, trainSet, "batch size -5"},
		{"negative lr", train.Config{LR: -0.1}, trainSet, "learning rate -0.1"},
		{"NaN lr", train.Config{LR: math.NaN()}, trainSet, "learning rate NaN"},
		{"infinite lr", train.Config{LR: math.Inf(1)}, trainSet, "learning rate +Inf"},
		{"negative weight decay", train.Config{WeightDecay: -1}, trainSet, "weight decay -1"},
		{"label smoothing 1", train.Config{LabelSmoothing: 1}, trainSet, "label smoothing 1"},
		{"negative label smoothing", train.Config{LabelSmoothing: -0.5}, trainSet, "label smoothing -0.5"},
		{"unknown optimizer", train.Config{Optimizer: "foo"}, trainSet, `"foo"`},
		{"unknown schedule", train.Config{Schedule: "bar"}, trainSet, `"bar"`},
		{"empty training set", train.Config{}, empty, "empty"},
	} {
		model := models.NewLeNet5(models.Options{Seed: 1})
		before := slices.Clone(model.FC3.Weight.Value.Data())
		res, err := train.Fit(model, c.ds, nil, c.cfg)
		if err == nil {
			t.Errorf("%s: Fit did not fail", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
		if len(res.Epochs) != 0 {
			t.Errorf("%s: %d epochs reported with an error", c.name, len(res.Epochs))
		}
		if !slices.Equal(before, model.FC3.Weight.Value.Data()) {
			t.Errorf("%s: the model changed although Fit refused the configuration", c.name)
		}
	}
}

func TestFitNaNLossStops(t *testing.T) {
	trainSet, _ := mnistHead(t, 64, 0)
	model := models.NewLeNet5(models.Options{Seed: 1})
	for _, p := range nn.ParamVars(model) {
		p.Value.Fill(float32(math.NaN()))
	}
	_, err := train.Fit(model, trainSet, nil, train.Config{BatchSize: 16})
	if err == nil || !strings.Contains(err.Error(), "epoch 1 step 0") {
		t.Errorf("NaN weights: error %v, want one naming epoch 1 step 0", err)
	}
}

// identity is a model whose logits are its input: (N, 1, 1, K) → (N, K).
var identity = nn.Func(func(x *autograd.Var) *autograd.Var { return autograd.Flatten(x) })

func TestEvaluateExact(t *testing.T) {
	logits := [][]float32{
		{2, 0, 0}, // argmax 0
		{0, 3, 1}, // 1
		{1, 0, 4}, // 2
		{5, 1, 0}, // 0
		{0, 0, 2}, // 2
	}
	labels := []int{0, 1, 0, 2, 2} // rows 0, 1 and 4 are right: 3/5
	ds := &data.Dataset{Name: "tiny", C: 1, H: 1, W: 3, Y: labels, NumClasses: 3}
	var wantLoss float64
	for i, row := range logits {
		ds.X = append(ds.X, row...)
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v))
		}
		wantLoss += math.Log(z) - float64(row[labels[i]])
	}
	wantLoss /= float64(len(logits))
	for _, batch := range []int{1, 2, 5, 500, 0} {
		loss, acc := train.Evaluate(identity, ds, batch)
		if acc != 0.6 {
			t.Errorf("batch %d: accuracy %v, want exactly 0.6", batch, acc)
		}
		if math.Abs(loss-wantLoss) > 1e-6 {
			t.Errorf("batch %d: loss %.9f, want %.9f", batch, loss, wantLoss)
		}
	}

	// A hand-set linear layer: class = which of the two pixels is larger.
	lin := nn.NewLinear(tensor.NewRNG(1), 2, 2, true)
	lin.Weight.Value.CopyFrom(tensor.FromSlice([]float32{1, 0, 0, 1}, 2, 2))
	lin.Bias.Value.Fill(0)
	two := &data.Dataset{Name: "two", C: 1, H: 1, W: 2, NumClasses: 2,
		X: []float32{1, 0, 0, 1, 0.2, 0.1, 0.3, 0.9}, Y: []int{0, 1, 1, 1}}
	if _, acc := train.Evaluate(lin, two, 3); acc != 0.75 {
		t.Errorf("linear model: accuracy %v, want exactly 0.75", acc)
	}

	loss, acc := train.Evaluate(identity, ds.Head(0), 10)
	if !math.IsNaN(loss) || !math.IsNaN(acc) {
		t.Errorf("empty dataset: loss %v acc %v, want NaN NaN", loss, acc)
	}
}

func TestEvaluateSetsEvalMode(t *testing.T) {
	bn := nn.NewBatchNorm2d(1)
	model := nn.NewSequential(bn, nn.Flatten{})
	ds := &data.Dataset{Name: "bn", C: 1, H: 1, W: 2, NumClasses: 2, X: []float32{3, 1, 1, 3}, Y: []int{0, 1}}
	_, acc := train.Evaluate(model, ds, 2)
	if bn.Training {
		t.Error("Evaluate left batch norm in training mode")
	}
	if bn.NumBatchesTracked.At(0) != 0 || bn.RunningMean.At(0) != 0 {
		t.Errorf("Evaluate updated running statistics: num_batches_tracked %v, running_mean %v", bn.NumBatchesTracked.At(0), bn.RunningMean.At(0))
	}
	if acc != 1 {
		t.Errorf("accuracy %v, want 1", acc)
	}
}
