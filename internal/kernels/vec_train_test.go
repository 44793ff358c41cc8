package kernels_test

import (
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// BenchmarkTrainStepMNISTCNN times one SGD step (forward, cross-entropy,
// backward, update) of the default MNIST network on a (64, 1, 28, 28)
// batch: the end-to-end figure the elementwise kernels are judged by. Run
// it with -cpuprofile to see what is left after GEMM.
func BenchmarkTrainStepMNISTCNN(b *testing.B) {
	model := models.NewMNISTCNN(models.Options{Seed: 1})
	nn.SetTraining(model, true)
	params := nn.ParamVars(model)
	opt := optim.NewSGD(params, optim.SGDConfig{LR: 0.01, Momentum: 0.9})
	r := rand.New(rand.NewPCG(1, 2))
	const n = 64
	xs := make([]float32, n*28*28)
	for i := range xs {
		xs[i] = r.Float32()
	}
	x := autograd.Const(tensor.FromSlice(xs, n, 1, 28, 28))
	labels := make([]int, n)
	for i := range labels {
		labels[i] = r.IntN(10)
	}
	step := func() {
		opt.ZeroGrad()
		loss := autograd.CrossEntropy(model.Forward(x), labels, autograd.CrossEntropyOpts{})
		loss.Backward()
		opt.Step()
	}
	step()
	for b.Loop() {
		step()
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "img/s")
}
