package engine

import (
	"testing"

	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// benchCases are zoo models and input shapes (N, C, H, W) that together
// take every path of the engine: W3 and W4 of BENCHMARKS.md (ResNet-18 at
// 224, batch 1: Winograd and implicit GEMM; LeNet-5, batch 1: the direct
// small convolution and the vector linear layer), a CIFAR ResNet at batch
// 16 (batched convolutions, fused residual adds, the GEMM linear layer),
// MobileNetV2 (grouped convolutions, ReLU6) and inception (concatenations,
// pooling).
var benchCases = []struct {
	name  string
	model string
	width float64
	shape []int
}{
	{"lenet5-b1", "lenet5", 0, []int{1, 1, 28, 28}},
	{"resnet18-224-b1", "resnet18", 0, []int{1, 3, 224, 224}},
	{"resnet20-b16", "resnet20", 0, []int{16, 3, 32, 32}},
	{"mobilenetv2-cifar-b8", "mobilenetv2-cifar", 0.5, []int{8, 3, 32, 32}},
	{"inception-cifar-b4", "inception-cifar", 0.5, []int{4, 3, 32, 32}},
}

func benchModel(b *testing.B, name string, width float64) nn.Layer {
	m, err := models.New(name, models.Options{NumClasses: 10, Seed: 1, Width: width})
	if err != nil {
		b.Fatal(err)
	}
	nn.SetTraining(m, false)
	return m
}

// BenchmarkRun times Plan.Run, the inference hot path.
func BenchmarkRun(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			p, err := Compile(benchModel(b, c.model, c.width), c.shape...)
			if err != nil {
				b.Fatal(err)
			}
			x := tensor.Normal(tensor.NewRNG(2), 0, 1, c.shape...)
			b.ReportAllocs()
			for b.Loop() {
				p.Run(x)
			}
		})
	}
}

// BenchmarkCompile times Compile: tracing, folding and fusion, weight
// packing and buffer planning.
func BenchmarkCompile(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			m := benchModel(b, c.model, c.width)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(m, c.shape...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
