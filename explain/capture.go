package explain

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Capturing an inner layer's output. The model stays an opaque nn.Layer;
// two mechanisms find the output of the layer at a given nn.Walk path:
//
//   - A child of an nn.Sequential, nn.Concat or nn.Residual is replaced,
//     for the duration of one forward pass, by a wrapper that runs it and
//     sees its output (as package graph does to learn scopes). This works
//     for any layer, parameter-free or a whole block.
//   - Any other layer that owns parameters (a Conv2d field of a struct
//     model such as LeNet5) is found through autograd.Trace: its output is
//     the output of the last operation that reads one of its parameters.
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

// hookWrap is the wrapper put in place of a container child.
type hookWrap struct {
	inner nn.Layer
	path  string
	c     *capturer
}

// Forward runs the wrapped layer and records (and hooks) its output.
func (h *hookWrap) Forward(x *autograd.Var) *autograd.Var {
	out := h.inner.Forward(x)
	return h.c.record(h.path, out)
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

// run does one forward pass of model on x, capturing the layers' outputs.
// It returns the model's output. Unknown or uncapturable paths are errors.
func (c *capturer) run(x *autograd.Var) (out *autograd.Var, err error) {
	c.got = map[string]*captured{}
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	// Layers reached through a container are wrapped; the others must own
	// parameters and are found by tracing.
	byParam := map[*tensor.Tensor]string{}
	for _, path := range c.paths {
		if path == "" {
			return nil, fmt.Errorf("explain: the empty path is the whole model, not a layer")
		}
		l, ok := layerAt(c.model, path)
		if !ok {
			return nil, fmt.Errorf("explain: the model has no layer %q (see `fovea summary` for layer paths)", path)
		}
		if u, ok := c.wrapChild(path); ok {
			undo = append(undo, u)
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
	if len(byParam) > 0 {
		busy := false
		stop := autograd.Trace(func(op autograd.TraceOp) {
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
		})
		defer stop()
	}
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("explain: running the model: %v", r)
		}
	}()
	out = c.model.Forward(x)
	for _, path := range c.paths {
		if c.got[path] == nil {
			return nil, fmt.Errorf("explain: layer %q did not run in the forward pass", path)
		}
	}
	return out, nil
}

// wrapChild puts a hookWrap around the layer at path if its parent is a
// Sequential, Concat or Residual, returning the function that undoes it.
func (c *capturer) wrapChild(path string) (undo func(), ok bool) {
	nn.Walk(c.model, func(p string, l nn.Layer) {
		if ok {
			return
		}
		name, isChild := childName(p, path)
		if !isChild {
			return
		}
		wrap := func(x nn.Layer) nn.Layer { return &hookWrap{inner: x, path: path, c: c} }
		switch parent := l.(type) {
		case *nn.Sequential:
			if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < len(parent.Layers) {
				old := parent.Layers
				parent.Layers = slices.Clone(old)
				parent.Layers[i] = wrap(old[i])
				undo, ok = func() { parent.Layers = old }, true
			}
		case *nn.Concat:
			if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < len(parent.Branches) {
				old := parent.Branches
				parent.Branches = slices.Clone(old)
				parent.Branches[i] = wrap(old[i])
				undo, ok = func() { parent.Branches = old }, true
			}
		case *nn.Residual:
			old := *parent
			switch {
			case name == "body" && parent.Body != nil:
				parent.Body = wrap(parent.Body)
			case name == "shortcut" && parent.Shortcut != nil:
				parent.Shortcut = wrap(parent.Shortcut)
			case name == "post" && parent.Post != nil:
				parent.Post = wrap(parent.Post)
			default:
				return
			}
			undo, ok = func() { *parent = old }, true
		}
	})
	return undo, ok
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
