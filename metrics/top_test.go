package metrics

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestTopClasses(t *testing.T) {
	probs := []float64{0.1, 0.4, 0.1, 0.4}
	got := TopClasses(probs, []string{"cat", "dog", "fox"}, 3)
	want := []Ranked{{"dog", 1, 0.4}, {"3", 3, 0.4}, {"cat", 0, 0.1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TopClasses = %v, want %v", got, want)
	}
	if n := len(TopClasses(probs, nil, 10)); n != 4 {
		t.Errorf("k beyond the classes gave %d", n)
	}
	b, _ := json.Marshal(got[0])
	if string(b) != `{"label":"dog","index":1,"probability":0.4}` {
		t.Errorf("JSON %s", b)
	}
}
