package torchref

import (
	"testing"

	"github.com/fovea-ml/fovea/autograd"
)

// Losses use mean reduction, as PyTorch's default. The loss is seeded with
// the stored random scalar grad_y, not 1, so a gradient that ignores its
// upstream gradient fails.

func TestCrossEntropy(t *testing.T) {
	for _, name := range []string{
		"cross_entropy", "cross_entropy_smooth", "cross_entropy_weight", "cross_entropy_weight_smooth",
	} {
		t.Run(name, func(t *testing.T) {
			r := load(t, name)
			x := autograd.Param(r.get("x"))
			opt := autograd.CrossEntropyOpts{LabelSmoothing: float32(r.metaFloat("label_smoothing"))}
			if r.metaBool("weighted") {
				opt.Weight = r.get("weight").Data()
			}
			y := autograd.CrossEntropy(x, r.labels("labels"), opt)
			r.check("y", y.Value, tolOp)
			r.backward(y)
			r.checkGrad("grad_x", x, tolOp)
		})
	}
}

func TestNLLLoss(t *testing.T) {
	for _, name := range []string{"nll_loss", "nll_loss_weight"} {
		t.Run(name, func(t *testing.T) {
			r := load(t, name)
			x := autograd.Param(r.get("x"))
			var w []float32
			if r.metaBool("weighted") {
				w = r.get("weight").Data()
			}
			y := autograd.NLLLoss(x, r.labels("labels"), w)
			r.check("y", y.Value, tolOp)
			r.backward(y)
			r.checkGrad("grad_x", x, tolOp)
		})
	}
}

func TestMSELoss(t *testing.T) {
	r := load(t, "mse_loss")
	x := autograd.Param(r.get("x"))
	y := autograd.MSELoss(x, autograd.Const(r.get("target")))
	r.check("y", y.Value, tolOp)
	r.backward(y)
	r.checkGrad("grad_x", x, tolOp)
}

func TestBCEWithLogits(t *testing.T) {
	r := load(t, "bce_with_logits")
	x := autograd.Param(r.get("x"))
	y := autograd.BCEWithLogits(x, autograd.Const(r.get("target")), r.get("pos_weight").Data())
	r.check("y", y.Value, tolOp)
	r.backward(y)
	r.checkGrad("grad_x", x, tolOp)
}
