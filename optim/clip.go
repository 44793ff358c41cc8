package optim

import (
	"math"

	"github.com/fovea-ml/fovea/autograd"
)

// ClipGradNorm scales the gradients of params in place so that their global
// L2 norm (over all gradients together, as if concatenated) is at most
// maxNorm, and returns the norm before clipping, as
// torch.nn.utils.clip_grad_norm_: the gradients are multiplied by
// maxNorm/(norm + 1e-6) when that factor is below 1. The norm is accumulated
// in float64. Parameters with a nil Grad or that need no gradient are
// ignored. If the norm is not finite the gradients are left unchanged (the
// caller can check the returned value); PyTorch would fill them with NaN.
func ClipGradNorm(params []*autograd.Var, maxNorm float64) (totalNorm float64) {
	var sum float64
	for _, p := range params {
		_, g, ok := active(p)
		if !ok {
			continue
		}
		for _, x := range g {
			sum += float64(x) * float64(x)
		}
	}
	totalNorm = math.Sqrt(sum)
	coef := maxNorm / (totalNorm + 1e-6)
	if !(coef < 1) || math.IsInf(totalNorm, 0) || math.IsNaN(totalNorm) {
		return totalNorm
	}
	c := float32(coef)
	for _, p := range params {
		_, g, ok := active(p)
		if !ok {
			continue
		}
		for i := range g {
			g[i] *= c
		}
	}
	return totalNorm
}
