package train

import (
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestMirroredTranslated checks the views of test-time augmentation on a
// small image: the mirror, and one-pixel moves filled by reflection as
// PyTorch's F.pad(x, 1, "reflect") cut at (0, 0) and (2, 2) gives them.
func TestMirroredTranslated(t *testing.T) {
	ds := &data.Dataset{X: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, Y: []int{0}, C: 1, H: 3, W: 4}
	// 1  2  3  4
	// 5  6  7  8
	// 9 10 11 12
	for _, c := range []struct {
		name string
		got  *data.Dataset
		want []float32
	}{
		{"mirrored", Mirrored(ds), []float32{4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9}},
		// padded rows/cols: reflect(−1) = 1: row −1 is row 1, column −1 column 1.
		{"down-right", Translated(ds, 1), []float32{6, 5, 6, 7, 2, 1, 2, 3, 6, 5, 6, 7}},
		{"up-left", Translated(ds, -1), []float32{6, 7, 8, 7, 10, 11, 12, 11, 6, 7, 8, 7}},
	} {
		if !slices.Equal(c.got.X, c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got.X, c.want)
		}
	}
	if ds.X[0] != 1 || ds.X[5] != 6 {
		t.Errorf("the original changed: %v", ds.X)
	}
}

// TestTTALogits checks each augmentation against the average of the
// model's logits on the views, computed view by view.
func TestTTALogits(t *testing.T) {
	r := tensor.NewRNG(3)
	model := nn.NewSequential(nn.Flatten{}, nn.NewLinear(r, 2*5*6, 3, true))
	x := tensor.Normal(r, 0, 1, 4, 2, 5, 6)
	ds := &data.Dataset{X: x.Data(), Y: []int{0, 1, 2, 0}, C: 2, H: 5, W: 6}
	f := func(v *data.Dataset) [][]float32 { return Logits(model, v, 3) }
	plain, mir := f(ds), f(Mirrored(ds))
	t1, t1m := f(Translated(ds, 1)), f(Mirrored(Translated(ds, 1)))
	t2, t2m := f(Translated(ds, -1)), f(Mirrored(Translated(ds, -1)))
	for _, tta := range TTANames {
		got, err := TTALogits(model, ds, 3, tta)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			for k := range got[i] {
				want := float64(plain[i][k])
				m := (float64(plain[i][k]) + float64(mir[i][k])) / 2
				switch tta {
				case "flip":
					want = m
				case "flip-translate":
					m1 := (float64(t1[i][k]) + float64(t1m[i][k])) / 2
					m2 := (float64(t2[i][k]) + float64(t2m[i][k])) / 2
					want = 0.5*m + 0.5*(m1+m2)/2
				}
				if d := float64(got[i][k]) - want; d > 1e-5 || d < -1e-5 {
					t.Errorf("%s: logit [%d][%d] = %v, want %v", tta, i, k, got[i][k], want)
				}
			}
		}
	}
	if _, err := TTALogits(model, ds, 3, "rotate"); err == nil {
		t.Error("unknown augmentation: no error")
	}
	thin := &data.Dataset{X: make([]float32, 4*10), Y: []int{0, 1, 2, 0}, C: 2, H: 5, W: 1}
	if _, err := TTALogits(nn.NewSequential(nn.Flatten{}, nn.NewLinear(r, 10, 3, true)), thin, 3, "flip-translate"); err == nil {
		t.Error("5x1 images with flip-translate: no error")
	}
}
