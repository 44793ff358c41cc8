package models_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// zooFixture is models/testdata/zoo_params.json, written by
// tools/refgen/zoo_params.py from torchvision (and, for the CIFAR
// variants, PyTorch definitions mirroring ours).
type zooFixture struct {
	Torch       string
	Torchvision string
	Cases       []struct {
		Model      string
		NumClasses int `json:"num_classes"`
		Width      float64
		Params     int
		// State lists [name, shape] pairs: named_parameters() then
		// named_buffers(); shape [] is a scalar (num_batches_tracked).
		State [][2]json.RawMessage
	}
}

func loadZooFixture(t *testing.T) zooFixture {
	t.Helper()
	b, err := os.ReadFile("testdata/zoo_params.json")
	if err != nil {
		t.Fatal(err)
	}
	var f zooFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

// zooModels are the architectures whose state dicts zoo_params.json must
// cover.
var zooModels = []string{
	"vgg11", "vgg13", "vgg16", "vgg11_bn", "vgg13_bn", "vgg16_bn",
	"vgg11-cifar", "vgg13-cifar", "vgg16-cifar", "vgg11_bn-cifar", "vgg13_bn-cifar", "vgg16_bn-cifar",
	"resnet18", "resnet34", "resnet50", "googlenet", "inception-cifar", "mobilenetv2", "mobilenetv2-cifar",
}

// TestZooStateDictMatchesPyTorch builds every case of the fixture and
// compares the parameter count and the ordered state-dict names and
// shapes (parameters, then buffers) with PyTorch's.
func TestZooStateDictMatchesPyTorch(t *testing.T) {
	f := loadZooFixture(t)
	covered := map[string]bool{}
	for _, c := range f.Cases {
		covered[c.Model] = true
		t.Run(fmt.Sprintf("%s_w%g", c.Model, c.Width), func(t *testing.T) {
			if testing.Short() && c.Params > 50_000_000 {
				t.Skip("VGG with 1000 classes: building 130M parameters takes seconds")
			}
			m, err := models.New(c.Model, models.Options{NumClasses: c.NumClasses, Width: c.Width})
			if err != nil {
				t.Fatal(err)
			}
			if got := nn.NumParams(m); got != c.Params {
				t.Errorf("%d parameters, torch %s has %d", got, f.Torch, c.Params)
			}
			sd := nn.StateDict(m)
			for i, e := range c.State {
				var name string
				var shape []int
				if err := json.Unmarshal(e[0], &name); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(e[1], &shape); err != nil {
					t.Fatal(err)
				}
				if len(shape) == 0 {
					shape = []int{1} // Fovea keeps num_batches_tracked as [1]
				}
				if i >= len(sd) {
					t.Fatalf("state dict ends after %d entries; PyTorch has %d, next %s", len(sd), len(c.State), name)
				}
				if sd[i].Name != name {
					t.Fatalf("state dict entry %d is %q, PyTorch has %q", i, sd[i].Name, name)
				}
				if got := sd[i].Value.Shape(); !slices.Equal(got, shape) {
					t.Errorf("%s has shape %v, PyTorch %v", name, got, shape)
				}
			}
			if len(sd) > len(c.State) {
				t.Errorf("state dict has %d entries, PyTorch %d; first extra %q", len(sd), len(c.State), sd[len(c.State)].Name)
			}
		})
	}
	for _, n := range zooModels {
		if !covered[n] {
			t.Errorf("%s is not in testdata/zoo_params.json: rerun tools/refgen/zoo_params.py", n)
		}
	}
}

// TestZooForward runs every zoo model at the smallest input it is meant
// for (CIFAR size, or 32-64 pixels for the ImageNet models, whose global
// or adaptive pooling takes any size) and checks the logits' shape and
// that they are finite, in evaluation mode.
func TestZooForward(t *testing.T) {
	for _, c := range []struct {
		name  string
		size  int
		width float64
	}{
		{"vgg11", 32, 0}, {"vgg13_bn", 32, 0}, {"vgg16", 32, 0}, {"vgg16_bn", 32, 0},
		{"vgg11-cifar", 32, 0}, {"vgg13-cifar", 32, 0}, {"vgg16_bn-cifar", 32, 0},
		{"vgg11_bn-cifar", 32, 0.25},
		{"resnet50", 64, 0},
		{"googlenet", 32, 0}, {"googlenet", 64, 0},
		{"inception-cifar", 32, 0}, {"inception-cifar", 32, 0.5},
		{"mobilenetv2", 64, 0}, {"mobilenetv2", 32, 0.35},
		{"mobilenetv2-cifar", 32, 0}, {"resnet20", 32, 0.5},
	} {
		t.Run(fmt.Sprintf("%s_%d_w%g", c.name, c.size, c.width), func(t *testing.T) {
			if testing.Short() && strings.HasPrefix(c.name, "vgg1") && !strings.HasSuffix(c.name, "-cifar") {
				t.Skip("VGG with its ImageNet head: 120M parameters to initialize")
			}
			m, err := models.New(c.name, models.Options{NumClasses: 5, Width: c.width, Seed: 2})
			if err != nil {
				t.Fatal(err)
			}
			nn.SetTraining(m, false)
			x := autograd.EvalConst(tensor.Normal(tensor.NewRNG(3), 0, 1, 2, 3, c.size, c.size))
			out := m.Forward(x)
			if !slices.Equal(out.Shape(), []int{2, 5}) {
				t.Fatalf("output %v, want [2 5]", out.Shape())
			}
			for _, v := range out.Value.Data() {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("logit %v", v)
				}
			}
		})
	}
}

// TestZooBackward runs a forward and backward pass through the small zoo
// models, in training mode (batch statistics, dropout) and in evaluation
// mode: every gradient must be finite, and in evaluation mode none may be
// all zero (in training mode a convolution bias before a batch norm
// rightly gets none). MobileNetV2 exercises ReLU6 and depthwise
// convolutions, inception-cifar nn.Concat with a max-pool branch.
func TestZooBackward(t *testing.T) {
	for _, c := range []struct {
		name  string
		width float64
	}{{"mobilenetv2-cifar", 0.25}, {"inception-cifar", 0.25}, {"vgg11_bn-cifar", 0.25}, {"googlenet", 0}} {
		t.Run(c.name, func(t *testing.T) {
			m, err := models.New(c.name, models.Options{NumClasses: 4, Width: c.width, Seed: 5})
			if err != nil {
				t.Fatal(err)
			}
			x := autograd.Const(tensor.Normal(tensor.NewRNG(6), 0, 1, 2, 3, 32, 32))
			for _, training := range []bool{true, false} {
				nn.SetTraining(m, training)
				nn.ZeroGrad(m)
				loss := autograd.CrossEntropy(m.Forward(x), []int{1, 3}, autograd.CrossEntropyOpts{})
				loss.Backward()
				for _, p := range nn.Params(m) {
					g := p.Value.Grad
					if g == nil {
						t.Fatalf("training %v: %s has no gradient", training, p.Name)
					}
					nonzero := false
					for _, v := range g.Data() {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("training %v: %s: gradient %v", training, p.Name, v)
						}
						nonzero = nonzero || v != 0
					}
					if !training && !nonzero {
						t.Errorf("%s: gradient is all zero", p.Name)
					}
				}
			}
		})
	}
}

// TestZooInit checks torchvision's initializations: VGG and MobileNetV2
// convolutions N(0, 2/fan_out) with zero bias and linear layers
// N(0, 0.01²) with zero bias; GoogLeNet convolutions N(0, 0.01²) and
// batch norm eps 0.001.
func TestZooInit(t *testing.T) {
	std := func(d []float32) (mean, sd float64) {
		for _, v := range d {
			mean += float64(v)
		}
		mean /= float64(len(d))
		for _, v := range d {
			sd += (float64(v) - mean) * (float64(v) - mean)
		}
		return mean, math.Sqrt(sd / float64(len(d)))
	}
	check := func(model, name string, d []float32, want float64) {
		t.Helper()
		if want == 0 {
			if slices.ContainsFunc(d, func(v float32) bool { return v != 0 }) {
				t.Errorf("%s %s: want all zero", model, name)
			}
			return
		}
		mean, sd := std(d)
		if len(d) >= 1000 && (math.Abs(sd/want-1) > 0.1 || math.Abs(mean) > 0.2*want) {
			t.Errorf("%s %s: mean %.3g std %.3g, want 0 and %.3g", model, name, mean, sd, want)
		}
	}
	for _, name := range []string{"vgg11_bn-cifar", "mobilenetv2-cifar", "googlenet"} {
		m, err := models.New(name, models.Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		nn.Walk(m, func(path string, l nn.Layer) {
			switch l := l.(type) {
			case *nn.Conv2d:
				s := l.Weight.Shape()
				want := math.Sqrt(2 / float64(s[0]*s[2]*s[3]))
				if name == "googlenet" {
					want = 0.01
				}
				check(name, path+".weight", l.Weight.Value.Data(), want)
				if l.Bias != nil {
					check(name, path+".bias", l.Bias.Value.Data(), 0)
				}
			case *nn.Linear:
				if name != "googlenet" {
					check(name, path+".bias", l.Bias.Value.Data(), 0)
				}
				check(name, path+".weight", l.Weight.Value.Data(), 0.01)
			case *nn.BatchNorm:
				eps := float32(1e-5)
				if name == "googlenet" {
					eps = 1e-3
				}
				if l.Eps != eps {
					t.Errorf("%s %s: batch norm eps %g, want %g", name, path, l.Eps, eps)
				}
			}
		})
	}
}

// TestWidthOption checks that Options.Width reaches the architectures
// that honour it and that a negative width is refused.
func TestWidthOption(t *testing.T) {
	for _, c := range []struct {
		name, tensor string
		width        float64
		want         []int
	}{
		{"vgg11-cifar", "features.0.weight", 0.5, []int{32, 3, 3, 3}},
		{"vgg11-cifar", "classifier.weight", 0.5, []int{10, 256}},
		{"resnet20", "conv.weight", 2, []int{32, 3, 3, 3}},
		{"resnet20", "fc.weight", 2, []int{10, 128}},
		{"mobilenetv2-cifar", "features.0.0.weight", 0.5, []int{16, 3, 3, 3}},
		{"mobilenetv2-cifar", "classifier.1.weight", 0.5, []int{10, 1280}},
		{"inception-cifar", "fc.weight", 0.5, []int{10, 168}},
		{"googlenet", "fc.weight", 0.5, []int{1000, 1024}}, // ignored
	} {
		m, err := models.New(c.name, models.Options{Width: c.width})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range nn.StateDict(m) {
			if s.Name == c.tensor {
				found = true
				if !slices.Equal(s.Value.Shape(), c.want) {
					t.Errorf("%s width %g: %s has shape %v, want %v", c.name, c.width, c.tensor, s.Value.Shape(), c.want)
				}
			}
		}
		if !found {
			t.Errorf("%s has no %s", c.name, c.tensor)
		}
	}
	if _, err := models.New("vgg11-cifar", models.Options{Width: -1}); err == nil {
		t.Error("width -1 did not fail")
	}
}
