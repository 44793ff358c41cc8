package metrics

import (
	"slices"
	"strconv"
)

// Ranked is one of the most probable classes of an example, as fovea
// predict --json and the server's /v1/predict report it.
type Ranked struct {
	Label       string  `json:"label"` // the class name, else its index
	Index       int     `json:"index"`
	Probability float64 `json:"probability"`
}

// TopClasses returns the k most probable classes of one row of class
// probabilities, most probable first (ties in class order), named by names
// (the index as text where names has no entry).
func TopClasses(probs []float64, names []string, k int) []Ranked {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case probs[a] > probs[b]:
			return -1
		case probs[a] < probs[b]:
			return 1
		}
		return 0
	})
	out := make([]Ranked, 0, min(k, len(idx)))
	for _, i := range idx[:min(max(k, 0), len(idx))] {
		label := strconv.Itoa(i)
		if i < len(names) {
			label = names[i]
		}
		out = append(out, Ranked{Label: label, Index: i, Probability: probs[i]})
	}
	return out
}
