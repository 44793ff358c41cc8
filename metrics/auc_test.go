package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

// bruteAUC counts the pairs directly.
func bruteAUC(scores []float64, pos []bool) float64 {
	var wins float64
	var pairs int
	for i := range scores {
		for j := range scores {
			if pos[i] && !pos[j] {
				pairs++
				switch {
				case scores[i] > scores[j]:
					wins++
				case scores[i] == scores[j]:
					wins += 0.5
				}
			}
		}
	}
	return wins / float64(pairs)
}

func TestROCAUC(t *testing.T) {
	if got := ROCAUC([]float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}); got != 0.75 {
		t.Errorf("scikit-learn's example: AUC %g, want 0.75", got)
	}
	if got := ROCAUC([]float64{1, 2, 3}, []bool{false, true, true}); got != 1 {
		t.Errorf("perfect ranking: %g", got)
	}
	if got := ROCAUC([]float64{0.5, 0.5}, []bool{false, true}); got != 0.5 {
		t.Errorf("a tie: %g", got)
	}
	if got := ROCAUC([]float64{1, 2}, []bool{true, true}); !math.IsNaN(got) {
		t.Errorf("one class only: %g, want NaN", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		n := 2 + r.IntN(60)
		s, p := make([]float64, n), make([]bool, n)
		for i := range s {
			s[i] = float64(r.IntN(8)) // many ties
			p[i] = r.IntN(3) == 0
		}
		p[0], p[1] = true, false
		if got, want := ROCAUC(s, p), bruteAUC(s, p); math.Abs(got-want) > 1e-12 {
			t.Fatalf("trial %d: AUC %g, pair count %g", trial, got, want)
		}
	}
}

func TestMacroAUC(t *testing.T) {
	probs := [][]float32{{0.7, 0.2, 0.1}, {0.2, 0.5, 0.3}, {0.1, 0.1, 0.8}, {0.3, 0.4, 0.3}}
	labels := []int{0, 1, 2, 0}
	mean, per := MacroAUC(probs, labels)
	// Class 0: positives score 0.7, 0.3 vs negatives 0.2, 0.1 → 1.
	// Class 1: positive 0.5 vs 0.2, 0.1, 0.4 → 1. Class 2: 0.8 vs rest → 1.
	if per[0] != 1 || per[1] != 1 || per[2] != 1 || mean != 1 {
		t.Errorf("per-class %v mean %g, want all 1", per, mean)
	}
	probs[3] = []float32{0.05, 0.9, 0.05} // a class-0 example scored as class 1
	mean, per = MacroAUC(probs, labels)
	want0 := bruteAUC([]float64{0.7, 0.2, 0.1, 0.05}, []bool{true, false, false, true})
	want1 := bruteAUC([]float64{0.2, 0.5, 0.1, 0.9}, []bool{false, true, false, false})
	if per[0] != want0 || per[1] != want1 || math.Abs(mean-(want0+want1+1)/3) > 1e-12 {
		t.Errorf("per-class %v mean %g, want %g, %g, 1", per, mean, want0, want1)
	}
	_, per = MacroAUC([][]float32{{0.9, 0.1, 0}, {0.2, 0.8, 0}}, []int{0, 1})
	if !math.IsNaN(per[2]) {
		t.Errorf("absent class: %g, want NaN", per[2])
	}
}
