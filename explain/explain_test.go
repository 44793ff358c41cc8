package explain

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestGradCAMMatchesPyTorch compares Grad-CAM on LeNet-5's conv2 with the
// reference of tools/refgen/gradcam_ref.py (PyTorch hooks, float64).
func TestGradCAMMatchesPyTorch(t *testing.T) {
	f, err := checkpoint.ReadFile("testdata/gradcam_lenet5.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	model := models.NewLeNet5(models.Options{})
	var state []string
	for _, n := range f.Tensors {
		state = append(state, n.Name)
	}
	// LoadInto refuses extra tensors: load the state_dict part only.
	sub := &checkpoint.File{Name: f.Name}
	for _, n := range f.Tensors {
		switch n.Name {
		case "x", "logits", "weights", "raw", "cam":
		default:
			sub.Tensors = append(sub.Tensors, n)
		}
	}
	if err := checkpoint.LoadInto(model, sub); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *tensor.Tensor {
		v, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("fixture lacks %q (has %v)", name, state)
		}
		return v
	}
	wantClass, _ := strconv.Atoi(f.Metadata["class"])
	cam, err := GradCAM(model, get("x"), "conv2", -1)
	if err != nil {
		t.Fatal(err)
	}
	if cam.Class != wantClass {
		t.Fatalf("class %d, PyTorch %d", cam.Class, wantClass)
	}
	maxErr := func(got []float32, want *tensor.Tensor, scale float64) float64 {
		w := want.Data()
		if len(got) != len(w) {
			t.Fatalf("%d values, want %d", len(got), len(w))
		}
		e := 0.0
		for i := range w {
			e = math.Max(e, math.Abs(float64(got[i])-float64(w[i]))/scale)
		}
		return e
	}
	peak := func(p *tensor.Tensor) float64 {
		m := 0.0
		for _, v := range p.Data() {
			m = math.Max(m, math.Abs(float64(v)))
		}
		return m
	}
	eW := maxErr(cam.Weights, get("weights"), peak(get("weights")))
	eRaw := maxErr(cam.Raw, get("raw"), peak(get("raw")))
	eCAM := maxErr(cam.Data, get("cam"), 1)
	t.Logf("max error vs PyTorch: weights %.2g, raw %.2g (relative to their peaks), cam %.2g", eW, eRaw, eCAM)
	if eCAM > 1e-4 || eRaw > 1e-4 || eW > 1e-4 {
		t.Errorf("Grad-CAM differs from PyTorch: cam %.3g, raw %.3g, weights %.3g (tolerance 1e-4)", eCAM, eRaw, eW)
	}
}

// detached runs its inner layer on a copy of the input, so no gradient
// reaches the input (as an inference-only wrapper would).
type detached struct{ inner nn.Layer }

func (d detached) Forward(x *autograd.Var) *autograd.Var {
	return d.inner.Forward(autograd.Const(x.Value.Clone()))
}

// TestModelsWithoutConvOrGradient checks the errors for a model with no
// conv layer (Grad-CAM's default layer) and one that passes no gradient to
// its input (saliency): clear messages without Go type names, no panic.
func TestModelsWithoutConvOrGradient(t *testing.T) {
	r := tensor.NewRNG(1)
	mlp := nn.NewSequential(nn.Flatten{}, nn.NewLinear(r, 16, 3, true))
	x := tensor.Normal(r, 0, 1, 1, 1, 4, 4)
	for _, c := range []struct {
		name string
		run  func() error
		want string
	}{
		{"default layer", func() error { _, err := DefaultLayer(mlp); return err }, "no Conv2d layer"},
		{"gradcam default", func() error { _, err := GradCAM(mlp, x, "", -1); return err }, "no Conv2d layer"},
		{"saliency detached", func() error { _, err := Saliency(detached{mlp}, x, -1); return err }, "does not depend on the input"},
		{"smoothgrad detached", func() error { _, err := SmoothGrad(detached{mlp}, x, -1, 2, 0.1, 1); return err }, "does not depend on the input"},
	} {
		err := c.run()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "*") || strings.Contains(err.Error(), "nn.") || strings.Contains(err.Error(), "explain.") {
			t.Errorf("%s: error %q names a Go type", c.name, err)
		}
	}
}
