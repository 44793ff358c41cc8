package models

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// vggPool marks a 2×2 max-pooling in a VGG configuration.
const vggPool = 0

// vggConfigs are torchvision's VGG configurations "A", "B" and "D":
// channel counts of the 3×3 convolutions, vggPool for a max-pooling.
var vggConfigs = []struct {
	depth int
	cfg   []int
}{
	{11, []int{64, vggPool, 128, vggPool, 256, 256, vggPool, 512, 512, vggPool, 512, 512, vggPool}},
	{13, []int{64, 64, vggPool, 128, 128, vggPool, 256, 256, vggPool, 512, 512, vggPool, 512, 512, vggPool}},
	{16, []int{64, 64, vggPool, 128, 128, vggPool, 256, 256, 256, vggPool, 512, 512, 512, vggPool, 512, 512, 512, vggPool}},
}

// vggParams are the parameter counts of torchvision's VGGs with 1000
// classes (checked against torchvision by zoo_test.go).
var vggParams = map[string]string{
	"vgg11": "132,863,336", "vgg13": "133,047,848", "vgg16": "138,357,544",
	"vgg11_bn": "132,868,840", "vgg13_bn": "133,053,736", "vgg16_bn": "138,365,992",
}

func init() {
	for _, c := range vggConfigs {
		for _, bn := range []bool{false, true} {
			name := fmt.Sprintf("vgg%d", c.depth)
			norm := ""
			if bn {
				name += "_bn"
				norm = " with batch norm"
			}
			cfg, depth := c.cfg, c.depth
			Register(Info{
				Name: name,
				Description: fmt.Sprintf("VGG-%d%s (Simonyan and Zisserman 2014) in torchvision's layout, parameter names and init: "+
					"3×3 convolutions and 5 max-pools, adaptive average pool to 7×7, classifier 25088-4096-4096-classes with dropout 0.5; "+
					"%s parameters with 1000 classes", depth, norm, vggParams[name]),
				Input:   [3]int{3, 224, 224},
				Classes: imageNetClasses,
				AnySize: true,
				Build:   func(opt Options) (nn.Layer, error) { return NewVGG(cfg, bn, false, opt), nil },
			})
			Register(Info{
				Name: name + "-cifar",
				Description: fmt.Sprintf("VGG-%d%s for 32×32 input: torchvision's features (names features.N) and init, "+
					"then a global average pool and a single Linear 512→classes named classifier", depth, norm),
				Input:   [3]int{3, 32, 32},
				AnySize: true,
				Build:   func(opt Options) (nn.Layer, error) { return NewVGG(cfg, bn, true, opt), nil },
			})
		}
	}
}

// VGG is torchvision's VGG (Simonyan and Zisserman 2014) with its
// parameter names (features.N.weight, classifier.0/3/6) and
// initialization (convolutions Kaiming-normal with fan_out and bias 0,
// batch norm weight 1 and bias 0, linear layers N(0, 0.01²) and bias 0).
// Each configuration entry is a 3×3 convolution with padding 1 (plus a
// batch norm for the _bn variants) and a ReLU, or a 2×2 max-pool:
//
//	x (N, C, 224, 224)
//	features: conv blocks, 5 max-pools   → (N, 512, 7, 7)
//	avgpool: adaptive average to 7×7     → (N, 512, 7, 7)
//	flatten                              → (N, 25088)
//	classifier.0 Linear, ReLU, Dropout   → (N, 4096)
//	classifier.3 Linear, ReLU, Dropout   → (N, 4096)
//	classifier.6 Linear                  → (N, classes)
//
// The CIFAR variant keeps the features and replaces the rest with a
// global average pool (the identity on the 1×1 maps of 32×32 input) and a
// single Linear 512 → classes named "classifier", the common CIFAR VGG
// (kuangliu/pytorch-cifar) but with torchvision's initialization:
//
//	x (N, C, 32, 32)
//	features         → (N, 512, 1, 1)
//	global avg pool  → (N, 512, 1, 1)
//	classifier       → (N, classes)
//
// Options.Width multiplies every convolution's channels and the two 4096
// hidden layers (rounded, at least 1). The ImageNet head's adaptive pool
// accepts any input size (smaller than 224 repeats cells, as PyTorch).
type VGG struct {
	Features *nn.Sequential
	// AvgPool is the adaptive 7×7 pool of the ImageNet head; nil for the
	// CIFAR variant, which pools globally.
	AvgPool *nn.AdaptiveAvgPool2d
	// Classifier is an *nn.Sequential (ImageNet) or an *nn.Linear (CIFAR).
	Classifier nn.Layer
}

// NewVGG builds a VGG from a configuration: channel counts of the 3×3
// convolutions, 0 for a 2×2 max-pool (see vggConfigs), with batch norm
// after every convolution if bn, and the CIFAR head if cifar.
func NewVGG(cfg []int, bn, cifar bool, opt Options) *VGG {
	opt = opt.withDefaults(3, defaultHead(cifar))
	r := rng(opt)
	m := &VGG{Features: vggFeatures(r, cfg, bn, opt)}
	last := opt.InChannels
	for _, c := range cfg {
		if c != vggPool {
			last = opt.scaled(c)
		}
	}
	if cifar {
		m.Classifier = normalLinear(r, last, opt.NumClasses, 0.01)
		return m
	}
	hidden := opt.scaled(4096)
	m.AvgPool = nn.NewAdaptiveAvgPool2d(7, 7)
	m.Classifier = nn.NewSequential(
		normalLinear(r, last*7*7, hidden, 0.01), nn.ReLU{}, nn.NewDropout(0.5, opt.Seed+1),
		normalLinear(r, hidden, hidden, 0.01), nn.ReLU{}, nn.NewDropout(0.5, opt.Seed+2),
		normalLinear(r, hidden, opt.NumClasses, 0.01),
	)
	return m
}

// vggFeatures builds torchvision's make_layers: conv (BN) ReLU per channel
// count, max-pool 2 for each vggPool.
func vggFeatures(r *rand.Rand, cfg []int, bn bool, opt Options) *nn.Sequential {
	f := nn.NewSequential()
	in := opt.InChannels
	for _, c := range cfg {
		if c == vggPool {
			f.Append(nn.NewMaxPool2d(2, 2, 0))
			continue
		}
		c = opt.scaled(c)
		f.Append(tvConv(r, tvConvConfig{In: in, Out: c, K: 3, Stride: 1, Pad: 1, Bias: true}))
		if bn {
			f.Append(nn.NewBatchNorm2d(c))
		}
		f.Append(nn.ReLU{})
		in = c
	}
	return f
}

// Forward computes the logits.
func (m *VGG) Forward(x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 {
		panic(tensor.ShapeErrorf("models: VGG takes (N, C, H, W) input, got %v", s))
	}
	x = m.Features.Forward(x)
	if m.AvgPool != nil {
		x = m.AvgPool.Forward(x) // (N, 512, 7, 7)
	} else {
		x = autograd.GlobalAvgPool2d(x) // (N, 512, 1, 1)
	}
	return m.Classifier.Forward(autograd.Flatten(x))
}

// Children names the layers as torchvision does.
func (m *VGG) Children() []nn.Named[nn.Layer] {
	c := []nn.Named[nn.Layer]{{Name: "features", Value: m.Features}}
	if m.AvgPool != nil {
		c = append(c, nn.Named[nn.Layer]{Name: "avgpool", Value: m.AvgPool})
	}
	return append(c, nn.Named[nn.Layer]{Name: "classifier", Value: m.Classifier})
}
