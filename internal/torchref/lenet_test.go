package torchref

import (
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
)

// TestLeNet5 loads PyTorch's LeNet-5 weights (shared/bench/peers/models.py)
// into models.LeNet5 by state_dict name, runs a batch (4,1,28,28) forward,
// takes the mean cross-entropy and back-propagates it (seed 1, as
// loss.backward()), and compares the logits, the loss and every
// parameter's gradient.
func TestLeNet5(t *testing.T) {
	r := load(t, "lenet5")
	m := models.NewLeNet5(models.Options{NumClasses: 10, InChannels: 1})
	params := nn.Params(m)

	want := strings.Split(r.meta("params"), ",")
	var got []string
	for _, p := range params {
		got = append(got, p.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("parameter names %v, PyTorch state_dict %v", got, want)
	}
	for _, p := range params {
		v := r.get(p.Name)
		if !slices.Equal(p.Value.Shape(), v.Shape()) {
			t.Fatalf("%s: shape %v, PyTorch %v", p.Name, p.Value.Shape(), v.Shape())
		}
		p.Value.Value.CopyFrom(v)
	}

	logits := m.Forward(autograd.Const(r.get("x")))
	r.check("logits", logits.Value, tolNet)
	loss := autograd.CrossEntropy(logits, r.labels("labels"), autograd.CrossEntropyOpts{})
	r.check("loss", loss.Value, tolNet)
	loss.Backward()
	for _, p := range params {
		r.checkGrad("grad."+p.Name, p.Value, tolNet)
	}
}
