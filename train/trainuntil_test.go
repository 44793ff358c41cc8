package train_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// TestTrainUntil checks that a parameter covered by a TrainUntil rule
// trains in its first epochs and then stays as it was, the others go on,
// and that rules are checked.
func TestTrainUntil(t *testing.T) {
	trainSet, _ := mnistHead(t, 256, 0)
	model := nn.NewSequential(nn.Flatten{}, nn.NewLinear(tensor.NewRNG(1), 784, 10, true))
	w, b := model.Layers[1].(*nn.Linear).Weight.Value, model.Layers[1].(*nn.Linear).Bias.Value
	var snaps [][2][]float32
	cfg := train.Config{Epochs: 3, BatchSize: 64, LR: 0.1, Optimizer: "sgd", Seed: 1,
		TrainUntil: []train.LRMult{{Prefix: "1.bias", Factor: 1}},
		OnEpoch: func(train.EpochStats) {
			snaps = append(snaps, [2][]float32{slices.Clone(w.Data()), slices.Clone(b.Data())})
		}}
	b0 := slices.Clone(b.Data())
	if _, err := train.Fit(model, trainSet, nil, cfg); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(snaps[0][1], b0) {
		t.Error("the bias did not train in epoch 1")
	}
	if !slices.Equal(snaps[1][1], snaps[0][1]) || !slices.Equal(snaps[2][1], snaps[0][1]) {
		t.Error("the bias changed after its epoch")
	}
	if slices.Equal(snaps[2][0], snaps[1][0]) {
		t.Error("the weight stopped training too")
	}
	if !model.Layers[1].(*nn.Linear).Bias.RequiresGrad() {
		t.Error("the bias is still frozen after Fit returned")
	}
	if _, err := train.ParseTrainUntil([]string{"0.bias=1.5"}); err == nil {
		t.Error("1.5 epochs: no error")
	}
	cfg.TrainUntil = []train.LRMult{{Prefix: "nothing", Factor: 1}}
	if _, err := train.Fit(model, trainSet, nil, cfg); err == nil || !strings.Contains(err.Error(), "train-until") {
		t.Errorf("a rule covering nothing: %v", err)
	}
}
