package main

import (
	"reflect"
	"testing"

	"github.com/fovea-ml/fovea/train"
)

// TestConfigFlags checks that flagError's table ties fields that
// train.Config has to flags that fovea train has.
func TestConfigFlags(t *testing.T) {
	fl := newTrainCmd().Flags()
	for field, flag := range configFlags {
		if _, ok := reflect.TypeFor[train.Config]().FieldByName(field); !ok {
			t.Errorf("train.Config has no field %s", field)
		}
		if fl.Lookup(flag) == nil {
			t.Errorf("fovea train has no flag --%s (for %s)", flag, field)
		}
	}
}
