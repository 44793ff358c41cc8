package engine

import (
	"testing"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// TestSmallConvChoice pins which convolutions take the direct path for tiny
// layers: LeNet-5's two, and none of ResNet-18's (all ≥ 64 channels). The
// results of the path are checked against eager execution by
// TestPlanMatchesEager (LeNet-5 at batch 1 and 5, the custom net's 8- and
// 4-channel layers with residual add, leaky ReLU, sigmoid and tanh).
func TestSmallConvChoice(t *testing.T) {
	geo := func(c, h, k, pad, out int) kernels.ConvGeom {
		return kernels.ConvGeom{C: c, H: h, W: h, KH: k, KW: k, StrideH: 1, StrideW: 1, PadH: pad, PadW: pad,
			DilH: 1, DilW: 1, OutH: out, OutW: out}
	}
	for _, c := range []struct {
		g    kernels.ConvGeom
		o    int
		want bool
	}{
		{geo(1, 28, 5, 2, 28), 6, true},    // LeNet-5 conv1
		{geo(6, 14, 5, 0, 10), 16, true},   // LeNet-5 conv2
		{geo(64, 56, 3, 1, 56), 64, false}, // ResNet-18 layer1
		{geo(512, 7, 3, 1, 7), 512, false}, // ResNet-18 layer4
		{geo(3, 224, 7, 3, 224), 8, false}, // plane too large
		{geo(100, 8, 3, 1, 8), 16, false},  // reduction too deep
	} {
		if got := kernels.SmallConvPays(c.g, c.o); got != c.want {
			t.Errorf("kernels.SmallConvPays(%+v, %d) = %v, want %v", c.g, c.o, got, c.want)
		}
	}
}

func convGeom3(c, h int) kernels.ConvGeom {
	return kernels.ConvGeom{C: c, H: h, W: h, KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1,
		DilH: 1, DilW: 1, OutH: h, OutW: h}
}
