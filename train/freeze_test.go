package train

import (
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func TestFreezeTrainsOnlyTheRest(t *testing.T) {
	model := tinyNet()
	frozen, err := Freeze(model, "0")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(frozen, []string{"0.weight", "0.bias"}) {
		t.Fatalf("froze %v", frozen)
	}
	if n := len(Trainable(model)); n != 2 {
		t.Fatalf("%d trainable parameters, want the linear layer's 2", n)
	}
	convBefore := model.Layers[0].(*nn.Conv2d).Weight.Value.Clone()
	fcBefore := model.Layers[3].(*nn.Linear).Weight.Value.Clone()
	ds := tinyData()
	if _, err := Fit(model, ds, nil, Config{Epochs: 2, BatchSize: 4, LR: 0.1}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(model.Layers[0].(*nn.Conv2d).Weight.Value.Data(), convBefore.Data()) {
		t.Error("a frozen layer changed")
	}
	if slices.Equal(model.Layers[3].(*nn.Linear).Weight.Value.Data(), fcBefore.Data()) {
		t.Error("the trainable layer did not change")
	}
	if _, err := Freeze(model, "layer9"); err == nil || !strings.Contains(err.Error(), `"layer9" matches no parameter`) {
		t.Errorf("unknown prefix: %v", err)
	}
	if _, err := Freeze(model, "0", "3"); err != nil {
		t.Fatal(err)
	}
	if _, err := Fit(model, ds, nil, Config{Epochs: 1, BatchSize: 4}); err == nil || !strings.Contains(err.Error(), "frozen") {
		t.Errorf("all frozen: %v", err)
	}
}

func TestPredictAgreesWithEvaluate(t *testing.T) {
	r := tensor.NewRNG(3)
	model := nn.NewSequential(nn.Flatten{}, nn.NewLinear(r, 16, 3, true))
	ds := &data.Dataset{Name: "tiny", X: make([]float32, 10*16), Y: make([]int, 10), C: 1, H: 4, W: 4, NumClasses: 3}
	for i := range ds.X {
		ds.X[i] = float32((i*7)%11) / 11
	}
	for i := range ds.Y {
		ds.Y[i] = i % 3
	}
	probs := Predict(model, ds, 4)
	if len(probs) != 10 {
		t.Fatalf("%d rows, want 10", len(probs))
	}
	correct := 0
	for i, row := range probs {
		var s float32
		best := 0
		for k, p := range row {
			s += p
			if p > row[best] {
				best = k
			}
		}
		if s < 0.999 || s > 1.001 {
			t.Fatalf("row %d sums to %g", i, s)
		}
		if best == ds.Y[i] {
			correct++
		}
	}
	if _, acc := Evaluate(model, ds, 3); acc != float64(correct)/10 {
		t.Errorf("Evaluate accuracy %g, Predict's argmax %g", acc, float64(correct)/10)
	}
}

func TestFrozenBatchNormKeepsItsStatistics(t *testing.T) {
	r := tensor.NewRNG(2)
	bn := nn.NewBatchNorm2d(2)
	model := nn.NewSequential(
		nn.NewConv2d(r, nn.Conv2dConfig{In: 1, Out: 2, Kernel: 3, Padding: 1}), bn,
		nn.Flatten{}, nn.NewLinear(r, 2*4*4, 2, true))
	if _, err := Freeze(model, "1"); err != nil {
		t.Fatal(err)
	}
	ds := &data.Dataset{Name: "tiny", X: make([]float32, 8*16), Y: make([]int, 8), C: 1, H: 4, W: 4, NumClasses: 2}
	for i := range ds.X {
		ds.X[i] = float32(i%5) + 3
	}
	mean := bn.RunningMean.Clone()
	if _, err := Fit(model, ds, nil, Config{Epochs: 1, BatchSize: 4}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bn.RunningMean.Data(), mean.Data()) {
		t.Error("a frozen batch norm updated its running mean")
	}
}
