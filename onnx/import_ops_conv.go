package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// Spatial operators: Conv, MaxPool, AveragePool and Pad (GlobalAveragePool
// is a unary operator in the table).

// importConv imports a 2-D Conv, x (N, C, H, W) and weight (M, C/group,
// kH, kW), with an optional bias (M).
func importConv(c *nodeCtx) runFunc {
	c.needIn(2, 3)
	ones := []int{1, 1}
	strides := c.intsAttr("strides", 2, 1, maxKernel, ones)
	dil := c.intsAttr("dilations", 2, 1, maxKernel, ones)
	pads := c.intsAttr("pads", 4, 0, maxKernel, []int{0, 0, 0, 0})
	kernel := c.intsAttr("kernel_shape", 2, 1, maxKernel, nil)
	group := c.intAttr("group", 1)
	if group < 1 || group > maxImportDim {
		c.fail("Conv group %d", group)
	}
	auto := c.autoPad()
	return func(_ *Model, in []value) []value {
		x, w, b := floatIn(in, 0), floatIn(in, 1), optFloatIn(in, 2)
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

// importPool imports a 2-D MaxPool or AveragePool of x (N, C, H, W).
func importPool(c *nodeCtx) runFunc {
	c.needIn(1, 1)
	maxPool := c.n.GetOpType() == "MaxPool"
	kernel := c.intsAttr("kernel_shape", 2, 1, maxKernel, nil)
	if kernel == nil {
		c.fail("%s without a 2-D kernel_shape", c.n.GetOpType())
		kernel = []int{1, 1}
	}
	strides := c.intsAttr("strides", 2, 1, maxKernel, []int{1, 1})
	pads := c.intsAttr("pads", 4, 0, maxKernel, []int{0, 0, 0, 0})
	c.intsAttr("dilations", 2, 1, 1, []int{1, 1}) // only 1 allowed
	ceil := c.intAttr("ceil_mode", 0) != 0
	countPad := c.intAttr("count_include_pad", 0) != 0
	auto := c.autoPad()
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
			x = padForPool(x, pd, maxPool, countPad)
		}
		if maxPool {
			return floatOut(autograd.MaxPool2d(x, p))
		}
		return floatOut(autograd.AvgPool2d(x, p))
	}
}

// padForPool pads x (N, C, H, W) explicitly by pd (top, left, bottom,
// right), for asymmetric or wide padding: with −∞ for max pooling and
// zeros for an average that counts padding.
func padForPool(x *autograd.Var, pd [4]int, maxPool, countPad bool) *autograd.Var {
	fill := float32(math.Inf(-1))
	if !maxPool {
		if !countPad && pd != [4]int{} {
			panic(fmt.Sprintf("average pooling with pads %v and count_include_pad=0 is not supported", pd))
		}
		fill = 0
	}
	x = padAxis(x, 2, pd[0], pd[2], fill)
	return padAxis(x, 3, pd[1], pd[3], fill)
}

// autoPad reads and checks the auto_pad attribute.
func (c *nodeCtx) autoPad() string {
	a := c.stringAttr("auto_pad", "NOTSET")
	switch a {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	case "":
		a = "NOTSET"
	default:
		c.fail("auto_pad %q: want NOTSET, SAME_UPPER, SAME_LOWER or VALID", a)
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

// importPad imports a constant-mode Pad: pads and value are attributes
// below opset 11, inputs 1 and 2 from it on.
func importPad(c *nodeCtx) runFunc {
	if mode := c.stringAttr("mode", "constant"); mode != "constant" {
		c.fail("Pad mode %q is not supported (only constant)", mode)
	}
	var attrPads []int
	fill := float32(0)
	opset := c.m.Opset
	if opset < 11 {
		c.needIn(1, 1)
		attrPads = c.intsAttr("pads", -1, -maxImportDim, maxImportDim, nil)
		if attrPads == nil {
			attrPads = c.intsAttr("paddings", -1, -maxImportDim, maxImportDim, nil)
		}
		fill = c.floatAttr("value", 0)
	} else {
		c.needIn(2, 4)
		if in := c.n.GetInput(); len(in) > 3 && in[3] != "" {
			c.fail("Pad with axes input is not supported")
		}
	}
	c.roles = []useKind{useParam, useConst, useConst}
	return func(_ *Model, in []value) []value {
		x := floatIn(in, 0)
		pads, v := attrPads, fill
		if opset >= 11 {
			pads = intListIn(in, 1)
			if has(in, 2) {
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
