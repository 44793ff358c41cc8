package nn

import (
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/tensor"
)

// fans returns the fan-in and fan-out of a weight: (out, in) for a linear
// layer, (out, in/groups, kh, kw) for a convolution.
func fans(shape []int) (in, out int) {
	receptive := 1
	for _, d := range shape[2:] {
		receptive *= d
	}
	return shape[1] * receptive, shape[0] * receptive
}

// KaimingUniform returns a weight drawn from U(-b, b) with b = gain·√(3/fan_in)
// and gain √(2/(1+a²)) for a leaky-ReLU slope a (He et al. 2015). With
// a = √5 it is PyTorch's default initialization of Conv2d and Linear.
func KaimingUniform(rng *rand.Rand, a float64, shape ...int) *tensor.Tensor {
	in, _ := fans(shape)
	gain := math.Sqrt(2 / (1 + a*a))
	b := float32(gain * math.Sqrt(3/float64(in)))
	return tensor.Uniform(rng, -b, b, shape...)
}

// KaimingNormal returns a weight drawn from N(0, std²) with
// std = √2/√fan_out (mode "fan_out", ReLU gain), as torchvision's ResNets use.
func KaimingNormal(rng *rand.Rand, shape ...int) *tensor.Tensor {
	_, out := fans(shape)
	return tensor.Normal(rng, 0, float32(math.Sqrt(2/float64(out))), shape...)
}

// XavierUniform returns a weight drawn from U(-b, b) with
// b = √(6/(fan_in+fan_out)) (Glorot and Bengio 2010).
func XavierUniform(rng *rand.Rand, shape ...int) *tensor.Tensor {
	in, out := fans(shape)
	b := float32(math.Sqrt(6 / float64(in+out)))
	return tensor.Uniform(rng, -b, b, shape...)
}

// XavierNormal returns a weight drawn from N(0, 2/(fan_in+fan_out)).
func XavierNormal(rng *rand.Rand, shape ...int) *tensor.Tensor {
	in, out := fans(shape)
	return tensor.Normal(rng, 0, float32(math.Sqrt(2/float64(in+out))), shape...)
}

// biasInit returns PyTorch's default bias: U(-1/√fan_in, 1/√fan_in).
func biasInit(rng *rand.Rand, fanIn, n int) *tensor.Tensor {
	b := float32(1 / math.Sqrt(float64(fanIn)))
	return tensor.Uniform(rng, -b, b, n)
}

// Dirac sets the first min(O, C) filters of the convolution weight w (O,
// C, KH, KW) to the identity, as torch.nn.init.dirac_ on w[:C] does:
// filter i is 1 at its centre tap of input channel i and 0 elsewhere, so
// the layer starts by passing its input channels through (stride 1, "same"
// padding). The other filters keep their values.
func Dirac(w *tensor.Tensor) {
	s := w.Shape()
	if len(s) != 4 {
		panic(tensor.ShapeErrorf("nn: Dirac of weight %v: want (O, C, KH, KW)", s))
	}
	o, c, kh, kw := s[0], s[1], s[2], s[3]
	d := w.Data()
	for i := range min(o, c) {
		f := d[i*c*kh*kw : (i+1)*c*kh*kw]
		clear(f)
		f[(i*kh+kh/2)*kw+kw/2] = 1
	}
}
