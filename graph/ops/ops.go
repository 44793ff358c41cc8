// Package ops declares the operations of Fovea's traced graph, each once:
// the [Op] values that package autograd reports as it runs (in an
// autograd.TraceOp) and package graph keeps in its nodes, and, in one
// table, what the packages reading a graph need to know about each: its
// trace name, its ONNX operator and how the exporter writes it, the name
// and type of its row in a model summary, and the kind of YAML spec layer
// (package models) that runs it.
//
// The inference engine, the ONNX exporter and the summary switch on these
// constants and take names and labels from the table instead of retyping
// strings. As with go/token's tokens, an Op is a small integer: a
// misspelt op does not compile, where a misspelt string fell through a
// switch unnoticed.
//
// The package stands apart from package graph, the IR it belongs to,
// because graph imports autograd: autograd, which emits the ops, can
// import this leaf package but not graph.
//
// Adding an op: a constant below, its row in the table, an emit call in
// autograd, and support in each consumer that supports it (an entry in the
// engine's compilers table, a case in the exporter). The engine refuses an
// op it has no entry for with an error naming it; so does the
// ONNX exporter, which needs no case for an op of a generic [ONNXForm];
// the summary falls back on the trace name for labels not declared.
package ops

import "strconv"

// Op is one operation of the traced graph. The zero Op is [None].
type Op uint8

// The ops. Their attributes (the Attrs of an autograd.TraceOp and a
// graph.Node) are given in each comment; inputs are in autograd's order.
const (
	None Op = iota // no operation: the zero value, never traced

	Conv2d    // (x, w, b or absent) tensor.ConvParams
	Linear    // (x, w, b or absent)
	MatMul    // (a, b)
	BatchNorm // (x, gamma, beta; absent when not affine) autograd.BatchNormAttrs

	MaxPool2d       // tensor.PoolParams
	AvgPool2d       // tensor.PoolParams
	GlobalAvgPool2d // (N, C, H, W) → (N, C, 1, 1)

	Add       // (a, b), broadcasting
	Sub       // (a, b), broadcasting
	Mul       // (a, b), broadcasting
	Div       // (a, b), broadcasting
	Neg       //
	Scale     // float32 s: x·s
	AddScalar // float32 s: x + s
	Exp       //
	Log       //
	Sqrt      //
	Pow       // float32 p: xᵖ
	Clamp     // [2]float32{lo, hi}

	ReLU      //
	ReLU6     //
	LeakyReLU // float32 slope
	ELU       // float32 alpha
	GELU      // exact (erf) form
	SiLU      //
	Sigmoid   //
	Tanh      //

	Softmax    // int axis
	LogSoftmax // int axis
	Sum        // []int axes (none: all)
	Mean       // []int axes (none: all)

	Reshape // []int shape as given (-1 allowed)
	Permute // []int permutation
	Concat  // int axis
	Dropout // float32 p; the identity in evaluation mode

	numOps
)

// ONNXForm is how the ONNX exporter writes an op that needs no code of its
// own: one node of the op's ONNX type, whose inputs and attributes follow
// from the form.
type ONNXForm uint8

// The forms.
const (
	// ONNXCustom: the exporter has code for the op (attributes of its own,
	// several nodes, or none).
	ONNXCustom ONNXForm = iota
	// ONNXPlain: the op's inputs in order, no attributes.
	ONNXPlain
	// ONNXScalar: the op's input, then its float32 attribute as a scalar
	// initializer.
	ONNXScalar
	// ONNXAxis: the op's inputs in order and its int attribute as "axis".
	ONNXAxis
	// ONNXAlpha: the op's input and its float32 attribute as "alpha".
	ONNXAlpha
)

// def declares one op.
type def struct {
	name string   // trace name, in graph dumps and messages: "leaky_relu"
	onnx string   // ONNX operator type the export writes for it, "" for none
	form ONNXForm // how the exporter writes it
	row  string   // summary row name outside a leaf module; "" is name
	typ  string   // summary row type outside a leaf module; "" is name
	spec string   // YAML spec layer kind running just this op, "" for none
}

// defs is the table of ops. The summary labels apply to an op that reads
// no parameter and runs outside a leaf module (a residual block's add, a
// functional ReLU); elsewhere the row is the module's.
var defs = [numOps]def{
	None: {name: "none"},

	Conv2d:    {name: "conv2d", onnx: "Conv", spec: "conv"},
	Linear:    {name: "linear", onnx: "Gemm", spec: "linear"},
	MatMul:    {name: "matmul", onnx: "MatMul", form: ONNXPlain},
	BatchNorm: {name: "batchnorm", onnx: "BatchNormalization", spec: "batchnorm"},

	MaxPool2d:       {name: "maxpool2d", onnx: "MaxPool", row: "maxpool", typ: "MaxPool2d", spec: "maxpool"},
	AvgPool2d:       {name: "avgpool2d", onnx: "AveragePool", row: "avgpool", typ: "AvgPool2d", spec: "avgpool"},
	GlobalAvgPool2d: {name: "global_avgpool2d", onnx: "GlobalAveragePool", row: "avgpool", typ: "GlobalAvgPool2d", spec: "globalavgpool"},

	Add:       {name: "add", onnx: "Add", form: ONNXPlain, row: "add", typ: "Add"},
	Sub:       {name: "sub", onnx: "Sub", form: ONNXPlain},
	Mul:       {name: "mul", onnx: "Mul", form: ONNXPlain},
	Div:       {name: "div", onnx: "Div", form: ONNXPlain},
	Neg:       {name: "neg", onnx: "Neg", form: ONNXPlain},
	Scale:     {name: "scale", onnx: "Mul", form: ONNXScalar},
	AddScalar: {name: "add_scalar", onnx: "Add", form: ONNXScalar},
	Exp:       {name: "exp", onnx: "Exp", form: ONNXPlain},
	Log:       {name: "log", onnx: "Log", form: ONNXPlain},
	Sqrt:      {name: "sqrt", onnx: "Sqrt", form: ONNXPlain},
	Pow:       {name: "pow", onnx: "Pow", form: ONNXScalar},
	Clamp:     {name: "clamp", onnx: "Clip"},

	ReLU:      {name: "relu", onnx: "Relu", form: ONNXPlain, row: "relu", typ: "ReLU", spec: "relu"},
	ReLU6:     {name: "relu6", onnx: "Clip"},
	LeakyReLU: {name: "leaky_relu", onnx: "LeakyRelu", form: ONNXAlpha, row: "leakyrelu", typ: "LeakyReLU", spec: "leakyrelu"},
	ELU:       {name: "elu", onnx: "Elu", form: ONNXAlpha, row: "elu", typ: "ELU", spec: "elu"},
	GELU:      {name: "gelu", onnx: "Gelu", row: "gelu", typ: "GELU", spec: "gelu"},
	SiLU:      {name: "silu", row: "silu", typ: "SiLU", spec: "silu"},
	Sigmoid:   {name: "sigmoid", onnx: "Sigmoid", form: ONNXPlain, row: "sigmoid", typ: "Sigmoid", spec: "sigmoid"},
	Tanh:      {name: "tanh", onnx: "Tanh", form: ONNXPlain, row: "tanh", typ: "Tanh", spec: "tanh"},

	Softmax:    {name: "softmax", onnx: "Softmax", form: ONNXAxis, row: "softmax", typ: "Softmax"},
	LogSoftmax: {name: "log_softmax", onnx: "LogSoftmax", form: ONNXAxis, row: "log_softmax", typ: "LogSoftmax"},
	Sum:        {name: "sum", onnx: "ReduceSum"},
	Mean:       {name: "mean", onnx: "ReduceMean"},

	Reshape: {name: "reshape", onnx: "Reshape", row: "flatten", typ: "Flatten", spec: "flatten"},
	Permute: {name: "permute", onnx: "Transpose"},
	Concat:  {name: "concat", onnx: "Concat", form: ONNXAxis, row: "concat", typ: "Concat", spec: "concat"},
	Dropout: {name: "dropout", row: "dropout", typ: "Dropout", spec: "dropout"},
}

// def returns o's declaration; the zero def for a value outside the table.
func (o Op) def() def {
	if o < numOps {
		return defs[o]
	}
	return def{}
}

// String returns the trace name ("conv2d", "leaky_relu"), as graph dumps
// and error messages show it; "ops.Op(N)" for a value that is no op.
func (o Op) String() string {
	if n := o.def().name; n != "" {
		return n
	}
	return "ops.Op(" + strconv.Itoa(int(o)) + ")"
}

// ONNX returns the ONNX operator type the export writes for o ("Conv",
// "LeakyRelu"), "" when it writes none of o's own (SiLU is a Sigmoid and a
// Mul, dropout is left out). Where the export depends on the input's rank
// or the opset, this is its usual operator: "Gemm" for a linear layer on
// (N, In), "Gelu" from opset 20.
func (o Op) ONNX() string { return o.def().onnx }

// ONNXForm returns how the exporter writes o.
func (o Op) ONNXForm() ONNXForm { return o.def().form }

// SummaryName returns the row name that a model summary gives o when it
// runs outside a leaf module and reads no parameter ("leakyrelu", "add",
// "flatten" for a reshape): a label of its own, else the trace name.
func (o Op) SummaryName() string {
	if r := o.def().row; r != "" {
		return r
	}
	return o.String()
}

// SummaryType returns the layer type that a model summary shows for such a
// row ("LeakyReLU", "Add"): a label of its own, else the trace name.
func (o Op) SummaryType() string {
	if t := o.def().typ; t != "" {
		return t
	}
	return o.String()
}

// SpecKind returns the kind of the YAML spec layer (package models) that
// runs o alone or around its children ("leakyrelu", "conv", "flatten" for
// a reshape), "" when no layer kind is o.
func (o Op) SpecKind() string { return o.def().spec }

// FromSpecKind returns the op of a YAML spec layer kind, the inverse of
// [Op.SpecKind]; false for a kind that is no op (residual, repeat, or an
// unknown kind).
func FromSpecKind(kind string) (Op, bool) {
	if kind == "" {
		return None, false
	}
	for o := range numOps {
		if defs[o].spec == kind {
			return o, true
		}
	}
	return None, false
}
