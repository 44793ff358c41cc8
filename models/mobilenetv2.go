package models

import (
	"math/rand/v2"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func init() {
	Register(Info{
		Name: "mobilenetv2",
		Description: "MobileNetV2 (Sandler et al. 2018) in torchvision's layout, parameter names and init: inverted residuals with " +
			"depthwise 3×3 convolutions and ReLU6, width_mult = Options.Width; 3,504,872 parameters with 1000 classes",
		Input:   [3]int{3, 224, 224},
		Classes: imageNetClasses,
		AnySize: true,
		Build:   func(opt Options) (nn.Layer, error) { return NewMobileNetV2(opt, false), nil },
	})
	Register(Info{
		Name: "mobilenetv2-cifar",
		Description: "MobileNetV2 for 32×32 input: torchvision's network and names with stride 1 in the stem and in the first " +
			"24-channel block (as kuangliu/pytorch-cifar), so the last stage runs at 4×4; 2,236,682 parameters with 10 classes",
		Input:   [3]int{3, 32, 32},
		AnySize: true,
		Build:   func(opt Options) (nn.Layer, error) { return NewMobileNetV2(opt, true), nil },
	})
}

// makeDivisible is torchvision's _make_divisible: v rounded to the nearest
// multiple of divisor, at least divisor, and not below 90% of v.
func makeDivisible(v float64, divisor int) int {
	n := max(divisor, int(v+float64(divisor)/2)/divisor*divisor)
	if float64(n) < 0.9*v {
		n += divisor
	}
	return n
}

// convBNReLU6 is torchvision's Conv2dNormActivation with ReLU6: a
// Sequential of a k×k convolution without bias (padding (k−1)/2), a batch
// norm and a ReLU6, named 0, 1, 2.
func convBNReLU6(r *rand.Rand, in, out, k, stride, groups int) *nn.Sequential {
	return nn.NewSequential(
		tvConv(r, tvConvConfig{In: in, Out: out, K: k, Stride: stride, Pad: (k - 1) / 2, Groups: groups}),
		nn.NewBatchNorm2d(out), nn.ReLU6{})
}

// InvertedResidual is MobileNetV2's block, torchvision's
// InvertedResidual: with hidden width h = round(In·t),
//
//	x (N, In, H, W)
//	conv.0   1×1 expand, BN, ReLU6 (absent when t = 1)       → (N, h, H, W)
//	conv.1   3×3 depthwise stride s, BN, ReLU6 (conv.0 if t = 1) → (N, h, H/s, W/s)
//	conv.2   1×1 project, no activation (conv.1 if t = 1)    → (N, Out, H/s, W/s)
//	conv.3   BN (conv.2 if t = 1)
//	y = x + conv(x) when s = 1 and In = Out, else conv(x)
type InvertedResidual struct {
	Conv     *nn.Sequential
	Residual bool // add the input (stride 1 and In == Out)
}

// newInvertedResidual builds a block from in to out channels with the
// given stride and expansion ratio t.
func newInvertedResidual(r *rand.Rand, in, out, stride, t int) *InvertedResidual {
	hidden := in * t // torchvision's int(round(inp * expand_ratio)) for integer t
	c := nn.NewSequential()
	if t != 1 {
		c.Append(convBNReLU6(r, in, hidden, 1, 1, 1))
	}
	c.Append(convBNReLU6(r, hidden, hidden, 3, stride, hidden),
		tvConv(r, tvConvConfig{In: hidden, Out: out, K: 1, Stride: 1}),
		nn.NewBatchNorm2d(out))
	return &InvertedResidual{Conv: c, Residual: stride == 1 && in == out}
}

// Forward computes conv(x), plus x for a residual block.
func (b *InvertedResidual) Forward(x *autograd.Var) *autograd.Var {
	y := b.Conv.Forward(x)
	if b.Residual {
		y = autograd.Add(x, y)
	}
	return y
}

// Children names the block's Sequential "conv", as torchvision does.
func (b *InvertedResidual) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "conv", Value: b.Conv}}
}

// mobileNetV2Setting is torchvision's inverted_residual_setting:
// expansion t, output channels c, repeats n, first stride s.
var mobileNetV2Setting = [][4]int{
	{1, 16, 1, 1},
	{6, 24, 2, 2},
	{6, 32, 3, 2},
	{6, 64, 4, 2},
	{6, 96, 3, 1},
	{6, 160, 3, 2},
	{6, 320, 1, 1},
}

// MobileNetV2 is torchvision's MobileNetV2 (Sandler et al. 2018) with its
// parameter names (features.0.0/1, features.N.conv.…, features.18.0/1,
// classifier.1) and initialization (convolutions Kaiming-normal with
// fan_out, batch norm weight 1 and bias 0, classifier N(0, 0.01²) and bias
// 0). Width w = Options.Width is torchvision's width_mult: every channel
// count c becomes makeDivisible(c·w, 8), the last one
// makeDivisible(1280·max(1, w), 8).
//
//	x (N, C, 224, 224)
//	features.0      conv 3×3 32 s2, BN, ReLU6 → (N, 32, 112, 112)
//	features.1      t1  16                    → (N, 16, 112, 112)
//	features.2-3    t6  24, first s2          → (N, 24, 56, 56)
//	features.4-6    t6  32, first s2          → (N, 32, 28, 28)
//	features.7-10   t6  64, first s2          → (N, 64, 14, 14)
//	features.11-13  t6  96                    → (N, 96, 14, 14)
//	features.14-16  t6 160, first s2          → (N, 160, 7, 7)
//	features.17     t6 320                    → (N, 320, 7, 7)
//	features.18     conv 1×1 1280, BN, ReLU6  → (N, 1280, 7, 7)
//	global average pool                       → (N, 1280)
//	classifier.0 dropout 0.2, classifier.1 fc → (N, classes)
//
// The CIFAR variant has the same layers and names but stride 1 in
// features.0 and features.2, so 32×32 input reaches the last stage at
// 4×4 (32 → 32 → 32 → 16 → 8 → 8 → 4 → 4).
type MobileNetV2 struct {
	Features   *nn.Sequential
	Classifier *nn.Sequential // Dropout, Linear
}

// NewMobileNetV2 returns torchvision's mobilenet_v2(width_mult=opt.Width)
// (3,504,872 parameters with 1000 classes and width 1), or its CIFAR
// variant if cifar.
func NewMobileNetV2(opt Options, cifar bool) *MobileNetV2 {
	opt = opt.withDefaults(3, defaultHead(cifar))
	r := rng(opt)
	w := opt.width()
	stem := makeDivisible(32*w, 8)
	last := makeDivisible(1280*max(1, w), 8)
	stride0 := 2
	if cifar {
		stride0 = 1
	}
	f := nn.NewSequential(convBNReLU6(r, opt.InChannels, stem, 3, stride0, 1))
	in := stem
	for si, s := range mobileNetV2Setting {
		t, c, n, stride := s[0], s[1], s[2], s[3]
		if cifar && si == 1 {
			stride = 1
		}
		out := makeDivisible(float64(c)*w, 8)
		for i := range n {
			st := 1
			if i == 0 {
				st = stride
			}
			f.Append(newInvertedResidual(r, in, out, st, t))
			in = out
		}
	}
	f.Append(convBNReLU6(r, in, last, 1, 1, 1))
	return &MobileNetV2{
		Features:   f,
		Classifier: nn.NewSequential(nn.NewDropout(0.2, opt.Seed+1), normalLinear(r, last, opt.NumClasses, 0.01)),
	}
}

// Forward computes the logits.
func (m *MobileNetV2) Forward(x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 {
		panic(tensor.ShapeErrorf("models: MobileNetV2 takes (N, C, H, W) input, got %v", s))
	}
	x = m.Features.Forward(x)
	x = autograd.Flatten(autograd.GlobalAvgPool2d(x)) // (N, 1280)
	return m.Classifier.Forward(x)
}

// Children names the layers as torchvision does.
func (m *MobileNetV2) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "features", Value: m.Features}, {Name: "classifier", Value: m.Classifier}}
}
