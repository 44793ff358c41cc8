package models

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func init() {
	for _, n := range []int{3, 5, 9, 18} {
		depth := 6*n + 2
		name := "resnet" + strconv.Itoa(depth)
		count := ""
		if depth == 20 {
			count = "; 272,474 parameters, the W2 benchmark model"
		}
		Register(Info{
			Name: name,
			Description: fmt.Sprintf("ResNet-%d for CIFAR (He et al. 2016): 3 stages x %d basic blocks, 16/32/64 channels, "+
				"1x1 conv+BN shortcuts where the shape changes (option B), PyTorch default init%s", depth, n, count),
			Input:   [3]int{3, 32, 32},
			AnySize: true,
			Build:   func(opt Options) (nn.Layer, error) { return NewCIFARResNet(n, opt), nil },
		})
	}
	Register(Info{
		Name:        "resnet18",
		Description: "ResNet-18 in torchvision's layout, parameter names and init (basic blocks 2-2-2-2, 64-512 channels); 11,689,512 parameters with 1000 classes",
		Input:       [3]int{3, 224, 224},
		Classes:     imageNetClasses,
		AnySize:     true,
		Build:       func(opt Options) (nn.Layer, error) { return NewResNet18(opt), nil },
	})
	Register(Info{
		Name:        "resnet34",
		Description: "ResNet-34 in torchvision's layout, parameter names and init (basic blocks 3-4-6-3, 64-512 channels); 21,797,672 parameters with 1000 classes",
		Input:       [3]int{3, 224, 224},
		Classes:     imageNetClasses,
		AnySize:     true,
		Build:       func(opt Options) (nn.Layer, error) { return NewResNet34(opt), nil },
	})
	Register(Info{
		Name: "resnet50",
		Description: "ResNet-50 in torchvision's layout, parameter names and init (bottleneck blocks 3-4-6-3 with expansion 4, " +
			"stride on the 3×3 convolution as torchvision's v1.5); 25,557,032 parameters with 1000 classes",
		Input:   [3]int{3, 224, 224},
		Classes: imageNetClasses,
		AnySize: true,
		Build:   func(opt Options) (nn.Layer, error) { return NewResNet50(opt), nil },
	})
}

// BasicBlock is the two-convolution residual block of ResNet-18/34 and the
// CIFAR ResNets:
//
//	x (N, In, H, W)
//	conv1 3×3 stride s pad 1, bn1, ReLU → (N, Out, H/s, W/s)
//	conv2 3×3 pad 1, bn2               → (N, Out, H/s, W/s)
//	y = ReLU(h + shortcut(x))           → (N, Out, H/s, W/s)
//
// The shortcut is the identity, or, when s ≠ 1 or In ≠ Out, a Sequential
// of a 1×1 convolution with stride s (no bias) and a batch norm, named
// "shortcut" (bench/peers/models.py) or "downsample" (torchvision).
type BasicBlock struct {
	Conv1 *nn.Conv2d
	BN1   *nn.BatchNorm
	Conv2 *nn.Conv2d
	BN2   *nn.BatchNorm
	// Shortcut is nil for the identity, else Layers[0] is the 1×1
	// convolution and Layers[1] its batch norm.
	Shortcut *nn.Sequential
	// ShortcutName is the state-dict name of Shortcut: "shortcut" or
	// "downsample".
	ShortcutName string
}

// convFunc makes the convolutions of a model: in → out channels, square
// kernel k, stride, padding, no bias.
type convFunc func(in, out, k, stride, pad int) *nn.Conv2d

// pytorchConv initializes like PyTorch's nn.Conv2d (Kaiming-uniform, a = √5).
func pytorchConv(r *rand.Rand) convFunc {
	return func(in, out, k, stride, pad int) *nn.Conv2d {
		return nn.NewConv2d(r, nn.Conv2dConfig{In: in, Out: out, Kernel: k, Stride: stride, Padding: pad, NoBias: true})
	}
}

// torchvisionConv initializes like torchvision's ResNet:
// kaiming_normal_(mode="fan_out", nonlinearity="relu").
func torchvisionConv(r *rand.Rand) convFunc {
	return func(in, out, k, stride, pad int) *nn.Conv2d {
		return &nn.Conv2d{
			Weight: autograd.Param(nn.KaimingNormal(r, out, in, k, k)),
			Params: tensor.ConvParams{Stride: [2]int{stride, stride}, Pad: [4]int{pad, pad, pad, pad}, Dilation: [2]int{1, 1}, Groups: 1},
		}
	}
}

// tvConvConfig describes one convolution of a torchvision model: square
// kernel K, stride, padding, groups (0 means 1) and whether it has a bias.
type tvConvConfig struct {
	In, Out, K, Stride, Pad, Groups int
	Bias                            bool
}

// tvConv returns a convolution initialized as torchvision's VGG and
// MobileNetV2 do: weight kaiming_normal_(mode="fan_out",
// nonlinearity="relu"), bias 0.
func tvConv(r *rand.Rand, c tvConvConfig) *nn.Conv2d {
	g := max(c.Groups, 1)
	l := &nn.Conv2d{
		Weight: autograd.Param(nn.KaimingNormal(r, c.Out, c.In/g, c.K, c.K)),
		Params: tensor.ConvParams{Stride: [2]int{max(c.Stride, 1), max(c.Stride, 1)}, Pad: [4]int{c.Pad, c.Pad, c.Pad, c.Pad}, Dilation: [2]int{1, 1}, Groups: g},
	}
	if c.Bias {
		l.Bias = autograd.Param(tensor.Zeros(c.Out))
	}
	return l
}

// normalLinear returns a fully connected layer with weight N(0, std²) and
// bias 0, torchvision's initialization of VGG's and MobileNetV2's
// classifiers.
func normalLinear(r *rand.Rand, in, out int, std float32) *nn.Linear {
	return &nn.Linear{Weight: autograd.Param(tensor.Normal(r, 0, std, out, in)), Bias: autograd.Param(tensor.Zeros(out))}
}

// newBasicBlock builds a block from in to out channels whose first
// convolution has the given stride.
func newBasicBlock(conv convFunc, in, out, stride int, shortcutName string) *BasicBlock {
	b := &BasicBlock{
		Conv1:        conv(in, out, 3, stride, 1),
		BN1:          nn.NewBatchNorm2d(out),
		Conv2:        conv(out, out, 3, 1, 1),
		BN2:          nn.NewBatchNorm2d(out),
		ShortcutName: shortcutName,
	}
	if stride != 1 || in != out {
		b.Shortcut = nn.NewSequential(conv(in, out, 1, stride, 0), nn.NewBatchNorm2d(out))
	}
	return b
}

// Forward computes ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + shortcut(x)).
func (b *BasicBlock) Forward(x *autograd.Var) *autograd.Var {
	h := b.BN1.ForwardReLU(b.Conv1.Forward(x))
	h = b.Conv2.Forward(h)
	if nn.Watched(x) { // the layers in PyTorch's order, one by one
		h = b.BN2.Forward(h)
		return autograd.AddReLU(h, b.shortcut(x))
	}
	return b.BN2.ForwardAddReLU(h, b.shortcut(x))
}

// shortcut is the block's identity or projection of x.
func (b *BasicBlock) shortcut(x *autograd.Var) *autograd.Var {
	if b.Shortcut != nil {
		return b.Shortcut.Forward(x)
	}
	return x
}

// Children names the layers as PyTorch does.
func (b *BasicBlock) Children() []nn.Named[nn.Layer] {
	c := []nn.Named[nn.Layer]{{Name: "conv1", Value: b.Conv1}, {Name: "bn1", Value: b.BN1},
		{Name: "conv2", Value: b.Conv2}, {Name: "bn2", Value: b.BN2}}
	if b.Shortcut != nil {
		c = append(c, nn.Named[nn.Layer]{Name: b.ShortcutName, Value: b.Shortcut})
	}
	return c
}

// CIFARResNet is the CIFAR ResNet of He et al. 2016 (section 4.2) with
// depth 6n+2, as bench/peers/models.py defines ResNet20 (n = 3), with
// 1×1-convolution shortcuts where the shape changes ("option B") and
// PyTorch's default initialization. Parameter names are those of
// models.py's state_dict: conv, bn, layers.<i>.conv1, …,
// layers.<i>.shortcut.0/1, fc.
//
//	x (N, C, 32, 32)
//	conv 3×3 16, bn, ReLU     → (N, 16, 32, 32)
//	layers 0…n-1    16 ch     → (N, 16, 32, 32)
//	layers n…2n-1   32 ch, s2 → (N, 32, 16, 16)
//	layers 2n…3n-1  64 ch, s2 → (N, 64, 8, 8)
//	mean over H, W            → (N, 64)
//	fc                        → (N, classes)
//
// Any input size works (the pooling is global); 32×32 is CIFAR's.
// Options.Width scales the 16/32/64 channels (rounded, at least 1).
type CIFARResNet struct {
	Conv   *nn.Conv2d
	BN     *nn.BatchNorm
	Layers *nn.Sequential // of *BasicBlock
	FC     *nn.Linear
}

// NewCIFARResNet returns the CIFAR ResNet with n blocks per stage
// (depth 6n+2: n = 3, 5, 9, 18 give ResNet-20, 32, 56, 110).
func NewCIFARResNet(n int, opt Options) *CIFARResNet {
	if n < 1 {
		panic(tensor.ShapeErrorf("models: CIFAR ResNet with %d blocks per stage: must be positive", n))
	}
	opt = opt.withDefaults(3, defaultClasses)
	r := rng(opt)
	conv := pytorchConv(r)
	c0 := opt.scaled(16)
	m := &CIFARResNet{Conv: conv(opt.InChannels, c0, 3, 1, 1), BN: nn.NewBatchNorm2d(c0), Layers: nn.NewSequential()}
	in := c0
	for stage, c := range []int{c0, opt.scaled(32), opt.scaled(64)} {
		for i := range n {
			stride := 1
			if stage > 0 && i == 0 {
				stride = 2
			}
			m.Layers.Append(newBasicBlock(conv, in, c, stride, "shortcut"))
			in = c
		}
	}
	m.FC = nn.NewLinear(r, in, opt.NumClasses, true)
	return m
}

// NewResNet20 returns ResNet20 of bench/peers/models.py (272,474
// parameters with 10 classes), the W2 benchmark model.
func NewResNet20(opt Options) *CIFARResNet { return NewCIFARResNet(3, opt) }

// Forward computes the logits.
func (m *CIFARResNet) Forward(x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 {
		panic(tensor.ShapeErrorf("models: CIFAR ResNet takes (N, C, H, W) input, got %v", s))
	}
	x = m.BN.ForwardReLU(m.Conv.Forward(x))
	x = m.Layers.Forward(x)
	x = autograd.GlobalAvgPool2d(x) // (N, 64, 1, 1); FC flattens it
	return m.FC.Forward(x)
}

// Children names the layers as models.py does.
func (m *CIFARResNet) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "conv", Value: m.Conv}, {Name: "bn", Value: m.BN},
		{Name: "layers", Value: m.Layers}, {Name: "fc", Value: m.FC}}
}

// ResNet is torchvision's ResNet with basic blocks (ResNet-18 and -34) or
// bottleneck blocks (ResNet-50), with its parameter names (conv1, bn1,
// layer1.0.conv1, …, layer2.0.downsample.0/1, fc) and initialization
// (convolutions Kaiming-normal with fan_out, batch norm weight 1 and bias
// 0, fc PyTorch's default), so torchvision checkpoints load by name. With
// e = 1 for basic blocks and 4 for bottlenecks:
//
//	x (N, C, 224, 224)
//	conv1 7×7 64 s2 p3, bn1, ReLU → (N, 64, 112, 112)
//	max-pool 3×3 s2 p1            → (N, 64, 56, 56)
//	layer1  64·e ch                → (N, 64e, 56, 56)
//	layer2 128·e ch, first s2      → (N, 128e, 28, 28)
//	layer3 256·e ch, first s2      → (N, 256e, 14, 14)
//	layer4 512·e ch, first s2      → (N, 512e, 7, 7)
//	global average pool            → (N, 512e)
//	fc                             → (N, classes)
//
// As torchvision's adaptive pooling, the global pool accepts other input
// sizes too (down to 32×32, where layer4 is 1×1).
type ResNet struct {
	Conv1   *nn.Conv2d
	BN1     *nn.BatchNorm
	MaxPool *nn.MaxPool2d
	Stages  [4]*nn.Sequential // layer1…layer4, of *BasicBlock or *Bottleneck
	FC      *nn.Linear
}

// newResNet builds a torchvision ResNet with the given number of blocks
// in each of the four stages: basic blocks, or bottlenecks if bottleneck.
func newResNet(blocks [4]int, bottleneck bool, opt Options) *ResNet {
	opt = opt.withDefaults(3, imageNetClasses)
	r := rng(opt)
	conv := torchvisionConv(r)
	m := &ResNet{Conv1: conv(opt.InChannels, 64, 7, 2, 3), BN1: nn.NewBatchNorm2d(64), MaxPool: nn.NewMaxPool2d(3, 2, 1)}
	in := 64
	for s, c := range []int{64, 128, 256, 512} {
		m.Stages[s] = nn.NewSequential()
		for i := range blocks[s] {
			stride := 1
			if s > 0 && i == 0 {
				stride = 2
			}
			if bottleneck {
				m.Stages[s].Append(newBottleneck(conv, in, c, stride))
				in = c * bottleneckExpansion
			} else {
				m.Stages[s].Append(newBasicBlock(conv, in, c, stride, "downsample"))
				in = c
			}
		}
	}
	m.FC = nn.NewLinear(r, in, opt.NumClasses, true)
	return m
}

// NewResNet18 returns torchvision's resnet18() (11,689,512 parameters with
// the default 1000 classes).
func NewResNet18(opt Options) *ResNet { return newResNet([4]int{2, 2, 2, 2}, false, opt) }

// NewResNet34 returns torchvision's resnet34() (21,797,672 parameters with
// 1000 classes).
func NewResNet34(opt Options) *ResNet { return newResNet([4]int{3, 4, 6, 3}, false, opt) }

// NewResNet50 returns torchvision's resnet50() (25,557,032 parameters with
// 1000 classes): bottleneck blocks 3-4-6-3.
func NewResNet50(opt Options) *ResNet { return newResNet([4]int{3, 4, 6, 3}, true, opt) }

// Forward computes the logits.
func (m *ResNet) Forward(x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 {
		panic(tensor.ShapeErrorf("models: ResNet takes (N, C, H, W) input, got %v", s))
	}
	x = m.BN1.ForwardReLU(m.Conv1.Forward(x))
	x = m.MaxPool.Forward(x)
	for _, s := range m.Stages {
		x = s.Forward(x)
	}
	x = autograd.GlobalAvgPool2d(x) // (N, 512e, 1, 1); FC flattens it
	return m.FC.Forward(x)
}

// Children names the layers as torchvision does.
func (m *ResNet) Children() []nn.Named[nn.Layer] {
	c := []nn.Named[nn.Layer]{{Name: "conv1", Value: m.Conv1}, {Name: "bn1", Value: m.BN1}}
	for i, s := range m.Stages {
		c = append(c, nn.Named[nn.Layer]{Name: "layer" + strconv.Itoa(i+1), Value: s})
	}
	return append(c, nn.Named[nn.Layer]{Name: "fc", Value: m.FC})
}

// bottleneckExpansion is the ratio of a bottleneck's output channels to
// its inner width (torchvision's Bottleneck.expansion).
const bottleneckExpansion = 4

// Bottleneck is torchvision's ResNet-50/101/152 block, with the stride on
// the 3×3 convolution (ResNet v1.5):
//
//	x (N, In, H, W)
//	conv1 1×1, bn1, ReLU           → (N, P, H, W)
//	conv2 3×3 stride s pad 1, bn2, ReLU → (N, P, H/s, W/s)
//	conv3 1×1, bn3                 → (N, 4P, H/s, W/s)
//	y = ReLU(h + downsample(x))    → (N, 4P, H/s, W/s)
//
// The shortcut is the identity, or, when s ≠ 1 or In ≠ 4P, a 1×1
// convolution with stride s (no bias) and a batch norm, named
// "downsample.0" and "downsample.1" as in torchvision.
type Bottleneck struct {
	Conv1, Conv2, Conv3 *nn.Conv2d
	BN1, BN2, BN3       *nn.BatchNorm
	// Downsample is nil for the identity, else Layers[0] is the 1×1
	// convolution and Layers[1] its batch norm.
	Downsample *nn.Sequential
}

// newBottleneck builds a bottleneck from in channels with inner width p
// (output 4p) whose 3×3 convolution has the given stride.
func newBottleneck(conv convFunc, in, p, stride int) *Bottleneck {
	out := p * bottleneckExpansion
	b := &Bottleneck{
		Conv1: conv(in, p, 1, 1, 0), BN1: nn.NewBatchNorm2d(p),
		Conv2: conv(p, p, 3, stride, 1), BN2: nn.NewBatchNorm2d(p),
		Conv3: conv(p, out, 1, 1, 0), BN3: nn.NewBatchNorm2d(out),
	}
	if stride != 1 || in != out {
		b.Downsample = nn.NewSequential(conv(in, out, 1, stride, 0), nn.NewBatchNorm2d(out))
	}
	return b
}

// Forward computes ReLU(bn3(conv3(…conv1(x))) + downsample(x)).
func (b *Bottleneck) Forward(x *autograd.Var) *autograd.Var {
	h := b.BN1.ForwardReLU(b.Conv1.Forward(x))
	h = b.BN2.ForwardReLU(b.Conv2.Forward(h))
	h = b.Conv3.Forward(h)
	s := func() *autograd.Var {
		if b.Downsample != nil {
			return b.Downsample.Forward(x)
		}
		return x
	}
	if nn.Watched(x) { // the layers in PyTorch's order, one by one
		h = b.BN3.Forward(h)
		return autograd.AddReLU(h, s())
	}
	return b.BN3.ForwardAddReLU(h, s())
}

// Children names the layers as torchvision does.
func (b *Bottleneck) Children() []nn.Named[nn.Layer] {
	c := []nn.Named[nn.Layer]{{Name: "conv1", Value: b.Conv1}, {Name: "bn1", Value: b.BN1},
		{Name: "conv2", Value: b.Conv2}, {Name: "bn2", Value: b.BN2},
		{Name: "conv3", Value: b.Conv3}, {Name: "bn3", Value: b.BN3}}
	if b.Downsample != nil {
		c = append(c, nn.Named[nn.Layer]{Name: "downsample", Value: b.Downsample})
	}
	return c
}
