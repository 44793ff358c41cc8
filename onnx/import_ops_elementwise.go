package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
)

// Elementwise operators: Identity, the unary activations, Clip and the
// binary arithmetic operators.

func importIdentity(c *nodeCtx) runFunc {
	c.needIn(1, 1)
	return func(_ *Model, in []value) []value { return []value{in[0]} }
}

// unaryOp returns the importer of an operator that applies f to its one
// float32 input.
func unaryOp(f func(x *autograd.Var) *autograd.Var) importer {
	return func(c *nodeCtx) runFunc { return c.unary(f) }
}

// unary checks that the node has one input and returns a run applying f.
func (c *nodeCtx) unary(f func(x *autograd.Var) *autograd.Var) runFunc {
	c.needIn(1, 1)
	return func(_ *Model, in []value) []value { return floatOut(f(floatIn(in, 0))) }
}

func importLeakyRelu(c *nodeCtx) runFunc {
	a := c.floatAttr("alpha", 0.01)
	return c.unary(func(x *autograd.Var) *autograd.Var { return autograd.LeakyReLU(x, a) })
}

func importElu(c *nodeCtx) runFunc {
	a := c.floatAttr("alpha", 1)
	return c.unary(func(x *autograd.Var) *autograd.Var { return autograd.ELU(x, a) })
}

func importGelu(c *nodeCtx) runFunc {
	switch a := c.stringAttr("approximate", "none"); a {
	case "none":
		return c.unary(autograd.GELU)
	case "tanh":
		return c.unary(geluTanh)
	default:
		c.fail("Gelu approximate=%q: want none or tanh", a)
		return nil
	}
}

func importHardSigmoid(c *nodeCtx) runFunc {
	a, b := c.floatAttr("alpha", 0.2), c.floatAttr("beta", 0.5)
	return c.unary(func(x *autograd.Var) *autograd.Var { return hardSigmoid(x, a, b) })
}

// importClip reads the bounds from attributes below opset 11, from the
// optional inputs 1 and 2 from it on.
func importClip(c *nodeCtx) runFunc {
	lo, hi := float32(-math.MaxFloat32), float32(math.MaxFloat32)
	if c.m.Opset < 11 {
		c.needIn(1, 1)
		lo, hi = c.floatAttr("min", lo), c.floatAttr("max", hi)
	} else {
		c.needIn(1, 3)
	}
	c.roles = []useKind{useParam, useConst, useConst}
	return func(_ *Model, in []value) []value {
		lo, hi := lo, hi
		if has(in, 1) {
			lo = scalarIn(in, 1)
		}
		if has(in, 2) {
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
}

// arithOp imports Add, Sub, Mul and Div.
func arithOp(c *nodeCtx) runFunc {
	c.needIn(2, 2)
	op := c.n.GetOpType()
	return func(_ *Model, in []value) []value { return []value{arith(op, in[0], in[1])} }
}

// arith applies Add, Sub, Mul or Div: on Go integers when both operands
// are int64 tensors (shape arithmetic), else on float32 Vars.
func arith(op string, a, b value) value {
	if !a.set || !b.set {
		panic("missing input")
	}
	if a.f == nil && b.f == nil {
		return intArith(op, a, b)
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

// intArith applies op to int64 tensors a and b, one of them of one element
// or both of the same size.
func intArith(op string, a, b value) value {
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

// hardSigmoid returns max(0, min(1, alpha·x + beta)).
func hardSigmoid(x *autograd.Var, alpha, beta float32) *autograd.Var {
	return autograd.Clamp(autograd.AddScalar(autograd.Scale(x, alpha), beta), 0, 1)
}

// hardSwish returns x·hardSigmoid(x, 1/6, 1/2).
func hardSwish(x *autograd.Var) *autograd.Var { return autograd.Mul(x, hardSigmoid(x, 1.0/6, 0.5)) }

// geluTanh is GELU's tanh approximation,
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func geluTanh(x *autograd.Var) *autograd.Var {
	inner := autograd.Scale(autograd.Add(x, autograd.Scale(autograd.Pow(x, 3), 0.044715)), float32(math.Sqrt(2/math.Pi)))
	return autograd.Mul(autograd.Scale(x, 0.5), autograd.AddScalar(autograd.Tanh(inner), 1))
}
