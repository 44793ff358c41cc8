package torchref

import (
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// Ops: each case feeds the stored x (and w, b) through the Fovea op, runs
// BackwardWith(grad_y) and compares y and every gradient.

func TestConv2d(t *testing.T) {
	for _, name := range []string{
		"conv2d_3x3_pad1", "conv2d_stride2_asym", "conv2d_dilation2", "conv2d_groups2",
		"conv2d_depthwise", "conv2d_1x1", "conv2d_5x5_pad2", "conv2d_nobias",
	} {
		t.Run(name, func(t *testing.T) {
			r := load(t, name)
			pad := r.metaPair("padding")
			p := tensor.ConvParams{
				Stride:   r.metaPair("stride"),
				Pad:      [4]int{pad[0], pad[1], pad[0], pad[1]},
				Dilation: r.metaPair("dilation"),
				Groups:   r.metaInt("groups"),
			}
			x, w := autograd.Param(r.get("x")), autograd.Param(r.get("w"))
			var b *autograd.Var
			if r.metaBool("bias") {
				b = autograd.Param(r.get("b"))
			}
			y := autograd.Conv2d(x, w, b, p)
			r.check("y", y.Value, tolOp)
			r.backward(y)
			r.checkGrad("grad_x", x, tolOp)
			r.checkGrad("grad_w", w, tolGrad)
			if b != nil {
				r.checkGrad("grad_b", b, tolGrad)
			}
		})
	}
}

func TestLinear(t *testing.T) {
	r := load(t, "linear")
	x, w, b := autograd.Param(r.get("x")), autograd.Param(r.get("w")), autograd.Param(r.get("b"))
	y := autograd.Linear(x, w, b)
	r.check("y", y.Value, tolOp)
	r.backward(y)
	r.checkGrad("grad_x", x, tolOp)
	r.checkGrad("grad_w", w, tolOp)
	r.checkGrad("grad_b", b, tolOp)
}

func TestBatchNorm(t *testing.T) {
	for _, name := range []string{"batchnorm2d_train", "batchnorm2d_eval", "batchnorm1d_train"} {
		t.Run(name, func(t *testing.T) {
			r := load(t, name)
			x, g, b := autograd.Param(r.get("x")), autograd.Param(r.get("w")), autograd.Param(r.get("b"))
			rm, rv := r.get("running_mean"), r.get("running_var")
			y := autograd.BatchNorm(x, g, b, rm, rv, r.metaBool("training"),
				float32(r.metaFloat("momentum")), float32(r.metaFloat("eps")))
			r.check("y", y.Value, tolOp)
			r.check("running_mean_after", rm, tolOp)
			r.check("running_var_after", rv, tolOp)
			r.backward(y)
			r.checkGrad("grad_x", x, tolGrad)
			r.checkGrad("grad_w", g, tolGrad)
			r.checkGrad("grad_b", b, tolGrad)
		})
	}
}

func TestPool(t *testing.T) {
	for _, name := range []string{
		"maxpool_2x2", "maxpool_3x3_s2_p1", "maxpool_ceil",
		"avgpool_2x2", "avgpool_3x3_s1_p1_countpad", "avgpool_3x3_s2_p1_nocountpad",
		"adaptive_avgpool_1",
	} {
		t.Run(name, func(t *testing.T) {
			r := load(t, name)
			x := autograd.Param(r.get("x"))
			p := tensor.PoolParams{
				Kernel:   r.metaPair("kernel"),
				Stride:   r.metaPair("stride"),
				Pad:      r.metaPair("padding"),
				CeilMode: r.metaBool("ceil_mode"),
				CountPad: r.metaBool("count_include_pad"),
			}
			var y *autograd.Var
			switch r.meta("op") {
			case "max_pool2d":
				y = autograd.MaxPool2d(x, p)
			case "avg_pool2d":
				y = autograd.AvgPool2d(x, p)
			case "adaptive_avg_pool2d":
				y = autograd.GlobalAvgPool2d(x)
			default:
				t.Fatalf("unknown op %q", r.meta("op"))
			}
			r.check("y", y.Value, tolExact)
			r.backward(y)
			r.checkGrad("grad_x", x, tolExact)
		})
	}
}

func TestActivations(t *testing.T) {
	for _, c := range []struct {
		name string
		f    func(r *ref, x *autograd.Var) *autograd.Var
		tl   tol
	}{
		{"relu", func(_ *ref, x *autograd.Var) *autograd.Var { return autograd.ReLU(x) }, tolExact},
		{"leaky_relu", func(r *ref, x *autograd.Var) *autograd.Var {
			return autograd.LeakyReLU(x, float32(r.metaFloat("negative_slope")))
		}, tolExact},
		{"elu", func(r *ref, x *autograd.Var) *autograd.Var {
			return autograd.ELU(x, float32(r.metaFloat("alpha")))
		}, tolExact},
		{"gelu", func(_ *ref, x *autograd.Var) *autograd.Var { return autograd.GELU(x) }, tolExact},
		{"silu", func(_ *ref, x *autograd.Var) *autograd.Var { return autograd.SiLU(x) }, tolExact},
		{"sigmoid", func(_ *ref, x *autograd.Var) *autograd.Var { return autograd.Sigmoid(x) }, tolExact},
		{"tanh", func(_ *ref, x *autograd.Var) *autograd.Var { return autograd.Tanh(x) }, tolExact},
		{"softmax", func(r *ref, x *autograd.Var) *autograd.Var {
			return autograd.Softmax(x, r.metaInt("dim"))
		}, tolOp},
		{"log_softmax", func(r *ref, x *autograd.Var) *autograd.Var {
			return autograd.LogSoftmax(x, r.metaInt("dim"))
		}, tolOp},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := load(t, "act_"+c.name)
			x := autograd.Param(r.get("x"))
			y := c.f(r, x)
			r.check("y", y.Value, c.tl)
			r.backward(y)
			r.checkGrad("grad_x", x, c.tl)
		})
	}
}
