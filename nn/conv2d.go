package nn

import (
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// Conv2dConfig configures a [Conv2d]. The zero value of every optional field
// is PyTorch's default.
type Conv2dConfig struct {
	In, Out  int // channels
	Kernel   int // square kernel size; KernelHW overrides it
	KernelHW [2]int
	Stride   int // default 1
	// Padding on every side. PadSame pads so that, with stride 1, the
	// output has the input's size (PyTorch's padding="same"; the extra
	// pixel of an even kernel goes bottom/right).
	Padding  int
	PadSame  bool
	Dilation int  // default 1
	Groups   int  // default 1; Groups == In is a depthwise convolution
	NoBias   bool // leave out the bias (before batch norm)
}

// Conv2d is a 2-D convolution over NCHW input.
//
//	x (N, In, H, W) → (N, Out, OH, OW)
//	weight (Out, In/Groups, KH, KW), bias (Out)
type Conv2d struct {
	Weight *autograd.Var
	Bias   *autograd.Var // nil when NoBias
	Params tensor.ConvParams
}

// NewConv2d returns a convolution with PyTorch's default initialization
// (Kaiming-uniform with a = √5, uniform bias) drawn from rng.
func NewConv2d(rng *rand.Rand, c Conv2dConfig) *Conv2d {
	kh, kw := c.KernelHW[0], c.KernelHW[1]
	if kh == 0 && kw == 0 {
		kh, kw = c.Kernel, c.Kernel
	}
	p := tensor.ConvParams{Stride: [2]int{c.Stride, c.Stride}, Dilation: [2]int{c.Dilation, c.Dilation}, Groups: c.Groups,
		Pad: [4]int{c.Padding, c.Padding, c.Padding, c.Padding}}.WithDefaults()
	if c.In < 1 || c.Out < 1 || kh < 1 || kw < 1 || c.In%p.Groups != 0 || c.Out%p.Groups != 0 || c.Padding < 0 {
		panic(tensor.ShapeErrorf("nn: Conv2d %+v: channels must be positive and divisible by groups, kernel positive", c))
	}
	if c.PadSame {
		if p.Stride != [2]int{1, 1} {
			panic(tensor.ShapeErrorf("nn: Conv2d: PadSame needs stride 1, as in PyTorch"))
		}
		p.Pad = tensor.SamePadding([2]int{kh, kw}, p.Dilation)
	}
	w := KaimingUniform(rng, math.Sqrt(5), c.Out, c.In/p.Groups, kh, kw)
	l := &Conv2d{Weight: autograd.Param(w), Params: p}
	if !c.NoBias {
		fanIn, _ := fans(w.Shape())
		l.Bias = autograd.Param(biasInit(rng, fanIn, c.Out))
	}
	return l
}

// Forward convolves x.
func (l *Conv2d) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Conv2d(x, l.Weight, l.Bias, l.Params)
}

// OwnParams lists weight and bias.
func (l *Conv2d) OwnParams() []Named[*autograd.Var] {
	ps := []Named[*autograd.Var]{{Name: "weight", Value: l.Weight}}
	if l.Bias != nil {
		ps = append(ps, Named[*autograd.Var]{Name: "bias", Value: l.Bias})
	}
	return ps
}
