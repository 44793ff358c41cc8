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
			// Steppers keeping activations until the next step and releasing
			// them during backward; released buffers are poisoned with NaN, so
			// a read after release would show in the weights.
			var steppers []*Stepper
			for _, keep := range []bool{true, false} {
				m, opt := build()
				s := NewStepper(m, nn.CrossEntropyLoss{LabelSmoothing: 0.1}, opt)
				s.KeepValues = keep
				s.arena.Poison = true
				steppers = append(steppers, s)
			}
			b, optB := build()
			loss := nn.CrossEntropyLoss{LabelSmoothing: 0.1}
			for i := range xs {
				logits := b.Forward(autograd.Const(xs[i]))
				l := loss.Loss(logits, ys[i])
				wantCorrect := countCorrect(logits, ys[i])
				optB.ZeroGrad()
				l.Backward()
				optB.Step()
				lb := float64(l.Value.Item())
				for _, s := range steppers {
					la, correct := s.Step(xs[i], ys[i])
					if la != lb || correct != wantCorrect {
						t.Fatalf("step %d (keep activations %v): loss %v, %d correct with the arena; %v, %d without", i, s.KeepValues, la, correct, lb, wantCorrect)
					}
				}
			}
			pb := nn.StateDict(b)
			for _, s := range steppers {
				pa := nn.StateDict(s.Model)
				for i := range pa {
					if !tensor.Equal(pa[i].Value, pb[i].Value) {
						t.Fatalf("%s differs after 3 steps with the arena (keep activations %v) and without", pa[i].Name, s.KeepValues)
					}
				}
			}
		})
	}
}

// TestStepperArenaSize checks that releasing gradients and activations
// during backward keeps a ResNet-20 step's arena close to the size of its
// forward pass alone (without releases the backward pass adds about as
// much again: every intermediate gradient). At batch 16 the backward's own
// working set, the gradients in flight at the widest layers, is about
// 6.6 MB over a forward of 25.7 MB (43.3 MB before batch norm + ReLU, then
// batch norm + residual sum + ReLU, became single operations keeping one
// tensor each), hence the 1.3 bound. The peak now comes at the start of
// the backward pass, before any activation is given back, so keeping the
// activations costs no more arena at this size: releasing must not cost
// more either.
func TestStepperArenaSize(t *testing.T) {
	const batch = 16 // smaller batches are dominated by fixed-size buffers
	rng := tensor.NewRNG(2)
	x := tensor.Normal(rng, 0, 1, batch, 3, 32, 32)
	y := make([]int, batch)
	newStepper := func() *Stepper {
		m := models.NewResNet20(models.Options{Seed: 1})
		return NewStepper(m, nn.CrossEntropyLoss{}, optim.NewSGD(nn.ParamVars(m), optim.SGDConfig{LR: 0.01, Momentum: 0.9}))
	}

	// The forward pass and loss alone.
	s := newStepper()
	s.Loss.Loss(s.Model.Forward((&autograd.Tape{Arena: s.arena}).Const(x)), y)
	forward := s.arena.Floats()

	sizes := map[bool]int{}
	for _, keep := range []bool{true, false} {
		s := newStepper()
		s.KeepValues = keep
		for range 2 {
			s.Step(x, y)
		}
		sizes[keep] = s.arena.Floats()
	}
	t.Logf("batch %d: forward %.1f MB; step %.1f MB keeping activations, %.1f MB releasing them",
		batch, float64(forward)*4/1e6, float64(sizes[true])*4/1e6, float64(sizes[false])*4/1e6)
	if float64(sizes[false]) > 1.3*float64(forward) || sizes[false] > sizes[true] || float64(sizes[true]) > 1.3*float64(forward) {
		t.Fatalf("arena of a step: %d floats releasing activations, %d keeping them, for a forward pass of %d", sizes[false], sizes[true], forward)
	}
}
