package torchref

import (
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// tolResNet is for ResNet-20's logits and loss: 19 convolutions with batch
// norm compound float32 rounding, but the logits are O(1), so an absolute
// 1e-4 still catches any wrong layer (a mis-wired block moves them by 0.1
// and more).
var tolResNet = tol{Atol: 1e-4, Rtol: 1e-4}

// tolGradNet is for ResNet-20's parameter gradients, which sum over the
// batch and every spatial position through up to 19 layers.
var tolGradNet = tol{Atol: 1e-5, Rtol: 1e-3}

// TestResNet20 loads PyTorch's ResNet20 (shared/bench/peers/models.py,
// written by tools/refgen/resnet_ref.py) into models.NewResNet20 by
// state_dict name with checkpoint.LoadInto, and compares the logits in
// evaluation mode (running statistics), the logits, loss, gradients and
// updated running statistics of a training-mode forward and backward.
func TestResNet20(t *testing.T) {
	r := load(t, "resnet20")
	m := models.NewResNet20(models.Options{NumClasses: 10, InChannels: 3, Seed: 1})

	// The file also holds inputs and references: hand LoadInto exactly the
	// model's state dict, so it checks that every name and shape matches.
	state := &checkpoint.File{Name: r.f.Name}
	for _, k := range strings.Split(r.meta("state"), ",") {
		state.Tensors = append(state.Tensors, nn.Named[*tensor.Tensor]{Name: k, Value: r.get(k)})
	}
	if err := checkpoint.LoadInto(m, state); err != nil {
		t.Fatal(err)
	}
	x := autograd.Const(r.get("x"))

	nn.SetTraining(m, false)
	r.check("logits_eval", m.Forward(autograd.EvalConst(x.Value)).Value, tolResNet)

	nn.SetTraining(m, true)
	logits := m.Forward(x)
	r.check("logits_train", logits.Value, tolResNet)
	loss := autograd.CrossEntropy(logits, r.labels("labels"), autograd.CrossEntropyOpts{})
	r.check("loss_train", loss.Value, tolResNet)
	loss.Backward()
	checked := 0
	for _, p := range nn.Params(m) {
		if r.has("grad." + p.Name) {
			r.checkGrad("grad."+p.Name, p.Value, tolGradNet)
			checked++
		}
	}
	if checked < 50 {
		t.Errorf("only %d parameter gradients in the reference file", checked)
	}
	for _, b := range nn.Buffers(m) {
		if strings.HasSuffix(b.Name, "running_mean") || strings.HasSuffix(b.Name, "running_var") {
			r.check("after."+b.Name, b.Value, tolOp)
		}
	}
}
