package graph

import (
	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
)

// Scopes: while tracing, the containers of the model (nn.Sequential,
// nn.Concat, nn.Residual) run each child through the tape's Module hook,
// which pushes the child's nn.Walk path (nn.Scopes) around its Forward, so
// each traced operation learns the innermost container child running it
// (Node.Scope). Nothing in the model changes: other goroutines may run it
// meanwhile.

// scoped returns the Module hook that keeps sc up to date.
func scoped(sc *nn.Scopes) func(autograd.ModuleCall, func() *autograd.Var) *autograd.Var {
	return func(call autograd.ModuleCall, forward func() *autograd.Var) *autograd.Var {
		sc.Enter(call)
		defer sc.Exit()
		return forward()
	}
}
