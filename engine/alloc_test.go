package engine

import (
	"testing"

	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/tensor"
)

// TestRunDoesNotAllocate checks that a planned run allocates nothing: every
// buffer, epilogue and loop body was made by Compile. (The GEMM's packing
// buffers live in a sync.Pool, which a garbage collection may empty; the
// rare refill after one is why the average is taken over 20 runs.)
func TestRunDoesNotAllocate(t *testing.T) {
	for _, c := range []struct {
		model string
		shape []int
	}{
		{"lenet5", []int{1, 1, 28, 28}},
		{"mnist-cnn", []int{1, 1, 28, 28}},
		{"resnet20", []int{1, 3, 32, 32}},
		{"resnet20", []int{4, 3, 32, 32}},
		{"resnet18", []int{1, 3, 64, 64}},
	} {
		m, err := models.New(c.model, models.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Compile(m, c.shape...)
		if err != nil {
			t.Fatal(err)
		}
		x := tensor.Normal(tensor.NewRNG(1), 0, 1, c.shape...)
		p.Run(x)
		if allocs := testing.AllocsPerRun(20, func() { p.Run(x) }); allocs != 0 {
			t.Errorf("%s %v: %v allocations per Run, want 0", c.model, c.shape, allocs)
		}
	}
}
