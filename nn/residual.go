package nn

import "github.com/fovea-ml/fovea/autograd"

// Residual is a skip connection by addition: y = Post(Body(x) + Shortcut(x)).
// A nil Shortcut is the identity and a nil Post passes the sum through, so
// a ResNet basic block is Residual{Body: conv-bn-relu-conv-bn, Post: ReLU}.
// Children are named "body", "shortcut" and "post".
type Residual struct {
	Body     Layer
	Shortcut Layer // nil: identity
	Post     Layer // nil: none
}

// Forward adds the body and the shortcut.
func (r *Residual) Forward(x *autograd.Var) *autograd.Var {
	s := x
	if r.Shortcut != nil {
		s = forwardChild(x, r, 0, "shortcut", r.Shortcut)
	}
	y := autograd.Add(forwardChild(x, r, 0, "body", r.Body), s)
	if r.Post != nil {
		y = forwardChild(y, r, 0, "post", r.Post)
	}
	return y
}

// Children lists body, shortcut and post.
func (r *Residual) Children() []Named[Layer] {
	return []Named[Layer]{{Name: "body", Value: r.Body}, {Name: "shortcut", Value: r.Shortcut}, {Name: "post", Value: r.Post}}
}
