package robust

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
)

// testImages returns 16 MNIST test digits (1×28×28) and 8 smooth random
// colour images (3×32×32), all in [0, 1].
func testImages(t *testing.T) (gray [][]float32, rgb [][]float32) {
	t.Helper()
	_, te, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 16 {
		gray = append(gray, slices.Clone(te.Image(i)))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 8 {
		x := make([]float32, 3*32*32)
		for c := range 3 {
			f := smoothField(32, 32, 2, rng)
			for i, v := range f {
				x[c*1024+i] = float32(0.1 + 0.8*v)
			}
		}
		rgb = append(rgb, x)
	}
	return gray, rgb
}

// dist is the root-mean-square difference of a and b.
func dist(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i] - b[i])
		s += d * d
	}
	return math.Sqrt(s / float64(len(a)))
}

// TestCorruptionsKeepShapeRangeAndGrow checks every corruption on gray and
// colour images: values stay in [0, 1] (and finite), and the mean distance
// from the clean image grows strictly with severity.
func TestCorruptionsKeepShapeRangeAndGrow(t *testing.T) {
	gray, rgb := testImages(t)
	sets := []struct {
		name    string
		imgs    [][]float32
		c, h, w int
	}{{"mnist", gray, 1, 28, 28}, {"rgb", rgb, 3, 32, 32}}
	for _, cr := range All() {
		for _, set := range sets {
			var prev float64
			for s := 1; s <= 5; s++ {
				var mean float64
				for i, x := range set.imgs {
					y := slices.Clone(x)
					cr.Apply(y, set.c, set.h, set.w, s, ImageRNG(7, i))
					if len(y) != len(x) {
						t.Fatalf("%s changed the length", cr.Name)
					}
					for _, v := range y {
						if !(v >= 0 && v <= 1) {
							t.Fatalf("%s severity %d on %s: value %v outside [0, 1]", cr.Name, s, set.name, v)
						}
					}
					mean += dist(x, y) / float64(len(set.imgs))
				}
				if mean <= prev {
					t.Errorf("%s on %s: mean distance %.4f at severity %d, not above %.4f at %d", cr.Name, set.name, mean, s, prev, s-1)
				}
				if s == 1 && mean == 0 {
					t.Errorf("%s on %s: severity 1 changes nothing", cr.Name, set.name)
				}
				prev = mean
			}
		}
	}
}

// TestDeterministic checks that the same seed and index give the same
// image and another index a different one for random corruptions.
func TestDeterministic(t *testing.T) {
	gray, _ := testImages(t)
	for _, cr := range All() {
		a, b, c := slices.Clone(gray[0]), slices.Clone(gray[0]), slices.Clone(gray[0])
		cr.Apply(a, 1, 28, 28, 3, ImageRNG(5, 0))
		cr.Apply(b, 1, 28, 28, 3, ImageRNG(5, 0))
		cr.Apply(c, 1, 28, 28, 3, ImageRNG(5, 1))
		if !slices.Equal(a, b) {
			t.Errorf("%s is not deterministic", cr.Name)
		}
		switch cr.Name {
		case "gaussian_noise", "shot_noise", "occlusion", "fog":
			if slices.Equal(a, c) {
				t.Errorf("%s: images 0 and 1 got the same randomness", cr.Name)
			}
		}
	}
	if _, err := Lookup("nope"); err == nil {
		t.Error("Lookup accepted an unknown name")
	}
	if len(Names()) != 12 {
		t.Errorf("%d corruptions, want 12", len(Names()))
	}
}

// TestEvaluate runs an untrained LeNet-5 (through Normalized) on a few
// digits: the report has the requested shape, is reproducible, and its
// summary numbers are consistent; the plots are written.
func TestEvaluate(t *testing.T) {
	_, te, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	ds := te.Head(40)
	before := slices.Clone(ds.X)
	model := Normalized(models.NewLeNet5(models.Options{Seed: 3}), []float32{data.MNISTMean}, []float32{data.MNISTStd})
	cs := []Corruption{all[0], all[9]}
	r := Evaluate(model, ds, cs, []int{1, 5}, 1)
	r2 := Evaluate(model, ds, cs, []int{1, 5}, 1)
	if !slices.Equal(ds.X, before) {
		t.Fatal("Evaluate modified the dataset")
	}
	if len(r.Results) != 2 || len(r.Results[0].Accuracy) != 2 || r.Images != 40 {
		t.Fatalf("report %+v", r)
	}
	if r.MCA != r2.MCA || r.Clean != r2.Clean {
		t.Error("Evaluate is not reproducible")
	}
	want := (r.Results[0].Mean + r.Results[1].Mean) / 2
	if math.Abs(r.MCA-want) > 1e-12 {
		t.Errorf("mCA %v, want %v", r.MCA, want)
	}
	var walked int
	nn.Walk(model, func(string, nn.Layer) { walked++ })
	if walked < 5 {
		t.Errorf("Normalized hides the model from walks (%d layers)", walked)
	}
	dir := t.TempDir()
	if err := r.PlotCurves(filepath.Join(dir, "curves.png")); err != nil {
		t.Fatal(err)
	}
	img := Samples(ds.Image(0), 1, 28, 28, All(), 3, 1, 0)
	if err := WritePNG(filepath.Join(dir, "samples.png"), img); err != nil {
		t.Fatal(err)
	}
}
