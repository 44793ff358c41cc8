package metrics

import (
	"encoding/json"
	"fmt"
	"math"
)

// ROCPoint is one point of an ROC curve: the false and true positive rates
// of the rule "positive when score >= Threshold". The first point of a
// curve has Threshold +Inf (nothing predicted positive); in JSON it is
// written as null.
type ROCPoint struct {
	FPR, TPR, Threshold float64
}

// MarshalJSON writes p as {"fpr": …, "tpr": …, "threshold": …}, with a
// null threshold where it is not finite.
func (p ROCPoint) MarshalJSON() ([]byte, error) {
	var th *float64
	if !math.IsInf(p.Threshold, 0) && !math.IsNaN(p.Threshold) {
		th = &p.Threshold
	}
	return json.Marshal(struct {
		FPR       float64  `json:"fpr"`
		TPR       float64  `json:"tpr"`
		Threshold *float64 `json:"threshold"`
	}{p.FPR, p.TPR, th})
}

// ROCCurve returns the ROC curve of scores for the examples marked
// positive, as scikit-learn's roc_curve with drop_intermediate=True: one
// point per distinct score taken as threshold, from (0, 0) at threshold
// +Inf to (1, 1) at the lowest score, leaving out the points that lie on a
// straight segment between their neighbours. It returns nil when either
// class is absent (the rates are undefined) and panics if the slices
// differ in length.
func ROCCurve(scores []float64, positive []bool) []ROCPoint {
	if len(scores) != len(positive) {
		panic(fmt.Sprintf("metrics: ROCCurve with %d scores and %d labels", len(scores), len(positive)))
	}
	var npos, nneg int
	for _, p := range positive {
		if p {
			npos++
		} else {
			nneg++
		}
	}
	if npos == 0 || nneg == 0 {
		return nil
	}
	idx := sortedDesc(scores)
	// Cumulative true and false positives at each distinct threshold.
	tps, fps, ths := []int{0}, []int{0}, []float64{math.Inf(1)}
	tp, fp := 0, 0
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if positive[idx[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		tps, fps, ths = append(tps, tp), append(fps, fp), append(ths, scores[idx[i]])
		i = j
	}
	var out []ROCPoint
	for i := range tps {
		// Keep the ends and every point where the curve turns.
		if i > 0 && i < len(tps)-1 {
			d2fp := fps[i+1] - 2*fps[i] + fps[i-1]
			d2tp := tps[i+1] - 2*tps[i] + tps[i-1]
			if d2fp == 0 && d2tp == 0 {
				continue
			}
		}
		out = append(out, ROCPoint{FPR: float64(fps[i]) / float64(nneg), TPR: float64(tps[i]) / float64(npos), Threshold: ths[i]})
	}
	return out
}

// Binary is the outcome of thresholding the scores of a two-class task:
// an example is predicted positive when its score is at least Threshold.
type Binary struct {
	// Positive names the positive class ([Evaluate] sets it).
	Positive    string  `json:"positive,omitempty"`
	Threshold   float64 `json:"threshold"`
	TP          int     `json:"tp"`
	FP          int     `json:"fp"`
	TN          int     `json:"tn"`
	FN          int     `json:"fn"`
	Sensitivity float64 `json:"sensitivity"` // TP / (TP + FN), the recall of the positive class; 0 without positives
	Specificity float64 `json:"specificity"` // TN / (TN + FP), the recall of the negative class; 0 without negatives
}

// AtThreshold counts the outcomes of predicting "positive" for the scores
// at or above threshold. It panics if the slices differ in length.
func AtThreshold(scores []float64, positive []bool, threshold float64) Binary {
	if len(scores) != len(positive) {
		panic(fmt.Sprintf("metrics: AtThreshold with %d scores and %d labels", len(scores), len(positive)))
	}
	b := Binary{Threshold: threshold}
	for i, s := range scores {
		switch pred := s >= threshold; {
		case pred && positive[i]:
			b.TP++
		case pred:
			b.FP++
		case positive[i]:
			b.FN++
		default:
			b.TN++
		}
	}
	b.Sensitivity = ratio(b.TP, b.TP+b.FN)
	b.Specificity = ratio(b.TN, b.TN+b.FP)
	return b
}
