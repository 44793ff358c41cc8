// Package robust measures how a classifier's accuracy degrades under common
// image corruptions, in the spirit of CIFAR-10-C and ImageNet-C (Hendrycks
// & Dietterich 2019, "Benchmarking Neural Network Robustness to Common
// Corruptions and Perturbations").
//
// A [Corruption] changes one C×H×W float32 image with values in [0, 1] in
// place, at a severity from 1 (mild) to 5 (strong), keeping its shape and
// range. Randomness comes only from the *rand.Rand passed in; [Evaluate]
// seeds one per image from the seed and the image's index ([ImageRNG]), so
// a run is reproducible and every severity of a corruption sees the same
// noise pattern, angle or boxes, scaled up.
//
// Severity parameters follow the published ones where they do not depend
// on image size (noise, brightness, contrast, fog, JPEG quality: the
// ImageNet-C values, which visibly degrade 28×28 and 32×32 images, where
// CIFAR-10-C's milder noise barely moves a digit classifier) and CIFAR-10-C's
// for spatial ones (blurs, pixelation), with lengths in pixels scaled by
// min(H, W)/32. Rotation and occlusion are not in ImageNet-C; their levels
// are given with each corruption.
//
// Corruptions apply to images in [0, 1], before normalization: wrap the
// model with [Normalized] when it expects normalized inputs.
package robust

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strings"
)

// Corruption is one named image corruption.
type Corruption struct {
	// Name is the corruption's name on the command line, "gaussian_noise".
	Name string
	// Apply corrupts x (C×H×W values in [0, 1]) in place at severity 1..5.
	Apply func(x []float32, c, h, w, severity int, rng *rand.Rand)
}

// all lists every corruption in the order of reports.
var all = []Corruption{
	{"gaussian_noise", gaussianNoise},
	{"shot_noise", shotNoise},
	{"defocus_blur", defocusBlur},
	{"gaussian_blur", gaussianBlur},
	{"motion_blur", motionBlur},
	{"brightness", brightness},
	{"contrast", contrast},
	{"fog", fog},
	{"jpeg", jpegCompression},
	{"pixelate", pixelate},
	{"rotate", rotate},
	{"occlusion", occlusion},
}

// All returns every corruption, in report order.
func All() []Corruption { return append([]Corruption(nil), all...) }

// Names returns the names of all corruptions, in report order.
func Names() []string {
	out := make([]string, len(all))
	for i, c := range all {
		out[i] = c.Name
	}
	return out
}

// Lookup returns the corruption called name.
func Lookup(name string) (Corruption, error) {
	for _, c := range all {
		if c.Name == name {
			return c, nil
		}
	}
	return Corruption{}, fmt.Errorf("robust: unknown corruption %q (known: %s)", name, strings.Join(Names(), ", "))
}

// ImageRNG returns the generator for image index of a run seeded with
// seed: independent of the order images are processed in.
func ImageRNG(seed uint64, index int) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15^uint64(index)))
}

// level returns the severity's entry of params (severity clamped to 1..5).
func level[T any](params [5]T, severity int) T {
	return params[min(max(severity, 1), 5)-1]
}

// clamp01 clips x to [0, 1].
func clamp01(x []float32) {
	for i, v := range x {
		x[i] = min(max(v, 0), 1)
	}
}

// scale returns the spatial scale of an h×w image relative to 32×32.
func scale(h, w int) float64 { return float64(min(h, w)) / 32 }

// gaussianNoise adds N(0, σ²) noise, σ = .08, .12, .18, .26, .38
// (ImageNet-C).
func gaussianNoise(x []float32, c, h, w, s int, rng *rand.Rand) {
	sigma := level([5]float64{.08, .12, .18, .26, .38}, s)
	for i, v := range x {
		x[i] = v + float32(rng.NormFloat64()*sigma)
	}
	clamp01(x)
}

// shotNoise replaces each value v by Poisson(v·λ)/λ, λ = 60, 25, 12, 5, 3
// photons (ImageNet-C). The counts come from one uniform draw per value by
// inverting the Poisson CDF (normal approximation above λ·v = 50), so
// every severity uses the same draws.
func shotNoise(x []float32, c, h, w, s int, rng *rand.Rand) {
	lam := level([5]float64{60, 25, 12, 5, 3}, s)
	for i, v := range x {
		u := rng.Float64()
		x[i] = float32(poissonQuantile(float64(v)*lam, u) / lam)
	}
	clamp01(x)
}

// poissonQuantile returns the smallest k with P(X ≤ k) ≥ u, X ~ Poisson(mu).
func poissonQuantile(mu, u float64) float64 {
	if mu <= 0 {
		return 0
	}
	if mu > 50 {
		return math.Max(0, math.Round(mu+math.Sqrt(mu)*normQuantile(u)))
	}
	p := math.Exp(-mu)
	cdf := p
	k := 0.0
	for cdf < u && k < 1000 {
		k++
		p *= mu / k
		cdf += p
	}
	return k
}

// normQuantile is the standard normal quantile function.
func normQuantile(u float64) float64 {
	u = math.Min(math.Max(u, 1e-12), 1-1e-12)
	return math.Sqrt2 * math.Erfinv(2*u-1)
}

// convolve filters each channel of x with the k×k kernel (odd k, weights
// summing to 1), replicating edge pixels.
func convolve(x []float32, c, h, w int, kernel []float64, k int) {
	src := append([]float32(nil), x...)
	r := k / 2
	for ch := range c {
		p := src[ch*h*w : (ch+1)*h*w]
		for y := range h {
			for xx := range w {
				var acc float64
				for dy := -r; dy <= r; dy++ {
					yy := min(max(y+dy, 0), h-1)
					for dx := -r; dx <= r; dx++ {
						acc += kernel[(dy+r)*k+dx+r] * float64(p[yy*w+min(max(xx+dx, 0), w-1)])
					}
				}
				x[(ch*h+y)*w+xx] = float32(acc)
			}
		}
	}
	clamp01(x)
}

// kernelFrom builds a normalized k×k kernel from weight(dy, dx), with
// each pixel's weight averaged over 4×4 sub-pixel samples (anti-aliasing).
func kernelFrom(k int, weight func(dy, dx float64) float64) []float64 {
	out := make([]float64, k*k)
	r := k / 2
	sum := 0.0
	for y := range k {
		for x := range k {
			var v float64
			for sy := range 4 {
				for sx := range 4 {
					v += weight(float64(y-r)+(float64(sy)+0.5)/4-0.5, float64(x-r)+(float64(sx)+0.5)/4-0.5)
				}
			}
			out[y*k+x] = v
			sum += v
		}
	}
	if sum == 0 {
		out[(k*k)/2], sum = 1, 1
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// defocusBlur convolves with an anti-aliased disk of radius 1, 1.25, 1.5,
// 2, 2.5 pixels at 32×32, scaled with the image size (CIFAR-10-C uses radii
// 0.3–1.5 followed by a Gaussian aliasing blur of σ 0.1–0.6, which together
// spread about as far).
func defocusBlur(x []float32, c, h, w, s int, rng *rand.Rand) {
	rad := level([5]float64{1, 1.25, 1.5, 2, 2.5}, s) * scale(h, w)
	k := 2*int(math.Ceil(rad)) + 1
	convolve(x, c, h, w, kernelFrom(k, func(dy, dx float64) float64 {
		if dy*dy+dx*dx <= rad*rad {
			return 1
		}
		return 0
	}), k)
}

// gaussianBlur convolves with a Gaussian of σ = .4, .6, .7, .8, 1 pixels
// at 32×32 (CIFAR-10-C), scaled with the image size.
func gaussianBlur(x []float32, c, h, w, s int, rng *rand.Rand) {
	sigma := level([5]float64{.4, .6, .7, .8, 1}, s) * scale(h, w)
	k := 2*int(math.Ceil(3*sigma)) + 1
	convolve(x, c, h, w, kernelFrom(k, func(dy, dx float64) float64 {
		return math.Exp(-(dy*dy + dx*dx) / (2 * sigma * sigma))
	}), k)
}

// motionBlur averages along a line of length 2, 3, 4, 5, 7 pixels at
// 32×32 (scaled with the image size) at a random angle, centred on the
// pixel: a camera moving during exposure.
func motionBlur(x []float32, c, h, w, s int, rng *rand.Rand) {
	length := level([5]float64{2, 3, 4, 5, 7}, s) * scale(h, w)
	theta := rng.Float64() * math.Pi
	sin, cos := math.Sincos(theta)
	k := 2*int(math.Ceil(length/2)) + 1
	convolve(x, c, h, w, kernelFrom(k, func(dy, dx float64) float64 {
		along := dx*cos + dy*sin
		across := -dx*sin + dy*cos
		if math.Abs(along) <= length/2 && math.Abs(across) <= 0.5 {
			return 1
		}
		return 0
	}), k)
}

// brightness raises the HSV value of every pixel by .1, .2, .3, .4, .5
// (ImageNet-C), keeping hue and saturation.
func brightness(x []float32, c, h, w, s int, rng *rand.Rand) {
	d := float32(level([5]float64{.1, .2, .3, .4, .5}, s))
	n := h * w
	for i := range n {
		v := float32(0)
		for ch := range c {
			v = max(v, x[ch*n+i])
		}
		nv := min(v+d, 1)
		for ch := range c {
			if v > 0 {
				x[ch*n+i] *= nv / v
			} else {
				x[ch*n+i] = nv
			}
		}
	}
	clamp01(x)
}

// contrast scales each channel's deviations from the image mean by .4, .3,
// .2, .1, .05 (ImageNet-C).
func contrast(x []float32, c, h, w, s int, rng *rand.Rand) {
	f := float32(level([5]float64{.4, .3, .2, .1, .05}, s))
	var mean float64
	for _, v := range x {
		mean += float64(v)
	}
	m := float32(mean / float64(len(x)))
	for i, v := range x {
		x[i] = (v-m)*f + m
	}
	clamp01(x)
}

// smoothField returns an h×w random field in [0, 1] made of value noise at
// several octaves (each half the cell size and decay times the
// amplitude), like ImageNet-C's plasma fractal.
func smoothField(h, w int, decay float64, rng *rand.Rand) []float64 {
	field := make([]float64, h*w)
	amp := 1.0
	for cell := max(h, w) / 2; cell >= 2; cell /= 2 {
		gh, gw := h/cell+2, w/cell+2
		grid := make([]float64, gh*gw)
		for i := range grid {
			grid[i] = rng.Float64()
		}
		for y := range h {
			fy := float64(y) / float64(cell)
			y0 := int(fy)
			ty := fy - float64(y0)
			for xx := range w {
				fx := float64(xx) / float64(cell)
				x0 := int(fx)
				tx := fx - float64(x0)
				top := grid[y0*gw+x0]*(1-tx) + grid[y0*gw+x0+1]*tx
				bot := grid[(y0+1)*gw+x0]*(1-tx) + grid[(y0+1)*gw+x0+1]*tx
				field[y*w+xx] += amp * (top*(1-ty) + bot*ty)
			}
		}
		amp /= decay
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range field {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	for i, v := range field {
		if hi > lo {
			field[i] = (v - lo) / (hi - lo)
		}
	}
	return field
}

// fog adds a smooth random haze of strength t = .2, .5, .75, 1, 1.5 and
// rescales, x' = (x + t·f)·max(x)/(max(x) + t) (ImageNet-C's fog, with
// t and a roughness decay of 2).
func fog(x []float32, c, h, w, s int, rng *rand.Rand) {
	t := level([5]float64{.2, .5, .75, 1, 1.5}, s)
	f := smoothField(h, w, 2, rng)
	hi := float32(0)
	for _, v := range x {
		hi = max(hi, v)
	}
	k := float64(hi) / (float64(hi) + t)
	n := h * w
	for ch := range c {
		for i := range n {
			j := ch*n + i
			x[j] = float32((float64(x[j]) + t*f[i]) * k)
		}
	}
	clamp01(x)
}

// jpegCompression encodes the image as JPEG with quality 25, 18, 15, 10, 7
// (ImageNet-C) and decodes it. Images with other than 1 or 3 channels are
// compressed channel by channel as grayscale.
func jpegCompression(x []float32, c, h, w, s int, rng *rand.Rand) {
	q := level([5]int{25, 18, 15, 10, 7}, s)
	n := h * w
	to8 := func(v float32) uint8 { return uint8(min(max(v, 0), 1)*255 + 0.5) }
	if c == 3 {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range n {
			img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = to8(x[i]), to8(x[n+i]), to8(x[2*n+i]), 255
		}
		out := roundTrip(img, q)
		for i := range n {
			r, g, b, _ := out.At(i%w, i/w).RGBA()
			x[i], x[n+i], x[2*n+i] = float32(r)/65535, float32(g)/65535, float32(b)/65535
		}
		return
	}
	for ch := range c {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for i := range n {
			img.Pix[i] = to8(x[ch*n+i])
		}
		out := roundTrip(img, q)
		for i := range n {
			x[ch*n+i] = float32(color.GrayModel.Convert(out.At(i%w, i/w)).(color.Gray).Y) / 255
		}
	}
}

// roundTrip encodes img as JPEG at quality q and decodes it.
func roundTrip(img image.Image, q int) image.Image {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		panic("robust: jpeg encode: " + err.Error())
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		panic("robust: jpeg decode: " + err.Error())
	}
	return out
}

// pixelate averages blocks down to a fraction .9, .8, .7, .6, .5 of the
// size and enlarges back with nearest neighbours. CIFAR-10-C uses .95–.65;
// at 28 pixels its finer steps (27, 25, 24 pixels) alias unevenly, so the
// steps here are wider.
func pixelate(x []float32, c, h, w, s int, rng *rand.Rand) {
	f := level([5]float64{.9, .8, .7, .6, .5}, s)
	sh, sw := max(1, int(math.Round(float64(h)*f))), max(1, int(math.Round(float64(w)*f)))
	small := make([]float64, sh*sw)
	cnt := make([]float64, sh*sw)
	for ch := range c {
		clear(small)
		clear(cnt)
		p := x[ch*h*w : (ch+1)*h*w]
		for y := range h {
			for xx := range w {
				j := cell(y, h, sh)*sw + cell(xx, w, sw)
				small[j] += float64(p[y*w+xx])
				cnt[j]++
			}
		}
		for y := range h {
			for xx := range w {
				j := cell(y, h, sh)*sw + cell(xx, w, sw)
				p[y*w+xx] = float32(small[j] / cnt[j])
			}
		}
	}
}

// cell maps pixel i of n to its cell of m by its centre.
func cell(i, n, m int) int { return min(int((float64(i)+0.5)*float64(m)/float64(n)), m-1) }

// rotate turns the image about its centre by 6, 12, 18, 24, 30 degrees in
// a random direction, sampling bilinearly; uncovered corners take each
// channel's mean border value.
func rotate(x []float32, c, h, w, s int, rng *rand.Rand) {
	deg := level([5]float64{6, 12, 18, 24, 30}, s)
	if rng.IntN(2) == 0 {
		deg = -deg
	}
	sin, cos := math.Sincos(deg * math.Pi / 180)
	src := append([]float32(nil), x...)
	cy, cx := float64(h-1)/2, float64(w-1)/2
	for ch := range c {
		p := src[ch*h*w : (ch+1)*h*w]
		var border float64
		for i := range w {
			border += float64(p[i] + p[(h-1)*w+i])
		}
		for i := range h {
			border += float64(p[i*w] + p[i*w+w-1])
		}
		fill := float32(border / float64(2*(h+w)))
		at := func(y, xx int) float32 {
			if y < 0 || y >= h || xx < 0 || xx >= w {
				return fill
			}
			return p[y*w+xx]
		}
		for y := range h {
			for xx := range w {
				dy, dx := float64(y)-cy, float64(xx)-cx
				sx := cos*dx + sin*dy + cx
				sy := -sin*dx + cos*dy + cy
				y0, x0 := int(math.Floor(sy)), int(math.Floor(sx))
				fy, fx := float32(sy-float64(y0)), float32(sx-float64(x0))
				top := at(y0, x0)*(1-fx) + at(y0, x0+1)*fx
				bot := at(y0+1, x0)*(1-fx) + at(y0+1, x0+1)*fx
				x[(ch*h+y)*w+xx] = top*(1-fy) + bot*fy
			}
		}
	}
	clamp01(x)
}

// occlusion paints 1, 2, 3, 4, 5 mid-gray (0.5) squares of side 22% of
// min(H, W) at random positions; severity s paints the boxes of s − 1 and
// one more.
func occlusion(x []float32, c, h, w, s int, rng *rand.Rand) {
	side := max(1, int(math.Round(0.22*float64(min(h, w)))))
	for range min(max(s, 1), 5) {
		top, left := rng.IntN(h-side+1), rng.IntN(w-side+1)
		for ch := range c {
			for y := top; y < top+side; y++ {
				for xx := left; xx < left+side; xx++ {
					x[(ch*h+y)*w+xx] = 0.5
				}
			}
		}
	}
}
