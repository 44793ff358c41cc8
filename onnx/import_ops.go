package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/tensor"
)

// ImportedOps lists the ONNX operators (default domain) that [Decode]
// accepts. Shape, Gather, Unsqueeze, Squeeze, Concat, Cast and the
// arithmetic operators also run on int64 tensors, evaluated as Go integers,
// as torch-exported graphs use them to compute shapes.
var ImportedOps = []string{
	"Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "Conv",
	"Div", "Dropout", "Elu", "Exp", "Flatten", "Gather", "Gelu", "Gemm", "GlobalAveragePool",
	"HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "Log", "LogSoftmax", "MatMul", "MaxPool",
	"Mul", "Neg", "Pad", "ReduceMean", "Relu", "Reshape", "Shape", "Sigmoid", "Softmax", "Sqrt",
	"Squeeze", "Sub", "Tanh", "Transpose", "Unsqueeze",
}

// step is one compiled node.
type step struct {
	idx             int
	name, op        string
	inputs, outputs []string
	roles           []useKind // how run uses initializer inputs; missing ones are weights
	run             func(m *Model, in []value) []value
}

// exec runs the step on the values in env and stores its outputs there. A
// panic is re-raised with the node's index, name and operator.
func (s *step) exec(m *Model, env map[string]value) {
	in := make([]value, len(s.inputs))
	for i, n := range s.inputs {
		if n != "" {
			in[i] = env[n]
		}
	}
	defer func() {
		if r := recover(); r != nil {
			panic(fmt.Sprintf("onnx: %s: node %d (%q) %s: %v", m.Name, s.idx, s.name, s.op, r))
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
	m   *Model
	n   *onnxpb.NodeProto
	idx int
}

func (c *nodeCtx) errorf(format string, args ...any) error {
	return fmt.Errorf("onnx: %s: node %d (%q): %s", c.m.Name, c.idx, c.n.GetName(), fmt.Sprintf(format, args...))
}

func (c *nodeCtx) attr(name string) *onnxpb.AttributeProto {
	for _, a := range c.n.GetAttribute() {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// The attribute readers record the first error in c.err.
func (c *nodeCtx) intAttr(name string, def int64, err *error) int64 {
	a := c.attr(name)
	if a == nil {
		return def
	}
	if a.GetType() != onnxpb.AttributeProto_INT && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		c.setErr(err, "attribute %s is %v, want INT", name, a.GetType())
	}
	return a.GetI()
}

func (c *nodeCtx) floatAttr(name string, def float32, err *error) float32 {
	a := c.attr(name)
	if a == nil {
		return def
	}
	if a.GetType() != onnxpb.AttributeProto_FLOAT && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		c.setErr(err, "attribute %s is %v, want FLOAT", name, a.GetType())
	}
	return a.GetF()
}

func (c *nodeCtx) stringAttr(name, def string, err *error) string {
	a := c.attr(name)
	if a == nil {
		return def
	}
	if a.GetType() != onnxpb.AttributeProto_STRING && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		c.setErr(err, "attribute %s is %v, want STRING", name, a.GetType())
	}
	return string(a.GetS())
}

// intsAttr reads an INTS attribute of want values (any count when want <
// 0), each in [lo, hi]; def when absent.
func (c *nodeCtx) intsAttr(name string, want int, lo, hi int64, def []int, err *error) []int {
	a := c.attr(name)
	if a == nil {
		return def
	}
	if a.GetType() != onnxpb.AttributeProto_INTS && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		c.setErr(err, "attribute %s is %v, want INTS", name, a.GetType())
		return def
	}
	v := a.GetInts()
	if want >= 0 && len(v) != want {
		c.setErr(err, "attribute %s has %d values, want %d (only 2-D spatial operators are supported)", name, len(v), want)
		return def
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < lo || x > hi {
			c.setErr(err, "attribute %s = %v: values must be in [%d, %d]", name, v, lo, hi)
			return def
		}
		out[i] = int(x)
	}
	return out
}

func (c *nodeCtx) setErr(err *error, format string, args ...any) {
	if *err == nil {
		*err = c.errorf(format, args...)
	}
}

// limits on attribute values.
const (
	maxKernel = 1 << 16
	maxAxis   = maxImportRank
)

// compile checks the node and returns its step.
func (c *nodeCtx) compile() (step, error) {
	n := c.n
	s := step{idx: c.idx, name: n.GetName(), op: n.GetOpType(), inputs: n.GetInput(), outputs: n.GetOutput()}
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return s, c.errorf("unsupported operator %s of domain %q", s.op, d)
	}
	nin := len(s.inputs)
	needIn := func(lo, hi int) error {
		if nin < lo || nin > hi {
			return c.errorf("%s with %d inputs, want %d to %d", s.op, nin, lo, hi)
		}
		if nin == 0 || s.inputs[0] == "" {
			if lo > 0 {
				return c.errorf("%s without its first input", s.op)
			}
		}
		return nil
	}
	if len(s.outputs) == 0 || s.outputs[0] == "" {
		return s, c.errorf("%s has no output", s.op)
	}
	for _, o := range s.outputs[1:] {
		if o != "" && s.op != "Dropout" {
			return s, c.errorf("%s: only the first output is supported, %q is used", s.op, o)
		}
	}
	var err error
	opset := c.m.Opset
	unary := func(f func(x *autograd.Var) *autograd.Var) {
		err = needIn(1, 1)
		s.run = func(_ *Model, in []value) []value { return floatOut(f(floatIn(in, 0))) }
	}
	switch s.op {
	case "Identity":
		err = needIn(1, 1)
		s.run = func(_ *Model, in []value) []value { return []value{in[0]} }
	case "Relu":
		unary(autograd.ReLU)
	case "Sigmoid":
		unary(autograd.Sigmoid)
	case "Tanh":
		unary(autograd.Tanh)
	case "Exp":
		unary(autograd.Exp)
	case "Log":
		unary(autograd.Log)
	case "Sqrt":
		unary(autograd.Sqrt)
	case "Neg":
		unary(autograd.Neg)
	case "LeakyRelu":
		a := c.floatAttr("alpha", 0.01, &err)
		unary(func(x *autograd.Var) *autograd.Var { return autograd.LeakyReLU(x, a) })
	case "Elu":
		a := c.floatAttr("alpha", 1, &err)
		unary(func(x *autograd.Var) *autograd.Var { return autograd.ELU(x, a) })
	case "Gelu":
		switch c.stringAttr("approximate", "none", &err) {
		case "none":
			unary(autograd.GELU)
		case "tanh":
			unary(geluTanh)
		default:
			err = c.errorf("Gelu approximate=%q: want none or tanh", c.stringAttr("approximate", "", &err))
		}
	case "HardSigmoid":
		a, b := c.floatAttr("alpha", 0.2, &err), c.floatAttr("beta", 0.5, &err)
		unary(func(x *autograd.Var) *autograd.Var { return hardSigmoid(x, a, b) })
	case "HardSwish":
		unary(func(x *autograd.Var) *autograd.Var { return autograd.Mul(x, hardSigmoid(x, 1.0/6, 0.5)) })
	case "Clip":
		lo, hi := float32(-math.MaxFloat32), float32(math.MaxFloat32)
		if opset < 11 {
			err = needIn(1, 1)
			lo, hi = c.floatAttr("min", lo, &err), c.floatAttr("max", hi, &err)
		} else {
			err = needIn(1, 3)
		}
		s.roles = []useKind{useParam, useConst, useConst}
		s.run = func(_ *Model, in []value) []value {
			lo, hi := lo, hi
			if len(in) > 1 && in[1].set {
				lo = scalarIn(in, 1)
			}
			if len(in) > 2 && in[2].set {
				hi = scalarIn(in, 2)
			}
			x := floatIn(in, 0)
			switch {
			case lo == 0 && hi == 6:
				return floatOut(autograd.ReLU6(x))
			case lo == 0 && hi >= math.MaxFloat32:
				return floatOut(autograd.ReLU(x))
			}
			return floatOut(autograd.Clamp(x, lo, hi))
		}
	case "Add", "Sub", "Mul", "Div":
		err = needIn(2, 2)
		op := s.op
		s.run = func(_ *Model, in []value) []value { return []value{arith(op, in[0], in[1])} }
	case "Conv":
		err = needIn(2, 3)
		s.run = c.conv(&err)
	case "Gemm":
		err = needIn(2, 3)
		alpha, beta := c.floatAttr("alpha", 1, &err), c.floatAttr("beta", 1, &err)
		ta, tb := c.intAttr("transA", 0, &err) != 0, c.intAttr("transB", 0, &err) != 0
		s.run = func(_ *Model, in []value) []value {
			a, b := floatIn(in, 0), floatIn(in, 1)
			var bias *autograd.Var
			if len(in) > 2 && in[2].set {
				bias = floatIn(in, 2)
			}
			if a.Value.Dims() != 2 || b.Value.Dims() != 2 {
				panic(fmt.Sprintf("Gemm of %v and %v: want 2-D matrices", a.Shape(), b.Shape()))
			}
			if !ta && tb && alpha == 1 && (bias == nil || beta == 1 && bias.Value.Dims() == 1 && bias.Value.Dim(0) == b.Value.Dim(0)) {
				return floatOut(autograd.Linear(a, b, bias)) // PyTorch's nn.Linear
			}
			if ta {
				a = autograd.Permute(a, 1, 0)
			}
			if tb {
				b = autograd.Permute(b, 1, 0)
			}
			y := autograd.MatMul(a, b)
			if alpha != 1 {
				y = autograd.Scale(y, alpha)
			}
			if bias != nil && beta != 0 {
				if beta != 1 {
					bias = autograd.Scale(bias, beta)
				}
				y = autograd.Add(y, bias)
			}
			return floatOut(y)
		}
	case "MatMul":
		err = needIn(2, 2)
		s.run = func(_ *Model, in []value) []value {
			a, b := floatIn(in, 0), floatIn(in, 1)
			if b.Value.Dims() != 2 || a.Value.Dims() < 2 {
				panic(fmt.Sprintf("MatMul of %v and %v: only (…, K) × (K, N) is supported", a.Shape(), b.Shape()))
			}
			if a.Value.Dims() == 2 {
				return floatOut(autograd.MatMul(a, b))
			}
			shape := slices.Clone(a.Shape())
			k := shape[len(shape)-1]
			y := autograd.MatMul(autograd.Reshape(a, -1, k), b)
			shape[len(shape)-1] = b.Value.Dim(1)
			return floatOut(autograd.Reshape(y, shape...))
		}
	case "MaxPool", "AveragePool":
		err = needIn(1, 1)
		s.run = c.pool(&err)
	case "GlobalAveragePool":
		unary(autograd.GlobalAvgPool2d)
	case "BatchNormalization":
		err = needIn(5, 5)
		eps := c.floatAttr("epsilon", 1e-5, &err)
		mom := c.floatAttr("momentum", 0.9, &err)
		if c.intAttr("training_mode", 0, &err) != 0 {
			err = c.errorf("BatchNormalization with training_mode=1 is not supported (export the model in eval mode)")
		}
		if c.intAttr("spatial", 1, &err) != 1 {
			err = c.errorf("BatchNormalization with spatial=0 is not supported")
		}
		s.roles = []useKind{useParam, useParam, useParam, useBuffer, useBuffer}
		s.run = func(m *Model, in []value) []value {
			x, mean, vr := floatIn(in, 0), floatIn(in, 3), floatIn(in, 4)
			return floatOut(autograd.BatchNorm(x, floatIn(in, 1), floatIn(in, 2), mean.Value, vr.Value, m.training, 1-mom, eps))
		}
	case "Dropout":
		err = needIn(1, 3)
		ratio := c.floatAttr("ratio", 0.5, &err)
		s.roles = []useKind{useParam, useConst, useConst}
		s.run = func(m *Model, in []value) []value {
			x := floatIn(in, 0)
			r := ratio
			if len(in) > 1 && in[1].set {
				r = scalarIn(in, 1)
			}
			on := m.training
			if len(in) > 2 && in[2].set {
				on = scalarIn(in, 2) != 0
			}
			if on && r > 0 {
				x = autograd.Dropout(x, r, m.rng)
			}
			return []value{floatValue(x)}
		}
		if len(s.outputs) > 1 && s.outputs[1] != "" {
			err = c.errorf("Dropout: its mask output %q is not supported", s.outputs[1])
		}
	case "Concat":
		if nin < 1 {
			err = c.errorf("Concat without inputs")
		}
		if c.attr("axis") == nil {
			err = c.errorf("Concat without its axis attribute")
		}
		axis := int(c.intAttr("axis", 0, &err))
		s.run = func(_ *Model, in []value) []value { return []value{concatValues(axis, in)} }
	case "Flatten":
		err = needIn(1, 1)
		axis := int(c.intAttr("axis", 1, &err))
		s.run = func(_ *Model, in []value) []value {
			x := floatIn(in, 0)
			shape := x.Shape()
			ax := axis
			if ax < 0 {
				ax += len(shape)
			}
			if ax < 0 || ax > len(shape) {
				panic(fmt.Sprintf("axis %d out of range for rank %d", axis, len(shape)))
			}
			outer := 1
			for _, d := range shape[:ax] {
				outer *= d
			}
			if ax == 1 && len(shape) >= 1 {
				return floatOut(autograd.Reshape(x, shape[0], -1))
			}
			return floatOut(autograd.Reshape(x, outer, -1))
		}
	case "Reshape":
		err = needIn(2, 2)
		allowZero := c.intAttr("allowzero", 0, &err) != 0
		s.run = func(_ *Model, in []value) []value {
			want := intsIn(in, 1)
			shape := valueShape(in[0])
			out := make([]int, len(want))
			for i, d := range want {
				switch {
				case d == 0 && !allowZero:
					if i >= len(shape) {
						panic(fmt.Sprintf("shape %v copies dimension %d of input %v", want, i, shape))
					}
					out[i] = shape[i]
				case d < -1 || d > maxImportDim:
					panic(fmt.Sprintf("shape %v for input %v", want, shape))
				default:
					out[i] = int(d)
				}
			}
			return []value{reshapeValue(in[0], out)}
		}
	case "Transpose":
		err = needIn(1, 1)
		perm := c.intsAttr("perm", -1, 0, maxAxis, nil, &err)
		s.run = func(_ *Model, in []value) []value {
			x := floatIn(in, 0)
			p := perm
			if p == nil {
				for i := x.Value.Dims() - 1; i >= 0; i-- {
					p = append(p, i)
				}
			}
			return floatOut(autograd.Permute(x, p...))
		}
	case "Softmax", "LogSoftmax":
		err = needIn(1, 1)
		def := int64(-1)
		if opset < 13 {
			def = 1
		}
		axis := int(c.intAttr("axis", def, &err))
		f := autograd.Softmax
		if s.op == "LogSoftmax" {
			f = autograd.LogSoftmax
		}
		s.run = func(_ *Model, in []value) []value {
			x := floatIn(in, 0)
			shape := x.Shape()
			ax := importAxis(axis, len(shape))
			if opset >= 13 || ax == len(shape)-1 {
				return floatOut(f(x, ax))
			}
			// Before opset 13 the input is coerced to 2-D at axis.
			outer := 1
			for _, d := range shape[:ax] {
				outer *= d
			}
			y := f(autograd.Reshape(x, outer, -1), 1)
			return floatOut(autograd.Reshape(y, shape...))
		}
	case "Pad":
		mode := c.stringAttr("mode", "constant", &err)
		if mode != "constant" {
			err = c.errorf("Pad mode %q is not supported (only constant)", mode)
		}
		var attrPads []int
		fill := float32(0)
		if opset < 11 {
			err = needIn(1, 1)
			attrPads = c.intsAttr("pads", -1, -maxImportDim, maxImportDim, nil, &err)
			if attrPads == nil {
				attrPads = c.intsAttr("paddings", -1, -maxImportDim, maxImportDim, nil, &err)
			}
			fill = c.floatAttr("value", 0, &err)
		} else {
			err = needIn(2, 4)
			if nin > 3 && s.inputs[3] != "" {
				err = c.errorf("Pad with axes input is not supported")
			}
		}
		s.roles = []useKind{useParam, useConst, useConst}
		s.run = func(_ *Model, in []value) []value {
			x := floatIn(in, 0)
			pads, v := attrPads, fill
			if opset >= 11 {
				pads = nil
				for _, p := range intsIn(in, 1) {
					pads = append(pads, int(p))
				}
				if len(in) > 2 && in[2].set {
					v = scalarIn(in, 2)
				}
			}
			r := x.Value.Dims()
			if len(pads) != 2*r {
				panic(fmt.Sprintf("%d pads for a %d-D input", len(pads), r))
			}
			for i := range r {
				x = padAxis(x, i, pads[i], pads[i+r], v)
			}
			return floatOut(x)
		}
	case "Constant":
		err = needIn(0, 0)
		v, e := c.constant()
		if e != nil {
			err = e
		}
		s.run = func(*Model, []value) []value { return []value{v} }
	case "Shape":
		err = needIn(1, 1)
		start, end := c.intAttr("start", 0, &err), c.intAttr("end", math.MaxInt32, &err)
		s.run = func(_ *Model, in []value) []value {
			shape := valueShape(in[0])
			r := int64(len(shape))
			lo, hi := clampAxis(start, r), clampAxis(end, r)
			out := []int64{}
			for i := lo; i < hi; i++ {
				out = append(out, int64(shape[i]))
			}
			return []value{intsValue(out)}
		}
	case "Gather":
		err = needIn(2, 2)
		if c.intAttr("axis", 0, &err) != 0 {
			err = c.errorf("Gather on an axis other than 0 is not supported")
		}
		s.run = func(_ *Model, in []value) []value {
			if in[0].f != nil {
				panic("Gather of float32 data is not supported (only of int64 shapes)")
			}
			data, idx := in[0], in[1]
			if idx.f != nil || len(data.shape) != 1 {
				panic(fmt.Sprintf("Gather of %v by %v: only a 1-D int64 tensor by int64 indices is supported", valueShape(data), valueShape(idx)))
			}
			out := make([]int64, len(idx.ints))
			for i, k := range idx.ints {
				if k < 0 {
					k += int64(len(data.ints))
				}
				if k < 0 || k >= int64(len(data.ints)) {
					panic(fmt.Sprintf("index %d out of range for %d values", idx.ints[i], len(data.ints)))
				}
				out[i] = data.ints[k]
			}
			return []value{intsValue(out, slices.Clone(idx.shape)...)}
		}
	case "Unsqueeze", "Squeeze":
		var attrAxes []int
		if opset < 13 {
			err = needIn(1, 1)
			attrAxes = c.intsAttr("axes", -1, -maxAxis, maxAxis, nil, &err)
		} else {
			err = needIn(1, 2)
		}
		unsq := s.op == "Unsqueeze"
		s.run = func(_ *Model, in []value) []value {
			axes := attrAxes
			if opset >= 13 && len(in) > 1 && in[1].set {
				axes = nil
				for _, a := range intsIn(in, 1) {
					axes = append(axes, int(a))
				}
			}
			shape := valueShape(in[0])
			var out []int
			if unsq {
				if len(axes) == 0 {
					panic("Unsqueeze without axes")
				}
				r := len(shape) + len(axes)
				ins := make([]bool, r)
				for _, a := range axes {
					ins[importAxis(a, r)] = true
				}
				j := 0
				for i := range r {
					if ins[i] {
						out = append(out, 1)
					} else {
						if j >= len(shape) {
							panic(fmt.Sprintf("axes %v for a %d-D input", axes, len(shape)))
						}
						out = append(out, shape[j])
						j++
					}
				}
			} else {
				drop := make([]bool, len(shape))
				for _, a := range axes {
					drop[importAxis(a, len(shape))] = true
				}
				for i, d := range shape {
					if len(axes) == 0 && d == 1 || drop[i] {
						if d != 1 {
							panic(fmt.Sprintf("Squeeze of axis %d of size %d", i, d))
						}
						continue
					}
					out = append(out, d)
				}
			}
			return []value{reshapeValue(in[0], out)}
		}
	case "ReduceMean":
		var attrAxes []int
		if opset < 18 {
			err = needIn(1, 1)
			attrAxes = c.intsAttr("axes", -1, -maxAxis, maxAxis, nil, &err)
		} else {
			err = needIn(1, 2)
		}
		keep := c.intAttr("keepdims", 1, &err) != 0
		noop := c.intAttr("noop_with_empty_axes", 0, &err) != 0
		s.run = func(_ *Model, in []value) []value {
			x := floatIn(in, 0)
			axes := attrAxes
			if opset >= 18 && len(in) > 1 && in[1].set {
				axes = nil
				for _, a := range intsIn(in, 1) {
					axes = append(axes, int(a))
				}
			}
			if len(axes) == 0 && noop {
				return floatOut(x)
			}
			r := x.Value.Dims()
			kept := slices.Clone(x.Shape())
			if len(axes) == 0 {
				for i := range r {
					axes = append(axes, i)
				}
			}
			norm := make([]int, len(axes))
			for i, a := range axes {
				norm[i] = importAxis(a, r)
				kept[norm[i]] = 1
			}
			y := autograd.Mean(x, norm...)
			if keep {
				y = autograd.Reshape(y, kept...)
			}
			return floatOut(y)
		}
	case "Cast":
		err = needIn(1, 1)
		to := onnxpb.TensorProto_DataType(c.intAttr("to", 0, &err))
		switch to {
		case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32:
		default:
			err = c.errorf("Cast to %v is not supported (only float32 activations and int64 shapes)", to)
		}
		s.run = func(_ *Model, in []value) []value {
			v := in[0]
			switch {
			case to == onnxpb.TensorProto_FLOAT:
				return floatOut(toFloat(v))
			case v.f == nil:
				return []value{v}
			default:
				d := v.f.Value.Contiguous().Data()
				out := make([]int64, len(d))
				for i, x := range d {
					out[i] = int64(x)
				}
				return []value{intsValue(out, slices.Clone(v.f.Shape())...)}
			}
		}
	default:
		return s, c.errorf("unsupported operator %s", s.op)
	}
	return s, err
}

// conv compiles a Conv node.
func (c *nodeCtx) conv(err *error) func(*Model, []value) []value {
	ones := []int{1, 1}
	strides := c.intsAttr("strides", 2, 1, maxKernel, ones, err)
	dil := c.intsAttr("dilations", 2, 1, maxKernel, ones, err)
	pads := c.intsAttr("pads", 4, 0, maxKernel, []int{0, 0, 0, 0}, err)
	kernel := c.intsAttr("kernel_shape", 2, 1, maxKernel, nil, err)
	group := c.intAttr("group", 1, err)
	if group < 1 || group > maxImportDim {
		c.setErr(err, "Conv group %d", group)
	}
	auto := c.autoPad(err)
	return func(_ *Model, in []value) []value {
		x, w := floatIn(in, 0), floatIn(in, 1)
		var b *autograd.Var
		if len(in) > 2 && in[2].set {
			b = floatIn(in, 2)
		}
		if x.Value.Dims() != 4 || w.Value.Dims() != 4 {
			panic(fmt.Sprintf("Conv of input %v with weight %v: only 2-D convolution (NCHW) is supported", x.Shape(), w.Shape()))
		}
		k := [2]int{w.Value.Dim(2), w.Value.Dim(3)}
		if kernel != nil && (kernel[0] != k[0] || kernel[1] != k[1]) {
			panic(fmt.Sprintf("kernel_shape %v does not match weight %v", kernel, w.Shape()))
		}
		p := tensor.ConvParams{Stride: [2]int{strides[0], strides[1]}, Dilation: [2]int{dil[0], dil[1]}, Groups: int(group)}
		copy(p.Pad[:], pads)
		if auto != "NOTSET" {
			p.Pad = autoPads(auto, [2]int{x.Value.Dim(2), x.Value.Dim(3)}, k, p.Stride, p.Dilation)
		}
		return floatOut(autograd.Conv2d(x, w, b, p))
	}
}

// pool compiles a MaxPool or AveragePool node.
func (c *nodeCtx) pool(err *error) func(*Model, []value) []value {
	maxPool := c.n.GetOpType() == "MaxPool"
	kernel := c.intsAttr("kernel_shape", 2, 1, maxKernel, nil, err)
	if kernel == nil {
		c.setErr(err, "%s without a 2-D kernel_shape", c.n.GetOpType())
		kernel = []int{1, 1}
	}
	strides := c.intsAttr("strides", 2, 1, maxKernel, []int{1, 1}, err)
	pads := c.intsAttr("pads", 4, 0, maxKernel, []int{0, 0, 0, 0}, err)
	dil := c.intsAttr("dilations", 2, 1, 1, []int{1, 1}, err) // only 1 allowed
	_ = dil
	ceil := c.intAttr("ceil_mode", 0, err) != 0
	countPad := c.intAttr("count_include_pad", 0, err) != 0
	auto := c.autoPad(err)
	return func(_ *Model, in []value) []value {
		x := floatIn(in, 0)
		if x.Value.Dims() != 4 {
			panic(fmt.Sprintf("pooling of shape %v: only 2-D pooling (NCHW) is supported", x.Shape()))
		}
		k := [2]int{kernel[0], kernel[1]}
		st := [2]int{strides[0], strides[1]}
		pd := [4]int{pads[0], pads[1], pads[2], pads[3]}
		if auto != "NOTSET" {
			pd = autoPads(auto, [2]int{x.Value.Dim(2), x.Value.Dim(3)}, k, st, [2]int{1, 1})
		}
		p := tensor.PoolParams{Kernel: k, Stride: st, CeilMode: ceil, CountPad: countPad}
		if pd[0] == pd[2] && pd[1] == pd[3] && 2*pd[0] <= k[0] && 2*pd[1] <= k[1] {
			p.Pad = [2]int{pd[0], pd[1]}
		} else {
			// Asymmetric or wide padding: pad explicitly, with −∞ for max
			// pooling and zeros for an average that counts padding.
			fill := float32(math.Inf(-1))
			if !maxPool {
				if !countPad && pd != [4]int{} {
					panic(fmt.Sprintf("average pooling with pads %v and count_include_pad=0 is not supported", pd))
				}
				fill = 0
			}
			x = padAxis(x, 2, pd[0], pd[2], fill)
			x = padAxis(x, 3, pd[1], pd[3], fill)
		}
		if maxPool {
			return floatOut(autograd.MaxPool2d(x, p))
		}
		return floatOut(autograd.AvgPool2d(x, p))
	}
}

// autoPad reads and checks the auto_pad attribute.
func (c *nodeCtx) autoPad(err *error) string {
	a := c.stringAttr("auto_pad", "NOTSET", err)
	switch a {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	case "":
		a = "NOTSET"
	default:
		c.setErr(err, "auto_pad %q: want NOTSET, SAME_UPPER, SAME_LOWER or VALID", a)
	}
	return a
}

// autoPads returns the (top, left, bottom, right) padding of auto_pad mode
// for an input of size in: none for VALID; for SAME_* enough to make the
// output ceil(in/stride), the odd pixel at the end (UPPER) or start (LOWER).
func autoPads(mode string, in, k, stride, dil [2]int) [4]int {
	var p [4]int
	if mode == "VALID" {
		return p
	}
	for i := range 2 {
		out := (in[i] + stride[i] - 1) / stride[i]
		total := max(0, (out-1)*stride[i]+(k[i]-1)*dil[i]+1-in[i])
		lo := total / 2
		if mode == "SAME_LOWER" {
			lo = total - total/2
		}
		p[i], p[i+2] = lo, total-lo
	}
	return p
}

// constant decodes a Constant node's value.
func (c *nodeCtx) constant() (value, error) {
	found := c.n.GetAttribute()
	if len(found) != 1 {
		return value{}, c.errorf("Constant with %d attributes, want 1", len(found))
	}
	a := found[0]
	switch a.GetName() {
	case "value":
		if a.GetT() == nil {
			return value{}, c.errorf("Constant value is not a tensor")
		}
		v, ft, err := decodeTensor(a.GetT())
		if err != nil {
			return value{}, c.errorf("Constant: %v", err)
		}
		if ft != nil {
			return floatValue(autograd.Const(ft)), nil
		}
		return v, nil
	case "value_float":
		return floatValue(autograd.Const(tensor.Scalar(a.GetF()))), nil
	case "value_floats":
		f := slices.Clone(a.GetFloats())
		return floatValue(autograd.Const(tensor.FromSlice(f, len(f)))), nil
	case "value_int":
		return intsValue([]int64{a.GetI()}, []int{}...), nil
	case "value_ints":
		return intsValue(slices.Clone(a.GetInts())), nil
	}
	return value{}, c.errorf("Constant %s is not supported", a.GetName())
}

func floatOut(v *autograd.Var) []value { return []value{floatValue(v)} }

// floatIn returns input i as a float32 Var; int64 data is converted.
func floatIn(in []value, i int) *autograd.Var {
	if i >= len(in) || !in[i].set {
		panic(fmt.Sprintf("input %d is missing", i))
	}
	return toFloat(in[i])
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
	if i >= len(in) || !in[i].set {
		panic(fmt.Sprintf("input %d is missing", i))
	}
	if in[i].f != nil {
		panic(fmt.Sprintf("input %d is float32, want int64", i))
	}
	return in[i].ints
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

// reshapeValue gives v the shape dims (one may be -1).
func reshapeValue(v value, dims []int) value {
	if v.f != nil {
		return floatValue(autograd.Reshape(v.f, dims...))
	}
	n, free := 1, -1
	for i, d := range dims {
		if d == -1 {
			if free >= 0 {
				panic(fmt.Sprintf("shape %v has two -1", dims))
			}
			free = i
			continue
		}
		n *= d
	}
	out := slices.Clone(dims)
	if free >= 0 {
		if n == 0 || len(v.ints)%n != 0 {
			panic(fmt.Sprintf("cannot reshape %d values to %v", len(v.ints), dims))
		}
		out[free] = len(v.ints) / n
	} else if n != len(v.ints) {
		panic(fmt.Sprintf("cannot reshape %d values to %v", len(v.ints), dims))
	}
	return intsValue(v.ints, out...)
}

// arith applies Add, Sub, Mul or Div: on Go integers when both operands
// are int64 tensors (shape arithmetic), else on float32 Vars.
func arith(op string, a, b value) value {
	if !a.set || !b.set {
		panic("missing input")
	}
	if a.f == nil && b.f == nil {
		n := max(len(a.ints), len(b.ints))
		if len(a.ints) != n && len(a.ints) != 1 || len(b.ints) != n && len(b.ints) != 1 {
			panic(fmt.Sprintf("int64 %s of shapes %v and %v", op, a.shape, b.shape))
		}
		shape := a.shape
		if len(b.ints) == n && len(b.shape) >= len(a.shape) {
			shape = b.shape
		}
		out := make([]int64, n)
		for i := range out {
			x, y := a.ints[min(i, len(a.ints)-1)], b.ints[min(i, len(b.ints)-1)]
			switch op {
			case "Add":
				out[i] = x + y
			case "Sub":
				out[i] = x - y
			case "Mul":
				out[i] = x * y
			default:
				if y == 0 {
					panic("int64 division by zero")
				}
				out[i] = x / y
			}
		}
		return intsValue(out, slices.Clone(shape)...)
	}
	x, y := toFloat(a), toFloat(b)
	switch op {
	case "Add":
		return floatValue(autograd.Add(x, y))
	case "Sub":
		return floatValue(autograd.Sub(x, y))
	case "Mul":
		return floatValue(autograd.Mul(x, y))
	}
	return floatValue(autograd.Div(x, y))
}

// concatValues joins values along axis: 1-D int64 tensors as Go integers (shape
// vectors), anything else as float32 Vars.
func concatValues(axis int, in []value) value {
	allInts := true
	for _, v := range in {
		if !v.set {
			panic("missing input")
		}
		if v.f != nil {
			allInts = false
		}
	}
	if allInts {
		var out []int64
		for _, v := range in {
			if len(v.shape) != 1 {
				panic(fmt.Sprintf("Concat of int64 tensors of shape %v: only 1-D ones are supported", v.shape))
			}
			out = append(out, v.ints...)
		}
		return intsValue(out)
	}
	xs := make([]*autograd.Var, len(in))
	for i, v := range in {
		xs[i] = toFloat(v)
	}
	return floatValue(autograd.Concat(importAxis(axis, xs[0].Value.Dims()), xs...))
}

// padAxis pads x along axis with lo and hi elements of value v, by
// concatenation, so the gradient flows to x unchanged.
func padAxis(x *autograd.Var, axis, lo, hi int, v float32) *autograd.Var {
	if lo < 0 || hi < 0 {
		panic(fmt.Sprintf("negative pads %d, %d are not supported", lo, hi))
	}
	if lo == 0 && hi == 0 {
		return x
	}
	parts := []*autograd.Var{}
	block := func(n int) *autograd.Var {
		shape := slices.Clone(x.Shape())
		shape[axis] = n
		return autograd.Const(tensor.Full(v, shape...))
	}
	if lo > 0 {
		parts = append(parts, block(lo))
	}
	parts = append(parts, x)
	if hi > 0 {
		parts = append(parts, block(hi))
	}
	return autograd.Concat(axis, parts...)
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

// clampAxis maps a Shape start or end into [0, r].
func clampAxis(a, r int64) int64 {
	if a < 0 {
		a += r
	}
	return min(max(a, 0), r)
}

// hardSigmoid returns max(0, min(1, alpha·x + beta)).
func hardSigmoid(x *autograd.Var, alpha, beta float32) *autograd.Var {
	return autograd.Clamp(autograd.AddScalar(autograd.Scale(x, alpha), beta), 0, 1)
}

// geluTanh is GELU's tanh approximation,
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func geluTanh(x *autograd.Var) *autograd.Var {
	inner := autograd.Scale(autograd.Add(x, autograd.Scale(autograd.Pow(x, 3), 0.044715)), float32(math.Sqrt(2/math.Pi)))
	return autograd.Mul(autograd.Scale(x, 0.5), autograd.AddScalar(autograd.Tanh(inner), 1))
}
