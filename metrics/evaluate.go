package metrics

import (
	"fmt"
	"math"
)

// Evaluation gathers every measurement of a classifier on a labelled data
// set that [Evaluate] makes; it marshals to JSON as is (numbers that are
// undefined, such as the AUC of a class without examples, are left out or
// null).
type Evaluation struct {
	Images   int      `json:"images"`
	Classes  []string `json:"classes"`
	Accuracy float64  `json:"accuracy"`
	// TopK is 5 and TopKAccuracy the top-5 accuracy when there are at
	// least 5 classes; both are 0 otherwise.
	TopK         int     `json:"top_k,omitempty"`
	TopKAccuracy float64 `json:"top_k_accuracy,omitempty"`
	// Loss is the mean cross-entropy (negative log-likelihood) of the
	// labels.
	Loss      float64      `json:"loss"`
	Confusion Confusion    `json:"confusion"`
	PerClass  []ClassStats `json:"per_class"`
	Macro     Averages     `json:"macro_avg"`
	Weighted  Averages     `json:"weighted_avg"`
	// AUC is the ROC AUC: of the positive class for two classes, else
	// the one-vs-rest macro average; nil when undefined.
	AUC *float64 `json:"roc_auc,omitempty"`
	// ROC holds the ROC curve of the positive class for two classes, else
	// one one-vs-rest curve per class.
	ROC []ClassROC `json:"roc"`
	// Binary is the outcome at the decision threshold on the positive
	// class's probability, for two classes.
	Binary *Binary `json:"binary,omitempty"`
	// ECE is the expected calibration error over the ECEBins bins of
	// Reliability.
	ECE         float64 `json:"ece"`
	Reliability []Bin   `json:"reliability"`
}

// ClassROC is the one-vs-rest ROC curve of one class and its area.
type ClassROC struct {
	Class  string     `json:"class"`
	AUC    *float64   `json:"auc"` // nil when the class or its complement has no examples
	Points []ROCPoint `json:"points"`
}

// Evaluate measures predicted class probabilities against labels: probs
// has one row of k probabilities per example, classes names the k classes
// (missing names become the class ids). For two-class tasks, positive is
// the positive class (0 or 1; usually 1), whose ROC curve and AUC are
// reported, and threshold the decision threshold on its probability. The
// predicted class is the most probable one. The loss is computed from the
// probabilities (clamped at 1e-45); a caller with logits can set a more
// exact one with [NLL]. It panics if the slices differ in length, a label
// is outside [0, k) or, for two classes, positive is not 0 or 1.
func Evaluate(probs [][]float32, labels []int, classes []string, positive int, threshold float64) Evaluation {
	if len(probs) != len(labels) {
		panic(fmt.Sprintf("metrics: Evaluate with %d probability rows and %d labels", len(probs), len(labels)))
	}
	k := len(classes)
	if len(probs) > 0 {
		k = len(probs[0])
	}
	e := Evaluation{Images: len(labels), Classes: ClassNames(classes, k)}
	pred := ArgMax(probs)
	e.Confusion = NewConfusion(pred, labels, k, e.Classes)
	e.Accuracy = e.Confusion.Accuracy()
	if k >= 5 {
		e.TopK = 5
		e.TopKAccuracy = TopKAccuracy(probs, labels, 5)
	}
	var loss float64
	for i, row := range probs {
		loss -= math.Log(math.Max(float64(row[labels[i]]), 1e-45))
	}
	e.Loss = loss / float64(len(probs))
	e.PerClass = e.Confusion.PerClass()
	e.Macro, e.Weighted = e.Confusion.Macro(), e.Confusion.Weighted()

	scores := make([]float64, len(probs))
	pos := make([]bool, len(probs))
	column := func(c int) {
		for i, row := range probs {
			scores[i] = float64(row[c])
			pos[i] = labels[i] == c
		}
	}
	if k == 2 {
		if positive != 0 && positive != 1 {
			panic(fmt.Sprintf("metrics: Evaluate with positive class %d of 2", positive))
		}
		column(positive)
		auc := ROCAUC(scores, pos)
		e.AUC = finite(auc)
		e.ROC = []ClassROC{{Class: e.Classes[positive], AUC: finite(auc), Points: ROCCurve(scores, pos)}}
		b := AtThreshold(scores, pos, threshold)
		b.Positive = e.Classes[positive]
		e.Binary = &b
	} else if len(probs) > 0 {
		mean, per := MacroAUC(probs, labels)
		e.AUC = finite(mean)
		for c := range k {
			column(c)
			e.ROC = append(e.ROC, ClassROC{Class: e.Classes[c], AUC: finite(per[c]), Points: ROCCurve(scores, pos)})
		}
	}
	e.Reliability, e.ECE = Reliability(probs, labels, ECEBins)
	return e
}

// finite returns &x, or nil when x is NaN or infinite.
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}
