package metrics

import (
	"fmt"
	"slices"
)

// Confusion is a confusion matrix: Counts[t][p] is the number of examples
// of true class t that were predicted as class p (rows = truth, columns =
// prediction, as in scikit-learn's confusion_matrix).
type Confusion struct {
	Classes []string `json:"classes"` // class names, index = class id
	Counts  [][]int  `json:"counts"`
}

// NewConfusion counts the predictions pred against labels for k classes
// named classes (nil or short: the missing names are the class ids). It
// panics if the slices differ in length or a class id is outside [0, k).
func NewConfusion(pred, labels []int, k int, classes []string) Confusion {
	if len(pred) != len(labels) {
		panic(fmt.Sprintf("metrics: NewConfusion with %d predictions and %d labels", len(pred), len(labels)))
	}
	c := Confusion{Classes: ClassNames(classes, k), Counts: make([][]int, k)}
	for i := range c.Counts {
		c.Counts[i] = make([]int, k)
	}
	for i, p := range pred {
		t := labels[i]
		if t < 0 || t >= k || p < 0 || p >= k {
			panic(fmt.Sprintf("metrics: NewConfusion example %d: label %d or prediction %d outside [0, %d)", i, t, p, k))
		}
		c.Counts[t][p]++
	}
	return c
}

// ClassNames returns k class names: those of names, then the decimal ids
// of the classes names does not cover.
func ClassNames(names []string, k int) []string {
	out := make([]string, k)
	for i := range out {
		if i < len(names) {
			out[i] = names[i]
		} else {
			out[i] = fmt.Sprint(i)
		}
	}
	return out
}

// Total returns the number of examples counted.
func (c Confusion) Total() int {
	n := 0
	for _, row := range c.Counts {
		for _, v := range row {
			n += v
		}
	}
	return n
}

// Accuracy returns the fraction of examples on the diagonal (NaN when
// there are none).
func (c Confusion) Accuracy() float64 {
	d := 0
	for i, row := range c.Counts {
		d += row[i]
	}
	return float64(d) / float64(c.Total())
}

// ClassStats are the one-vs-rest measurements of one class.
type ClassStats struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"` // TP / (TP + FP); 0 when the class is never predicted
	Recall    float64 `json:"recall"`    // TP / (TP + FN); 0 when the class has no examples
	F1        float64 `json:"f1"`        // harmonic mean of the two; 0 when both are 0
	Support   int     `json:"support"`   // examples of the class (TP + FN)
}

// PerClass returns the precision, recall, F1 and support of every class,
// with scikit-learn's convention for a zero denominator (zero_division=0):
// the quantity is 0.
func (c Confusion) PerClass() []ClassStats {
	k := len(c.Counts)
	out := make([]ClassStats, k)
	for j := range k {
		tp := c.Counts[j][j]
		var predicted, actual int
		for i := range k {
			predicted += c.Counts[i][j]
			actual += c.Counts[j][i]
		}
		s := ClassStats{Class: c.Classes[j], Support: actual}
		s.Precision = ratio(tp, predicted)
		s.Recall = ratio(tp, actual)
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		out[j] = s
	}
	return out
}

// ratio is a/b, or 0 when b is 0.
func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Averages are precision, recall and F1 averaged over classes.
type Averages struct {
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"` // examples in all
}

// Macro returns the unweighted mean of the per-class precision, recall
// and F1 over the classes that occur among the labels or the predictions
// (scikit-learn's average="macro" with its default labels). The F1 is the
// mean of the per-class F1 scores, not the F1 of the means.
func (c Confusion) Macro() Averages {
	return c.average(func(ClassStats) float64 { return 1 })
}

// Weighted returns the per-class precision, recall and F1 averaged with
// each class weighted by its support (scikit-learn's average="weighted").
// It is all zeros when there are no examples.
func (c Confusion) Weighted() Averages {
	return c.average(func(s ClassStats) float64 { return float64(s.Support) })
}

func (c Confusion) average(weight func(ClassStats) float64) Averages {
	var a Averages
	var wsum float64
	for j, s := range c.PerClass() {
		a.Support += s.Support
		predicted := 0
		for i := range c.Counts {
			predicted += c.Counts[i][j]
		}
		if s.Support == 0 && predicted == 0 {
			continue // neither a label nor a prediction: not a class of this data
		}
		w := weight(s)
		wsum += w
		a.Precision += w * s.Precision
		a.Recall += w * s.Recall
		a.F1 += w * s.F1
	}
	if wsum > 0 {
		a.Precision /= wsum
		a.Recall /= wsum
		a.F1 /= wsum
	}
	return a
}

// ArgMax returns the index of the largest score of each row (the first
// on ties): the predicted classes of rows of probabilities or logits.
func ArgMax(rows [][]float32) []int {
	out := make([]int, len(rows))
	for i, r := range rows {
		best := 0
		for j, v := range r {
			if v > r[best] {
				best = j
			}
		}
		out[i] = best
	}
	return out
}

// TopKAccuracy returns the fraction of examples whose label is among the k
// highest scores of its row: fewer than k classes score strictly higher
// than the label (so ties count in the label's favour). It returns NaN
// for no examples and panics if the slices differ in length.
func TopKAccuracy(scores [][]float32, labels []int, k int) float64 {
	if len(scores) != len(labels) {
		panic(fmt.Sprintf("metrics: TopKAccuracy with %d score rows and %d labels", len(scores), len(labels)))
	}
	hit := 0
	for i, row := range scores {
		y := labels[i]
		above := 0
		for _, v := range row {
			if v > row[y] {
				above++
			}
		}
		if above < k {
			hit++
		}
	}
	return float64(hit) / float64(len(labels))
}

// sortedDesc returns the indices of scores ordered by decreasing score.
func sortedDesc(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] > scores[b]:
			return -1
		case scores[a] < scores[b]:
			return 1
		}
		return 0
	})
	return idx
}
