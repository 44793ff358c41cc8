package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/tensor"
)

// Shape and data-movement operators: Constant, Cast, Shape, Gather,
// Reshape, Flatten, Squeeze, Unsqueeze, Transpose and Concat. All but
// Flatten and Transpose also run on int64 tensors, as Go integers.

func importConstant(c *nodeCtx) runFunc {
	c.needIn(0, 0)
	v := c.constant()
	return func(*Model, []value) []value { return []value{v} }
}

// constant decodes a Constant node's value.
func (c *nodeCtx) constant() value {
	found := c.n.GetAttribute()
	if len(found) != 1 {
		c.fail("Constant with %d attributes, want 1", len(found))
		return value{}
	}
	switch a := found[0]; a.GetName() {
	case "value":
		if a.GetT() == nil {
			c.fail("Constant value is not a tensor")
			return value{}
		}
		v, ft, err := decodeTensor(a.GetT())
		if err != nil {
			c.fail("Constant: %v", err)
		}
		if ft != nil {
			return floatValue(autograd.Const(ft))
		}
		return v
	case "value_float":
		return floatValue(autograd.Const(tensor.Scalar(a.GetF())))
	case "value_floats":
		f := slices.Clone(a.GetFloats())
		return floatValue(autograd.Const(tensor.FromSlice(f, len(f))))
	case "value_int":
		return intsValue([]int64{a.GetI()}, []int{}...)
	case "value_ints":
		return intsValue(slices.Clone(a.GetInts()))
	default:
		c.fail("Constant %s is not supported", a.GetName())
		return value{}
	}
}

// importCast imports casts to float32 (activations) and to int64 or int32
// (shapes, kept as Go integers).
func importCast(c *nodeCtx) runFunc {
	c.needIn(1, 1)
	to := onnxpb.TensorProto_DataType(c.intAttr("to", 0))
	switch to {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32:
	default:
		c.fail("Cast to %v is not supported (only float32 activations and int64 shapes)", to)
	}
	return func(_ *Model, in []value) []value {
		v := in[0]
		switch {
		case to == onnxpb.TensorProto_FLOAT:
			return floatOut(toFloat(v))
		case v.f == nil:
			return []value{v}
		}
		d := v.f.Value.Contiguous().Data()
		out := make([]int64, len(d))
		for i, x := range d {
			out[i] = int64(x)
		}
		return []value{intsValue(out, slices.Clone(v.f.Shape())...)}
	}
}

// importShape imports Shape, with its start and end attributes.
func importShape(c *nodeCtx) runFunc {
	c.needIn(1, 1)
	start, end := c.intAttr("start", 0), c.intAttr("end", math.MaxInt32)
	return func(_ *Model, in []value) []value {
		shape := valueShape(in[0])
		r := int64(len(shape))
		lo, hi := clampAxis(start, r), clampAxis(end, r)
		out := []int64{}
		for i := lo; i < hi; i++ {
			out = append(out, int64(shape[i]))
		}
		return []value{intsValue(out)}
	}
}

// clampAxis maps a Shape start or end into [0, r].
func clampAxis(a, r int64) int64 {
	if a < 0 {
		a += r
	}
	return min(max(a, 0), r)
}

// importGather imports Gather on axis 0 of a 1-D int64 tensor (a shape).
func importGather(c *nodeCtx) runFunc {
	c.needIn(2, 2)
	if c.intAttr("axis", 0) != 0 {
		c.fail("Gather on an axis other than 0 is not supported")
	}
	return func(_ *Model, in []value) []value {
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
}

// importReshape imports Reshape: 0 copies the input's dimension (unless
// allowzero), -1 takes what is left.
func importReshape(c *nodeCtx) runFunc {
	c.needIn(2, 2)
	allowZero := c.intAttr("allowzero", 0) != 0
	return func(_ *Model, in []value) []value {
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

// importFlatten imports Flatten: x of shape (d0, …, dr-1) becomes 2-D,
// (d0·…·d(axis-1), d(axis)·…·d(r-1)).
func importFlatten(c *nodeCtx) runFunc {
	c.needIn(1, 1)
	axis := int(c.intAttr("axis", 1))
	return func(_ *Model, in []value) []value {
		x := floatIn(in, 0)
		shape := x.Shape()
		ax := axis
		if ax < 0 {
			ax += len(shape)
		}
		if ax < 0 || ax > len(shape) {
			panic(fmt.Sprintf("axis %d out of range for rank %d", axis, len(shape)))
		}
		return floatOut(autograd.Reshape(x, prod(shape[:ax]), -1))
	}
}

// axesArg reads the axes of Squeeze, Unsqueeze or ReduceMean: the axes
// attribute below opset since, the optional input 1 from it on. The
// returned function gives them for a step's inputs, nil when absent.
func (c *nodeCtx) axesArg(since int64) func(in []value) []int {
	if c.m.Opset < since {
		c.needIn(1, 1)
		axes := c.intsAttr("axes", -1, -maxAxis, maxAxis, nil)
		return func([]value) []int { return axes }
	}
	c.needIn(1, 2)
	return func(in []value) []int {
		if !has(in, 1) {
			return nil
		}
		return intListIn(in, 1)
	}
}

// importSqueeze imports Squeeze and Unsqueeze (axes an attribute below
// opset 13, an optional input from it on).
func importSqueeze(c *nodeCtx) runFunc {
	axesOf := c.axesArg(13)
	f := squeezeShape
	if c.n.GetOpType() == "Unsqueeze" {
		f = unsqueezeShape
	}
	return func(_ *Model, in []value) []value {
		return []value{reshapeValue(in[0], f(valueShape(in[0]), axesOf(in)))}
	}
}

// unsqueezeShape returns shape with a 1 inserted at each of axes (of the
// result).
func unsqueezeShape(shape, axes []int) []int {
	if len(axes) == 0 {
		panic("Unsqueeze without axes")
	}
	r := len(shape) + len(axes)
	ins := make([]bool, r)
	for _, a := range axes {
		ins[importAxis(a, r)] = true
	}
	var out []int
	j := 0
	for i := range r {
		if ins[i] {
			out = append(out, 1)
			continue
		}
		if j >= len(shape) {
			panic(fmt.Sprintf("axes %v for a %d-D input", axes, len(shape)))
		}
		out = append(out, shape[j])
		j++
	}
	return out
}

// squeezeShape returns shape without axes, which must be of size 1; without
// any 1 when axes is empty.
func squeezeShape(shape, axes []int) []int {
	drop := make([]bool, len(shape))
	for _, a := range axes {
		drop[importAxis(a, len(shape))] = true
	}
	var out []int
	for i, d := range shape {
		if len(axes) == 0 && d == 1 || drop[i] {
			if d != 1 {
				panic(fmt.Sprintf("Squeeze of axis %d of size %d", i, d))
			}
			continue
		}
		out = append(out, d)
	}
	return out
}

// importTranspose imports Transpose; without perm it reverses the axes.
func importTranspose(c *nodeCtx) runFunc {
	c.needIn(1, 1)
	perm := c.intsAttr("perm", -1, 0, maxAxis, nil)
	return func(_ *Model, in []value) []value {
		x := floatIn(in, 0)
		p := perm
		if p == nil {
			for i := x.Value.Dims() - 1; i >= 0; i-- {
				p = append(p, i)
			}
		}
		return floatOut(autograd.Permute(x, p...))
	}
}

// importConcat imports Concat, whose axis attribute is required.
func importConcat(c *nodeCtx) runFunc {
	if len(c.n.GetInput()) < 1 {
		c.fail("Concat without inputs")
	}
	if c.attr("axis") == nil {
		c.fail("Concat without its axis attribute")
	}
	axis := int(c.intAttr("axis", 0))
	return func(_ *Model, in []value) []value { return []value{concatValues(axis, in)} }
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
