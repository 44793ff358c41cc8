package nn

import (
	"strconv"

	"github.com/fovea-ml/fovea/autograd"
)

// Concat runs every branch on the same input and joins the outputs along the
// channel axis (axis 1 of NCHW), as an inception module does. Branches are
// named by index.
//
//	x (N, C, H, W) → (N, ΣCᵢ, H, W)
type Concat struct {
	Branches []Layer
}

// Forward runs the branches and concatenates their outputs.
func (c *Concat) Forward(x *autograd.Var) *autograd.Var {
	outs := make([]*autograd.Var, len(c.Branches))
	for i, b := range c.Branches {
		outs[i] = forwardChild(x, c, i, "", b)
	}
	return autograd.Concat(1, outs...)
}

// Children names the branches by index.
func (c *Concat) Children() []Named[Layer] {
	out := make([]Named[Layer], len(c.Branches))
	for i, b := range c.Branches {
		out[i] = Named[Layer]{Name: strconv.Itoa(i), Value: b}
	}
	return out
}
