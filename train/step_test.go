package train

import (
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// TestStepperMatchesPlainSteps checks that recycling memory through the
// arena changes nothing: after several steps (each reusing the previous
// step's dirty buffers) the weights equal those of plain steps bit for bit.
func TestStepperMatchesPlainSteps(t *testing.T) {
	for _, name := range []string{"mnist-cnn", "lenet5", "resnet20"} {
		t.Run(name, func(t *testing.T) {
			info, err := models.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			shape := []int{8, info.Input[0], info.Input[1], info.Input[2]}
			build := func() (nn.Layer, optim.Optimizer) {
				m, err := models.New(name, models.Options{Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				return m, optim.NewSGD(nn.ParamVars(m), optim.SGDConfig{LR: 0.05, Momentum: 0.9})
			}
			rng := tensor.NewRNG(5)
			var xs []*tensor.Tensor
			var ys [][]int
			for range 3 {
				xs = append(xs, tensor.Normal(rng, 0, 1, shape...))
				y := make([]int, shape[0])
				for i := range y {
					y[i] = rng.IntN(10)
				}
				ys = append(ys, y)
			}
			a, optA := build()
			s := NewStepper(a, nn.CrossEntropyLoss{LabelSmoothing: 0.1}, optA)
			b, optB := build()
			loss := nn.CrossEntropyLoss{LabelSmoothing: 0.1}
			for i := range xs {
				la, _ := s.Step(xs[i], ys[i])
				l := loss.Loss(b.Forward(autograd.Const(xs[i])), ys[i])
				optB.ZeroGrad()
				l.Backward()
				optB.Step()
				if lb := float64(l.Value.Item()); la != lb {
					t.Fatalf("step %d: loss %v with the arena, %v without", i, la, lb)
				}
			}
			pa, pb := nn.StateDict(a), nn.StateDict(b)
			for i := range pa {
				if !tensor.Equal(pa[i].Value, pb[i].Value) {
					t.Fatalf("%s differs after 3 steps with and without the arena", pa[i].Name)
				}
			}
		})
	}
}
