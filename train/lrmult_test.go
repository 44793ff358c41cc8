package train

import (
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func TestParseLRMults(t *testing.T) {
	rules, err := ParseLRMults([]string{"fc=1", " layers.0 = 0.25", "*=0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []LRMult{{"fc", 1}, {"layers.0", 0.25}, {"*", 0}}
	if !slices.Equal(rules, want) {
		t.Fatalf("got %v, want %v", rules, want)
	}
	if s := formatLRMults(rules); s != "fc=1,layers.0=0.25,*=0" {
		t.Errorf("formatted %q", s)
	}
	for _, c := range []struct{ in, msg string }{
		{"fc", "want PREFIX=FACTOR"},
		{"=0.1", "want PREFIX=FACTOR"},
		{"fc=x", `factor "x" is not a finite number`},
		{"fc=-1", `factor "-1"`},
		{"fc=NaN", `factor "NaN"`},
		{"fc=inf", `factor "inf"`},
	} {
		if _, err := ParseLRMults([]string{c.in}); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %v, want one containing %q", c.in, err, c.msg)
		}
	}
	if _, err := ParseLRMults([]string{"fc=1", "fc=2"}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("repeated prefix: %v", err)
	}
}

// tinyNet is a conv layer and a linear head on 4×4 one-channel images.
func tinyNet() *nn.Sequential {
	r := tensor.NewRNG(1)
	return nn.NewSequential(
		nn.NewConv2d(r, nn.Conv2dConfig{In: 1, Out: 2, Kernel: 3, Padding: 1}),
		nn.ReLU{},
		nn.Flatten{},
		nn.NewLinear(r, 2*4*4, 2, true),
	)
}

func tinyData() *data.Dataset {
	ds := &data.Dataset{Name: "tiny", X: make([]float32, 8*16), Y: make([]int, 8), C: 1, H: 4, W: 4, NumClasses: 2}
	for i := range ds.X {
		ds.X[i] = float32(i%7) / 7
	}
	for i := range ds.Y {
		ds.Y[i] = i % 2
	}
	return ds
}

func TestFitWithLRMultipliers(t *testing.T) {
	ds := tinyData()
	// Factor 0 for the body keeps it in place while the head trains.
	model := tinyNet()
	conv := model.Layers[0].(*nn.Conv2d).Weight.Value.Clone()
	fc := model.Layers[3].(*nn.Linear).Weight.Value.Clone()
	cfg := Config{Epochs: 2, BatchSize: 4, LR: 0.1, Optimizer: "sgd", WeightDecay: 1e-3, LRMult: []LRMult{{"3", 1}, {"*", 0}}}
	if _, err := Fit(model, ds, nil, cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(model.Layers[0].(*nn.Conv2d).Weight.Value.Data(), conv.Data()) {
		t.Error("the body moved with factor 0")
	}
	if slices.Equal(model.Layers[3].(*nn.Linear).Weight.Value.Data(), fc.Data()) {
		t.Error("the head did not move with factor 1")
	}
	// Factor ½ for everything is the same run at half the rate, to the bit,
	// for each optimizer and with a schedule.
	for _, opt := range []string{"sgd", "adam", "adamw"} {
		a, b := tinyNet(), tinyNet()
		ca := Config{Epochs: 2, BatchSize: 4, LR: 0.1, Optimizer: opt, Schedule: "cosine", WeightDecay: 1e-2, LRMult: []LRMult{{"*", 0.5}}}
		cb := ca
		cb.LR, cb.LRMult = 0.05, nil
		if _, err := Fit(a, ds, nil, ca); err != nil {
			t.Fatal(err)
		}
		if _, err := Fit(b, ds, nil, cb); err != nil {
			t.Fatal(err)
		}
		pa, pb := nn.Params(a), nn.Params(b)
		for i := range pa {
			if !slices.Equal(pa[i].Value.Value.Data(), pb[i].Value.Value.Data()) {
				t.Errorf("%s: %s differs between factor ½ and half the rate", opt, pa[i].Name)
			}
		}
	}
	// A rule that covers nothing trainable is an error naming it.
	_, err := Fit(tinyNet(), ds, nil, Config{Epochs: 1, BatchSize: 4, LRMult: []LRMult{{"layer9", 0.1}}})
	if err == nil || !strings.Contains(err.Error(), "layer9=0.1 covers no trainable parameter") {
		t.Errorf("unknown prefix: %v", err)
	}
	frozen := tinyNet()
	if _, err := Freeze(frozen, "0"); err != nil {
		t.Fatal(err)
	}
	_, err = Fit(frozen, ds, nil, Config{Epochs: 1, BatchSize: 4, LRMult: []LRMult{{"0", 0.1}}})
	if err == nil || !strings.Contains(err.Error(), "covers no trainable parameter") {
		t.Errorf("frozen prefix: %v", err)
	}
	// The rules are part of the recipe a resumed run must repeat.
	if r := cfg.recipe(); r.LRMult != "3=1,*=0" {
		t.Errorf("recipe lr_mult %q", r.LRMult)
	}
}

// TestRulePatterns checks the rules' matching: prefixes cover a name and
// the names under it, patterns with * or ? cover whole names, "*" all;
// and that weight-decay rules have their own words in errors.
func TestRulePatterns(t *testing.T) {
	for _, c := range []struct {
		rule, name string
		want       bool
	}{
		{"layer1", "layer1.0.conv1.weight", true},
		{"layer1", "layer10.conv1.weight", false},
		{"*norm*.bias", "2.norm1.bias", true},
		{"*norm*.bias", "2.norm1.weight", false},
		{"*.bias", "0.bias", true},
		{"?.bias", "0.bias", true},
		{"?.bias", "10.bias", false},
		{"*", "anything", true},
	} {
		if got := (LRMult{Prefix: c.rule, Factor: 1}).covers(c.name); got != c.want {
			t.Errorf("rule %q covers %q: %v, want %v", c.rule, c.name, got, c.want)
		}
	}
	if _, err := ParseWDMults([]string{"[=1"}); err == nil || !strings.Contains(err.Error(), "weight-decay multiplier") || !strings.Contains(err.Error(), "malformed pattern") {
		t.Errorf("malformed pattern: %v", err)
	}
}
