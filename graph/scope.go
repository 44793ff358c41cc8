package graph

import (
	"reflect"
	"strconv"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Scopes: while tracing, the children of every nn.Sequential, nn.Concat
// and nn.Residual in the model are wrapped in a layer that pushes its
// nn.Walk path on a stack around its Forward, so each traced operation
// learns the innermost container child running it (Node.Scope). The
// wrappers delegate every nn interface and are removed when Trace returns;
// like autograd.Trace itself this needs the model to be used by nobody else
// meanwhile.

// tracer keeps the stack of wrapped modules running.
type tracer struct {
	stack []string
}

// scope returns the path of the innermost running wrapped module.
func (t *tracer) scope() string {
	if len(t.stack) == 0 {
		return ""
	}
	return t.stack[len(t.stack)-1]
}

// scoped runs a child of a container with its path pushed on the stack.
// It delegates the nn interfaces so that walks of the model see through it.
type scoped struct {
	inner nn.Layer
	path  string
	t     *tracer
}

// Forward runs the wrapped layer inside its scope.
func (s *scoped) Forward(x *autograd.Var) *autograd.Var {
	s.t.stack = append(s.t.stack, s.path)
	defer func() { s.t.stack = s.t.stack[:len(s.t.stack)-1] }()
	return s.inner.Forward(x)
}

// OwnParams delegates to the wrapped layer.
func (s *scoped) OwnParams() []nn.Named[*autograd.Var] {
	if p, ok := s.inner.(nn.ParamOwner); ok {
		return p.OwnParams()
	}
	return nil
}

// OwnBuffers delegates to the wrapped layer.
func (s *scoped) OwnBuffers() []nn.Named[*tensor.Tensor] {
	if b, ok := s.inner.(nn.BufferOwner); ok {
		return b.OwnBuffers()
	}
	return nil
}

// Children delegates to the wrapped layer.
func (s *scoped) Children() []nn.Named[nn.Layer] {
	if p, ok := s.inner.(nn.Parent); ok {
		return p.Children()
	}
	return nil
}

// SetTraining delegates to the wrapped layer.
func (s *scoped) SetTraining(on bool) {
	if tr, ok := s.inner.(nn.Trainable); ok {
		tr.SetTraining(on)
	}
}

// wrap puts the children of every Sequential, Concat and Residual under
// model in scoped wrappers and returns the function undoing it.
func (t *tracer) wrap(model nn.Layer) (restore func()) {
	var undo []func()
	seen := map[nn.Layer]bool{}
	wrapOne := func(path, name string, l nn.Layer) nn.Layer {
		return &scoped{inner: l, path: join(path, name), t: t}
	}
	nn.Walk(model, func(path string, l nn.Layer) {
		if sc, ok := l.(*scoped); ok {
			l = sc.inner // Walk reaches children wrapped a moment ago
		}
		if !reflect.TypeOf(l).Comparable() || seen[l] {
			return
		}
		seen[l] = true
		switch c := l.(type) {
		case *nn.Sequential:
			old := c.Layers
			c.Layers = make([]nn.Layer, len(old))
			for i, x := range old {
				c.Layers[i] = wrapOne(path, strconv.Itoa(i), x)
			}
			undo = append(undo, func() { c.Layers = old })
		case *nn.Concat:
			old := c.Branches
			c.Branches = make([]nn.Layer, len(old))
			for i, x := range old {
				c.Branches[i] = wrapOne(path, strconv.Itoa(i), x)
			}
			undo = append(undo, func() { c.Branches = old })
		case *nn.Residual:
			old := *c
			if c.Body != nil {
				c.Body = wrapOne(path, "body", c.Body)
			}
			if c.Shortcut != nil {
				c.Shortcut = wrapOne(path, "shortcut", c.Shortcut)
			}
			if c.Post != nil {
				c.Post = wrapOne(path, "post", c.Post)
			}
			undo = append(undo, func() { *c = old })
		}
	})
	return func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
}

// join joins two path elements with a dot.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
