package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// compileSpec is a YAML spec model with what the zoo models lack: dropout,
// a residual with a LeakyReLU after the sum, a depthwise convolution in a
// concat, average pooling, GELU and SiLU.
const compileSpec = `
name: compiled
input: [3, 12, 12]
layers:
  - conv: {out: 8, kernel: 3, pad: 1, bias: false}
  - batchnorm
  - relu
  - residual:
      body: [conv: {out: 8, kernel: 3, pad: 1}, batchnorm]
      activation: {leakyrelu: {slope: 0.1}}
  - concat:
      branches:
        - [conv: {out: 4, kernel: 1}, gelu]
        - [conv: {out: 8, kernel: 3, pad: 1, groups: in}, silu]
  - avgpool: {kernel: 2}
  - dropout: {p: 0.3}
  - flatten
  - linear: {out: 16}
  - relu
  - dropout: {p: 0.5}
  - linear: {out: classes}
`

// shaky is a layer the compiler does not know, whose Forward decides from
// a generator of its own: it scales its input by a random factor drawn on
// every call. A program replaying one recorded call would scale every
// step by the first factor; it must run as an opaque op.
type shaky struct{ rng *rand.Rand }

func (s *shaky) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Scale(x, 0.5+s.rng.Float32())
}

// wrapper is a model type the compiler does not know, around one it does.
type wrapper struct{ inner nn.Layer }

func (w *wrapper) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Scale(w.inner.Forward(x), 2)
}

func (w *wrapper) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "inner", Value: w.inner}}
}

// TestCompiledSteps is the compiled training step's equivalence test: 20
// compiled steps against 20 eager ones (Stepper.NoCompile) from the same
// weights on the same augmented batches, with SGD and AdamW, on the zoo's
// small models, a YAML spec model with dropout, and models holding a
// layer the compiler does not know (inside a container: an opaque op; as
// the root: eager steps). The weights, batch-norm buffers, losses and
// counts must be identical bit for bit: a program runs the very kernels
// of the eager step in the same order. Midway the batch size changes (a
// second program), a layer is frozen (the program is recorded again) and
// the last steps run at the first size again.
func TestCompiledSteps(t *testing.T) {
	spec, err := models.ParseSpec("compiled.yaml", []byte(compileSpec))
	if err != nil {
		t.Fatal(err)
	}
	type build func(seed uint64) (nn.Layer, [3]int)
	zoo := func(name string) build {
		return func(seed uint64) (nn.Layer, [3]int) {
			info, err := models.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			m, err := models.New(name, models.Options{Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			in := info.Input
			if name == "mobilenetv2-cifar" || name == "inception-cifar" {
				in[1], in[2] = 16, 16 // any size; a quarter of the work (the plain-Go path runs this too)
			}
			return m, in
		}
	}
	cases := []struct {
		name  string
		build build
		want  string // what Stepper.Compiled must contain
	}{
		{"lenet5", zoo("lenet5"), "compiled"},
		{"mnist-cnn", zoo("mnist-cnn"), "compiled"},
		{"resnet20", zoo("resnet20"), "compiled"},
		{"mobilenetv2-cifar", zoo("mobilenetv2-cifar"), "compiled"},
		{"inception-cifar", zoo("inception-cifar"), "compiled"},
		{"airbench94", func(seed uint64) (nn.Layer, [3]int) {
			// A quarter of the widths: GELU, batch norms without a learned
			// scale and a frozen whitening weight, at a sixteenth of the work.
			return models.NewAirbench94(models.Options{Seed: seed, Width: 0.25}), [3]int{3, 32, 32}
		}, "compiled"},
		{"spec", func(seed uint64) (nn.Layer, [3]int) {
			m, err := spec.Build(models.Options{Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			return m, spec.Input()
		}, "compiled"},
		{"adaptive-pool", func(seed uint64) (nn.Layer, [3]int) {
			// An adaptive pool whose cells do not divide the plane: its
			// averaging matrices are constants made in Forward (Static).
			r := tensor.NewRNG(seed)
			return nn.NewSequential(
				nn.NewConv2d(r, nn.Conv2dConfig{In: 3, Out: 6, Kernel: 3, Padding: 1, NoBias: true}),
				nn.NewBatchNorm2d(6), nn.ReLU{},
				nn.NewAdaptiveAvgPool2d(5, 5), nn.Flatten{}, nn.NewLinear(r, 150, 10, true),
			), [3]int{3, 12, 12}
		}, "compiled"},
		{"opaque-child", func(seed uint64) (nn.Layer, [3]int) {
			m, err := spec.Build(models.Options{Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			seq := m.(*models.SpecModel).Layers
			seq.Layers = slices.Insert(seq.Layers, 3, nn.Layer(&shaky{rng: tensor.NewRNG(seed)}))
			return m, spec.Input()
		}, "compiled"},
		{"unknown-root", func(seed uint64) (nn.Layer, [3]int) {
			m, in := zoo("lenet5")(seed)
			return &wrapper{m}, in
		}, "eager: input [4 1 28 28]: the model's layer \"\" is of type *train.wrapper"},
	}
	for _, c := range cases {
		for _, opt := range []string{"sgd", "adamw"} {
			t.Run(c.name+"/"+opt, func(t *testing.T) {
				compiled, status := trainSteps(t, c.build, opt, false)
				eager, _ := trainSteps(t, c.build, opt, true)
				if !strings.Contains(status, c.want) {
					t.Errorf("Stepper.Compiled() = %q, want it to contain %q", status, c.want)
				}
				if c.want == "compiled" && strings.Contains(status, "eager") {
					t.Errorf("Stepper.Compiled() = %q: a shape trained eagerly", status)
				}
				sameRuns(t, compiled, eager)
			})
		}
	}
}

// TestCompiledStepsTorchvision is TestCompiledSteps, 4 steps of SGD at
// 64×64, on the zoo's torchvision-layout networks: ResNet-50's bottleneck
// blocks, GoogLeNet's inception branches, VGG-11-BN's adaptive pool (7×7
// from 2×2: constants made in Forward), MobileNetV2 and ResNet-18.
func TestCompiledStepsTorchvision(t *testing.T) {
	for _, name := range []string{"resnet50", "googlenet", "vgg11_bn", "mobilenetv2", "resnet18"} {
		t.Run(name, func(t *testing.T) {
			build := func(seed uint64) (nn.Layer, [3]int) {
				m, err := models.New(name, models.Options{Seed: seed, NumClasses: 10})
				if err != nil {
					t.Fatal(err)
				}
				return m, [3]int{3, 64, 64}
			}
			compiled, status := trainStepsN(t, build, "sgd", false, 4)
			eager, _ := trainStepsN(t, build, "sgd", true, 4)
			if !strings.HasPrefix(status, "compiled") || strings.Contains(status, "eager") {
				t.Errorf("Stepper.Compiled() = %q, want compiled steps", status)
			}
			sameRuns(t, compiled, eager)
		})
	}
}

// sameRuns fails t unless two runs saw the same losses and counts and
// ended with the same state, bit for bit.
func sameRuns(t *testing.T, compiled, eager stepsRun) {
	t.Helper()
	if compiled.log != eager.log {
		t.Errorf("losses and counts differ:\ncompiled %s\neager    %s", compiled.log, eager.log)
	}
	for i, p := range compiled.state {
		q := eager.state[i]
		if p.Name != q.Name || !slices.Equal(p.Value.Shape(), q.Value.Shape()) {
			t.Fatalf("state %d: %s %v vs %s %v", i, p.Name, p.Value.Shape(), q.Name, q.Value.Shape())
		}
		for j, v := range p.Value.Data() {
			if w := q.Value.Data()[j]; math.Float32bits(v) != math.Float32bits(w) {
				t.Fatalf("%s[%d] = %v compiled, %v eager", p.Name, j, v, w)
			}
		}
	}
}

// stepsRun is what trainSteps saw: the losses and counts of each step and
// the model's state at the end.
type stepsRun struct {
	log   string
	state []nn.Named[*tensor.Tensor]
}

// trainSteps trains a model from build for 20 steps, eagerly or not, and
// returns what it saw and the Stepper's Compiled description.
func trainSteps(t *testing.T, build func(uint64) (nn.Layer, [3]int), opt string, eager bool) (stepsRun, string) {
	t.Helper()
	return trainStepsN(t, build, opt, eager, 20)
}

// trainStepsN is trainSteps for steps steps (the batch size changes from
// the 8th to the 13th, a parameter is frozen at the 11th).
func trainStepsN(t *testing.T, build func(uint64) (nn.Layer, [3]int), opt string, eager bool, steps int) (stepsRun, string) {
	t.Helper()
	m, in := build(7)
	nn.SetTraining(m, true)
	o, err := optim.New(opt, nn.ParamVars(m), 0.02, 5e-4)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStepper(m, nn.CrossEntropyLoss{LabelSmoothing: 0.1}, o)
	s.NoCompile = eager
	s.arena.Poison = true // a read of released memory shows in the weights
	aug, err := augment.Parse("crop:2,hflip")
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(11)
	var log strings.Builder
	for step := range steps {
		n := 4
		if step >= 8 && step < 14 {
			n = 3 // a second shape: another program
		}
		if step == 11 { // freeze the first parameter: the program is recorded again
			nn.ParamVars(m)[0].SetRequiresGrad(false)
		}
		x := tensor.Normal(rng, 0, 1, n, in[0], in[1], in[2])
		chw := in[0] * in[1] * in[2]
		for i := range n {
			aug.Apply(x.Data()[i*chw:(i+1)*chw], in[0], in[1], in[2], rng)
		}
		y := make([]int, n)
		for i := range y {
			y[i] = rng.IntN(10)
		}
		loss, correct := s.Step(x, y)
		fmt.Fprintf(&log, "%08x/%d ", math.Float64bits(loss), correct)
	}
	return stepsRun{log: log.String(), state: nn.StateDict(m)}, s.Compiled()
}

// TestCompiledProgramsBounded checks that a Stepper fed ever new batch
// sizes keeps at most maxPrograms programs, and still replays one.
func TestCompiledProgramsBounded(t *testing.T) {
	m, err := models.New("lenet5", models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := NewStepper(m, nn.CrossEntropyLoss{}, optim.NewSGD(nn.ParamVars(m), optim.SGDConfig{LR: 0.01}))
	rng := tensor.NewRNG(3)
	for n := 2; n < 2+maxPrograms+3; n++ {
		s.Step(tensor.Normal(rng, 0, 1, n, 1, 28, 28), make([]int, n))
		if len(s.compiled.programs) > maxPrograms {
			t.Fatalf("%d programs after batch size %d, want at most %d", len(s.compiled.programs), n, maxPrograms)
		}
	}
	if got := len(s.compiled.programs); got != maxPrograms {
		t.Errorf("%d programs kept, want %d", got, maxPrograms)
	}
}

// TestCompiledStepAllocs checks that a compiled ResNet-20 step allocates
// about nothing after the first steps, where an eager one builds its graph
// (a Var, closures and slices per operation).
func TestCompiledStepAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector empties sync.Pools at random: allocation counts are meaningless under it")
	}
	allocs := func(eager bool) float64 {
		m, err := models.New("resnet20", models.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		s := NewStepper(m, nn.CrossEntropyLoss{}, optim.NewSGD(nn.ParamVars(m), optim.SGDConfig{LR: 0.01, Momentum: 0.9}))
		s.NoCompile = eager
		x, y := tensor.Normal(tensor.NewRNG(1), 0, 1, 8, 3, 32, 32), make([]int, 8)
		for range 10 { // warm up, and drain the pools of smaller buffers earlier tests left
			s.Step(x, y)
		}
		// No collection while counting: one would empty the kernels'
		// sync.Pools, whose refills would count.
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		return testing.AllocsPerRun(5, func() { s.Step(x, y) })
	}
	compiled, eager := allocs(false), allocs(true)
	t.Logf("objects per step: compiled %.0f, eager %.0f", compiled, eager)
	if compiled > 20 { // 2 on the assembly paths, 12 on the plain-Go one
		t.Errorf("a compiled step allocates %.0f objects (an eager one %.0f): want about none, at most 20", compiled, eager)
	}
}

// TestStepperForget changes a model's structure between steps: the
// program recorded before would leave the new layer out, so Forget must
// make the next step record again and train what an eager step trains.
func TestStepperForget(t *testing.T) {
	run := func(eager bool) []float32 {
		r := tensor.NewRNG(2)
		seq := nn.NewSequential(nn.Flatten{}, nn.NewLinear(r, 12, 8, true), nn.ReLU{})
		head := nn.NewLinear(r, 8, 4, true)
		s := NewStepper(seq, nn.CrossEntropyLoss{}, optim.NewSGD(nn.ParamVars(seq), optim.SGDConfig{LR: 0.1}))
		s.NoCompile = eager
		x, y := tensor.Normal(r, 0, 1, 5, 3, 2, 2), []int{0, 1, 2, 3, 1}
		s.Step(x, y)
		seq.Append(head) // a new layer: the old program does not have it
		s.Opt = optim.NewSGD(nn.ParamVars(seq), optim.SGDConfig{LR: 0.1})
		s.Forget()
		s.Step(x, y)
		s.Step(x, y)
		return slices.Clone(head.Weight.Value.Data())
	}
	got, want := run(false), run(true)
	if !slices.Equal(got, want) {
		t.Fatalf("after Forget the new layer's weights %v, eager %v", got[:4], want[:4])
	}
}
