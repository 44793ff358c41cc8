package onnx

import (
	"slices"

	"github.com/fovea-ml/fovea/autograd"
)

// Normalization and reduction: BatchNormalization, Dropout, Softmax,
// LogSoftmax and ReduceMean.

// importBatchNorm imports the inference form of BatchNormalization: x (N,
// C, …), scale, bias, mean and var (C); mean and var are buffers, updated
// when the model trains.
func importBatchNorm(c *nodeCtx) runFunc {
	c.needIn(5, 5)
	eps := c.floatAttr("epsilon", 1e-5)
	mom := c.floatAttr("momentum", 0.9)
	if c.intAttr("training_mode", 0) != 0 {
		c.fail("BatchNormalization with training_mode=1 is not supported (export the model in eval mode)")
	}
	if c.intAttr("spatial", 1) != 1 {
		c.fail("BatchNormalization with spatial=0 is not supported")
	}
	c.roles = []useKind{useParam, useParam, useParam, useBuffer, useBuffer}
	return func(m *Model, in []value) []value {
		x, mean, vr := floatIn(in, 0), floatIn(in, 3), floatIn(in, 4)
		return floatOut(autograd.BatchNorm(x, floatIn(in, 1), floatIn(in, 2), mean.Value, vr.Value, m.training, 1-mom, eps))
	}
}

// importDropout imports Dropout: the identity in inference; in training
// (or when input 2, training_mode, says so) it drops with the ratio of
// input 1 or the attribute.
func importDropout(c *nodeCtx) runFunc {
	c.needIn(1, 3)
	ratio := c.floatAttr("ratio", 0.5)
	if out := c.n.GetOutput(); len(out) > 1 && out[1] != "" {
		c.fail("Dropout: its mask output %q is not supported", out[1])
	}
	c.roles = []useKind{useParam, useConst, useConst}
	return func(m *Model, in []value) []value {
		x := floatIn(in, 0)
		r := ratio
		if has(in, 1) {
			r = scalarIn(in, 1)
		}
		on := m.training
		if has(in, 2) {
			on = scalarIn(in, 2) != 0
		}
		if on && r > 0 {
			x = autograd.Dropout(x, r, m.rng)
		}
		return []value{floatValue(x)}
	}
}

// importSoftmax imports Softmax and LogSoftmax, with their semantics before
// opset 13 (the input coerced to 2-D at axis) too.
func importSoftmax(c *nodeCtx) runFunc {
	c.needIn(1, 1)
	opset := c.m.Opset
	def := int64(-1)
	if opset < 13 {
		def = 1
	}
	axis := int(c.intAttr("axis", def))
	f := autograd.Softmax
	if c.n.GetOpType() == "LogSoftmax" {
		f = autograd.LogSoftmax
	}
	return func(_ *Model, in []value) []value {
		x := floatIn(in, 0)
		shape := x.Shape()
		ax := importAxis(axis, len(shape))
		if opset >= 13 || ax == len(shape)-1 {
			return floatOut(f(x, ax))
		}
		y := f(autograd.Reshape(x, prod(shape[:ax]), -1), 1)
		return floatOut(autograd.Reshape(y, shape...))
	}
}

// importReduceMean imports ReduceMean, its axes an attribute below opset 18
// and an optional input from it on.
func importReduceMean(c *nodeCtx) runFunc {
	axesOf := c.axesArg(18)
	keep := c.intAttr("keepdims", 1) != 0
	noop := c.intAttr("noop_with_empty_axes", 0) != 0
	return func(_ *Model, in []value) []value {
		x := floatIn(in, 0)
		axes := axesOf(in)
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
}
