package models

import (
	"math/rand/v2"

	"github.com/fovea-ml/fovea/nn"
)

// DefaultMNIST is the model `fovea train` uses when none is named.
const DefaultMNIST = "mnist-cnn"

func init() {
	Register(Info{
		Name:        DefaultMNIST,
		Description: "small MNIST CNN: three conv-BN-ReLU blocks (16, 32, 64 channels) with max-pooling and a linear classifier; the default of fovea train",
		Input:       [3]int{1, 28, 28},
		Build:       func(opt Options) (nn.Layer, error) { return NewMNISTCNN(opt), nil },
	})
}

// NewMNISTCNN returns the default MNIST network, a Sequential of
// conv-BN-ReLU blocks chosen to pass 99% test accuracy within a few epochs
// on two CPU cores:
//
//	x (N, 1, 28, 28)
//	0-2   conv 3×3 16, BN, ReLU   → (N, 16, 28, 28)
//	3     max-pool 2              → (N, 16, 14, 14)
//	4-6   conv 3×3 32, BN, ReLU   → (N, 32, 14, 14)
//	7     max-pool 2              → (N, 32, 7, 7)
//	8-10  conv 3×3 64, BN, ReLU   → (N, 64, 7, 7)
//	11    flatten                 → (N, 3136)
//	12    linear                  → (N, classes)
func NewMNISTCNN(opt Options) *nn.Sequential {
	opt = opt.withDefaults(1, defaultClasses)
	r := rng(opt)
	block := func(r *rand.Rand, in, out int) []nn.Layer {
		return []nn.Layer{
			nn.NewConv2d(r, nn.Conv2dConfig{In: in, Out: out, Kernel: 3, Padding: 1, NoBias: true}),
			nn.NewBatchNorm2d(out),
			nn.ReLU{},
		}
	}
	s := nn.NewSequential(block(r, opt.InChannels, 16)...)
	s.Append(nn.NewMaxPool2d(2, 2, 0))
	s.Append(block(r, 16, 32)...)
	s.Append(nn.NewMaxPool2d(2, 2, 0))
	s.Append(block(r, 32, 64)...)
	s.Append(nn.Flatten{}, nn.NewLinear(r, 64*7*7, opt.NumClasses, true))
	return s
}
