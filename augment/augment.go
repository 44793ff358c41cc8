// Package augment holds Fovea's image transforms for data augmentation:
// random crops with padding, random resized crops, flips, rotations, colour
// jitter, random grayscale, Gaussian noise, random erasing, and per-channel
// normalization.
//
// Every transform works in place on one example of a dataset — C×H×W
// float32 values in CHW order, pixel values in [0, 1] before [Normalize] —
// and keeps its shape, so a [Pipeline] plugs into [data.Loader.Transform]
// and runs on the loader's worker goroutines. Randomness comes only from
// the *rand.Rand passed in, which the loader seeds per example: the same
// seed gives the same augmented epoch whatever the number of workers.
//
// Pipelines are written as text for the command line, a comma-separated
// list of transforms with colon-separated arguments, or a preset name:
//
//	crop:4,hflip              pad 4, random 32×32 crop, horizontal flip
//	resized-crop:0.35,hflip,jitter:0.2
//	cifar                     the preset for crop:4,hflip
//
// See [Parse] for the syntax and [Presets] for the named pipelines.
//
// # Error handling
//
// [Parse] returns an error naming the item at fault. Apply panics with an
// "augment: " message if the slice does not hold C×H×W values (a
// programmer error).
package augment

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/fovea-ml/fovea/data"
)

// Transform changes one C×H×W image in place.
type Transform interface {
	// Apply transforms x, which holds c×h×w values in CHW order, drawing
	// any randomness from rng.
	Apply(x []float32, c, h, w int, rng *rand.Rand)
	// String describes the transform, in [Parse] syntax where it has one.
	String() string
}

// IndexedTransform is a Transform whose result also depends on which
// example it transforms and in which epoch ([AltFlip]); a [Pipeline]
// holding one is run by a loader through [Pipeline.FuncAt].
type IndexedTransform interface {
	Transform
	ApplyAt(x []float32, c, h, w int, rng *rand.Rand, ex data.ExampleInfo)
}

// Pipeline applies its transforms in order.
type Pipeline []Transform

// Apply runs every transform of p on x.
func (p Pipeline) Apply(x []float32, c, h, w int, rng *rand.Rand) {
	if len(x) != c*h*w {
		panic(fmt.Sprintf("augment: image has %d values, want %d×%d×%d", len(x), c, h, w))
	}
	for _, t := range p {
		t.Apply(x, c, h, w, rng)
	}
}

// Check reports whether p can transform images of h×w pixels: an error
// naming the transform that cannot (a translation by as much as the
// image's size, which reflection cannot fill).
func (p Pipeline) Check(h, w int) error {
	for _, t := range p {
		if tr, ok := t.(RandomTranslate); ok && (tr.Pad >= h || tr.Pad >= w) {
			return fmt.Errorf("augment: %s on %dx%d images: the padding must be less than the size", tr, h, w)
		}
	}
	return nil
}

// String lists the transforms in [Parse] syntax ("none" when empty).
func (p Pipeline) String() string {
	if len(p) == 0 {
		return "none"
	}
	parts := make([]string, len(p))
	for i, t := range p {
		parts[i] = t.String()
	}
	return strings.Join(parts, ",")
}

// Indexed reports whether a transform of p needs the example and epoch
// ([IndexedTransform]): then give a loader [Pipeline.FuncAt].
func (p Pipeline) Indexed() bool {
	for _, t := range p {
		if _, ok := t.(IndexedTransform); ok {
			return true
		}
	}
	return false
}

// FuncAt returns p as a [data.Loader] TransformAt for images of shape (c,
// h, w): the indexed transforms get the example, the others its rng.
func (p Pipeline) FuncAt(c, h, w int) func(x []float32, rng *rand.Rand, ex data.ExampleInfo) {
	return func(x []float32, rng *rand.Rand, ex data.ExampleInfo) {
		if len(x) != c*h*w {
			panic(fmt.Sprintf("augment: image has %d values, want %d×%d×%d", len(x), c, h, w))
		}
		for _, t := range p {
			if it, ok := t.(IndexedTransform); ok {
				it.ApplyAt(x, c, h, w, rng, ex)
			} else {
				t.Apply(x, c, h, w, rng)
			}
		}
	}
}

// Func returns p as a [data.Loader] Transform for images of shape (c, h, w).
func (p Pipeline) Func(c, h, w int) func(x []float32, rng *rand.Rand) {
	return func(x []float32, rng *rand.Rand) { p.Apply(x, c, h, w, rng) }
}

// Presets are the named pipelines [Parse] accepts, for the kinds of data
// Fovea's users bring.
var Presets = map[string]string{
	"none":    "",
	"flip":    "hflip",
	"cifar":   "crop:4,hflip",                       // small natural images
	"strong":  "crop:4,hflip,jitter:0.2,erase:0.25", // small natural images, longer training
	"digits":  "rotate:10,crop:2",                   // handwriting: no flips
	"photo":   "resized-crop:0.35,hflip,jitter:0.3", // photographs resized to a fixed size
	"medical": "rotate:10,crop:2,hflip,jitter:0.1:0.1:0",
	"signs":   "rotate:10,crop:2,jitter:0.3:0.3:0.3", // traffic signs: flips change meaning
}

// PresetNames lists the presets in sorted order.
func PresetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Parse reads a pipeline: a preset name (see [Presets]) or a
// comma-separated list of these items (optional arguments in brackets,
// probabilities in [0, 1]):
//
//	crop[:PAD]                 zero-pad PAD pixels (default 4) on each side, crop back at random
//	translate[:PAD]            the same with reflection padding (default 2; PAD < the image size)
//	hflip[:P] / vflip[:P]      flip left-right / top-bottom with probability P (default 0.5)
//	altflip                    alternating flip: each image mirrored in every other epoch, from a
//	                           random first one (airbench's derandomized flip; needs FuncAt)
//	rotate:DEG                 rotate by a uniform angle in [-DEG, DEG] degrees, zero fill
//	resized-crop[:MIN[:MAX]]   crop a random area fraction in [MIN, MAX] (default 0.08, 1) and
//	                           aspect ratio in [3/4, 4/3], resize back to the image size
//	jitter:B[:C[:S]]           brightness, contrast, saturation factors in [1-x, 1+x]
//	                           (one value sets all three)
//	gray[:P]                   grayscale with probability P (default 0.1), channels kept
//	noise:STD                  add Gaussian noise of standard deviation STD, clip to [0, 1]
//	erase[:P]                  with probability P (default 0.5) fill a random rectangle of
//	                           2–33% of the area with uniform noise (random erasing)
//
// An empty string and "none" give an empty pipeline.
func Parse(s string) (Pipeline, error) {
	s = strings.TrimSpace(s)
	if p, ok := Presets[s]; ok {
		s = p
	}
	if s == "" {
		return nil, nil
	}
	var p Pipeline
	for item := range strings.SplitSeq(s, ",") {
		t, err := parseItem(strings.TrimSpace(item))
		if err != nil {
			return nil, fmt.Errorf("augment: %q: %w", item, err)
		}
		p = append(p, t)
	}
	return p, nil
}

func parseItem(item string) (Transform, error) {
	name, rest, _ := strings.Cut(item, ":")
	var args []float64
	if rest != "" {
		for a := range strings.SplitSeq(rest, ":") {
			v, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
			if err != nil {
				return nil, fmt.Errorf("argument %q is not a number", a)
			}
			args = append(args, v)
		}
	}
	arg := func(i int, def float64) float64 {
		if i < len(args) {
			return args[i]
		}
		return def
	}
	maxArgs := func(n int) error {
		if len(args) > n {
			return fmt.Errorf("%s takes at most %d argument(s), got %d", name, n, len(args))
		}
		return nil
	}
	prob := func(def float64) (float64, error) {
		if err := maxArgs(1); err != nil {
			return 0, err
		}
		p := arg(0, def)
		if !(p >= 0 && p <= 1) {
			return 0, fmt.Errorf("probability %g must be in [0, 1]", p)
		}
		return p, nil
	}
	switch name {
	case "crop":
		if err := maxArgs(1); err != nil {
			return nil, err
		}
		pad := arg(0, 4)
		if pad != float64(int(pad)) || pad < 0 || pad > 1024 {
			return nil, fmt.Errorf("padding %g must be a whole number of pixels in [0, 1024]", pad)
		}
		return RandomCrop{Pad: int(pad)}, nil
	case "altflip":
		if err := maxArgs(0); err != nil {
			return nil, err
		}
		return AltFlip{}, nil
	case "translate":
		if err := maxArgs(1); err != nil {
			return nil, err
		}
		pad := arg(0, 2)
		if pad != float64(int(pad)) || pad < 1 || pad > 1024 {
			return nil, fmt.Errorf("padding %g must be a whole number of pixels in [1, 1024] (and less than the image size)", pad)
		}
		return RandomTranslate{Pad: int(pad)}, nil
	case "hflip", "vflip":
		p, err := prob(0.5)
		if err != nil {
			return nil, err
		}
		return Flip{Vertical: name == "vflip", P: p}, nil
	case "rotate":
		if err := maxArgs(1); err != nil {
			return nil, err
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("rotate needs the largest angle in degrees, e.g. rotate:15")
		}
		if !(args[0] > 0 && args[0] <= 180) {
			return nil, fmt.Errorf("angle %g must be in (0, 180] degrees", args[0])
		}
		return Rotate{Degrees: args[0]}, nil
	case "resized-crop":
		if err := maxArgs(2); err != nil {
			return nil, err
		}
		lo, hi := arg(0, 0.08), arg(1, 1)
		if !(lo > 0 && lo <= hi && hi <= 1) {
			return nil, fmt.Errorf("area fractions %g, %g must satisfy 0 < MIN ≤ MAX ≤ 1", lo, hi)
		}
		return RandomResizedCrop{MinScale: lo, MaxScale: hi}, nil
	case "jitter":
		if err := maxArgs(3); err != nil {
			return nil, err
		}
		if len(args) == 0 {
			return nil, fmt.Errorf("jitter needs a strength, e.g. jitter:0.2")
		}
		b := args[0]
		j := ColorJitter{Brightness: b, Contrast: arg(1, b), Saturation: arg(2, b)}
		for _, v := range []float64{j.Brightness, j.Contrast, j.Saturation} {
			if !(v >= 0 && v <= 1) {
				return nil, fmt.Errorf("strength %g must be in [0, 1]", v)
			}
		}
		return j, nil
	case "gray":
		p, err := prob(0.1)
		if err != nil {
			return nil, err
		}
		return Grayscale{P: p}, nil
	case "noise":
		if err := maxArgs(1); err != nil {
			return nil, err
		}
		if len(args) == 0 || !(args[0] > 0 && args[0] <= 1) {
			return nil, fmt.Errorf("noise needs a standard deviation in (0, 1], e.g. noise:0.05")
		}
		return GaussianNoise{Std: args[0]}, nil
	case "erase":
		p, err := prob(0.5)
		if err != nil {
			return nil, err
		}
		return RandomErasing{P: p}, nil
	}
	return nil, fmt.Errorf("unknown transform %q (known: crop, translate, hflip, altflip, vflip, rotate, resized-crop, jitter, gray, noise, erase; presets: %s)",
		name, strings.Join(PresetNames(), ", "))
}

// fmtArg formats a number argument for String.
func fmtArg(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// scratch recycles the temporary image copies of the geometric transforms.
var scratch = sync.Pool{New: func() any { return new([]float32) }}

// getScratch returns a pooled slice holding a copy of x.
func getScratch(x []float32) *[]float32 {
	p := scratch.Get().(*[]float32)
	if cap(*p) < len(x) {
		*p = make([]float32, len(x))
	}
	*p = (*p)[:len(x)]
	copy(*p, x)
	return p
}
