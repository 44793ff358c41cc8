// Package metrics measures classifiers: the area under the ROC curve,
// for a binary task and averaged over classes one-vs-rest.
//
// The functions take scores (probabilities or any monotone transform of
// them) and integer labels as plain slices, so they serve tests, the
// training loop and the command line alike.
package metrics

import (
	"fmt"
	"math"
	"slices"
)

// ROCAUC returns the area under the ROC curve of scores for the examples
// marked positive: the probability that a random positive scores higher
// than a random negative, ties counting one half (the Mann–Whitney U
// statistic over the number of pairs). It returns NaN when either class is
// absent, and panics if the slices differ in length.
func ROCAUC(scores []float64, positive []bool) float64 {
	if len(scores) != len(positive) {
		panic(fmt.Sprintf("metrics: ROCAUC with %d scores and %d labels", len(scores), len(positive)))
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	// Sum the (1-based, tie-averaged) ranks of the positives.
	var rankSum float64
	var npos, nneg int
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1 … j
		for _, k := range idx[i:j] {
			if positive[k] {
				rankSum += avg
				npos++
			} else {
				nneg++
			}
		}
		i = j
	}
	if npos == 0 || nneg == 0 {
		return math.NaN()
	}
	u := rankSum - float64(npos)*float64(npos+1)/2
	return u / (float64(npos) * float64(nneg))
}

// MacroAUC returns the one-vs-rest ROC AUC of each class — class k's
// probability column against "label == k" — and their mean over the
// classes present in labels (scikit-learn's roc_auc_score with
// multi_class="ovr", average="macro"). probs has one row of
// len(perClass) scores per example. For two classes both entries equal
// the binary AUC of the positive class. Classes absent from labels get NaN
// and are left out of the mean.
func MacroAUC(probs [][]float32, labels []int) (mean float64, perClass []float64) {
	if len(probs) != len(labels) {
		panic(fmt.Sprintf("metrics: MacroAUC with %d score rows and %d labels", len(probs), len(labels)))
	}
	if len(probs) == 0 {
		return math.NaN(), nil
	}
	k := len(probs[0])
	perClass = make([]float64, k)
	scores := make([]float64, len(probs))
	pos := make([]bool, len(probs))
	var sum float64
	var n int
	for c := range k {
		for i, row := range probs {
			if len(row) != k {
				panic(fmt.Sprintf("metrics: MacroAUC row %d has %d scores, want %d", i, len(row), k))
			}
			scores[i] = float64(row[c])
			pos[i] = labels[i] == c
		}
		perClass[c] = ROCAUC(scores, pos)
		if !math.IsNaN(perClass[c]) {
			sum += perClass[c]
			n++
		}
	}
	if n == 0 {
		return math.NaN(), perClass
	}
	return sum / float64(n), perClass
}
