package metrics

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Three classes, ten examples:
//
//	truth:      0 0 0 0 1 1 1 2 2 2
//	prediction: 0 0 1 2 1 1 0 2 2 1
//
// Confusion (rows truth, columns prediction):
//
//	    0 1 2
//	0 [ 2 1 1 ]   support 4
//	1 [ 1 2 0 ]   support 3
//	2 [ 0 1 2 ]   support 3
//
// Column sums (predicted): 3, 4, 3.
//
//	class 0: P = 2/3, R = 2/4 = 1/2, F1 = 2·(2/3)(1/2)/(2/3+1/2) = (2/3)/(7/6) = 4/7
//	class 1: P = 2/4 = 1/2, R = 2/3, F1 = 4/7 (the same pair swapped)
//	class 2: P = 2/3, R = 2/3, F1 = 2/3
//	macro:    P = (2/3+1/2+2/3)/3 = 11/18, R = (1/2+2/3+2/3)/3 = 11/18,
//	          F1 = (4/7+4/7+2/3)/3 = (24/21+14/21)/3 = 38/63
//	weighted: P = (4·2/3 + 3·1/2 + 3·2/3)/10 = (8/3+3/2+2)/10 = (37/6)/10 = 37/60
//	          R = (4·1/2 + 3·2/3 + 3·2/3)/10 = 6/10 (= accuracy)
//	          F1 = (4·4/7 + 3·4/7 + 3·2/3)/10 = (4+2)/10 = 6/10
//	accuracy: 6/10
func TestConfusionHandChecked(t *testing.T) {
	truth := []int{0, 0, 0, 0, 1, 1, 1, 2, 2, 2}
	pred := []int{0, 0, 1, 2, 1, 1, 0, 2, 2, 1}
	c := NewConfusion(pred, truth, 3, []string{"cat", "dog"})
	want := [][]int{{2, 1, 1}, {1, 2, 0}, {0, 1, 2}}
	for i := range want {
		for j := range want[i] {
			if c.Counts[i][j] != want[i][j] {
				t.Fatalf("counts %v, want %v", c.Counts, want)
			}
		}
	}
	if c.Classes[0] != "cat" || c.Classes[2] != "2" {
		t.Errorf("classes %v, want cat dog 2", c.Classes)
	}
	if !near(c.Accuracy(), 0.6) || c.Total() != 10 {
		t.Errorf("accuracy %v total %d", c.Accuracy(), c.Total())
	}
	per := c.PerClass()
	wantPer := []ClassStats{
		{"cat", 2.0 / 3, 0.5, 4.0 / 7, 4},
		{"dog", 0.5, 2.0 / 3, 4.0 / 7, 3},
		{"2", 2.0 / 3, 2.0 / 3, 2.0 / 3, 3},
	}
	for i, w := range wantPer {
		g := per[i]
		if g.Class != w.Class || !near(g.Precision, w.Precision) || !near(g.Recall, w.Recall) || !near(g.F1, w.F1) || g.Support != w.Support {
			t.Errorf("class %d: %+v, want %+v", i, g, w)
		}
	}
	m := c.Macro()
	if !near(m.Precision, 11.0/18) || !near(m.Recall, 11.0/18) || !near(m.F1, 38.0/63) || m.Support != 10 {
		t.Errorf("macro %+v, want P=R=11/18 F1=38/63", m)
	}
	w := c.Weighted()
	if !near(w.Precision, 37.0/60) || !near(w.Recall, 0.6) || !near(w.F1, 0.6) {
		t.Errorf("weighted %+v, want P=37/60 R=F1=0.6", w)
	}
}

// A class that is never predicted has precision 0 (zero_division=0), and
// one that is neither a label nor a prediction is left out of the macro
// average: truth 0 0 1 1, predictions 0 0 0 0 over 3 classes gives
// class 0: P = 2/4, R = 1, F1 = 2/3; class 1: P = R = F1 = 0; class 2
// absent. Macro P = 1/4, R = 1/2, F1 = 1/3.
func TestConfusionZeroDivision(t *testing.T) {
	c := NewConfusion([]int{0, 0, 0, 0}, []int{0, 0, 1, 1}, 3, nil)
	per := c.PerClass()
	if per[1].Precision != 0 || per[1].Recall != 0 || per[1].F1 != 0 || per[2].Support != 0 {
		t.Errorf("per class %+v", per)
	}
	m := c.Macro()
	if !near(m.Precision, 0.25) || !near(m.Recall, 0.5) || !near(m.F1, 1.0/3) {
		t.Errorf("macro %+v, want P=1/4 R=1/2 F1=1/3", m)
	}
}

// Scores of 4 classes for three examples:
//
//	label 2, [0.1 0.2 0.3 0.4]: one class above it → top-1 no, top-2 yes
//	label 0, [0.4 0.3 0.2 0.1]: top-1
//	label 3, [0.4 0.3 0.2 0.1]: three above → top-3 no, top-4 yes
func TestTopK(t *testing.T) {
	s := [][]float32{{0.1, 0.2, 0.3, 0.4}, {0.4, 0.3, 0.2, 0.1}, {0.4, 0.3, 0.2, 0.1}}
	y := []int{2, 0, 3}
	for k, want := range map[int]float64{1: 1.0 / 3, 2: 2.0 / 3, 3: 2.0 / 3, 4: 1} {
		if got := TopKAccuracy(s, y, k); !near(got, want) {
			t.Errorf("top-%d = %v, want %v", k, got, want)
		}
	}
	if got := ArgMax(s); got[0] != 3 || got[1] != 0 {
		t.Errorf("ArgMax %v", got)
	}
}
