package augment

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/data"
)

// RandomCrop pads the image with Pad zero pixels on every side and crops an
// H×W window at a uniformly random offset: a random shift by up to Pad
// pixels in each direction, the standard CIFAR augmentation.
type RandomCrop struct {
	Pad int
}

// Apply shifts x by a random (dy, dx) in [-Pad, Pad]², filling with zeros.
//
//	out[c, y, x] = in[c, y+dy, x+dx]   (0 outside the image)
func (t RandomCrop) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	if t.Pad <= 0 {
		return
	}
	dy := rng.IntN(2*t.Pad+1) - t.Pad
	dx := rng.IntN(2*t.Pad+1) - t.Pad
	if dy == 0 && dx == 0 {
		return
	}
	src := getScratch(x)
	defer scratch.Put(src)
	s := *src
	clear(x)
	// Output columns [x0, x1) read input columns [x0+dx, x1+dx).
	x0, x1 := max(0, -dx), min(w, w-dx)
	for ch := range c {
		for y := max(0, -dy); y < min(h, h-dy); y++ {
			o := (ch*h + y) * w
			i := (ch*h + y + dy) * w
			copy(x[o+x0:o+x1], s[i+x0+dx:i+x1+dx])
		}
	}
}

// String returns "crop:PAD".
func (t RandomCrop) String() string { return "crop:" + fmtArg(float64(t.Pad)) }

// RandomTranslate shifts the image by a uniformly random (dy, dx) in
// [-Pad, Pad]², filling the pixels moved in by reflection about the edge
// (without repeating it, PyTorch's F.pad "reflect"): airbench's random
// crop of reflect-padded images. Pad must be less than H and W.
//
//	out[c, y, x] = in[c, r(y+dy), r(x+dx)],  r(-i) = i, r(H-1+i) = H-1-i
type RandomTranslate struct {
	Pad int
}

// Apply shifts x in place.
func (t RandomTranslate) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	if t.Pad <= 0 {
		return
	}
	if t.Pad >= h || t.Pad >= w {
		panic(fmt.Sprintf("augment: translate:%d of a %dx%d image: the padding must be less than the size", t.Pad, h, w))
	}
	dy := rng.IntN(2*t.Pad+1) - t.Pad
	dx := rng.IntN(2*t.Pad+1) - t.Pad
	Shift(x, c, h, w, dy, dx)
}

// Shift moves the c planes of x (h×w each) in place so that
//
//	out[c, y, x] = in[c, r(y+dy), r(x+dx)]
//
// with r the reflection about the edges (PyTorch's "reflect" padding):
// RandomTranslate's shift, and the translated views of test-time
// augmentation. |dy| < h and |dx| < w.
func Shift(x []float32, c, h, w, dy, dx int) {
	if dy == 0 && dx == 0 {
		return
	}
	if max(dy, -dy) >= h || max(dx, -dx) >= w {
		panic(fmt.Sprintf("augment: Shift by (%d, %d) of a %dx%d image", dy, dx, h, w))
	}
	src := getScratch(x)
	defer scratch.Put(src)
	s := *src
	// Columns [x0, x1) of a row read the source row at x+dx in one copy;
	// the |dx| columns outside come from reflect.
	x0, x1 := max(0, -dx), min(w, w-dx)
	for ch := range c {
		in, out := s[ch*h*w:(ch+1)*h*w], x[ch*h*w:(ch+1)*h*w]
		for y := range h {
			row, o := in[reflect(y+dy, h)*w:][:w], out[y*w:][:w]
			copy(o[x0:x1], row[x0+dx:x1+dx])
			for xx := range x0 {
				o[xx] = row[reflect(xx+dx, w)]
			}
			for xx := x1; xx < w; xx++ {
				o[xx] = row[reflect(xx+dx, w)]
			}
		}
	}
}

// reflect maps index i of a line of n pixels padded by reflection (less
// than n on each side) to the pixel it shows.
func reflect(i, n int) int {
	switch {
	case i < 0:
		return -i
	case i >= n:
		return 2*(n-1) - i
	}
	return i
}

// String returns "translate:PAD".
func (t RandomTranslate) String() string { return "translate:" + fmtArg(float64(t.Pad)) }

// Flip mirrors the image left-right (or top-bottom when Vertical) with
// probability P.
type Flip struct {
	Vertical bool
	P        float64
}

// Apply flips x in place with probability P.
func (t Flip) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	if rng.Float64() >= t.P {
		return
	}
	mirror(x, c, h, w, t.Vertical)
}

// mirror flips the c planes of x left-right, or top-bottom if vertical.
func mirror(x []float32, c, h, w int, vertical bool) {
	for ch := range c {
		plane := x[ch*h*w : (ch+1)*h*w]
		if vertical {
			for y := range h / 2 {
				a, b := plane[y*w:(y+1)*w], plane[(h-1-y)*w:(h-y)*w]
				for i := range a {
					a[i], b[i] = b[i], a[i]
				}
			}
			continue
		}
		for y := range h {
			row := plane[y*w : (y+1)*w]
			for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
				row[i], row[j] = row[j], row[i]
			}
		}
	}
}

// AltFlip is airbench's derandomized ("alternating") horizontal flip:
// each image has a fair random bit of its own, fixed for the run (drawn
// from the loader's seed and the image's index), and is mirrored in epoch
// e when that bit differs from the parity of e. Over any two consecutive
// epochs every image is seen once mirrored and once not, where random
// flips leave a quarter of the images unflipped or flipped twice.
//
// It needs to know the example and epoch ([IndexedTransform]); through
// Apply alone, without them, it flips with probability ½.
type AltFlip struct{}

// Apply mirrors x with probability ½ (no example to pin the bit to).
func (AltFlip) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	Flip{P: 0.5}.Apply(x, c, h, w, rng)
}

// ApplyAt mirrors x when the example's bit differs from the epoch's
// parity.
func (AltFlip) ApplyAt(x []float32, c, h, w int, _ *rand.Rand, ex data.ExampleInfo) {
	if altBit(ex.Seed, ex.Index) != ex.Epoch%2 {
		mirror(x, c, h, w, false)
	}
}

// altBit is example index's bit for seed: the low bit of a SplitMix64
// hash.
func altBit(seed uint64, index int) int {
	z := seed ^ uint64(index)*0x9e3779b97f4a7c15 ^ 0xa0761d6478bd642f
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return int((z ^ z>>31) & 1)
}

// String returns "altflip".
func (AltFlip) String() string { return "altflip" }

// String returns "hflip:P" or "vflip:P".
func (t Flip) String() string {
	if t.Vertical {
		return "vflip:" + fmtArg(t.P)
	}
	return "hflip:" + fmtArg(t.P)
}

// Rotate turns the image about its centre by a uniformly random angle in
// [-Degrees, Degrees], sampling bilinearly and filling uncovered pixels
// with zeros.
type Rotate struct {
	Degrees float64
}

// Apply rotates x in place.
func (t Rotate) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	rotate(x, c, h, w, (2*rng.Float64()-1)*t.Degrees*math.Pi/180)
}

// rotate turns x about its centre by theta radians (counter-clockwise on
// screen, y pointing down).
func rotate(x []float32, c, h, w int, theta float64) {
	sin, cos := math.Sincos(theta)
	src := getScratch(x)
	defer scratch.Put(src)
	s := *src
	cy, cx := float64(h-1)/2, float64(w-1)/2
	for y := range h {
		for xo := range w {
			// Inverse rotation of the output pixel gives its source.
			dy, dx := float64(y)-cy, float64(xo)-cx
			sx := cos*dx + sin*dy + cx
			sy := -sin*dx + cos*dy + cy
			for ch := range c {
				x[(ch*h+y)*w+xo] = bilinear(s[ch*h*w:(ch+1)*h*w], h, w, sy, sx)
			}
		}
	}
}

// String returns "rotate:DEG".
func (t Rotate) String() string { return "rotate:" + fmtArg(t.Degrees) }

// RandomResizedCrop crops a window covering a random fraction in
// [MinScale, MaxScale] of the image area with a random aspect ratio in
// [3/4, 4/3] (log-uniform), and resizes it back to the full image size
// with bilinear interpolation: torchvision's RandomResizedCrop on an image
// that already has the output size.
type RandomResizedCrop struct {
	MinScale, MaxScale float64
}

// Apply crops and resizes x in place.
func (t RandomResizedCrop) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	top, left, ch, cw := t.window(h, w, rng)
	if ch == h && cw == w {
		return
	}
	src := getScratch(x)
	defer scratch.Put(src)
	s := *src
	sy, sx := float64(ch)/float64(h), float64(cw)/float64(w)
	for y := range h {
		fy := float64(top) + (float64(y)+0.5)*sy - 0.5
		for xo := range w {
			fx := float64(left) + (float64(xo)+0.5)*sx - 0.5
			// Clamp to the window so its border pixels are repeated, as
			// resizing the cropped image would.
			fy, fx := min(max(fy, float64(top)), float64(top+ch-1)), min(max(fx, float64(left)), float64(left+cw-1))
			for k := range c {
				x[(k*h+y)*w+xo] = bilinear(s[k*h*w:(k+1)*h*w], h, w, fy, fx)
			}
		}
	}
}

// window draws the crop (top, left, height, width) as torchvision does:
// ten tries at a random area and aspect ratio, else the central crop.
func (t RandomResizedCrop) window(h, w int, rng *rand.Rand) (top, left, ch, cw int) {
	area := float64(h * w)
	for range 10 {
		target := area * (t.MinScale + rng.Float64()*(t.MaxScale-t.MinScale))
		aspect := expUniform(rng, 3.0/4, 4.0/3)
		cw = int(sqrtRound(target * aspect))
		ch = int(sqrtRound(target / aspect))
		if cw > 0 && ch > 0 && cw <= w && ch <= h {
			return rng.IntN(h - ch + 1), rng.IntN(w - cw + 1), ch, cw
		}
	}
	return 0, 0, h, w
}

// String returns "resized-crop:MIN:MAX".
func (t RandomResizedCrop) String() string {
	return "resized-crop:" + fmtArg(t.MinScale) + ":" + fmtArg(t.MaxScale)
}

// bilinear samples the h×w plane p at (y, x), reading pixels outside the
// plane as zero (zero padding).
func bilinear(p []float32, h, w int, y, x float64) float32 {
	y0f, x0f := math.Floor(y), math.Floor(x)
	y0, x0 := int(y0f), int(x0f)
	fy, fx := float32(y-y0f), float32(x-x0f)
	at := func(yy, xx int) float32 {
		if yy < 0 || yy >= h || xx < 0 || xx >= w {
			return 0
		}
		return p[yy*w+xx]
	}
	top := at(y0, x0)*(1-fx) + at(y0, x0+1)*fx
	bot := at(y0+1, x0)*(1-fx) + at(y0+1, x0+1)*fx
	return top*(1-fy) + bot*fy
}

// expUniform draws from [lo, hi] log-uniformly.
func expUniform(rng *rand.Rand, lo, hi float64) float64 {
	a, b := math.Log(lo), math.Log(hi)
	return math.Exp(a + rng.Float64()*(b-a))
}

// sqrtRound is math.Round(math.Sqrt(v)).
func sqrtRound(v float64) float64 { return math.Round(math.Sqrt(v)) }
