package models

import (
	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func init() {
	Register(Info{
		Name: "inception-cifar",
		Description: "the small Inception for CIFAR of Zhang et al. 2017 (\"Understanding deep learning requires rethinking " +
			"generalization\"): a 3×3 conv stem, 8 two-branch (1×1 | 3×3) inception modules and 2 downsample modules " +
			"(3×3 s2 conv | 3×3 s2 max-pool), global average pool, fc; 1,651,114 parameters and about 0.3 GMAC per image with 10 classes",
		Input:   [3]int{3, 32, 32},
		AnySize: true,
		Build:   func(opt Options) (nn.Layer, error) { return NewInceptionCIFAR(opt), nil },
	})
}

// InceptionCIFAR is the small Inception network for CIFAR-10 of Zhang et
// al. 2017, appendix A (1.65M parameters, roughly a tenth of the work of
// kuangliu/pytorch-cifar's 32×32 GoogLeNet). Every convolution is a
// [BasicConv2d] (no bias, batch norm with PyTorch's eps 1e-5, ReLU). An
// inception module I(a, b) is an [nn.Concat] of a 1×1 convolution to a
// channels and a 3×3 (padding 1) to b; a downsample module D(b) concats a
// 3×3 stride-2 (padding 1) convolution to b channels with a 3×3 stride-2
// (padding 1) max-pool of the input.
//
//	x (N, C, 32, 32)
//	features.0  conv 3×3 96          → (N, 96, 32, 32)
//	features.1  I(32, 32)            → (N, 64, 32, 32)
//	features.2  I(32, 48)            → (N, 80, 32, 32)
//	features.3  D(80)                → (N, 160, 16, 16)
//	features.4  I(112, 48)           → (N, 160, 16, 16)
//	features.5  I(96, 64)            → (N, 160, 16, 16)
//	features.6  I(80, 80)            → (N, 160, 16, 16)
//	features.7  I(48, 96)            → (N, 144, 16, 16)
//	features.8  D(96)                → (N, 240, 8, 8)
//	features.9  I(176, 160)          → (N, 336, 8, 8)
//	features.10 I(176, 160)          → (N, 336, 8, 8)
//	global average pool              → (N, 336)
//	fc                               → (N, classes)
//
// Parameter names: features.0.conv.weight, features.0.bn.*,
// features.1.0.conv.weight (1×1 branch), features.1.1.conv.weight (3×3
// branch), features.3.0.conv.weight (downsample conv), …, fc. The
// convolutions are Kaiming-normal with fan_out as torchvision's ResNets,
// fc is PyTorch's default. Options.Width scales every channel count
// (rounded, at least 1). Any input size of at least 4×4 works.
type InceptionCIFAR struct {
	Features *nn.Sequential
	FC       *nn.Linear
}

// NewInceptionCIFAR returns the small CIFAR Inception (1,651,114
// parameters with 10 classes).
func NewInceptionCIFAR(opt Options) *InceptionCIFAR {
	opt = opt.withDefaults(3, defaultClasses)
	r := rng(opt)
	conv := func(in, out, k, stride, pad int) *BasicConv2d {
		return &BasicConv2d{
			Conv: torchvisionConv(r)(in, out, k, stride, pad),
			BN:   nn.NewBatchNorm2d(out),
		}
	}
	stem := opt.scaled(96)
	f := nn.NewSequential(conv(opt.InChannels, stem, 3, 1, 1))
	in := stem
	inception := func(a, b int) {
		a, b = opt.scaled(a), opt.scaled(b)
		f.Append(&nn.Concat{Branches: []nn.Layer{conv(in, a, 1, 1, 0), conv(in, b, 3, 1, 1)}})
		in = a + b
	}
	downsample := func(b int) {
		b = opt.scaled(b)
		f.Append(&nn.Concat{Branches: []nn.Layer{conv(in, b, 3, 2, 1), nn.NewMaxPool2d(3, 2, 1)}})
		in += b
	}
	inception(32, 32)
	inception(32, 48)
	downsample(80)
	inception(112, 48)
	inception(96, 64)
	inception(80, 80)
	inception(48, 96)
	downsample(96)
	inception(176, 160)
	inception(176, 160)
	return &InceptionCIFAR{Features: f, FC: nn.NewLinear(r, in, opt.NumClasses, true)}
}

// Forward computes the logits.
func (m *InceptionCIFAR) Forward(x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 {
		panic(tensor.ShapeErrorf("models: inception-cifar takes (N, C, H, W) input, got %v", s))
	}
	x = m.Features.Forward(x)
	x = autograd.GlobalAvgPool2d(x) // (N, 336, 1, 1); FC flattens it
	return m.FC.Forward(x)
}

// Children names the layers: features, fc.
func (m *InceptionCIFAR) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "features", Value: m.Features}, {Name: "fc", Value: m.FC}}
}
