package metrics

import (
	"math"
	"testing"
)

// Five examples in 2 classes with 4 bins (0, .25], (.25, .5], (.5, .75],
// (.75, 1]:
//
//	[0.9 0.1] label 0: confidence 0.9, correct   → bin 3
//	[0.2 0.8] label 0: confidence 0.8, wrong     → bin 3
//	[0.4 0.6] label 1: confidence 0.6, correct   → bin 2
//	[0.3 0.7] label 1: confidence 0.7, correct   → bin 2
//	[0.5 0.5] label 1: confidence 0.5 (class 0 wins the tie), wrong → bin 1
//
// bin 1: n 1, conf 0.5,  acc 0   → |gap| 0.5
// bin 2: n 2, conf 0.65, acc 1   → |gap| 0.35
// bin 3: n 2, conf 0.85, acc 0.5 → |gap| 0.35
// ECE = (1·0.5 + 2·0.35 + 2·0.35)/5 = 1.9/5 = 0.38
func TestReliability(t *testing.T) {
	p := [][]float32{{0.9, 0.1}, {0.2, 0.8}, {0.4, 0.6}, {0.3, 0.7}, {0.5, 0.5}}
	y := []int{0, 0, 1, 1, 1}
	bins, ece := Reliability(p, y, 4)
	if math.Abs(ece-0.38) > 1e-6 {
		t.Errorf("ECE %v, want 0.38", ece)
	}
	want := []Bin{{0, 0.25, 0, 0, 0}, {0.25, 0.5, 1, 0.5, 0}, {0.5, 0.75, 2, 0.65, 1}, {0.75, 1, 2, 0.85, 0.5}}
	for i, w := range want {
		g := bins[i]
		if g.Count != w.Count || math.Abs(g.Confidence-w.Confidence) > 1e-6 || g.Accuracy != w.Accuracy || g.Lo != w.Lo || g.Hi != w.Hi {
			t.Errorf("bin %d = %+v, want %+v", i, g, w)
		}
	}
}

// NLL of one example with logits (0, ln 3) and label 1: softmax is
// (1/4, 3/4), so the NLL is ln(4/3). At T = 2 the logits halve: (0,
// ln √3), softmax (1/(1+√3), √3/(1+√3)), NLL ln((1+√3)/√3).
func TestNLL(t *testing.T) {
	l := [][]float32{{0, float32(math.Log(3))}}
	if got := NLL(l, []int{1}, 1); math.Abs(got-math.Log(4.0/3)) > 1e-6 {
		t.Errorf("NLL at T=1: %v, want ln(4/3)", got)
	}
	if got := NLL(l, []int{1}, 2); math.Abs(got-math.Log((1+math.Sqrt(3))/math.Sqrt(3))) > 1e-6 {
		t.Errorf("NLL at T=2: %v", got)
	}
	if p := Softmax(l[0], 1); math.Abs(p[1]-0.75) > 1e-6 {
		t.Errorf("Softmax %v", p)
	}
}

// Logits ±a with the label on the larger one a fraction q of the time:
// the NLL at temperature T is that of a coin with p = σ(2a/T), minimized
// where p = q, i.e. T = 2a / logit(q). With a = 3, q = 0.8:
// T = 6 / ln 4 ≈ 4.328.
func TestFitTemperature(t *testing.T) {
	var logits [][]float32
	var labels []int
	for i := range 10 {
		logits = append(logits, []float32{3, -3})
		if i < 8 {
			labels = append(labels, 0)
		} else {
			labels = append(labels, 1)
		}
	}
	T := FitTemperature(logits, labels)
	want := 6 / math.Log(4)
	if math.Abs(T-want) > 1e-4 {
		t.Errorf("FitTemperature = %v, want %v", T, want)
	}
	if NLL(logits, labels, T) > NLL(logits, labels, 1) {
		t.Error("fitted temperature has a higher NLL than T = 1")
	}
}

// Evaluate on a two-class set fills in the binary section and the curve of
// the positive class.
func TestEvaluateBinary(t *testing.T) {
	p := [][]float32{{0.6, 0.4}, {0.1, 0.9}, {0.9, 0.1}, {0.2, 0.8}}
	y := []int{1, 1, 0, 0}
	e := Evaluate(p, y, []string{"neg", "pos"}, 1, 0.5)
	if e.Binary == nil || e.Binary.TP != 1 || e.Binary.FN != 1 || e.Binary.FP != 1 || e.Binary.TN != 1 || e.Binary.Positive != "pos" {
		t.Fatalf("binary %+v", e.Binary)
	}
	if e.AUC == nil || *e.AUC != 0.75 || len(e.ROC) != 1 || e.ROC[0].Class != "pos" {
		t.Errorf("AUC %v ROC %+v", e.AUC, e.ROC)
	}
	if e.TopK != 0 || e.Accuracy != 0.5 || len(e.Reliability) != ECEBins {
		t.Errorf("evaluation %+v", e)
	}

	// Class 0 as the positive class: its probabilities are the scores.
	p = [][]float32{{0.6, 0.4}, {0.3, 0.7}, {0.9, 0.1}, {0.8, 0.2}}
	for _, c := range []struct {
		positive       int
		tp, fp, tn, fn int
		auc            float64
	}{{1, 1, 0, 2, 1, 1}, {0, 2, 1, 1, 0, 1}} {
		e := Evaluate(p, y, []string{"neg", "pos"}, c.positive, 0.5)
		b := e.Binary
		if b.Positive != e.Classes[c.positive] || b.TP != c.tp || b.FP != c.fp || b.TN != c.tn || b.FN != c.fn {
			t.Errorf("positive %d: binary %+v", c.positive, b)
		}
		if e.ROC[0].Class != e.Classes[c.positive] || *e.AUC != c.auc {
			t.Errorf("positive %d: ROC of %q, AUC %v; want %v", c.positive, e.ROC[0].Class, *e.AUC, c.auc)
		}
	}
}
