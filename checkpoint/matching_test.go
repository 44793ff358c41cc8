package checkpoint

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// smallNet is conv → BN → linear with the given number of classes.
func smallNet(seed uint64, classes int) *nn.Sequential {
	r := tensor.NewRNG(seed)
	return nn.NewSequential(
		nn.NewConv2d(r, nn.Conv2dConfig{In: 1, Out: 4, Kernel: 3, Padding: 1}),
		nn.NewBatchNorm2d(4),
		nn.Flatten{},
		nn.NewLinear(r, 4*6*6, classes, true),
	)
}

func TestLoadMatchingKeepsANewHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pre.safetensors")
	pre := smallNet(1, 10)
	if err := Save(path, pre, nil); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fine := smallNet(2, 3)
	headBefore := fine.Layers[3].(*nn.Linear).Weight.Value.Clone()
	m, err := LoadMatching(fine, f)
	if err != nil {
		t.Fatal(err)
	}
	wantLoaded := []string{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"}
	if !slices.Equal(m.Loaded, wantLoaded) || !slices.Equal(m.Shape, []string{"3.weight", "3.bias"}) || len(m.Missing)+len(m.Unused) != 0 {
		t.Fatalf("match = %+v", m)
	}
	if !slices.Equal(fine.Layers[0].(*nn.Conv2d).Weight.Value.Data(), pre.Layers[0].(*nn.Conv2d).Weight.Value.Data()) {
		t.Error("conv weights not copied")
	}
	if !slices.Equal(fine.Layers[3].(*nn.Linear).Weight.Value.Data(), headBefore.Data()) {
		t.Error("the new head was overwritten")
	}

	// A file with nothing in common is an error naming it.
	other := filepath.Join(t.TempDir(), "other.safetensors")
	if err := WriteFile(other, []nn.Named[*tensor.Tensor]{{Name: "encoder.w", Value: tensor.Zeros(2)}}, nil); err != nil {
		t.Fatal(err)
	}
	g, err := ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadMatching(fine, g); err == nil || !strings.Contains(err.Error(), "other.safetensors: no tensor fits") {
		t.Errorf("unrelated checkpoint: error %v", err)
	}
}
