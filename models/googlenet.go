package models

import (
	"math/rand/v2"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func init() {
	Register(Info{
		Name: "googlenet",
		Description: "GoogLeNet (Szegedy et al. 2014) in torchvision's layout, parameter names and init, with aux_logits=False and " +
			"transform_input=False: BasicConv2d = conv without bias + batch norm (eps 0.001) + ReLU, nine inception modules whose " +
			"third branch is 3×3 where the paper has 5×5 (as torchvision); 6,624,904 parameters with 1000 classes",
		Input:   [3]int{3, 224, 224},
		Classes: imageNetClasses,
		AnySize: true,
		Build:   func(opt Options) (nn.Layer, error) { return NewGoogLeNet(opt), nil },
	})
}

// BasicConv2d is a convolution without bias, a batch norm and a ReLU,
// torchvision's GoogLeNet/Inception building block, named "conv" and "bn".
//
//	x (N, In, H, W) → conv → bn → ReLU → (N, Out, OH, OW)
type BasicConv2d struct {
	Conv *nn.Conv2d
	BN   *nn.BatchNorm
}

// Forward computes ReLU(bn(conv(x))).
func (b *BasicConv2d) Forward(x *autograd.Var) *autograd.Var {
	return b.BN.ForwardReLU(b.Conv.Forward(x))
}

// Children names the layers as torchvision does.
func (b *BasicConv2d) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "conv", Value: b.Conv}, {Name: "bn", Value: b.BN}}
}

// googLeNetConv returns torchvision GoogLeNet's BasicConv2d: weight
// trunc_normal_(std=0.01, a=−2, b=2), which at std 0.01 never truncates,
// so it is drawn from N(0, 0.01²); batch norm eps 0.001.
func googLeNetConv(r *rand.Rand, in, out, k, stride, pad int) *BasicConv2d {
	bn := nn.NewBatchNorm2d(out)
	bn.Eps = 1e-3
	return &BasicConv2d{
		Conv: &nn.Conv2d{
			Weight: autograd.Param(tensor.Normal(r, 0, 0.01, out, in, k, k)),
			Params: tensor.ConvParams{Stride: [2]int{stride, stride}, Pad: [4]int{pad, pad, pad, pad}, Dilation: [2]int{1, 1}, Groups: 1},
		},
		BN: bn,
	}
}

// ceilPool returns torchvision GoogLeNet's max-pooling: square kernel,
// stride, padding, ceil_mode=True.
func ceilPool(kernel, stride, pad int) *nn.MaxPool2d {
	p := nn.NewMaxPool2d(kernel, stride, pad)
	p.Params.CeilMode = true
	return p
}

// Inception is torchvision's GoogLeNet inception module: four branches
// on the same input, concatenated along the channels.
//
//	x (N, In, H, W)
//	branch1: BasicConv2d 1×1 c1                            → (N, c1, H, W)
//	branch2: BasicConv2d 1×1 r3, BasicConv2d 3×3 c3 p1     → (N, c3, H, W)
//	branch3: BasicConv2d 1×1 r5, BasicConv2d 3×3 c5 p1     → (N, c5, H, W)
//	branch4: max-pool 3×3 s1 p1 (ceil), BasicConv2d 1×1 pp → (N, pp, H, W)
//	concat                                                 → (N, c1+c3+c5+pp, H, W)
//
// The paper's branch3 is a 5×5 convolution; torchvision (and so this
// module, for parameter parity with its checkpoints) uses 3×3.
type Inception struct {
	Branch1                   *BasicConv2d
	Branch2, Branch3, Branch4 *nn.Sequential
}

// newInception builds an inception module from in channels.
func newInception(r *rand.Rand, in, c1, r3, c3, r5, c5, pp int) *Inception {
	return &Inception{
		Branch1: googLeNetConv(r, in, c1, 1, 1, 0),
		Branch2: nn.NewSequential(googLeNetConv(r, in, r3, 1, 1, 0), googLeNetConv(r, r3, c3, 3, 1, 1)),
		Branch3: nn.NewSequential(googLeNetConv(r, in, r5, 1, 1, 0), googLeNetConv(r, r5, c5, 3, 1, 1)),
		Branch4: nn.NewSequential(ceilPool(3, 1, 1), googLeNetConv(r, in, pp, 1, 1, 0)),
	}
}

// Forward concatenates the four branches.
func (m *Inception) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Concat(1, m.Branch1.Forward(x), m.Branch2.Forward(x), m.Branch3.Forward(x), m.Branch4.Forward(x))
}

// Children names the branches as torchvision does.
func (m *Inception) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "branch1", Value: m.Branch1}, {Name: "branch2", Value: m.Branch2},
		{Name: "branch3", Value: m.Branch3}, {Name: "branch4", Value: m.Branch4}}
}

// GoogLeNet is torchvision's GoogLeNet (Szegedy et al. 2014) with
// aux_logits=False and transform_input=False, its parameter names
// (conv1.conv, conv1.bn, inception3a.branch1.conv, …, fc) and
// initialization (convolution and fc weights N(0, 0.01²), fc bias
// PyTorch's default, batch norm weight 1 and bias 0, eps 0.001). All
// max-pools use ceil_mode=True.
//
//	x (N, C, 224, 224)
//	conv1 7×7 64 s2 p3          → (N, 64, 112, 112)
//	maxpool1 3×3 s2             → (N, 64, 56, 56)
//	conv2 1×1 64, conv3 3×3 192 → (N, 192, 56, 56)
//	maxpool2 3×3 s2             → (N, 192, 28, 28)
//	inception3a, 3b             → (N, 480, 28, 28)
//	maxpool3 3×3 s2             → (N, 480, 14, 14)
//	inception4a … 4e            → (N, 832, 14, 14)
//	maxpool4 2×2 s2             → (N, 832, 7, 7)
//	inception5a, 5b             → (N, 1024, 7, 7)
//	global average pool         → (N, 1024)
//	dropout 0.2, fc             → (N, classes)
//
// The global pool accepts other input sizes; 32×32 is about the
// smallest (inception5 then runs on 1×1 maps).
type GoogLeNet struct {
	Conv1, Conv2, Conv3                    *BasicConv2d
	MaxPool1, MaxPool2, MaxPool3, MaxPool4 *nn.MaxPool2d
	Inception3a, Inception3b               *Inception
	Inception4a, Inception4b, Inception4c  *Inception
	Inception4d, Inception4e               *Inception
	Inception5a, Inception5b               *Inception
	Dropout                                *nn.Dropout
	FC                                     *nn.Linear
}

// NewGoogLeNet returns torchvision's googlenet(aux_logits=False,
// transform_input=False, init_weights=True) (6,624,904 parameters with
// 1000 classes).
func NewGoogLeNet(opt Options) *GoogLeNet {
	opt = opt.withDefaults(3, imageNetClasses)
	r := rng(opt)
	m := &GoogLeNet{
		Conv1:    googLeNetConv(r, opt.InChannels, 64, 7, 2, 3),
		MaxPool1: ceilPool(3, 2, 0),
		Conv2:    googLeNetConv(r, 64, 64, 1, 1, 0),
		Conv3:    googLeNetConv(r, 64, 192, 3, 1, 1),
		MaxPool2: ceilPool(3, 2, 0),

		Inception3a: newInception(r, 192, 64, 96, 128, 16, 32, 32),
		Inception3b: newInception(r, 256, 128, 128, 192, 32, 96, 64),
		MaxPool3:    ceilPool(3, 2, 0),
		Inception4a: newInception(r, 480, 192, 96, 208, 16, 48, 64),
		Inception4b: newInception(r, 512, 160, 112, 224, 24, 64, 64),
		Inception4c: newInception(r, 512, 128, 128, 256, 24, 64, 64),
		Inception4d: newInception(r, 512, 112, 144, 288, 32, 64, 64),
		Inception4e: newInception(r, 528, 256, 160, 320, 32, 128, 128),
		MaxPool4:    ceilPool(2, 2, 0),
		Inception5a: newInception(r, 832, 256, 160, 320, 32, 128, 128),
		Inception5b: newInception(r, 832, 384, 192, 384, 48, 128, 128),

		Dropout: nn.NewDropout(0.2, opt.Seed+1),
	}
	fc := nn.NewLinear(r, 1024, opt.NumClasses, true) // bias: PyTorch's default
	fc.Weight = autograd.Param(tensor.Normal(r, 0, 0.01, opt.NumClasses, 1024))
	m.FC = fc
	return m
}

// Forward computes the logits.
func (m *GoogLeNet) Forward(x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 {
		panic(tensor.ShapeErrorf("models: GoogLeNet takes (N, C, H, W) input, got %v", s))
	}
	x = m.MaxPool1.Forward(m.Conv1.Forward(x))
	x = m.MaxPool2.Forward(m.Conv3.Forward(m.Conv2.Forward(x)))
	x = m.MaxPool3.Forward(m.Inception3b.Forward(m.Inception3a.Forward(x)))
	for _, b := range []*Inception{m.Inception4a, m.Inception4b, m.Inception4c, m.Inception4d, m.Inception4e} {
		x = b.Forward(x)
	}
	x = m.MaxPool4.Forward(x)
	x = m.Inception5b.Forward(m.Inception5a.Forward(x))
	x = autograd.Flatten(autograd.GlobalAvgPool2d(x)) // (N, 1024)
	return m.FC.Forward(m.Dropout.Forward(x))
}

// Children names the layers as torchvision does, in its order.
func (m *GoogLeNet) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{
		{Name: "conv1", Value: m.Conv1}, {Name: "maxpool1", Value: m.MaxPool1},
		{Name: "conv2", Value: m.Conv2}, {Name: "conv3", Value: m.Conv3}, {Name: "maxpool2", Value: m.MaxPool2},
		{Name: "inception3a", Value: m.Inception3a}, {Name: "inception3b", Value: m.Inception3b}, {Name: "maxpool3", Value: m.MaxPool3},
		{Name: "inception4a", Value: m.Inception4a}, {Name: "inception4b", Value: m.Inception4b},
		{Name: "inception4c", Value: m.Inception4c}, {Name: "inception4d", Value: m.Inception4d},
		{Name: "inception4e", Value: m.Inception4e}, {Name: "maxpool4", Value: m.MaxPool4},
		{Name: "inception5a", Value: m.Inception5a}, {Name: "inception5b", Value: m.Inception5b},
		{Name: "dropout", Value: m.Dropout}, {Name: "fc", Value: m.FC},
	}
}
