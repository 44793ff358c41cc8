package nn

import "github.com/fovea-ml/fovea/autograd"

// Flatten reshapes (N, …) to (N, rest), keeping the batch axis.
type Flatten struct{}

// Forward flattens x.
func (Flatten) Forward(x *autograd.Var) *autograd.Var { return autograd.Flatten(x) }
