package engine_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/engine"
	"github.com/fovea-ml/fovea/explain"
	"github.com/fovea-ml/fovea/graph"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// workload is one kind of work on a model of its own; run returns a
// fingerprint of its result (every number it computed, as text).
type workload struct {
	name string
	run  func() string
}

// floats formats values exactly.
func floats(xs []float32) string { return fmt.Sprint(xs) }

// trainWork trains a fresh seeded LeNet-5 for three steps on fixed batches.
func trainWork() string {
	m := models.NewLeNet5(models.Options{NumClasses: 10, Seed: 1})
	s := train.NewStepper(m, nn.CrossEntropyLoss{}, optim.NewSGD(nn.ParamVars(m), optim.SGDConfig{LR: 0.05, Momentum: 0.9}))
	rng := tensor.NewRNG(11)
	x := tensor.Normal(rng, 0, 1, 16, 1, 28, 28)
	y := make([]int, 16)
	for i := range y {
		y[i] = rng.IntN(10)
	}
	var out []float32
	for range 3 {
		loss, correct := s.Step(x, y)
		out = append(out, float32(loss), float32(correct))
	}
	for _, p := range nn.ParamVars(m) {
		out = append(out, p.Value.Data()...)
	}
	return floats(out)
}

// camWork computes the Grad-CAM of an mnist-cnn.
func camWork(m nn.Layer, x *tensor.Tensor) func() string {
	return func() string {
		cam, err := explain.GradCAM(m, x, "", -1)
		if err != nil {
			return err.Error()
		}
		return fmt.Sprint(cam.Class, cam.Score, cam.Layer, cam.Weights, cam.Data)
	}
}

// inferWork runs a compiled engine plan of a ResNet-20 and an eager
// forward pass of it.
func inferWork(p *engine.Plan, m nn.Layer, x *tensor.Tensor) func() string {
	return func() string {
		eager := m.Forward(autograd.EvalConst(x)).Value.Data()
		return floats(p.Run(x).Data()) + floats(eager)
	}
}

// traceWork traces a MobileNetV2 (CIFAR).
func traceWork(m nn.Layer) func() string {
	return func() string {
		g, err := graph.Trace(m, 2, 3, 32, 32)
		if err != nil {
			return err.Error()
		}
		var b []string
		for _, n := range g.Nodes {
			b = append(b, fmt.Sprint(n.Op, n.Scope, n.Inputs, g.Values[n.Output].Shape))
		}
		return fmt.Sprint(b)
	}
}

// TestConcurrentWork runs, at the same time for 10 s (1 s with -short),
// the training of one model, the Grad-CAM of another, engine and eager
// inference of a third and the trace of a fourth, each over and over, and
// checks that every result equals the same work done alone. Run it under
// -race: nothing is shared but the kernels' worker pool.
func TestConcurrentWork(t *testing.T) {
	d := 10 * time.Second
	if testing.Short() {
		d = time.Second
	}
	cnn, err := models.New("mnist-cnn", models.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	r20 := models.NewResNet20(models.Options{Seed: 4})
	nn.SetTraining(r20, false)
	x20 := tensor.Normal(tensor.NewRNG(5), 0, 1, 2, 3, 32, 32)
	plan, err := engine.Compile(r20, 2, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	mv2, err := models.New("mobilenetv2-cifar", models.Options{Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	work := []workload{
		{"training", trainWork},
		{"grad-cam", camWork(cnn, tensor.Normal(tensor.NewRNG(7), 0, 1, 1, 1, 28, 28))},
		{"inference", inferWork(plan, r20, x20)},
		{"trace", traceWork(mv2)},
	}
	want := make([]string, len(work))
	for i, w := range work {
		want[i] = w.run() // alone
		if again := w.run(); again != want[i] {
			t.Fatalf("%s alone is not reproducible", w.name)
		}
	}
	deadline := time.Now().Add(d)
	runs := make([]int, len(work))
	var wg sync.WaitGroup
	for i, w := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if got := w.run(); got != want[i] {
					t.Errorf("%s run %d differs from the same work done alone", w.name, runs[i]+1)
					return
				}
				runs[i]++
			}
		}()
	}
	wg.Wait()
	if slices.Contains(runs, 0) {
		t.Errorf("runs per workload %v: each should have run at least once", runs)
	}
	t.Logf("runs in %v: training %d, grad-cam %d, inference %d, trace %d", d, runs[0], runs[1], runs[2], runs[3])
}
