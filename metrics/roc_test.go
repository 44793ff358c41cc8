package metrics

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// Four examples, scores 0.9 (pos), 0.8 (neg), 0.4 (pos), 0.1 (neg); two of
// each class, so each step moves a rate by 1/2. Thresholds from the top:
//
//	+Inf: nothing positive           (0, 0)
//	0.9:  TP 1                       (0, 1/2)
//	0.8:  TP 1, FP 1                 (1/2, 1/2)
//	0.4:  TP 2, FP 1                 (1/2, 1)
//	0.1:  everything positive        (1, 1)
//
// No three consecutive points are collinear, so all are kept. The area is
// 1/2·1/2 + 1/2·1 = 3/4, as ROCAUC says (3 of the 4 pos–neg pairs ordered).
func TestROCCurve(t *testing.T) {
	scores := []float64{0.4, 0.9, 0.1, 0.8}
	pos := []bool{true, true, false, false}
	got := ROCCurve(scores, pos)
	want := []ROCPoint{{0, 0, math.Inf(1)}, {0, 0.5, 0.9}, {0.5, 0.5, 0.8}, {0.5, 1, 0.4}, {1, 1, 0.1}}
	if len(got) != len(want) {
		t.Fatalf("ROCCurve = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d = %v, want %v", i, got[i], want[i])
		}
	}
	if auc := ROCAUC(scores, pos); auc != 0.75 {
		t.Errorf("ROCAUC %v, want 0.75", auc)
	}
	js, err := json.Marshal(got[:2])
	if err != nil || !strings.Contains(string(js), `"threshold":null`) || !strings.Contains(string(js), `"threshold":0.9`) {
		t.Errorf("JSON %s, %v", js, err)
	}
	if ROCCurve([]float64{1, 2}, []bool{true, true}) != nil {
		t.Error("curve without negatives is not nil")
	}
}

// A perfect ranking with collinear points: positives 0.9 0.8, negatives
// 0.2 0.1. The points (0,0) (0,1/2) (0,1) (1/2,1) (1,1) lie on two
// segments, so only (0,0), (0,1) and (1,1) stay; tied scores make one
// point.
func TestROCCurveDropsCollinear(t *testing.T) {
	got := ROCCurve([]float64{0.9, 0.8, 0.2, 0.1}, []bool{true, true, false, false})
	want := []ROCPoint{{0, 0, math.Inf(1)}, {0, 1, 0.8}, {1, 1, 0.1}}
	if len(got) != len(want) {
		t.Fatalf("ROCCurve = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("point %d = %v, want %v", i, got[i], want[i])
		}
	}
	tied := ROCCurve([]float64{0.5, 0.5}, []bool{true, false})
	if len(tied) != 2 || tied[1] != (ROCPoint{1, 1, 0.5}) {
		t.Errorf("tied scores: %v", tied)
	}
}

// At threshold 0.5 the scores above (0.9 pos, 0.8 neg) are predicted
// positive: TP 1, FP 1, and below (0.4 pos, 0.1 neg) negative: FN 1,
// TN 1. Sensitivity 1/2, specificity 1/2. At 0.4, the score 0.4 counts as
// positive (>=): TP 2, sensitivity 1.
func TestAtThreshold(t *testing.T) {
	scores := []float64{0.4, 0.9, 0.1, 0.8}
	pos := []bool{true, true, false, false}
	b := AtThreshold(scores, pos, 0.5)
	if b.TP != 1 || b.FP != 1 || b.TN != 1 || b.FN != 1 || b.Sensitivity != 0.5 || b.Specificity != 0.5 {
		t.Errorf("at 0.5: %+v", b)
	}
	if b := AtThreshold(scores, pos, 0.4); b.TP != 2 || b.Sensitivity != 1 || b.Specificity != 0.5 {
		t.Errorf("at 0.4: %+v", b)
	}
}
