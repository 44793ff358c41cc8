package autograd

import (
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/tensor"
)

// TraceOp describes one operation as it runs, for [Tape.Trace]: which op
// ([ops.Conv2d], [ops.ReLU], …; package ops lists them with their
// attributes), its attributes (for example a tensor.ConvParams), its
// inputs and its output. Package graph turns a sequence of them into the
// model's IR.
type TraceOp struct {
	Op     ops.Op
	Attrs  any
	Inputs []*Var
	Output *Var
}

// BatchNormAttrs are the attributes of a traced [ops.BatchNorm].
type BatchNormAttrs struct {
	RunMean, RunVar *tensor.Tensor
	Training        bool
	Momentum, Eps   float32
}

// emit reports op to the Trace callback of out's tape, if any, and
// returns out. Ops call it deferred, so an op that panics arrives with a
// nil out: it is not reported, and the panic goes on with its own message.
func emit(op ops.Op, attrs any, out *Var, inputs ...*Var) *Var {
	if out == nil || out.tape == nil || out.tape.Trace == nil {
		return out
	}
	out.tape.Trace(TraceOp{Op: op, Attrs: attrs, Inputs: inputs, Output: out})
	return out
}
