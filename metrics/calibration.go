package metrics

import (
	"fmt"
	"math"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// Bin is one bin of a reliability diagram: the examples whose confidence
// (largest predicted probability) lies in (Lo, Hi], their mean confidence
// and the fraction of them classified correctly. An empty bin has Count 0
// and Confidence and Accuracy 0.
type Bin struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Count      int     `json:"count"`
	Confidence float64 `json:"confidence"`
	Accuracy   float64 `json:"accuracy"`
}

// ECEBins is the number of bins of the expected calibration error, as in
// Guo et al., "On Calibration of Modern Neural Networks" (ICML 2017).
const ECEBins = 15

// Reliability sorts the examples into bins equal-width bins of confidence,
// the largest probability of each row of probs, and returns the bins and
// the expected calibration error (Guo et al. 2017):
//
//	ECE = Σ_b |B_b|/n · |accuracy(B_b) − confidence(B_b)|
//
// where bin b holds the confidences in ((b−1)/M, b/M] (a confidence of 0
// goes to the first bin) and an example is correct when its most probable
// class (the first on ties) is its label. ECE is NaN for no examples. It
// panics if the slices differ in length or bins < 1.
func Reliability(probs [][]float32, labels []int, bins int) ([]Bin, float64) {
	if len(probs) != len(labels) {
		panic(fmt.Sprintf("metrics: Reliability with %d probability rows and %d labels", len(probs), len(labels)))
	}
	if bins < 1 {
		panic(fmt.Sprintf("metrics: Reliability with %d bins", bins))
	}
	out := make([]Bin, bins)
	for b := range out {
		out[b].Lo, out[b].Hi = float64(b)/float64(bins), float64(b+1)/float64(bins)
	}
	pred := ArgMax(probs)
	for i, row := range probs {
		conf := float64(row[pred[i]])
		b := int(math.Ceil(conf*float64(bins))) - 1
		b = min(max(b, 0), bins-1)
		out[b].Count++
		out[b].Confidence += conf
		if pred[i] == labels[i] {
			out[b].Accuracy++
		}
	}
	var ece float64
	for b := range out {
		if n := float64(out[b].Count); n > 0 {
			out[b].Confidence /= n
			out[b].Accuracy /= n
			ece += n * math.Abs(out[b].Accuracy-out[b].Confidence)
		}
	}
	return out, ece / float64(len(probs))
}

// Softmax returns the probabilities softmax(logits / t) of one row of
// logits at temperature t > 0, computed in float64.
func Softmax(logits []float32, t float64) []float64 {
	p := scaled(logits, t, nil)
	kernels.SoftmaxRow(p, p, len(p), 1)
	return p
}

// scaled returns row / t in float64, in buf when it is long enough.
func scaled(row []float32, t float64, buf []float64) []float64 {
	if cap(buf) < len(row) {
		buf = make([]float64, len(row))
	}
	buf = buf[:len(row)]
	for i, v := range row {
		buf[i] = float64(v) / t
	}
	return buf
}

// Probabilities returns softmax(row / t) of every row of logits as
// float32 rows, the form the other functions of this package take.
func Probabilities(logits [][]float32, t float64) [][]float32 {
	out := make([][]float32, len(logits))
	for i, row := range logits {
		p := Softmax(row, t)
		out[i] = make([]float32, len(p))
		for j, v := range p {
			out[i][j] = float32(v)
		}
	}
	return out
}

// NLL returns the mean negative log-likelihood of the labels under
// softmax(logits / t), the cross-entropy loss at temperature t, computed
// in float64 from the logits (exact even where a probability rounds to 0).
// It returns NaN for no examples and panics if the slices differ in
// length.
func NLL(logits [][]float32, labels []int, t float64) float64 {
	if len(logits) != len(labels) {
		panic(fmt.Sprintf("metrics: NLL with %d logit rows and %d labels", len(logits), len(labels)))
	}
	var sum float64
	var buf []float64
	for i, row := range logits {
		buf = scaled(row, t, buf)
		sum += kernels.LogSumExp(buf, len(buf), 1) - buf[labels[i]]
	}
	return sum / float64(len(logits))
}

// Temperature search range of [FitTemperature].
const (
	MinTemperature = 0.01
	MaxTemperature = 100
)

// FitTemperature returns the temperature T in [MinTemperature,
// MaxTemperature] that minimizes NLL(logits, labels, T): temperature
// scaling (Guo et al. 2017), fitted on held-out examples. The NLL is
// convex in 1/T, so it has one minimum along log T, which a golden-section
// search finds to a relative precision of about 1e-9. It returns 1 for no
// examples.
func FitTemperature(logits [][]float32, labels []int) float64 {
	if len(logits) == 0 {
		return 1
	}
	f := func(logT float64) float64 { return NLL(logits, labels, math.Exp(logT)) }
	invPhi := (math.Sqrt(5) - 1) / 2
	a, b := math.Log(MinTemperature), math.Log(MaxTemperature)
	c, d := b-invPhi*(b-a), a+invPhi*(b-a)
	fc, fd := f(c), f(d)
	for b-a > 1e-9 {
		if fc <= fd {
			b, d, fd = d, c, fc
			c = b - invPhi*(b-a)
			fc = f(c)
		} else {
			a, c, fc = c, d, fd
			d = a + invPhi*(b-a)
			fd = f(d)
		}
	}
	return math.Exp((a + b) / 2)
}
