package main

import (
	"math"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// stepTol bounds how far a kernel path's step may stray from the generic
// one, relative to the tensor's largest magnitude. The paths sum in
// different orders (FMA or not, other blockings) in float32, so they differ
// by rounding: about 5e-7 measured on every tensor (AVX-512 on AMD Zen 5).
// The bound leaves a factor 20 for other thread counts and CPUs; a kernel
// bug moves whole elements: zeroing one element per call of the AVX2 ReLU
// backward kernel shows as 1.2e-4 on conv1.weight's gradient.
const stepTol = 1e-5

// step is what one training step leaves: the loss, and every parameter's
// gradient and its value after the update.
type step struct {
	loss          float64
	names         []string
	grads, params [][]float32
}

// oneStep runs main's first step on the batch (x, y): LeNet-5 of seed 1,
// SGD with momentum at the schedule's first rate, 0.03.
func oneStep(x *tensor.Tensor, y []int) step {
	model := models.NewLeNet5(models.Options{NumClasses: 10, Seed: 1})
	opt := optim.NewSGD(nn.ParamVars(model), optim.SGDConfig{LR: 0.03, Momentum: 0.9})
	l := nn.CrossEntropyLoss{}.Loss(model.Forward(autograd.Const(x)), y)
	opt.ZeroGrad()
	l.Backward()
	s := step{loss: float64(l.Value.Data()[0])}
	for _, p := range nn.Params(model) {
		s.names = append(s.names, p.Name)
		s.grads = append(s.grads, p.Value.Grad.Clone().Data())
	}
	opt.Step()
	for _, p := range nn.Params(model) {
		s.params = append(s.params, p.Value.Value.Clone().Data())
	}
	return s
}

// relDiff is max|a−b| / max|b|.
func relDiff(a, b []float32) float64 {
	var d, m float64
	for i := range b {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
		m = max(m, math.Abs(float64(b[i])))
	}
	return d / max(m, math.SmallestNonzeroFloat64)
}

// TestStepAcrossPaths runs the example's first training step (its seed,
// first batch and learning rate) on every kernel path this CPU has
// (avx512, avx2, generic; the generic path is the code of the noasm build)
// and compares the loss, every parameter's gradient and every updated
// parameter with the generic path's, within stepTol.
func TestStepAcrossPaths(t *testing.T) {
	paths := kernels.Paths()
	if len(paths) == 1 {
		t.Skipf("this build and CPU run only the %s path", paths[0])
	}
	trainSet, _, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	trainSet.Normalize([]float32{data.MNISTMean}, []float32{data.MNISTStd})
	loader := &data.Loader{Source: trainSet, BatchSize: 64, Shuffle: true, Seed: 1}
	var x *tensor.Tensor
	var y []int
	for b := range loader.Epoch(0) {
		x, y = b.X.Clone(), append([]int(nil), b.Y...)
		break
	}

	steps := make([]step, len(paths))
	for i, p := range paths {
		restore, err := kernels.UsePath(p)
		if err != nil {
			t.Fatal(err)
		}
		steps[i] = oneStep(x, y)
		restore()
	}
	ref := steps[len(steps)-1] // generic
	for i, s := range steps[:len(steps)-1] {
		check := func(what string, d float64) {
			t.Logf("%s: %-22s differs from generic by %.2g", paths[i], what, d)
			if !(d <= stepTol) {
				t.Errorf("%s: %s differs from generic by %.3g, more than %g", paths[i], what, d, stepTol)
			}
		}
		check("loss", math.Abs(s.loss-ref.loss)/ref.loss)
		for j, n := range s.names {
			check(n+" gradient", relDiff(s.grads[j], ref.grads[j]))
			check(n+" updated", relDiff(s.params[j], ref.params[j]))
		}
	}
}
