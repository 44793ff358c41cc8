package nn

import (
	"reflect"

	"github.com/fovea-ml/fovea/autograd"
)

// Scopes follows, through the Module hook of a tape
// ([autograd.Tape.Module]), which child of which container is running, and
// so the [Walk] path of the innermost one: package graph names the scope of
// traced operations with it, package explain finds the layer whose output
// to capture. The model is not changed, so others may run it meanwhile.
//
// A child's path is its container's path and its name. The container's own
// path is the path of the running child it is, when it is one (so a layer
// used twice gets the path of each place), else the path [Walk] first
// reaches it by (the model itself, a field of a struct model).
type Scopes struct {
	paths map[Layer]string
	stack []scopeFrame
}

// scopeFrame is one running container child.
type scopeFrame struct {
	layer any
	path  string
}

// NewScopes returns the Scopes of a forward pass of model.
func NewScopes(model Layer) *Scopes {
	s := &Scopes{paths: map[Layer]string{}}
	Walk(model, func(path string, l Layer) {
		if !reflect.TypeOf(l).Comparable() {
			return
		}
		if _, seen := s.paths[l]; !seen {
			s.paths[l] = path
		}
	})
	return s
}

// Enter pushes the child of call and returns its path; [Scopes.Exit] pops
// it.
func (s *Scopes) Enter(call autograd.ModuleCall) string {
	parent, ok := "", false
	if n := len(s.stack); n > 0 && s.stack[n-1].layer == call.Parent {
		parent, ok = s.stack[n-1].path, true
	} else if l, isLayer := call.Parent.(Layer); isLayer && reflect.TypeOf(l).Comparable() {
		parent, ok = s.paths[l]
	}
	path := call.Name
	if ok {
		path = join(parent, call.Name)
	}
	s.stack = append(s.stack, scopeFrame{layer: call.Layer, path: path})
	return path
}

// Exit pops the child [Scopes.Enter] pushed last.
func (s *Scopes) Exit() { s.stack = s.stack[:len(s.stack)-1] }

// Path returns the path of the innermost running container child, "" when
// none runs.
func (s *Scopes) Path() string {
	if len(s.stack) == 0 {
		return ""
	}
	return s.stack[len(s.stack)-1].path
}
