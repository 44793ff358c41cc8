package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestWinogradMatchesEager checks the Winograd F(4×4, 3×3) layers of a
// plan (128-channel residual block with folded batch norm, fused residual
// add and ReLU, partial tiles) against eager execution at the engine's
// usual tolerance, 1e-4 abs + 1e-4 rel, which it meets (the kernel's own
// error bound relative to Σ|w·x| is in kernels.TestWinograd43), and that the
// same plan without Winograd agrees.
func TestWinogradMatchesEager(t *testing.T) {
	r := tensor.NewRNG(5)
	model := nn.NewSequential(
		nn.NewConv2d(r, nn.Conv2dConfig{In: 3, Out: 128, Kernel: 3, Padding: 1, NoBias: true}), nn.NewBatchNorm2d(128), nn.ReLU{},
		&nn.Residual{
			Body: nn.NewSequential(
				nn.NewConv2d(r, nn.Conv2dConfig{In: 128, Out: 128, Kernel: 3, Padding: 1, NoBias: true}), nn.NewBatchNorm2d(128), nn.ReLU{},
				nn.NewConv2d(r, nn.Conv2dConfig{In: 128, Out: 128, Kernel: 3, Padding: 1}), nn.NewBatchNorm2d(128)),
			Post: nn.ReLU{},
		},
		nn.NewConv2d(r, nn.Conv2dConfig{In: 128, Out: 128, Kernel: 3, Padding: 0}), nn.Tanh{},
		nn.GlobalAvgPool2d{}, nn.Flatten{}, nn.NewLinear(r, 128, 7, true),
	)
	randomizeBN(t, model, 4)
	for _, shape := range [][]int{{1, 3, 26, 25}, {2, 3, 17, 19}} {
		x := tensor.Normal(tensor.NewRNG(6), 0, 1, shape...)
		want := eager(model, x)
		p, err := Compile(model, shape...)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(slices.DeleteFunc(slices.Clone(p.Summary), func(s string) bool { return !strings.HasPrefix(s, "winograd-") })); n != 3 {
			t.Fatalf("%v: %d Winograd steps in %v, want 3", shape, n, p.Summary)
		}
		compare(t, p.Run(x), want)
		x2 := tensor.Normal(tensor.NewRNG(7), 0, 1, shape...)
		compare(t, p.Run(x2), eager(model, x2))
		if allocs := testing.AllocsPerRun(20, func() { p.Run(x) }); allocs != 0 {
			t.Errorf("%v: %v allocations per Run, want 0", shape, allocs)
		}
	}
}

// TestWinogradChoice pins the shape heuristic on ResNet-18's 3×3 layers.
func TestWinogradChoice(t *testing.T) {
	for _, c := range []struct {
		c, h, n int
		want    bool
	}{
		{64, 56, 1, true}, {64, 56, 16, true},
		{128, 28, 1, true}, {128, 28, 16, true},
		{256, 14, 1, true}, {256, 14, 16, true},
		{512, 7, 1, false}, {512, 7, 16, true},
		{32, 56, 16, false}, // too few channels
	} {
		g := convGeom3(c.c, c.h)
		if got := useWinograd(g, c.c, c.n); got != c.want {
			t.Errorf("useWinograd(%d², %d ch, batch %d) = %v, want %v", c.h, c.c, c.n, got, c.want)
		}
	}
}
