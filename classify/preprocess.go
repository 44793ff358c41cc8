package classify

import (
	"fmt"
	"image"
	"math"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
)

// Invert says when an image's pixels are inverted (v → 1 − v) before
// normalization. MNIST-style models see light figures on a dark ground; a
// scanned or drawn digit is dark on light.
type Invert string

// The invert modes; the zero value "" is [InvertAuto].
const (
	// InvertAuto inverts the image of a one-channel model when the mean of
	// its border pixels is over 0.5 (a dark figure on a light ground).
	InvertAuto Invert = "auto"
	// InvertAlways inverts every image.
	InvertAlways Invert = "yes"
	// InvertNever inverts none.
	InvertNever Invert = "no"
)

// Preprocessing is a model's recorded input preparation: images become C×H×W
// pixels in [0, 1] (grayscale or RGB, resized as Resize says), are
// inverted as Invert says, and are normalized with Mean and Std, as the
// model was trained. The zero values of Resize and Invert mean
// [data.ResizeCrop] and [InvertAuto]. A Preprocessing is a value: its
// methods change only the slices they are given, so one may be used from
// any number of goroutines, and a copy with another Invert serves one
// request.
type Preprocessing struct {
	C, H, W int // the model's input (C, H, W)
	// Mean and Std normalize the [0, 1] pixels, (v − mean) / std per
	// channel (one value: for every channel); none when empty.
	Mean, Std []float32
	Resize    string // data.ResizeCrop ("" too) or data.ResizeStretch
	Invert    Invert
}

// NewPreprocessing returns the preprocessing meta records, with the resize
// and invert modes of opt. It checks the input shape, the normalization
// and the modes, and returns an error saying which is wrong.
func NewPreprocessing(meta models.Meta, opt Options) (Preprocessing, error) {
	p := Preprocessing{C: meta.InputShape[0], H: meta.InputShape[1], W: meta.InputShape[2],
		Mean: meta.Mean, Std: meta.Std, Resize: opt.Resize, Invert: opt.Invert}
	if p.C < 1 || p.H < 1 || p.W < 1 {
		return p, fmt.Errorf("classify: the model has no input shape (C, H, W): %v", meta.InputShape)
	}
	if len(p.Mean) != len(p.Std) || len(p.Mean) > 1 && len(p.Mean) != p.C {
		return p, fmt.Errorf("classify: normalization has %d means and %d stds for %d channels", len(p.Mean), len(p.Std), p.C)
	}
	for i, s := range p.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) || math.IsNaN(float64(p.Mean[i])) || math.IsInf(float64(p.Mean[i]), 0) {
			return p, fmt.Errorf("classify: normalization std %v, mean %v: each std must be positive and both finite", p.Std, p.Mean)
		}
	}
	switch p.Resize {
	case "":
		p.Resize = data.ResizeCrop
	case data.ResizeCrop, data.ResizeStretch:
	default:
		return p, fmt.Errorf("classify: resize mode %q: want %q or %q", p.Resize, data.ResizeCrop, data.ResizeStretch)
	}
	switch p.Invert {
	case "":
		p.Invert = InvertAuto
	case InvertAuto, InvertAlways, InvertNever:
	default:
		return p, fmt.Errorf("classify: invert mode %q: want %q, %q or %q", p.Invert, InvertAuto, InvertAlways, InvertNever)
	}
	return p, nil
}

// Size returns C·H·W, the values of one input.
func (p Preprocessing) Size() int { return p.C * p.H * p.W }

// checkImages returns an error unless the model takes images: grayscale
// (C = 1) or RGB (C = 3).
func (p Preprocessing) checkImages() error {
	if p.C != 1 && p.C != 3 {
		return fmt.Errorf("classify: the model takes %d-channel input; images convert to grayscale (1) or RGB (3) only", p.C)
	}
	return nil
}

// Image writes img into dst (C·H·W values) as the model's input: pixels
// converted and resized ([data.ImageInto]), then [Preprocessing.Prepare]d.
// It reports whether the image was inverted. The model must take 1 or 3
// channels.
func (p Preprocessing) Image(img image.Image, dst []float32) (inverted bool, err error) {
	if err := p.checkImages(); err != nil {
		return false, err
	}
	data.ImageInto(img, p.C, p.H, p.W, p.Resize, dst)
	return p.Prepare(dst[:p.Size()]), nil
}

// ReadFile reads an image file (PNG, JPEG, GIF, BMP, WebP, PPM or PGM; its
// header is checked before decoding, [data.ReadImageFile]) as the model's
// input: C·H·W values, [Preprocessing.Prepare]d, the same values as
// [Preprocessing.Image] makes of the decoded image. It reports whether the
// image was inverted. Errors name path.
func (p Preprocessing) ReadFile(path string) (x []float32, inverted bool, err error) {
	if err := p.checkImages(); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	x, err = data.ReadImageFile(path, p.C, p.H, p.W, p.Resize)
	if err != nil {
		return nil, false, err
	}
	return x, p.Prepare(x), nil
}

// Prepare turns the C×H×W pixels x in [0, 1] of one image into the model's
// input, in place: inverted as p.Invert says ([Preprocessing.InvertPixels]),
// then normalized. It reports whether it inverted them.
func (p Preprocessing) Prepare(x []float32) (inverted bool) {
	inverted = p.InvertPixels(x)
	p.Normalize(x)
	return inverted
}

// InvertPixels inverts the C×H×W pixels x in [0, 1] of one image in place
// (v → 1 − v) when p.Invert says so: always, never, or, for
// [InvertAuto], when the model has one channel and the mean of the image's
// border ([data.BorderMean]) is over 0.5. It reports whether it inverted.
func (p Preprocessing) InvertPixels(x []float32) bool {
	switch p.Invert {
	case InvertNever:
		return false
	case InvertAlways:
	default: // InvertAuto
		if p.C != 1 || data.BorderMean(x, p.C, p.H, p.W) <= 0.5 {
			return false
		}
	}
	for i := range x {
		x[i] = 1 - x[i]
	}
	return true
}

// Normalize applies Mean and Std in place to x, any number of C×H×W
// inputs one after another; with no Mean it does nothing. It panics if
// len(x) is not a multiple of C·H·W.
func (p Preprocessing) Normalize(x []float32) {
	if len(x)%p.Size() != 0 {
		panic(fmt.Sprintf("classify: Normalize of %d values: not a multiple of %d×%d×%d", len(x), p.C, p.H, p.W))
	}
	if len(p.Mean) == 0 {
		return
	}
	ds := &data.Dataset{X: x, Y: make([]int, len(x)/p.Size()), C: p.C, H: p.H, W: p.W}
	ds.Normalize(p.Mean, p.Std)
}
