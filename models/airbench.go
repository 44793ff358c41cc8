package models

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func init() {
	Register(Info{
		Name: "airbench94",
		Description: "airbench94 (Jordan 2024, arXiv 2404.00498): a frozen 2x2 patch-whitening convolution (24 filters) " +
			"initialized from the training images, three conv groups of widths 64/256/256 (conv, max-pool, BN, GELU, conv, BN, GELU), " +
			"max-pool, linear head scaled by 1/9; batch norms without a learned scale; 1,972,792 parameters (1,971,352 trained)",
		Input:    [3]int{3, 32, 32},
		Build:    func(opt Options) (nn.Layer, error) { return NewAirbench94(opt), nil },
		InitData: InitAirbench94,
	})
}

// Airbench94 hyper-parameters of the network (hyp['net'] in the reference,
// KellerJordan/cifar10-airbench, legacy/airbench94.py).
const (
	airbenchWhitenK    = 2     // whitening kernel size
	airbenchBNMomentum = 0.4   // PyTorch momentum = 1 − the reference's batchnorm_momentum 0.6
	airbenchBNEps      = 1e-12 // the reference's BatchNorm eps
	airbenchScale      = 1.0 / 9
	airbenchWhitenEps  = 5e-4 // added to the eigenvalues before scaling
	airbenchWhitenN    = 5000 // training images the whitening is estimated from
)

// airbenchWidths are the conv groups' widths (hyp['net']['widths']).
var airbenchWidths = [3]int{64, 256, 256}

// NewAirbench94 returns airbench94's network with the reference's names
// (a Sequential whose state dict matches make_net's) and initialization:
// PyTorch's default for every layer, then each 3×3 convolution's first
// filters set to the identity (nn.Dirac), batch norms with weight 1 frozen
// (no learned scale), momentum 0.4 (the reference's 0.6 in PyTorch's
// convention) and eps 1e-12. The whitening convolution's weight is frozen:
// [InitAirbench94] sets it from the training images, its bias trains.
//
//	x (N, 3, 32, 32)
//	0  conv 2×2 24, bias, frozen weight  → (N, 24, 31, 31)
//	1  GELU
//	2  conv group 64  (conv 3×3 "same", max-pool 2, BN, GELU, conv, BN, GELU) → (N, 64, 15, 15)
//	3  conv group 256 → (N, 256, 7, 7)
//	4  conv group 256 → (N, 256, 3, 3)
//	5  max-pool 3     → (N, 256, 1, 1)
//	6  flatten        → (N, 256)
//	7  linear, no bias → (N, classes)
//	8  ×1/9
//
// Width scales the three groups' widths.
func NewAirbench94(opt Options) *nn.Sequential {
	opt = opt.withDefaults(3, defaultClasses)
	r := rng(opt)
	whitenOut := 2 * opt.InChannels * airbenchWhitenK * airbenchWhitenK
	whiten := nn.NewConv2d(r, nn.Conv2dConfig{In: opt.InChannels, Out: whitenOut, Kernel: airbenchWhitenK})
	clear(whiten.Bias.Value.Data())
	whiten.Weight.SetRequiresGrad(false)
	s := nn.NewSequential(whiten, nn.GELU{})
	in := whitenOut
	for _, w := range airbenchWidths {
		w = opt.scaled(w)
		s.Append(newAirbenchGroup(r, in, w))
		in = w
	}
	s.Append(nn.NewMaxPool2d(3, 3, 0), nn.Flatten{}, nn.NewLinear(r, in, opt.NumClasses, false), nn.Scale{Factor: airbenchScale})
	return s
}

// AirbenchGroup is airbench's ConvGroup: conv1 → max-pool 2 → norm1 → GELU
// → conv2 → norm2 → GELU, with PyTorch's names conv1, pool, norm1, conv2,
// norm2.
//
//	x (N, C, H, W) → (N, O, H/2, W/2)
type AirbenchGroup struct {
	Conv1        *nn.Conv2d
	Pool         *nn.MaxPool2d
	Norm1, Norm2 *nn.BatchNorm
	Conv2        *nn.Conv2d
}

// newAirbenchGroup returns a group of in → out channels initialized as
// [NewAirbench94] says.
func newAirbenchGroup(r *rand.Rand, in, out int) *AirbenchGroup {
	conv := func(i, o int) *nn.Conv2d {
		c := nn.NewConv2d(r, nn.Conv2dConfig{In: i, Out: o, Kernel: 3, PadSame: true, NoBias: true})
		nn.Dirac(c.Weight.Value)
		return c
	}
	norm := func(c int) *nn.BatchNorm {
		bn := nn.NewBatchNorm2d(c)
		bn.Momentum, bn.Eps = airbenchBNMomentum, airbenchBNEps
		bn.Weight.SetRequiresGrad(false) // no learned scale
		return bn
	}
	return &AirbenchGroup{Conv1: conv(in, out), Pool: nn.NewMaxPool2d(2, 2, 0), Norm1: norm(out), Conv2: conv(out, out), Norm2: norm(out)}
}

// Forward runs the group.
func (g *AirbenchGroup) Forward(x *autograd.Var) *autograd.Var {
	h := g.Norm1.Forward(g.Pool.Forward(g.Conv1.Forward(x)))
	h = g.Norm2.Forward(g.Conv2.Forward(autograd.GELU(h)))
	return autograd.GELU(h)
}

// Children names the layers as the reference's ConvGroup does.
func (g *AirbenchGroup) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "conv1", Value: g.Conv1}, {Name: "pool", Value: g.Pool}, {Name: "norm1", Value: g.Norm1},
		{Name: "conv2", Value: g.Conv2}, {Name: "norm2", Value: g.Norm2}}
}

// InitAirbench94 initializes the whitening convolution (layer 0) of an
// [NewAirbench94] network from training images (N, 3, H, W), normalized
// as the model sees them: [InitWhitening] on the first 5,000, as the
// reference does.
func InitAirbench94(model nn.Layer, images *tensor.Tensor) error {
	s, ok := model.(*nn.Sequential)
	if !ok || len(s.Layers) == 0 {
		return fmt.Errorf("models: airbench94 data init: not an airbench94 network")
	}
	conv, ok := s.Layers[0].(*nn.Conv2d)
	if !ok {
		return fmt.Errorf("models: airbench94 data init: layer 0 is %T, not the whitening convolution", s.Layers[0])
	}
	if n := images.Dim(0); n > InitDataImages {
		images = images.Slice(0, InitDataImages)
	}
	return InitWhitening(conv, images, airbenchWhitenEps)
}

// InitWhitening sets the weights of conv, a stride-1 convolution with
// kernel KH×KW over C channels and 2·C·KH·KW filters, to the patch
// whitening of images x (N, C, H, W): with Σ the (uncentred) second-moment
// matrix of the C·KH·KW-pixel patches at every position of every image
// and Σ = Σₖ λₖ vₖvₖᵀ its eigen-decomposition in descending order of λ,
// filter k is vₖ/√(λₖ+eps) and filter D+k its negative (D = C·KH·KW), as
// airbench's init_whitening_conv does. The layer's outputs are then
// uncorrelated with unit variance over the images' patches. The bias is
// left as it is. Σ is accumulated in float64 and decomposed by gonum's
// symmetric eigensolver; the eigenvectors' signs are the solver's (a sign
// flip swaps filters k and D+k).
func InitWhitening(conv *nn.Conv2d, x *tensor.Tensor, eps float64) error {
	ws := conv.Weight.Value.Shape()
	if x.Dims() != 4 {
		return fmt.Errorf("models: InitWhitening: images of shape %v: want (N, C, H, W)", x.Shape())
	}
	n, c, h, w := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	kh, kw := ws[2], ws[3]
	d := c * kh * kw
	switch {
	case ws[1] != c || ws[0] != 2*d:
		return fmt.Errorf("models: InitWhitening: weight %v for %d-channel images: want (%d, %d, %d, %d)", ws, c, 2*d, c, kh, kw)
	case conv.Params.Groups > 1 || conv.Params.Stride != [2]int{1, 1}:
		return fmt.Errorf("models: InitWhitening: the convolution must have stride 1 and one group")
	case n == 0 || h < kh || w < kw:
		return fmt.Errorf("models: InitWhitening: images of shape %v: need at least one %dx%d patch", x.Shape(), kh, kw)
	}
	xd := x.Contiguous().Data()
	sigma := patchMoments(xd, n, c, h, w, kh, kw)
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(d, sigma), true) {
		return fmt.Errorf("models: InitWhitening: the eigen-decomposition of the patch covariance failed")
	}
	vals := eig.Values(nil) // ascending
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	wd := conv.Weight.Value.Data()
	for k := range d {
		j := d - 1 - k // descending
		s := 1 / math.Sqrt(vals[j]+eps)
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("models: InitWhitening: eigenvalue %g of the patch covariance: not positive enough for eps %g", vals[j], eps)
		}
		for i := range d {
			v := float32(vecs.At(i, j) * s)
			wd[k*d+i], wd[(d+k)*d+i] = v, -v
		}
	}
	return nil
}

// patchMoments returns the d×d second-moment matrix (row-major, d = C·KH·KW)
// of the KH×KW patches of the images x (N, C, H, W), every position of
// every image, each patch flattened in (c, kh, kw) order, summed in
// float64 and divided by the number of patches.
func patchMoments(x []float32, n, c, h, w, kh, kw int) []float64 {
	d := c * kh * kw
	oh, ow := h-kh+1, w-kw+1
	sum := make([]float64, d*d)
	p := make([]float64, d)
	for b := range n {
		img := x[b*c*h*w : (b+1)*c*h*w]
		for y := range oh {
			for xx := range ow {
				for ch := range c {
					for i := range kh {
						for j := range kw {
							p[(ch*kh+i)*kw+j] = float64(img[(ch*h+y+i)*w+xx+j])
						}
					}
				}
				for i, pi := range p {
					row := sum[i*d : (i+1)*d]
					for j := i; j < d; j++ {
						row[j] += pi * p[j]
					}
				}
			}
		}
	}
	count := float64(n * oh * ow)
	for i := range d {
		for j := i; j < d; j++ {
			sum[i*d+j] /= count
			sum[j*d+i] = sum[i*d+j]
		}
	}
	return sum
}
