package nn

import (
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// Linear is a fully connected layer, y = x·Wᵀ + b.
//
//	x (N, In) → (N, Out)
//	weight (Out, In), bias (Out)
type Linear struct {
	Weight *autograd.Var
	Bias   *autograd.Var // nil without bias
}

// NewLinear returns a fully connected layer with PyTorch's default
// initialization drawn from rng.
func NewLinear(rng *rand.Rand, in, out int, bias bool) *Linear {
	if in < 1 || out < 1 {
		panic(tensor.ShapeErrorf("nn: Linear %d→%d: sizes must be positive", in, out))
	}
	l := &Linear{Weight: autograd.Param(KaimingUniform(rng, math.Sqrt(5), out, in))}
	if bias {
		l.Bias = autograd.Param(biasInit(rng, in, out))
	}
	return l
}

// Forward applies the layer; input of more than two dimensions is
// flattened after the batch axis first.
func (l *Linear) Forward(x *autograd.Var) *autograd.Var {
	if x.Value.Dims() != 2 {
		x = autograd.Flatten(x)
	}
	return autograd.Linear(x, l.Weight, l.Bias)
}

// OwnParams lists weight and bias.
func (l *Linear) OwnParams() []Named[*autograd.Var] {
	ps := []Named[*autograd.Var]{{Name: "weight", Value: l.Weight}}
	if l.Bias != nil {
		ps = append(ps, Named[*autograd.Var]{Name: "bias", Value: l.Bias})
	}
	return ps
}
