package autograd

import (
	"fmt"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// BenchmarkBatchNormReLU times the fused batch norm + ReLU of mnist-cnn's
// three blocks at batch 128 in training mode, forward and backward (into
// x, γ and β) on an arena tape as in a training step: 16 channels of
// 28×28, 32 of 14×14, 64 of 7×7.
func BenchmarkBatchNormReLU(b *testing.B) {
	for _, shape := range [][]int{{128, 16, 28, 28}, {128, 32, 14, 14}, {128, 64, 7, 7}} {
		b.Run(fmt.Sprintf("%dx%dx%d", shape[1], shape[2], shape[3]), func(b *testing.B) {
			c := shape[1]
			xt, g := rnd(1, shape...), rnd(6, shape...)
			gamma, beta := Param(rnd(2, c)), Param(rnd(3, c))
			rm, rv := rnd(4, c), positive(5, c)
			arena := tensor.NewArena()
			for b.Loop() {
				arena.Reset()
				x := (&Tape{Arena: arena}).Const(xt)
				x.SetRequiresGrad(true)
				gamma.ZeroGrad()
				beta.ZeroGrad()
				BatchNormReLU(x, gamma, beta, rm, rv, true, 0.1, 1e-5).BackwardWith(g)
			}
		})
	}
}

// BenchmarkBatchNormReLUMaxPool times mnist-cnn's first two blocks' batch
// norm + ReLU + 2×2 max pool at batch 128 in training mode, forward and
// backward, fused (BatchNormReLUMaxPool2d) and as BatchNormReLU then
// MaxPool2d.
func BenchmarkBatchNormReLUMaxPool(b *testing.B) {
	p := tensor.PoolParams{Kernel: [2]int{2, 2}}
	for _, shape := range [][]int{{128, 16, 28, 28}, {128, 32, 14, 14}} {
		for _, fused := range []bool{true, false} {
			b.Run(fmt.Sprintf("%dx%dx%d/fused=%v", shape[1], shape[2], shape[3], fused), func(b *testing.B) {
				c := shape[1]
				xt, g := rnd(1, shape...), rnd(6, shape[0], c, shape[2]/2, shape[3]/2)
				gamma, beta := Param(rnd(2, c)), Param(rnd(3, c))
				rm, rv := rnd(4, c), positive(5, c)
				arena := tensor.NewArena()
				for b.Loop() {
					arena.Reset()
					x := (&Tape{Arena: arena}).Const(xt)
					x.SetRequiresGrad(true)
					gamma.ZeroGrad()
					beta.ZeroGrad()
					if fused {
						BatchNormReLUMaxPool2d(x, gamma, beta, rm, rv, true, 0.1, 1e-5, p).BackwardWith(g)
					} else {
						MaxPool2d(BatchNormReLU(x, gamma, beta, rm, rv, true, 0.1, 1e-5), p).BackwardWith(g)
					}
				}
			})
		}
	}
}
