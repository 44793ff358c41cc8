package robust

import (
	"fmt"
	"io"
	"strings"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// Result is the accuracy of a model under one corruption.
type Result struct {
	// Corruption is the corruption's name.
	Corruption string `json:"corruption"`
	// Accuracy holds one accuracy in [0, 1] per severity of the report.
	Accuracy []float64 `json:"accuracy"`
	// Mean is the mean of Accuracy.
	Mean float64 `json:"mean"`
}

// Report is the outcome of [Evaluate].
type Report struct {
	// Images is the number of images evaluated.
	Images int `json:"images"`
	// Seed seeds the corruptions' randomness.
	Seed uint64 `json:"seed"`
	// Severities are the severities evaluated, the columns of Results.
	Severities []int `json:"severities"`
	// Clean is the accuracy on the uncorrupted images.
	Clean float64 `json:"clean_accuracy"`
	// Results has one row per corruption, in the order given.
	Results []Result `json:"corruptions"`
	// MCA is the mean corruption accuracy: the mean of Results' Mean.
	MCA float64 `json:"mean_corruption_accuracy"`
	// Relative is MCA / Clean (0 when Clean is 0).
	Relative float64 `json:"relative_accuracy"`
}

// Evaluate measures model's accuracy on ds clean and under each corruption
// at each severity. Image i is corrupted with [ImageRNG](seed, i), so the
// result depends only on the arguments. ds must hold images in [0, 1]
// (corruptions apply before normalization; see [Normalized]) and is not
// modified. The model runs in evaluation mode without gradients and is left
// in evaluation mode.
func Evaluate(model nn.Layer, ds *data.Dataset, corruptions []Corruption, severities []int, seed uint64) Report {
	r := Report{Images: ds.Len(), Seed: seed, Severities: append([]int(nil), severities...)}
	r.Clean = accuracy(model, ds)
	work := &data.Dataset{Name: ds.Name, X: make([]float32, len(ds.X)), Y: ds.Y, C: ds.C, H: ds.H, W: ds.W,
		NumClasses: ds.NumClasses, ClassNames: ds.ClassNames}
	size := ds.ExampleSize()
	for _, c := range corruptions {
		res := Result{Corruption: c.Name}
		for _, s := range severities {
			copy(work.X, ds.X)
			for i := range ds.Len() {
				c.Apply(work.X[i*size:(i+1)*size], ds.C, ds.H, ds.W, s, ImageRNG(seed, i))
			}
			acc := accuracy(model, work)
			res.Accuracy = append(res.Accuracy, acc)
			res.Mean += acc / float64(len(severities))
		}
		r.Results = append(r.Results, res)
		r.MCA += res.Mean / float64(len(corruptions))
	}
	if r.Clean > 0 {
		r.Relative = r.MCA / r.Clean
	}
	return r
}

// accuracy is the top-1 accuracy of model on ds.
func accuracy(model nn.Layer, ds *data.Dataset) float64 {
	if ds.Len() == 0 {
		return 0
	}
	probs := train.Predict(model, ds, 100)
	correct := 0
	for i, p := range probs {
		best := 0
		for k, v := range p {
			if v > p[best] {
				best = k
			}
		}
		if best == ds.Y[i] {
			correct++
		}
	}
	return float64(correct) / float64(ds.Len())
}

// Normalized returns a layer that normalizes its input (N, C, H, W) per
// channel, (x − mean[c]) / std[c], and runs model on the result: a model
// trained on normalized data, made to take images in [0, 1]. Without
// gradients the input is normalized into a copy; with them, by
// differentiable ops.
func Normalized(model nn.Layer, mean, std []float32) nn.Layer {
	if len(mean) == 0 {
		return model
	}
	return &normalized{model: model, mean: mean, std: std}
}

// normalized is the layer Normalized returns.
type normalized struct {
	model     nn.Layer
	mean, std []float32
}

// Forward normalizes x and runs the model.
func (n *normalized) Forward(x *autograd.Var) *autograd.Var {
	s := x.Shape()
	if len(s) != 4 || (s[1] != len(n.mean) && len(n.mean) != 1) {
		panic(fmt.Sprintf("robust: normalizing input of shape %v with %d channel means", s, len(n.mean)))
	}
	sub, div := tensor.New(1, s[1], 1, 1), tensor.New(1, s[1], 1, 1)
	for c := range s[1] {
		k := min(c, len(n.mean)-1)
		sub.Data()[c], div.Data()[c] = n.mean[k], n.std[k]
	}
	return n.model.Forward(autograd.Div(autograd.Sub(x, autograd.Const(sub)), autograd.Const(div)))
}

// Children exposes the wrapped model, so walks and SetTraining see it.
func (n *normalized) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "model", Value: n.model}}
}

// WriteTable prints r as a text table: one row per corruption, one column
// per severity and the row mean, accuracies in percent, then the clean
// accuracy, mCA and relative mCA.
func (r Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s", "corruption")
	for _, s := range r.Severities {
		fmt.Fprintf(&b, " %7s", fmt.Sprintf("s%d", s))
	}
	fmt.Fprintf(&b, " %7s\n", "mean")
	for _, res := range r.Results {
		fmt.Fprintf(&b, "%-16s", res.Corruption)
		for _, a := range res.Accuracy {
			fmt.Fprintf(&b, " %6.2f%%", 100*a)
		}
		fmt.Fprintf(&b, " %6.2f%%\n", 100*res.Mean)
	}
	fmt.Fprintf(&b, "\nclean accuracy  %6.2f%%  (%d images, seed %d)\n", 100*r.Clean, r.Images, r.Seed)
	fmt.Fprintf(&b, "mCA             %6.2f%%  (mean corruption accuracy)\n", 100*r.MCA)
	fmt.Fprintf(&b, "relative mCA    %6.2f%%  (mCA / clean)\n", 100*r.Relative)
	_, err := io.WriteString(w, b.String())
	return err
}
