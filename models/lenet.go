package models

import (
	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func init() {
	Register(Info{
		Name:        "lenet5",
		Description: "LeNet-5 (LeCun et al. 1998) as in the peer benchmarks: two 5x5 convolutions with ReLU and max-pooling, three fully connected layers; 61,706 parameters",
		Input:       [3]int{1, 28, 28},
		Build:       func(opt Options) (nn.Layer, error) { return NewLeNet5(opt), nil },
	})
}

// LeNet5 is the LeNet-5 of the peer benchmarks (bench/peers/models.py),
// with PyTorch's parameter names conv1, conv2, fc1, fc2, fc3.
//
//	x (N, C, 28, 28)
//	conv1 5×5 pad 2 → (N, 6, 28, 28), ReLU, max-pool 2 → (N, 6, 14, 14)
//	conv2 5×5       → (N, 16, 10, 10), ReLU, max-pool 2 → (N, 16, 5, 5)
//	flatten → (N, 400), fc1 → 120, ReLU, fc2 → 84, ReLU, fc3 → classes
type LeNet5 struct {
	Conv1, Conv2  *nn.Conv2d
	FC1, FC2, FC3 *nn.Linear
}

// NewLeNet5 returns a LeNet-5 with PyTorch's default initialization.
func NewLeNet5(opt Options) *LeNet5 {
	opt = opt.withDefaults(1, defaultClasses)
	r := rng(opt)
	return &LeNet5{
		Conv1: nn.NewConv2d(r, nn.Conv2dConfig{In: opt.InChannels, Out: 6, Kernel: 5, Padding: 2}),
		Conv2: nn.NewConv2d(r, nn.Conv2dConfig{In: 6, Out: 16, Kernel: 5}),
		FC1:   nn.NewLinear(r, 400, 120, true),
		FC2:   nn.NewLinear(r, 120, 84, true),
		FC3:   nn.NewLinear(r, 84, opt.NumClasses, true),
	}
}

var pool2 = tensor.PoolParams{Kernel: [2]int{2, 2}}

// Forward computes the logits.
func (m *LeNet5) Forward(x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 || s[2] != 28 || s[3] != 28 {
		panic(tensor.ShapeErrorf("models: lenet5 takes (N, C, 28, 28) input, got %v", s))
	}
	x = autograd.MaxPool2d(autograd.ReLU(m.Conv1.Forward(x)), pool2)
	x = autograd.MaxPool2d(autograd.ReLU(m.Conv2.Forward(x)), pool2)
	x = autograd.Flatten(x)
	x = autograd.ReLU(m.FC1.Forward(x))
	x = autograd.ReLU(m.FC2.Forward(x))
	return m.FC3.Forward(x)
}

// Children names the layers as PyTorch does.
func (m *LeNet5) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "conv1", Value: m.Conv1}, {Name: "conv2", Value: m.Conv2},
		{Name: "fc1", Value: m.FC1}, {Name: "fc2", Value: m.FC2}, {Name: "fc3", Value: m.FC3}}
}
