package augment

import (
	"github.com/fovea-ml/fovea/data"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// ramp returns a c×h×w image whose values are distinct and in [0, 1].
func ramp(c, h, w int) []float32 {
	x := make([]float32, c*h*w)
	for i := range x {
		x[i] = float32(i+1) / float32(len(x)+1)
	}
	return x
}

func at(x []float32, h, w, c, y, xx int) float32 {
	if y < 0 || y >= h || xx < 0 || xx >= w {
		return 0
	}
	return x[(c*h+y)*w+xx]
}

func TestParsePresetsAndRoundTrip(t *testing.T) {
	for _, name := range PresetNames() {
		p, err := Parse(name)
		if err != nil {
			t.Fatalf("preset %s: %v", name, err)
		}
		again, err := Parse(p.String())
		if err != nil || again.String() != p.String() {
			t.Errorf("preset %s: String %q does not parse back (%v, %q)", name, p.String(), err, again.String())
		}
	}
	p, err := Parse(" crop:2, hflip, vflip:0.25, rotate:15, resized-crop:0.5, jitter:0.1:0.2:0.3, gray, noise:0.05, erase ")
	if err != nil {
		t.Fatal(err)
	}
	want := "crop:2,hflip:0.5,vflip:0.25,rotate:15,resized-crop:0.5:1,jitter:0.1:0.2:0.3,gray:0.1,noise:0.05,erase:0.5"
	if p.String() != want {
		t.Errorf("parsed %q, want %q", p.String(), want)
	}
	if p, err := Parse("none"); err != nil || len(p) != 0 || p.String() != "none" {
		t.Errorf(`Parse("none") = %v, %v`, p, err)
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"flipp":                `unknown transform "flipp"`,
		"crop:x":               `argument "x" is not a number`,
		"crop:1.5":             "whole number",
		"crop:-1":              "whole number",
		"hflip:2":              "probability 2",
		"rotate":               "needs the largest angle",
		"rotate:0":             "must be in (0, 180]",
		"resized-crop:0.5:0.2": "0 < MIN ≤ MAX ≤ 1",
		"jitter":               "needs a strength",
		"jitter:2":             "strength 2",
		"noise:0":              "standard deviation",
		"erase:0.5:1":          "at most 1 argument",
		"crop:4,,hflip":        `unknown transform ""`,
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "augment: ") {
			t.Errorf("Parse(%q) error %v, want one containing %q", in, err, want)
		}
	}
}

func TestRandomCropIsAShift(t *testing.T) {
	const c, h, w = 2, 5, 7
	src := ramp(c, h, w)
	seen := map[[2]int]bool{}
	for seed := range uint64(200) {
		x := slices.Clone(src)
		RandomCrop{Pad: 2}.Apply(x, c, h, w, rand.New(rand.NewPCG(seed, 0)))
		// Find the shift: the first nonzero output pixel's source.
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2 && !found; dx++ {
				ok := true
				for ch := range c {
					for y := range h {
						for xx := range w {
							if x[(ch*h+y)*w+xx] != at(src, h, w, ch, y+dy, xx+dx) {
								ok = false
							}
						}
					}
				}
				if ok {
					found = true
					seen[[2]int{dy, dx}] = true
				}
			}
		}
		if !found {
			t.Fatalf("seed %d: output is not a zero-filled shift of the input by at most 2", seed)
		}
	}
	if len(seen) != 25 {
		t.Errorf("saw %d of the 25 shifts in 200 draws", len(seen))
	}
}

func TestFlip(t *testing.T) {
	const c, h, w = 3, 4, 5
	src := ramp(c, h, w)
	rng := rand.New(rand.NewPCG(1, 2))
	x := slices.Clone(src)
	Flip{P: 1}.Apply(x, c, h, w, rng)
	for ch := range c {
		for y := range h {
			for xx := range w {
				if x[(ch*h+y)*w+xx] != at(src, h, w, ch, y, w-1-xx) {
					t.Fatal("hflip is not a left-right mirror")
				}
			}
		}
	}
	x = slices.Clone(src)
	Flip{Vertical: true, P: 1}.Apply(x, c, h, w, rng)
	for ch := range c {
		for y := range h {
			for xx := range w {
				if x[(ch*h+y)*w+xx] != at(src, h, w, ch, h-1-y, xx) {
					t.Fatal("vflip is not a top-bottom mirror")
				}
			}
		}
	}
	x = slices.Clone(src)
	Flip{P: 0}.Apply(x, c, h, w, rng)
	if !slices.Equal(x, src) {
		t.Error("flip with P = 0 changed the image")
	}
	flips := 0
	for range 1000 {
		x = slices.Clone(src)
		Flip{P: 0.3}.Apply(x, c, h, w, rng)
		if !slices.Equal(x, src) {
			flips++
		}
	}
	if flips < 240 || flips > 360 {
		t.Errorf("P = 0.3 flipped %d of 1000 images", flips)
	}
}

func TestRotate(t *testing.T) {
	const c, h, w = 2, 5, 5
	src := ramp(c, h, w)
	// A quarter turn of a square image moves pixels exactly.
	x := slices.Clone(src)
	rotate(x, c, h, w, math.Pi/2)
	for ch := range c {
		for y := range h {
			for xx := range w {
				// Output (y, x) samples source (y', x') = (x, w-1-y)
				// rotated back.
				want := at(src, h, w, ch, w-1-xx, y)
				if d := x[(ch*h+y)*w+xx] - want; d > 1e-5 || d < -1e-5 {
					t.Fatalf("quarter turn: out[%d,%d,%d] = %g, want %g", ch, y, xx, x[(ch*h+y)*w+xx], want)
				}
			}
		}
	}
	// A zero angle is the identity; random angles keep values in range.
	x = slices.Clone(src)
	rotate(x, c, h, w, 0)
	for i := range x {
		if math.Abs(float64(x[i]-src[i])) > 1e-6 {
			t.Fatal("rotation by 0 changed the image")
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		x = slices.Clone(src)
		Rotate{Degrees: 30}.Apply(x, c, h, w, rng)
		for _, v := range x {
			if v < 0 || v > 1 {
				t.Fatalf("rotation produced %g outside [0, 1]", v)
			}
		}
		if x[(0*h+2)*w+2] != src[(0*h+2)*w+2] {
			t.Fatal("rotation moved the centre pixel")
		}
	}
}

func TestRandomResizedCrop(t *testing.T) {
	const h, w = 32, 24
	tr := RandomResizedCrop{MinScale: 0.2, MaxScale: 0.6}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		top, left, ch, cw := tr.window(h, w, rng)
		if top < 0 || left < 0 || top+ch > h || left+cw > w || ch < 1 || cw < 1 {
			t.Fatalf("window %d,%d %dx%d outside %dx%d", top, left, ch, cw, h, w)
		}
		if ch == h && cw == w {
			continue // the fallback
		}
		frac := float64(ch*cw) / (h * w)
		if frac < 0.15 || frac > 0.7 {
			t.Fatalf("window covers %.2f of the image, want about [0.2, 0.6]", frac)
		}
		if r := float64(cw) / float64(ch); r < 0.6 || r > 1.6 {
			t.Fatalf("window aspect %.2f outside about [3/4, 4/3]", r)
		}
	}
	// A horizontal gradient stays monotone, and a constant image constant.
	x := make([]float32, 3*h*w)
	for i := range x {
		x[i] = float32(i%w) / w
	}
	tr.Apply(x, 3, h, w, rng)
	for y := range h {
		for xx := 1; xx < w; xx++ {
			if x[y*w+xx] < x[y*w+xx-1] {
				t.Fatal("resized crop of a gradient is not monotone")
			}
		}
	}
	for i := range x {
		x[i] = 0.25
	}
	tr.Apply(x, 3, h, w, rng)
	for _, v := range x {
		if math.Abs(float64(v)-0.25) > 1e-6 {
			t.Fatalf("resized crop of a constant image gave %g", v)
		}
	}
}

func TestColor(t *testing.T) {
	const c, h, w = 3, 6, 6
	rng := rand.New(rand.NewPCG(7, 8))
	src := ramp(c, h, w)
	for range 100 {
		x := slices.Clone(src)
		ColorJitter{Brightness: 0.5, Contrast: 0.5, Saturation: 0.5}.Apply(x, c, h, w, rng)
		for _, v := range x {
			if v < 0 || v > 1 {
				t.Fatalf("jitter produced %g outside [0, 1]", v)
			}
		}
	}
	// Brightness scales every value by one factor in [0.8, 1.2].
	x := slices.Clone(src)
	ColorJitter{Brightness: 0.2}.Apply(x, c, h, w, rng)
	f := x[0] / src[0]
	if f < 0.8 || f > 1.2 {
		t.Errorf("brightness factor %g outside [0.8, 1.2]", f)
	}
	for i := range x {
		if want := clip01(src[i] * f); math.Abs(float64(x[i]-want)) > 1e-5 {
			t.Fatalf("brightness: value %d is %g, want %g", i, x[i], want)
		}
	}
	// Saturation leaves a gray image alone; grayscale makes channels equal.
	gray := make([]float32, c*h*w)
	for i := range h * w {
		v := float32(i) / (h * w)
		gray[i], gray[h*w+i], gray[2*h*w+i] = v, v, v
	}
	x = slices.Clone(gray)
	ColorJitter{Saturation: 0.9}.Apply(x, c, h, w, rng)
	for i := range x {
		if math.Abs(float64(x[i]-gray[i])) > 1e-5 {
			t.Fatal("saturation changed a gray image")
		}
	}
	x = slices.Clone(src)
	Grayscale{P: 1}.Apply(x, c, h, w, rng)
	for i := range h * w {
		want := lumR*src[i] + lumG*src[h*w+i] + lumB*src[2*h*w+i]
		if x[i] != want || x[h*w+i] != want || x[2*h*w+i] != want {
			t.Fatal("grayscale channels differ from the luminance")
		}
	}
}

func TestNoiseAndErasing(t *testing.T) {
	const c, h, w = 1, 64, 64
	rng := rand.New(rand.NewPCG(9, 10))
	x := make([]float32, c*h*w)
	for i := range x {
		x[i] = 0.5
	}
	GaussianNoise{Std: 0.05}.Apply(x, c, h, w, rng)
	var s, s2 float64
	for _, v := range x {
		d := float64(v) - 0.5
		s += d
		s2 += d * d
	}
	n := float64(len(x))
	if m, sd := s/n, math.Sqrt(s2/n); math.Abs(m) > 0.005 || math.Abs(sd-0.05) > 0.005 {
		t.Errorf("noise mean %.4f std %.4f, want 0 and 0.05", m, sd)
	}
	for range 20 {
		for i := range x {
			x[i] = 2 // outside [0, 1]: erased pixels are the ones that change
		}
		RandomErasing{P: 1}.Apply(x, c, h, w, rng)
		y0, y1, x0, x1 := h, -1, w, -1
		changed := 0
		for y := range h {
			for xx := range w {
				if x[y*w+xx] != 2 {
					changed++
					y0, y1, x0, x1 = min(y0, y), max(y1, y), min(x0, xx), max(x1, xx)
				}
			}
		}
		area := (y1 - y0 + 1) * (x1 - x0 + 1)
		if changed != area || float64(area) < 0.015*h*w || float64(area) > 0.35*h*w {
			t.Fatalf("erasing changed %d pixels in a %d-pixel box; want a full rectangle of 2–33%%", changed, area)
		}
	}
}

func TestNormalizeAndDeterminism(t *testing.T) {
	const c, h, w = 3, 4, 4
	x := ramp(c, h, w)
	src := slices.Clone(x)
	Normalize{Mean: []float32{0.1, 0.2, 0.3}, Std: []float32{0.5, 0.25, 2}}.Apply(x, c, h, w, nil)
	for i, v := range x {
		ch := i / (h * w)
		want := (src[i] - []float32{0.1, 0.2, 0.3}[ch]) / []float32{0.5, 0.25, 2}[ch]
		if math.Abs(float64(v-want)) > 1e-6 {
			t.Fatalf("normalize value %d = %g, want %g", i, v, want)
		}
	}
	p, err := Parse("strong")
	if err != nil {
		t.Fatal(err)
	}
	a, b := ramp(c, h, w), ramp(c, h, w)
	p.Apply(a, c, h, w, rand.New(rand.NewPCG(11, 12)))
	p.Apply(b, c, h, w, rand.New(rand.NewPCG(11, 12)))
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different augmentations")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"cifar", "crop:4,hflip", "jitter:0.1:0.2", "rotate:1e309", "resized-crop:nan", "erase:-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("%q parsed to %q which does not parse back: %v", s, p.String(), err)
		}
		x := ramp(3, 8, 8)
		p.Apply(x, 3, 8, 8, rand.New(rand.NewPCG(1, 1)))
		for _, v := range x {
			if v != v || v < 0 || v > 1 {
				t.Fatalf("%q produced %g", s, v)
			}
		}
	})
}

// TestRandomTranslateIsAReflectedShift checks translate: each output is the
// input shifted by some (dy, dx) in [-2, 2]² with the pixels moved in taken
// by reflection (PyTorch's "reflect": index -1 shows 1, H shows H-2), all
// 25 shifts occur, and the parsed form round-trips.
func TestRandomTranslateIsAReflectedShift(t *testing.T) {
	const c, h, w = 2, 5, 7
	src := ramp(c, h, w)
	refl := func(i, n int) int {
		if i < 0 {
			return -i
		}
		if i >= n {
			return 2*(n-1) - i
		}
		return i
	}
	seen := map[[2]int]bool{}
	for seed := range uint64(200) {
		x := slices.Clone(src)
		RandomTranslate{Pad: 2}.Apply(x, c, h, w, rand.New(rand.NewPCG(seed, 0)))
		found := false
		for dy := -2; dy <= 2 && !found; dy++ {
			for dx := -2; dx <= 2 && !found; dx++ {
				ok := true
				for ch := range c {
					for y := range h {
						for xx := range w {
							if x[(ch*h+y)*w+xx] != src[(ch*h+refl(y+dy, h))*w+refl(xx+dx, w)] {
								ok = false
							}
						}
					}
				}
				if ok {
					found, seen[[2]int{dy, dx}] = true, true
				}
			}
		}
		if !found {
			t.Fatalf("seed %d: output is not a reflect-padded shift of the input by at most 2", seed)
		}
	}
	if len(seen) != 25 {
		t.Errorf("saw %d of the 25 shifts in 200 draws", len(seen))
	}
	p, err := Parse("translate,translate:3")
	if err != nil || p.String() != "translate:2,translate:3" {
		t.Errorf("Parse: %v %v", p, err)
	}
	for _, bad := range []string{"translate:0", "translate:1.5", "translate:2:3"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

// TestAltFlip checks the alternating flip through a shuffled loader: over
// epochs 0 and 1 every image is mirrored in exactly one, about half in
// each, the same images whatever the number of workers, and epoch 2
// repeats epoch 0.
func TestAltFlip(t *testing.T) {
	const n, h, w = 400, 2, 3
	x := make([]float32, n*h*w)
	for i := range n { // image i: row 0 is (i, 0, 0), so a mirror shows at [0] = 0
		x[i*h*w] = float32(i + 1)
	}
	ds := &data.Dataset{X: x, Y: make([]int, n), C: 1, H: h, W: w}
	p, err := Parse("altflip")
	if err != nil || !p.Indexed() || p.String() != "altflip" {
		t.Fatalf("Parse: %v %v", p, err)
	}
	mirroredIn := func(workers, epoch int) map[int]bool {
		l := &data.Loader{Source: ds, BatchSize: 32, Shuffle: true, Seed: 9, Workers: workers, TransformAt: p.FuncAt(1, h, w)}
		out := map[int]bool{}
		for b := range l.Epoch(epoch) {
			xs := b.X.Data()
			for k, idx := range b.Index {
				img := xs[k*h*w : (k+1)*h*w]
				switch {
				case img[0] == float32(idx+1):
				case img[2] == float32(idx+1) && img[0] == 0:
					out[idx] = true
				default:
					t.Fatalf("epoch %d: image %d is %v: neither itself nor its mirror", epoch, idx, img)
				}
			}
		}
		return out
	}
	e0, e1 := mirroredIn(1, 0), mirroredIn(1, 1)
	if len(e0) < n/2-60 || len(e0) > n/2+60 {
		t.Errorf("epoch 0 mirrored %d of %d images, want about half", len(e0), n)
	}
	for i := range n {
		if e0[i] == e1[i] {
			t.Fatalf("image %d mirrored in epoch 0: %v, in epoch 1: %v; want exactly one", i, e0[i], e1[i])
		}
	}
	if e := mirroredIn(3, 0); !maps.Equal(e, e0) {
		t.Errorf("3 workers mirrored other images than 1 in epoch 0")
	}
	if e := mirroredIn(2, 2); !maps.Equal(e, e0) {
		t.Errorf("epoch 2 mirrored other images than epoch 0")
	}
}
