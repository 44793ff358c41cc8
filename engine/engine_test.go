package engine

import (
	"math"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// randomizeBN gives every batch norm non-trivial running statistics and
// affine parameters, so folding them into convolutions is really tested.
func randomizeBN(t *testing.T, m nn.Layer, seed uint64) {
	t.Helper()
	r := tensor.NewRNG(seed)
	nn.Walk(m, func(_ string, l nn.Layer) {
		bn, ok := l.(*nn.BatchNorm)
		if !ok {
			return
		}
		for _, x := range []*tensor.Tensor{bn.Weight.Value, bn.Bias.Value, bn.RunningMean} {
			x.CopyFrom(tensor.Uniform(r, -0.5, 0.5, x.Shape()...))
		}
		bn.Weight.Value.CopyFrom(tensor.AddScalar(bn.Weight.Value, 1))
		bn.RunningVar.CopyFrom(tensor.Uniform(r, 0.5, 1.5, bn.RunningVar.Shape()...))
	})
}

// eager runs the model the ordinary way, in evaluation mode.
func eager(m nn.Layer, x *tensor.Tensor) *tensor.Tensor {
	nn.SetTraining(m, false)
	return m.Forward(autograd.EvalConst(x)).Value
}

// compare checks got against want elementwise: |g-w| ≤ 1e-4 + 1e-4·|w|.
func compare(t *testing.T, got, want *tensor.Tensor) {
	t.Helper()
	if !tensor.SameShape(got, want) {
		t.Fatalf("shape %v, want %v", got.Shape(), want.Shape())
	}
	g, w := got.Contiguous().Data(), want.Contiguous().Data()
	for i := range w {
		if d := math.Abs(float64(g[i] - w[i])); d > 1e-4+1e-4*math.Abs(float64(w[i])) || g[i] != g[i] {
			t.Fatalf("element %d: engine %g, eager %g", i, g[i], w[i])
		}
	}
}

// zoo builds a registered model with 10 classes and the given width.
func zoo(t *testing.T, name string, width float64) nn.Layer {
	m, err := models.New(name, models.Options{NumClasses: 10, Seed: 5, Width: width})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPlanMatchesEager(t *testing.T) {
	r := tensor.NewRNG(7)
	block := func() nn.Layer {
		return &nn.Residual{
			Body: nn.NewSequential(
				nn.NewConv2d(r, nn.Conv2dConfig{In: 8, Out: 8, Kernel: 3, Padding: 1, NoBias: true}), nn.NewBatchNorm2d(8), nn.ReLU{},
				nn.NewConv2d(r, nn.Conv2dConfig{In: 8, Out: 8, Kernel: 3, Padding: 1, NoBias: true}), nn.NewBatchNorm2d(8)),
			Post: nn.ReLU{},
		}
	}
	custom := nn.NewSequential(
		nn.NewConv2d(r, nn.Conv2dConfig{In: 3, Out: 8, Kernel: 3, Padding: 1, NoBias: true}), nn.NewBatchNorm2d(8), nn.ReLU{},
		block(),
		&nn.Residual{
			Body: nn.NewSequential(
				nn.NewConv2d(r, nn.Conv2dConfig{In: 8, Out: 16, Kernel: 3, Stride: 2, Padding: 1}), nn.NewBatchNorm2d(16), nn.LeakyReLU{Slope: 0.1},
				nn.NewConv2d(r, nn.Conv2dConfig{In: 16, Out: 16, Kernel: 3, Padding: 1, Groups: 4})),
			Shortcut: nn.NewSequential(nn.NewConv2d(r, nn.Conv2dConfig{In: 8, Out: 16, Kernel: 1, Stride: 2, NoBias: true}), nn.NewBatchNorm2d(16)),
			Post:     nn.ReLU{},
		},
		&nn.Concat{Branches: []nn.Layer{
			nn.NewConv2d(r, nn.Conv2dConfig{In: 16, Out: 4, Kernel: 1}),
			nn.NewSequential(nn.NewMaxPool2d(3, 1, 1), nn.NewConv2d(r, nn.Conv2dConfig{In: 16, Out: 4, Kernel: 1}), nn.Sigmoid{}),
			nn.NewSequential(nn.NewConv2d(r, nn.Conv2dConfig{In: 16, Out: 4, Kernel: 3, Padding: 2, Dilation: 2}), nn.NewBatchNorm2d(4), nn.Tanh{}),
		}},
		nn.NewAvgPool2d(2, 2, 0), nn.GlobalAvgPool2d{}, nn.Flatten{}, nn.NewLinear(r, 12, 5, true), nn.GELU{},
	)
	cases := map[string]struct {
		model nn.Layer
		shape []int
	}{
		"lenet5-b1":     {models.NewLeNet5(models.Options{Seed: 1}), []int{1, 1, 28, 28}},
		"lenet5-b5":     {models.NewLeNet5(models.Options{Seed: 1}), []int{5, 1, 28, 28}},
		"mnist-cnn-b3":  {models.NewMNISTCNN(models.Options{Seed: 2}), []int{3, 1, 28, 28}},
		"custom-b1":     {custom, []int{1, 3, 12, 12}},
		"custom-b4":     {custom, []int{4, 3, 12, 12}},
		"custom-b1-odd": {custom, []int{1, 3, 11, 13}},
		// The zoo's other building blocks: ReLU6 and depthwise inverted
		// residuals, inception concatenations, ceil-mode pooling,
		// bottlenecks.
		"mobilenetv2-cifar-b2": {zoo(t, "mobilenetv2-cifar", 0.5), []int{2, 3, 32, 32}},
		"inception-cifar-b1":   {zoo(t, "inception-cifar", 0.5), []int{1, 3, 32, 32}},
		"vgg11_bn-cifar-b2":    {zoo(t, "vgg11_bn-cifar", 0.25), []int{2, 3, 32, 32}},
		"googlenet-b1-64":      {zoo(t, "googlenet", 0), []int{1, 3, 64, 64}},
		"resnet50-b1-64":       {zoo(t, "resnet50", 0), []int{1, 3, 64, 64}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			randomizeBN(t, c.model, 3)
			x := tensor.Normal(tensor.NewRNG(9), 0, 1, c.shape...)
			want := eager(c.model, x)
			p, err := Compile(c.model, c.shape...)
			if err != nil {
				t.Fatal(err)
			}
			compare(t, p.Run(x), want)
			// A second run on other data reuses the buffers correctly.
			x2 := tensor.Normal(tensor.NewRNG(10), 0, 1, c.shape...)
			compare(t, p.Run(x2), eager(c.model, x2))
		})
	}
}

// scalarNet ends its layers in the scalar ops: a shift (AddScalar) and a
// scale after a convolution, a ReLU, a linear layer and a tanh.
type scalarNet struct {
	conv *nn.Conv2d
	fc   *nn.Linear
}

func (m *scalarNet) Forward(x *autograd.Var) *autograd.Var {
	y := autograd.AddScalar(m.conv.Forward(x), 0.25) // conv+scale (shift)
	y = autograd.AddScalar(autograd.ReLU(y), -0.5)   // scale alone
	y = autograd.Scale(m.fc.Forward(autograd.Flatten(y)), 1.5)
	return autograd.AddScalar(autograd.Tanh(y), 2)
}

func (m *scalarNet) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "conv", Value: m.conv}, {Name: "fc", Value: m.fc}}
}

// TestScalarEpilogues checks the scalar ops as activation epilogues: fused
// into the convolution or linear layer before them, and alone after
// another activation.
func TestScalarEpilogues(t *testing.T) {
	r := tensor.NewRNG(3)
	m := &scalarNet{conv: nn.NewConv2d(r, nn.Conv2dConfig{In: 2, Out: 3, Kernel: 3, Padding: 1}), fc: nn.NewLinear(r, 3*5*5, 4, true)}
	x := tensor.Normal(tensor.NewRNG(5), 0, 1, 2, 2, 5, 5)
	p, err := Compile(m, 2, 2, 5, 5)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, p.Run(x), eager(m, x))
	if got, want := strings.Join(p.Summary, " "), "conv+scale relu scale view linear+scale tanh scale"; got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
}

func TestFoldingAndFusion(t *testing.T) {
	m := models.NewMNISTCNN(models.Options{Seed: 1})
	p, err := Compile(m, 1, 1, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(p.Summary, " ")
	if want := "conv+relu maxpool conv+relu maxpool conv+relu view linear"; got != want {
		t.Fatalf("steps %q, want %q (batch norms folded, ReLUs fused)", got, want)
	}
}

func TestResidualAddFused(t *testing.T) {
	m, err := models.New("resnet20", models.Options{Seed: 1})
	if err != nil {
		t.Skip("resnet20 not in the zoo yet:", err)
	}
	p, err := Compile(m, 1, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(p.Summary, " ")
	if strings.Contains(s, "affine") || strings.Contains(s, " add") || strings.Count(s, "conv+add+relu") != 9 {
		t.Fatalf("resnet20 steps: %s\nwant every batch norm folded and the 9 residual adds fused", s)
	}
	randomizeBN(t, m, 4)
	x := tensor.Normal(tensor.NewRNG(1), 0, 1, 2, 3, 32, 32)
	p, err = Compile(m, 2, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, p.Run(x), eager(m, x))
}

func TestCompileErrors(t *testing.T) {
	bad := nn.Func(func(x *autograd.Var) *autograd.Var { return autograd.Mul(x, x) })
	if _, err := Compile(bad, 1, 1, 4, 4); err == nil || !strings.Contains(err.Error(), `"mul"`) {
		t.Fatalf("unsupported op: err = %v, want it named", err)
	}
	pad := nn.Func(func(x *autograd.Var) *autograd.Var {
		return autograd.Concat(1, x, autograd.Const(tensor.New(1, 2, 4, 4)))
	})
	if _, err := Compile(pad, 1, 1, 4, 4); err == nil || !strings.Contains(err.Error(), "constant tensor") {
		t.Fatalf("concat with a constant: err = %v, want a compile error", err)
	}
	wrong := models.NewLeNet5(models.Options{})
	if _, err := Compile(wrong, 1, 1, 32, 32); err == nil || !strings.Contains(err.Error(), "28") {
		t.Fatalf("wrong input size: err = %v", err)
	}
	p, err := Compile(wrong, 1, 1, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r, _ := recover().(*tensor.ShapeError); r == nil || !strings.HasPrefix(r.Msg, "engine: ") {
			t.Fatalf("Run on another shape: recovered %v", r)
		}
	}()
	p.Run(tensor.New(2, 1, 28, 28))
}

func TestBuffersAreShared(t *testing.T) {
	m := models.NewMNISTCNN(models.Options{Seed: 1})
	p, err := Compile(m, 1, 1, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	// 8 steps (input + 7 buffers written, the view shares) need far fewer
	// than one buffer per value when lifetimes are reused.
	if len(p.bufs) > 3 {
		t.Fatalf("%d buffers for a chain of %d steps; want lifetimes reused (≤ 3)", len(p.bufs), len(p.steps))
	}
}

// TestSoftmaxMatchesEagerExactly checks that the engine's softmax and
// log-softmax steps run the same row kernel as autograd, so a compiled
// classifier gives the eager probabilities to the bit.
func TestSoftmaxMatchesEagerExactly(t *testing.T) {
	r := tensor.NewRNG(3)
	for _, head := range []nn.Layer{nn.Softmax{Axis: -1}, nn.LogSoftmax{Axis: 1}} {
		m := nn.NewSequential(nn.NewLinear(r, 16, 37, true), head)
		x := tensor.Normal(tensor.NewRNG(4), 0, 3, 64, 16)
		p, err := Compile(m, 64, 16)
		if err != nil {
			t.Fatal(err)
		}
		got, want := p.Run(x).Data(), eager(m, x).Data()
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%T: element %d: engine %g, eager %g (want the same bits)", head, i, got[i], want[i])
			}
		}
	}
}
