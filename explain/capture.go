package explain

import (
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/internal/maybe"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Capturing an inner layer's output. The model stays an opaque nn.Layer
// and is not changed; two mechanisms of the forward pass's tape find the
// output of the layer at a given nn.Walk path:
//
//   - A child of an nn.Sequential, nn.Concat or nn.Residual runs through
//     the tape's Module hook, which sees (and may replace) its output. This
//     works for any layer, parameter-free or a whole block.
//   - Any other layer that owns parameters (a Conv2d field of a struct
//     model such as LeNet5) is found through the tape's Trace callback: its
//     output is the output of the last operation that reads one of its
//     parameters.
//
// To obtain the gradient with respect to that output, which Backward does
// not keep for intermediate results, the output is routed through
// autograd.Add with a zero leaf, the "hook": y = a + hook, so y has a's
// value and hook.Grad = ∂score/∂a after Backward. In the trace mechanism the
// op's output Var is rewritten in place into that sum; this relies on
// autograd calling the tracer before the op returns its result (its ops
// emit from a deferred call), so nothing downstream has seen the old Var.

// captured is one captured layer output.
type captured struct {
	act  *autograd.Var // the layer's output (value)
	hook *autograd.Var // zero leaf added to it; its Grad is ∂score/∂act (nil without hooks)
}

// capturer captures the outputs of layers at given paths during forward
// passes of model.
type capturer struct {
	model nn.Layer
	paths []string
	hooks bool
	got   map[string]*captured
}

// record stores out as the output of path and returns what the model
// should go on with: out itself, or out + hook.
func (c *capturer) record(path string, out *autograd.Var) *autograd.Var {
	cp := &captured{act: out}
	c.got[path] = cp
	if !c.hooks {
		return out
	}
	cp.hook = autograd.Param(tensor.New(out.Shape()...))
	return autograd.Add(out, cp.hook)
}

// layerAt returns the layer at an nn.Walk path of model.
func layerAt(model nn.Layer, path string) (nn.Layer, bool) {
	var found nn.Layer
	nn.Walk(model, func(p string, l nn.Layer) {
		if p == path && found == nil {
			found = l
		}
	})
	return found, found != nil
}

// run does one forward pass of model on x (on the tape tape, whose
// Module and Trace hooks it sets), capturing the layers' outputs. It returns
// the model's output. Unknown or uncapturable paths are errors.
func (c *capturer) run(tape *autograd.Tape, x *tensor.Tensor) (out *autograd.Var, err error) {
	c.got = map[string]*captured{}
	byPath := map[string]bool{}            // container children to capture
	byParam := map[*tensor.Tensor]string{} // other layers, by their parameters
	for _, path := range c.paths {
		if path == "" {
			return nil, fmt.Errorf("explain: the empty path is the whole model, not a layer")
		}
		l, ok := layerAt(c.model, path)
		if !ok {
			return nil, fmt.Errorf("explain: the model has no layer %q (see `fovea summary` for layer paths)", path)
		}
		if c.containerChild(path) {
			byPath[path] = true
			continue
		}
		po, ok := l.(nn.ParamOwner)
		if !ok || len(po.OwnParams()) == 0 {
			return nil, fmt.Errorf("explain: cannot capture layer %q: it is neither the child of a Sequential, Concat or Residual nor a layer with parameters", path)
		}
		for _, p := range po.OwnParams() {
			if p.Value != nil {
				byParam[p.Value.Value] = path
			}
		}
	}
	if len(byPath) > 0 {
		sc := nn.NewScopes(c.model)
		tape.Module = func(call autograd.ModuleCall, forward func() *autograd.Var) *autograd.Var {
			path := sc.Enter(call)
			out := forward()
			sc.Exit()
			if byPath[path] {
				return c.record(path, out)
			}
			return out
		}
	}
	if len(byParam) > 0 {
		busy := false
		tape.Trace = func(op autograd.TraceOp) {
			if busy {
				return
			}
			for _, in := range op.Inputs {
				if in == nil {
					continue
				}
				path, ok := byParam[in.Value]
				if !ok {
					continue
				}
				busy = true
				inner := new(autograd.Var)
				*inner = *op.Output
				*op.Output = *c.record(path, inner)
				busy = false
				return
			}
		}
	}
	out, err = maybe.Value(func() *autograd.Var { return c.model.Forward(tape.Const(x)) })
	if err != nil {
		return nil, fmt.Errorf("explain: running the model: %w", err)
	}
	for _, path := range c.paths {
		if c.got[path] == nil {
			return nil, fmt.Errorf("explain: layer %q did not run in the forward pass", path)
		}
	}
	return out, nil
}

// containerChild reports whether the layer at path is a child of an
// nn.Sequential, nn.Concat or nn.Residual, whose Forward runs it through
// the tape's Module hook.
func (c *capturer) containerChild(path string) (ok bool) {
	nn.Walk(c.model, func(p string, l nn.Layer) {
		if _, isChild := childName(p, path); isChild {
			switch l.(type) {
			case *nn.Sequential, *nn.Concat, *nn.Residual:
				ok = true
			}
		}
	})
	return ok
}

// childName reports whether path names a direct child of the layer at
// parent, and the child's name.
func childName(parent, path string) (string, bool) {
	if parent == "" {
		if slices.Contains([]byte(path), '.') {
			return "", false
		}
		return path, true
	}
	if len(path) <= len(parent)+1 || path[:len(parent)] != parent || path[len(parent)] != '.' {
		return "", false
	}
	rest := path[len(parent)+1:]
	if slices.Contains([]byte(rest), '.') {
		return "", false
	}
	return rest, true
}

// frozen turns off gradients of every parameter of model until the
// returned function restores them: explanations need gradients with
// respect to activations and inputs only.
func frozen(model nn.Layer) (restore func()) {
	vars := nn.ParamVars(model)
	was := make([]bool, len(vars))
	for i, v := range vars {
		was[i] = v.RequiresGrad()
		v.SetRequiresGrad(false)
	}
	return func() {
		for i, v := range vars {
			v.SetRequiresGrad(was[i])
		}
	}
}
