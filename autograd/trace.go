package autograd

import (
	"sync/atomic"

	"github.com/fovea-ml/fovea/tensor"
)

// TraceOp describes one operation as it runs: its name ("conv2d", "relu",
// …), its attributes (for example a tensor.ConvParams), its inputs and its
// output. Package graph turns a sequence of them into the model's IR.
type TraceOp struct {
	Name   string
	Attrs  any
	Inputs []*Var
	Output *Var
}

// BatchNormAttrs are the attributes of a traced "batchnorm" op.
type BatchNormAttrs struct {
	RunMean, RunVar *tensor.Tensor
	Training        bool
	Momentum, Eps   float32
}

// tracer is the installed trace callback, or nil.
var tracer atomic.Pointer[func(TraceOp)]

// Trace installs fn to receive every operation until the returned function
// is called. Like [NoGrad] it is process-wide: trace one model at a time,
// with no other computation running.
func Trace(fn func(TraceOp)) (stop func()) {
	tracer.Store(&fn)
	return func() { tracer.Store(nil) }
}

// emit reports an op to the tracer, if any, and returns out. Ops call it
// deferred, so an op that panics arrives with a nil out: it is not
// reported, and the panic goes on with its own message.
func emit(name string, attrs any, out *Var, inputs ...*Var) *Var {
	if out == nil {
		return out
	}
	if fn := tracer.Load(); fn != nil {
		(*fn)(TraceOp{Name: name, Attrs: attrs, Inputs: inputs, Output: out})
	}
	return out
}
