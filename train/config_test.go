package train_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/train"
)

// TestConfigValidate checks that each invalid field is reported as a
// *ConfigError naming it, the field it needs or is bounded by, and that Fit
// refuses the same configuration with the same error.
func TestConfigValidate(t *testing.T) {
	ds, _ := mnistHead(t, 8, 0)
	for _, c := range []struct {
		cfg          train.Config
		field, other string // other: Needs or Limit
		msg          string
	}{
		{train.Config{Epochs: -1}, "Epochs", "", "epochs -1"},
		{train.Config{BatchSize: -2}, "BatchSize", "", "batch size -2"},
		{train.Config{LR: -1}, "LR", "", "learning rate -1"},
		{train.Config{LR: math.Inf(1)}, "LR", "", "learning rate +Inf"},
		{train.Config{Optimizer: "foo"}, "Optimizer", "", "sgd, adam, adamw"},
		{train.Config{Schedule: "bar"}, "Schedule", "", "onecycle"},
		{train.Config{WeightDecay: -1}, "WeightDecay", "", "weight decay -1"},
		{train.Config{WeightDecay: math.NaN()}, "WeightDecay", "", "weight decay NaN"},
		{train.Config{WeightDecay: math.Inf(1)}, "WeightDecay", "", "weight decay +Inf"},
		{train.Config{LabelSmoothing: 1}, "LabelSmoothing", "", "label smoothing 1"},
		{train.Config{LabelSmoothing: float32(math.NaN())}, "LabelSmoothing", "", "label smoothing NaN"},
		{train.Config{CheckpointEvery: -1}, "CheckpointEvery", "", "checkpoint interval -1"},
		{train.Config{KeepLast: -1}, "KeepLast", "", "keep-last -1"},
		{train.Config{CheckpointEvery: 5}, "CheckpointEvery", "CheckpointPath", "without a checkpoint path"},
		{train.Config{KeepLast: 2}, "KeepLast", "CheckpointPath", "without a checkpoint path"},
		{train.Config{Epochs: 3, SWAStart: 4}, "SWAStart", "Epochs", "weight averaging from epoch 4"},
		{train.Config{SWAStart: -1}, "SWAStart", "", "weight averaging from epoch -1"},
		{train.Config{SWAStart: 1, SWALR: math.NaN()}, "SWALR", "", "learning rate NaN"},
		{train.Config{SWALR: 0.1}, "SWALR", "SWAStart", "without a first epoch"},
	} {
		err := c.cfg.Validate()
		var ce *train.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%+v: Validate returned %v, want a *ConfigError", c.cfg, err)
			continue
		}
		if ce.Field != c.field || ce.Needs+ce.Limit != c.other || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: error %q (field %s, needs %q, limit %q), want field %s, other %q, mentioning %q",
				c.cfg, err, ce.Field, ce.Needs, ce.Limit, c.field, c.other, c.msg)
		}
		if _, fitErr := train.Fit(bnNet(), ds, nil, c.cfg); fitErr == nil || fitErr.Error() != err.Error() {
			t.Errorf("%+v: Fit returned %v, Validate %v", c.cfg, fitErr, err)
		}
	}
	if err := (train.Config{}).Validate(); err != nil {
		t.Errorf("the zero Config: %v", err)
	}
	if err := (train.Config{Optimizer: " AdamW ", Schedule: "Cosine", CheckpointPath: "x.safetensors", KeepLast: 2}).Validate(); err != nil {
		t.Errorf("a valid Config: %v", err)
	}
}
