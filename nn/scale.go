package nn

import "github.com/fovea-ml/fovea/autograd"

// Scale multiplies its input by a constant Factor: airbench's output
// scaling of the logits (1/9) and anything else that wants a fixed gain.
//
//	x (any shape) → Factor·x, same shape
type Scale struct {
	Factor float32
}

// Forward returns Factor·x.
func (l Scale) Forward(x *autograd.Var) *autograd.Var { return autograd.Scale(x, l.Factor) }
