package onnx

import (
	"fmt"
	"maps"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/tensor"
)

// importer compiles one node of its operator: it checks the node's inputs
// and attributes, recording the first fault with c.fail, sets
// c.roles where initializer inputs are not all weights, and returns the
// function that evaluates the node.
type importer func(c *nodeCtx) runFunc

// runFunc evaluates a node on its inputs (in[i] is unset for an absent
// optional input) and returns its outputs.
type runFunc func(m *Model, in []value) []value

// importers maps each supported ONNX operator (default domain) to its
// importer. The functions are grouped by family in import_ops_*.go.
var importers = map[string]importer{
	"Add":                arithOp,
	"AveragePool":        importPool,
	"BatchNormalization": importBatchNorm,
	"Cast":               importCast,
	"Clip":               importClip,
	"Concat":             importConcat,
	"Constant":           importConstant,
	"Conv":               importConv,
	"Div":                arithOp,
	"Dropout":            importDropout,
	"Elu":                importElu,
	"Exp":                unaryOp(autograd.Exp),
	"Flatten":            importFlatten,
	"Gather":             importGather,
	"Gelu":               importGelu,
	"Gemm":               importGemm,
	"GlobalAveragePool":  unaryOp(autograd.GlobalAvgPool2d),
	"HardSigmoid":        importHardSigmoid,
	"HardSwish":          unaryOp(hardSwish),
	"Identity":           importIdentity,
	"LeakyRelu":          importLeakyRelu,
	"Log":                unaryOp(autograd.Log),
	"LogSoftmax":         importSoftmax,
	"MatMul":             importMatMul,
	"MaxPool":            importPool,
	"Mul":                arithOp,
	"Neg":                unaryOp(autograd.Neg),
	"Pad":                importPad,
	"ReduceMean":         importReduceMean,
	"Relu":               unaryOp(autograd.ReLU),
	"Reshape":            importReshape,
	"Shape":              importShape,
	"Sigmoid":            unaryOp(autograd.Sigmoid),
	"Softmax":            importSoftmax,
	"Sqrt":               unaryOp(autograd.Sqrt),
	"Squeeze":            importSqueeze,
	"Sub":                arithOp,
	"Tanh":               unaryOp(autograd.Tanh),
	"Transpose":          importTranspose,
	"Unsqueeze":          importSqueeze,
}

// ImportedOps lists, sorted, the ONNX operators (default domain) that
// [Decode] accepts: the keys of the importer table. Shape, Gather,
// Unsqueeze, Squeeze, Concat, Cast and the arithmetic operators also run on
// int64 tensors, evaluated as Go integers, as torch-exported graphs use
// them to compute shapes.
var ImportedOps = slices.Sorted(maps.Keys(importers))

// step is one compiled node.
type step struct {
	idx             int
	name, op        string
	inputs, outputs []string
	roles           []useKind // how run uses initializer inputs; missing ones are weights
	run             runFunc
}

// exec runs the step on the values in env and stores its outputs there. A
// panic is re-raised as an *Error naming the node's index, name and
// operator, its cause kept when it is an error.
func (s *step) exec(m *Model, env map[string]value) {
	in := make([]value, len(s.inputs))
	for i, n := range s.inputs {
		if n != "" {
			in[i] = env[n]
		}
	}
	defer func() {
		if r := recover(); r != nil {
			e := &Error{Msg: fmt.Sprintf("onnx: %s: node %d (%q) %s: %v", m.Name, s.idx, s.name, s.op, r)}
			e.Cause, _ = r.(error)
			panic(e)
		}
	}()
	outs := s.run(m, in)
	for i, o := range s.outputs {
		if o != "" && i < len(outs) {
			env[o] = outs[i]
		}
	}
}

// nodeCtx compiles one node.
type nodeCtx struct {
	m     *Model
	n     *onnxpb.NodeProto
	idx   int
	err   error     // the first fault found in the node
	roles []useKind // the step's roles, set by importers
}

// limits on attribute values.
const (
	maxKernel = 1 << 16
	maxAxis   = maxImportRank
)

// compile checks the node and returns its step. Of several faults it
// reports the first found: a custom domain, no output, an unknown
// operator, then its importer's (input count, then attributes, for most),
// then a second output.
func (c *nodeCtx) compile() (step, error) {
	n := c.n
	s := step{idx: c.idx, name: n.GetName(), op: n.GetOpType(), inputs: n.GetInput(), outputs: n.GetOutput()}
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return s, c.errorf("unsupported operator %s of domain %q", s.op, d)
	}
	if len(s.outputs) == 0 || s.outputs[0] == "" {
		return s, c.errorf("%s has no output", s.op)
	}
	imp, ok := importers[s.op]
	if !ok {
		return s, c.errorf("unsupported operator %s", s.op)
	}
	s.run = imp(c)
	s.roles = c.roles
	// After the importer, so that Dropout names its mask output itself.
	for _, o := range s.outputs[1:] {
		if o != "" {
			c.fail("%s: only the first output is supported, %q is used", s.op, o)
		}
	}
	return s, c.err
}

func (c *nodeCtx) errorf(format string, args ...any) error {
	return fmt.Errorf("onnx: %s: node %d (%q): %s", c.m.Name, c.idx, c.n.GetName(), fmt.Sprintf(format, args...))
}

// fail records a fault of the node unless one is recorded already.
func (c *nodeCtx) fail(format string, args ...any) {
	if c.err == nil {
		c.err = c.errorf(format, args...)
	}
}

// needIn checks that the node has lo to hi inputs, the first one present
// when lo > 0.
func (c *nodeCtx) needIn(lo, hi int) {
	in, op := c.n.GetInput(), c.n.GetOpType()
	switch {
	case len(in) < lo || len(in) > hi:
		c.fail("%s with %d inputs, want %d to %d", op, len(in), lo, hi)
	case lo > 0 && in[0] == "":
		c.fail("%s without its first input", op)
	}
}

func (c *nodeCtx) attr(name string) *onnxpb.AttributeProto {
	for _, a := range c.n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// typedAttr returns attribute name, nil when absent; a type other than t
// (or UNDEFINED) is a fault.
func (c *nodeCtx) typedAttr(name string, t onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	a := c.attr(name)
	if a != nil && a.GetType() != t && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		c.fail("attribute %s is %v, want %v", name, a.GetType(), t)
	}
	return a
}

func (c *nodeCtx) intAttr(name string, def int64) int64 {
	if a := c.typedAttr(name, onnxpb.AttributeProto_INT); a != nil {
		return a.GetI()
	}
	return def
}

func (c *nodeCtx) floatAttr(name string, def float32) float32 {
	if a := c.typedAttr(name, onnxpb.AttributeProto_FLOAT); a != nil {
		return a.GetF()
	}
	return def
}

func (c *nodeCtx) stringAttr(name, def string) string {
	if a := c.typedAttr(name, onnxpb.AttributeProto_STRING); a != nil {
		return string(a.GetS())
	}
	return def
}

// intsAttr reads an INTS attribute of want values (any count when want <
// 0), each in [lo, hi]; def when absent or faulty.
func (c *nodeCtx) intsAttr(name string, want int, lo, hi int64, def []int) []int {
	a := c.attr(name)
	if a == nil {
		return def
	}
	if a.GetType() != onnxpb.AttributeProto_INTS && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		c.fail("attribute %s is %v, want INTS", name, a.GetType())
		return def
	}
	v := a.GetInts()
	if want >= 0 && len(v) != want {
		c.fail("attribute %s has %d values, want %d (only 2-D spatial operators are supported)", name, len(v), want)
		return def
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < lo || x > hi {
			c.fail("attribute %s = %v: values must be in [%d, %d]", name, v, lo, hi)
			return def
		}
		out[i] = int(x)
	}
	return out
}

// has reports whether optional input i is present.
func has(in []value, i int) bool { return i < len(in) && in[i].set }

func floatOut(v *autograd.Var) []value { return []value{floatValue(v)} }

// floatIn returns input i as a float32 Var; int64 data is converted.
func floatIn(in []value, i int) *autograd.Var {
	if !has(in, i) {
		panic(fmt.Sprintf("input %d is missing", i))
	}
	return toFloat(in[i])
}

// optFloatIn returns optional input i as a float32 Var, nil when absent.
func optFloatIn(in []value, i int) *autograd.Var {
	if !has(in, i) {
		return nil
	}
	return floatIn(in, i)
}

func toFloat(v value) *autograd.Var {
	if v.f != nil {
		return v.f
	}
	d := make([]float32, len(v.ints))
	for i, x := range v.ints {
		d[i] = float32(x)
	}
	return autograd.Const(tensor.FromSlice(d, v.shape...))
}

// scalarIn returns input i, a one-element tensor, as a float32.
func scalarIn(in []value, i int) float32 {
	v := in[i]
	if v.f == nil {
		if len(v.ints) != 1 {
			panic(fmt.Sprintf("input %d has %d values, want a scalar", i, len(v.ints)))
		}
		return float32(v.ints[0])
	}
	if v.f.Value.Size() != 1 {
		panic(fmt.Sprintf("input %d has shape %v, want a scalar", i, v.f.Shape()))
	}
	return v.f.Value.Contiguous().Data()[0]
}

// intsIn returns input i, which must be an int64 tensor.
func intsIn(in []value, i int) []int64 {
	if !has(in, i) {
		panic(fmt.Sprintf("input %d is missing", i))
	}
	if in[i].f != nil {
		panic(fmt.Sprintf("input %d is float32, want int64", i))
	}
	return in[i].ints
}

// intListIn returns int64 input i as ints (axes, pads).
func intListIn(in []value, i int) []int {
	var out []int
	for _, v := range intsIn(in, i) {
		out = append(out, int(v))
	}
	return out
}

// valueShape returns the shape of v.
func valueShape(v value) []int {
	if v.f != nil {
		return v.f.Shape()
	}
	if !v.set {
		panic("missing input")
	}
	return v.shape
}

// importAxis maps a possibly negative axis into [0, rank).
func importAxis(a, rank int) int {
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		panic(fmt.Sprintf("axis %d out of range for rank %d", a, rank))
	}
	return a
}
