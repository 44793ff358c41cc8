package nn_test

import (
	"math"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func TestActivationLayers(t *testing.T) {
	x := tensor.FromSlice([]float32{-2, 0.5}, 1, 2)
	cases := []struct {
		name string
		l    nn.Layer
		want []float64
	}{
		{"relu", nn.ReLU{}, []float64{0, 0.5}},
		{"leaky-default", nn.LeakyReLU{}, []float64{-0.02, 0.5}},
		{"leaky", nn.LeakyReLU{Slope: 0.3}, []float64{-0.6, 0.5}},
		{"elu-default", nn.ELU{}, []float64{math.Exp(-2) - 1, 0.5}},
		{"elu", nn.ELU{Alpha: 2}, []float64{2 * (math.Exp(-2) - 1), 0.5}},
		{"gelu", nn.GELU{}, []float64{-2 * 0.5 * (1 + math.Erf(-2/math.Sqrt2)), 0.5 * 0.5 * (1 + math.Erf(0.5/math.Sqrt2))}},
		{"silu", nn.SiLU{}, []float64{-2 / (1 + math.Exp(2)), 0.5 / (1 + math.Exp(-0.5))}},
		{"sigmoid", nn.Sigmoid{}, []float64{1 / (1 + math.Exp(2)), 1 / (1 + math.Exp(-0.5))}},
		{"tanh", nn.Tanh{}, []float64{math.Tanh(-2), math.Tanh(0.5)}},
		{"softmax", nn.Softmax{Axis: -1}, []float64{1 / (1 + math.Exp(2.5)), 1 / (1 + math.Exp(-2.5))}},
		{"log-softmax", nn.LogSoftmax{Axis: 1}, []float64{-math.Log1p(math.Exp(2.5)), -math.Log1p(math.Exp(-2.5))}},
	}
	for _, c := range cases {
		got := c.l.Forward(autograd.Const(x)).Value.Data()
		for i, w := range c.want {
			if math.Abs(float64(got[i])-w) > 1e-6 {
				t.Errorf("%s: element %d = %g, want %g", c.name, i, got[i], w)
			}
		}
	}
}

func TestLossLayers(t *testing.T) {
	logits := autograd.Param(tensor.Zeros(2, 4))
	loss := nn.CrossEntropyLoss{LabelSmoothing: 0.1, Weight: []float32{1, 2, 3, 4}}.Loss(logits, []int{0, 3})
	if got := loss.Value.Item(); math.Abs(float64(got)-math.Log(4)) > 1e-6 {
		t.Errorf("cross-entropy of uniform logits %g, want ln 4", got)
	}
	loss.Backward()
	if logits.Grad == nil {
		t.Fatal("no gradient reached the logits")
	}
	p := autograd.Const(tensor.FromSlice([]float32{1, 3}, 2))
	if got := (nn.MSELoss{}).Loss(p, autograd.Const(tensor.Zeros(2))).Value.Item(); got != 5 {
		t.Errorf("MSE %g, want 5", got)
	}
	z := autograd.Const(tensor.Zeros(1, 2))
	got := nn.BCEWithLogitsLoss{PosWeight: []float32{3, 1}}.Loss(z, autograd.Const(tensor.Ones(1, 2))).Value.Item()
	if want := 2 * math.Ln2; math.Abs(float64(got)-want) > 1e-6 { // (3 ln 2 + ln 2)/2
		t.Errorf("BCE with pos weight %g, want %g", got, want)
	}
}
