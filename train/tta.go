package train

import (
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/augment"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
)

// Test-time augmentation: the logits of several views of each image,
// averaged.

// TTANames lists the test-time augmentations [TTALogits] takes.
var TTANames = []string{"none", "flip", "flip-translate"}

// TTALogits returns the model's logits for ds, averaged over views of
// each image as tta says:
//
//   - "none": the image alone ([Logits]);
//   - "flip": M(x) = (f(x) + f(mirror x))/2, the image and its left-right
//     mirror;
//   - "flip-translate": airbench's level 2, M(x)/2 + (M(T₁x) + M(T₂x))/4,
//     with T₁ and T₂ the image moved one pixel down-right and up-left,
//     the uncovered row and column filled by reflection (PyTorch's
//     F.pad(x, 1, "reflect") cut at offset (0, 0) and (2, 2)): 6 passes.
//
// It returns an error naming tta when it is none of [TTANames].
func TTALogits(model nn.Layer, ds *data.Dataset, batchSize int, tta string) ([][]float32, error) {
	if !slices.Contains(TTANames, tta) {
		return nil, fmt.Errorf("train: test-time augmentation %q: want one of %v", tta, TTANames)
	}
	if tta == "none" {
		return Logits(model, ds, batchSize), nil
	}
	if tta == "flip-translate" && (ds.H < 2 || ds.W < 2) {
		return nil, fmt.Errorf("train: test-time augmentation flip-translate: %dx%d images are too small to move by a pixel", ds.H, ds.W)
	}
	mirror := func(v *data.Dataset) [][]float32 {
		a, b := Logits(model, v, batchSize), Logits(model, Mirrored(v), batchSize)
		for i, row := range a {
			for k := range row {
				row[k] = (row[k] + b[i][k]) / 2
			}
		}
		return a
	}
	out := mirror(ds)
	if tta == "flip" {
		return out, nil
	}

	t1, t2 := mirror(Translated(ds, 1)), mirror(Translated(ds, -1))
	for i, row := range out {
		for k := range row {
			row[k] = 0.5*row[k] + 0.5*((t1[i][k]+t2[i][k])/2)
		}
	}
	return out, nil
}

// Mirrored returns a copy of ds with every image mirrored left-right.
func Mirrored(ds *data.Dataset) *data.Dataset {
	f := *ds
	f.X = slices.Clone(ds.X)
	for row := 0; row < len(f.X); row += ds.W {
		slices.Reverse(f.X[row : row+ds.W])
	}
	return &f
}

// Translated returns a copy of ds with every image moved by d pixels down
// and right (d < 0: up and left), the rows and columns moved in filled by
// reflection about the edge (without repeating it, PyTorch's "reflect"):
// out(y, x) = in(r(y − d), r(x − d)) with r(−1) = 1 and r(H) = H − 2
// (augment.Shift). |d| must be less than the height and width.
func Translated(ds *data.Dataset, d int) *data.Dataset {
	f := *ds
	f.X = slices.Clone(ds.X)
	chw := ds.C * ds.H * ds.W
	for i := 0; i < len(f.X); i += chw {
		augment.Shift(f.X[i:i+chw], ds.C, ds.H, ds.W, -d, -d)
	}
	return &f
}
