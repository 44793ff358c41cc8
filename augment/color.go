package augment

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Luminance weights of ITU-R BT.601, as torchvision's rgb_to_grayscale.
const (
	lumR = 0.299
	lumG = 0.587
	lumB = 0.114
)

// ColorJitter scales brightness, contrast and saturation by random factors
// drawn uniformly from [1-x, 1+x] for each strength x, applied in that order
// and clipped to [0, 1]:
//
//	brightness  v ← f·v
//	contrast    v ← m + f·(v − m), m = mean luminance of the image
//	saturation  v ← g + f·(v − g), g = the pixel's luminance (RGB only)
type ColorJitter struct {
	Brightness, Contrast, Saturation float64
}

// Apply jitters x in place.
func (t ColorJitter) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	factor := func(s float64) float32 { return float32(1 - s + 2*s*rng.Float64()) }
	if t.Brightness > 0 {
		f := factor(t.Brightness)
		for i, v := range x {
			x[i] = clip01(v * f)
		}
	}
	if t.Contrast > 0 {
		f := factor(t.Contrast)
		var m float64
		if c == 3 {
			hw := h * w
			for i := range hw {
				m += lumR*float64(x[i]) + lumG*float64(x[hw+i]) + lumB*float64(x[2*hw+i])
			}
			m /= float64(hw)
		} else {
			for _, v := range x {
				m += float64(v)
			}
			m /= float64(len(x))
		}
		mf := float32(m)
		for i, v := range x {
			x[i] = clip01(mf + f*(v-mf))
		}
	}
	if t.Saturation > 0 && c == 3 {
		f := factor(t.Saturation)
		hw := h * w
		r, g, b := x[:hw], x[hw:2*hw], x[2*hw:3*hw]
		for i := range hw {
			l := lumR*r[i] + lumG*g[i] + lumB*b[i]
			r[i] = clip01(l + f*(r[i]-l))
			g[i] = clip01(l + f*(g[i]-l))
			b[i] = clip01(l + f*(b[i]-l))
		}
	}
}

// String returns "jitter:B:C:S".
func (t ColorJitter) String() string {
	return "jitter:" + fmtArg(t.Brightness) + ":" + fmtArg(t.Contrast) + ":" + fmtArg(t.Saturation)
}

// Grayscale replaces every channel of an RGB image by its luminance with
// probability P; the image keeps its three channels. One-channel images
// are left alone.
type Grayscale struct {
	P float64
}

// Apply converts x in place with probability P.
func (t Grayscale) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	if rng.Float64() >= t.P || c != 3 {
		return
	}
	hw := h * w
	r, g, b := x[:hw], x[hw:2*hw], x[2*hw:3*hw]
	for i := range hw {
		l := lumR*r[i] + lumG*g[i] + lumB*b[i]
		r[i], g[i], b[i] = l, l, l
	}
}

// String returns "gray:P".
func (t Grayscale) String() string { return "gray:" + fmtArg(t.P) }

// GaussianNoise adds independent normal noise of standard deviation Std to
// every value and clips to [0, 1].
type GaussianNoise struct {
	Std float64
}

// Apply adds the noise in place.
func (t GaussianNoise) Apply(x []float32, _, _, _ int, rng *rand.Rand) {
	for i, v := range x {
		x[i] = clip01(v + float32(rng.NormFloat64()*t.Std))
	}
}

// String returns "noise:STD".
func (t GaussianNoise) String() string { return "noise:" + fmtArg(t.Std) }

// RandomErasing fills, with probability P, a random rectangle covering 2%
// to 33% of the image with aspect ratio in [0.3, 3.3] with uniform noise in
// [0, 1] (Zhong et al. 2017, torchvision's RandomErasing with
// value="random"; Cutout is the same idea with a fixed square).
type RandomErasing struct {
	P float64
}

// Apply erases a rectangle of x in place with probability P.
func (t RandomErasing) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	if rng.Float64() >= t.P {
		return
	}
	// The window draw of RandomResizedCrop, with erasing's ranges.
	area := float64(h * w)
	for range 10 {
		target := area * (0.02 + rng.Float64()*(0.33-0.02))
		aspect := expUniform(rng, 0.3, 3.3)
		eh := int(sqrtRound(target * aspect))
		ew := int(sqrtRound(target / aspect))
		if eh <= 0 || ew <= 0 || eh >= h || ew >= w {
			continue
		}
		top, left := rng.IntN(h-eh+1), rng.IntN(w-ew+1)
		for ch := range c {
			for y := top; y < top+eh; y++ {
				row := x[(ch*h+y)*w+left : (ch*h+y)*w+left+ew]
				for i := range row {
					row[i] = rng.Float32()
				}
			}
		}
		return
	}
}

// String returns "erase:P".
func (t RandomErasing) String() string { return "erase:" + fmtArg(t.P) }

// Normalize maps each value v of channel c to (v − Mean[c]) / Std[c]. Mean
// and Std have one entry per channel or one for all channels; it is the
// last step of a training pipeline, after the transforms that expect
// values in [0, 1].
type Normalize struct {
	Mean, Std []float32
}

// Apply normalizes x in place. It panics if Mean or Std does not fit c.
func (t Normalize) Apply(x []float32, c, h, w int, _ *rand.Rand) {
	pick := func(s []float32, ch int) float32 {
		switch len(s) {
		case 1:
			return s[0]
		case c:
			return s[ch]
		}
		panic(fmt.Sprintf("augment: Normalize has %d values for %d channels", len(s), c))
	}
	hw := h * w
	for ch := range c {
		m, inv := pick(t.Mean, ch), 1/pick(t.Std, ch)
		p := x[ch*hw : (ch+1)*hw]
		for i, v := range p {
			p[i] = (v - m) * inv
		}
	}
}

// String describes the normalization (it has no [Parse] syntax).
func (t Normalize) String() string {
	f := func(s []float32) string {
		parts := make([]string, len(s))
		for i, v := range s {
			parts[i] = fmtArg(float64(v))
		}
		return strings.Join(parts, "/")
	}
	return "normalize:" + f(t.Mean) + ":" + f(t.Std)
}

func clip01(v float32) float32 { return min(max(v, 0), 1) }
