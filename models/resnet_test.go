package models_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// parseStateDict parses the "name d0,d1,..." lines below; "-" is a PyTorch
// scalar (num_batches_tracked), which Fovea stores with shape [1].
func parseStateDict(t testing.TB, s string) (names []string, shapes map[string][]int) {
	shapes = map[string][]int{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		name, dims, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("bad line %q", line)
		}
		shape := []int{1}
		if dims != "-" {
			shape = nil
			for _, d := range strings.Split(dims, ",") {
				v, err := strconv.Atoi(d)
				if err != nil {
					t.Fatal(err)
				}
				shape = append(shape, v)
			}
		}
		names = append(names, name)
		shapes[name] = shape
	}
	return names, shapes
}

// checkStateDict compares m's state dict (parameters in order, then buffers
// in order) with PyTorch's named_parameters() + named_buffers().
func checkStateDict(t *testing.T, model string, m nn.Layer, want string) {
	t.Helper()
	wantNames, wantShapes := parseStateDict(t, want)
	names, shapes := stateShapes(m)
	if !slices.Equal(names, wantNames) {
		for i := range max(len(names), len(wantNames)) {
			var g, w string
			if i < len(names) {
				g = names[i]
			}
			if i < len(wantNames) {
				w = wantNames[i]
			}
			if g != w {
				t.Fatalf("%s: state dict entry %d is %q, PyTorch has %q (%d entries, PyTorch %d)", model, i, g, w, len(names), len(wantNames))
			}
		}
	}
	for _, n := range names {
		if !slices.Equal(shapes[n], wantShapes[n]) {
			t.Errorf("%s: %s has shape %v, PyTorch %v", model, n, shapes[n], wantShapes[n])
		}
	}
}

func TestResNetParamCounts(t *testing.T) {
	for _, c := range []struct {
		name    string
		classes int
		want    int
	}{
		// CIFAR ResNets with option-B shortcuts: counted with PyTorch on
		// bench/peers/models.py's BasicBlock (ResNet20 there; 32, 56, 110
		// with range(n) blocks per stage).
		{"resnet20", 10, 272474},
		{"resnet32", 10, 466906},
		{"resnet56", 10, 855770},
		{"resnet110", 10, 1730714},
		// torchvision.models.resnet18() / resnet34().
		{"resnet18", 1000, 11689512},
		{"resnet34", 1000, 21797672},
	} {
		m, err := models.New(c.name, models.Options{NumClasses: c.classes})
		if err != nil {
			t.Fatal(err)
		}
		if got := nn.NumParams(m); got != c.want {
			t.Errorf("%s with %d classes has %d parameters, want %d", c.name, c.classes, got, c.want)
		}
	}
}

func TestResNet20StateDict(t *testing.T) {
	checkStateDict(t, "resnet20", models.NewResNet20(models.Options{}), resnet20StateDict)
}

func TestResNet18StateDict(t *testing.T) {
	checkStateDict(t, "resnet18", models.NewResNet18(models.Options{NumClasses: 1000}), resnet18StateDict)
}

func TestResNetOptions(t *testing.T) {
	m, err := models.New("resnet20", models.Options{NumClasses: 7, InChannels: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, s := stateShapes(m)
	if !slices.Equal(s["conv.weight"], []int{16, 1, 3, 3}) || !slices.Equal(s["fc.weight"], []int{7, 64}) {
		t.Errorf("resnet20 with 1 channel, 7 classes: conv.weight %v, fc.weight %v", s["conv.weight"], s["fc.weight"])
	}
	m18, err := models.New("resnet18", models.Options{NumClasses: 5, InChannels: 4})
	if err != nil {
		t.Fatal(err)
	}
	_, s = stateShapes(m18)
	if !slices.Equal(s["conv1.weight"], []int{64, 4, 7, 7}) || !slices.Equal(s["fc.weight"], []int{5, 512}) {
		t.Errorf("resnet18 with 4 channels, 5 classes: conv1.weight %v, fc.weight %v", s["conv1.weight"], s["fc.weight"])
	}
}

// TestResNetForwardShapes runs every ResNet once in each mode and checks
// the logits' shape, that they are finite, and that a training-mode pass
// moves running statistics while an evaluation pass does not.
func TestResNetForwardShapes(t *testing.T) {
	for _, c := range []struct {
		name  string
		input []int
	}{
		{"resnet20", []int{2, 3, 32, 32}},
		{"resnet32", []int{1, 3, 32, 32}},
		{"resnet18", []int{1, 3, 224, 224}},
		{"resnet18", []int{2, 3, 64, 64}}, // adaptive pooling takes other sizes
		{"resnet34", []int{1, 3, 64, 64}},
	} {
		if testing.Short() && c.name != "resnet20" {
			continue
		}
		m, err := models.New(c.name, models.Options{NumClasses: 6})
		if err != nil {
			t.Fatal(err)
		}
		x := autograd.EvalConst(tensor.Normal(tensor.NewRNG(3), 0, 1, c.input...))
		nn.SetTraining(m, false)
		before := stateData(m)
		out := m.Forward(x)
		if !slices.Equal(out.Shape(), []int{c.input[0], 6}) {
			t.Errorf("%s on %v: output %v, want [%d 6]", c.name, c.input, out.Shape(), c.input[0])
		}
		for _, v := range out.Value.Data() {
			if v != v || v > 1e6 || v < -1e6 {
				t.Fatalf("%s on %v: logit %v", c.name, c.input, v)
			}
		}
		after := stateData(m)
		for k, v := range before {
			if !slices.Equal(v, after[k]) {
				t.Errorf("%s: evaluation forward changed %s", c.name, k)
			}
		}
		if c.name == "resnet20" {
			nn.SetTraining(m, true)
			m.Forward(x)
			if slices.Equal(before["layers.3.shortcut.1.running_mean"], stateData(m)["layers.3.shortcut.1.running_mean"]) {
				t.Errorf("%s: training forward did not update the shortcut batch norm", c.name)
			}
		}
	}
}

// TestResNetInit checks torchvision's initialization of ResNet-18:
// convolutions N(0, 2/fan_out) with fan_out = out·kh·kw, batch norm weight
// 1 and bias 0.
func TestResNetInit(t *testing.T) {
	m := models.NewResNet18(models.Options{Seed: 4})
	for _, p := range nn.Params(m) {
		d := p.Value.Value.Data()
		s := p.Value.Shape()
		switch {
		case len(s) == 4:
			var sum, sq float64
			for _, v := range d {
				sum += float64(v)
				sq += float64(v) * float64(v)
			}
			n := float64(len(d))
			mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
			want := 2 / float64(s[0]*s[2]*s[3])
			if len(d) > 4000 && (variance < 0.9*want || variance > 1.1*want || mean*mean > 0.01*want) {
				t.Errorf("%s: mean %.3g variance %.3g, want 0 and %.3g (kaiming_normal fan_out)", p.Name, mean, variance, want)
			}
		case strings.Contains(p.Name, "bn") || strings.Contains(p.Name, "downsample.1"):
			want := float32(0)
			if strings.HasSuffix(p.Name, "weight") {
				want = 1
			}
			for _, v := range d {
				if v != want {
					t.Fatalf("%s holds %v, want %v", p.Name, v, want)
				}
			}
		}
	}
}

// TestBasicBlockGrad checks every gradient of a basic block with a 1×1
// convolution + batch-norm shortcut (ResNet-20's layers.3: 16 → 32
// channels, stride 2) against finite differences, in training mode (batch
// statistics).
//
// A finite difference whose step moves some ReLU input across 0 is wrong by
// O(1), and in training mode every weight moves a whole channel, so the
// batch-norm shifts are set near 4: no ReLU input comes near 0 and the
// check is exact to float32 noise (a few 1e-3 at this step). The ReLU
// masks themselves are checked by autograd's tests and, inside the network,
// by internal/torchref's ResNet-20 reference (gradients within 1e-6).
func TestBasicBlockGrad(t *testing.T) {
	build := func() *models.BasicBlock {
		m := models.NewResNet20(models.Options{InChannels: 3, Seed: 5})
		return m.Layers.Layers[3].(*models.BasicBlock) // 16 → 32, stride 2, with shortcut
	}
	b := build()
	if b.Shortcut == nil {
		t.Fatal("layers.3 has no shortcut")
	}
	params := nn.Params(b)
	var names []string
	inputs := []*tensor.Tensor{tensor.Normal(tensor.NewRNG(6), 0, 1, 2, 16, 8, 8)}
	for _, p := range params {
		names = append(names, p.Name)
		// Batch-norm scales 1 + N(0, 0.3²); shifts 4 + N(0, 0.3²), so that
		// every ReLU input lies far from 0 (see the doc comment).
		v := p.Value.Value.Clone()
		if len(v.Shape()) == 1 {
			rng := tensor.NewRNG(uint64(len(names)))
			v = tensor.Add(v, tensor.Normal(rng, 0, 0.3, v.Shape()...))
			if strings.HasSuffix(p.Name, "bias") {
				v = tensor.AddScalar(v, 4)
			}
		}
		inputs = append(inputs, v)
	}
	if want := []string{"conv1.weight", "bn1.weight", "bn1.bias", "conv2.weight", "bn2.weight", "bn2.bias", "shortcut.0.weight", "shortcut.1.weight", "shortcut.1.bias"}; !slices.Equal(names, want) {
		t.Fatalf("block parameters %v, want %v", names, want)
	}
	f := func(xs []*autograd.Var) *autograd.Var {
		blk := build() // fresh running statistics for every evaluation
		sc, sbn := blk.Shortcut.Layers[0].(*nn.Conv2d), blk.Shortcut.Layers[1].(*nn.BatchNorm)
		for i, dst := range []**autograd.Var{&blk.Conv1.Weight, &blk.BN1.Weight, &blk.BN1.Bias,
			&blk.Conv2.Weight, &blk.BN2.Weight, &blk.BN2.Bias, &sc.Weight, &sbn.Weight, &sbn.Bias} {
			*dst = xs[i+1]
		}
		return blk.Forward(xs[0])
	}
	if err := autograd.CheckGrad(f, inputs, autograd.CheckOpts{Eps: 1e-2, ATol: 1e-2, RTol: 1e-2, MaxPerInput: 40, Seed: 7}); err != nil {
		t.Error(err)
	}
}

// resnet20Step returns one W2 training step (forward in training mode,
// mean cross-entropy, backward, SGD momentum 0.9, zero gradients) on a
// fixed random batch.
func resnet20Step(batch int) func() {
	m := models.NewResNet20(models.Options{Seed: 1})
	rng := tensor.NewRNG(2)
	x := autograd.Const(tensor.Normal(rng, 0, 1, batch, 3, 32, 32))
	y := make([]int, batch)
	for i := range y {
		y[i] = rng.IntN(10)
	}
	opt := optim.NewSGD(nn.ParamVars(m), optim.SGDConfig{LR: 0.01, Momentum: 0.9})
	stepper := train.NewStepper(m, nn.CrossEntropyLoss{}, opt)
	return func() { stepper.Step(x.Value, y) }
}

// BenchmarkResNet20TrainStep is the W2 step at batch 128 (use
// -benchtime=5x; one step takes about a second). bytes/op is what a step
// allocates after warm-up; "act-MB" is the size of the forward activations
// it has to keep for backward, the yardstick for that figure.
func BenchmarkResNet20TrainStep(b *testing.B) {
	step := resnet20Step(128)
	step()
	step()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step()
	}
	b.ReportMetric(resnet20ActivationBytes(128)/1e6, "act-MB")
	b.ReportMetric(float64(b.N*128)/b.Elapsed().Seconds(), "img/s")
}

// resnet20ActivationBytes counts the float32 bytes of ResNet-20's forward
// tensors at batch n: per conv+BN+ReLU unit a conv output, a BN output and
// a ReLU output, plus each block's sum.
func resnet20ActivationBytes(n int) float64 {
	elems := 0
	unit := func(c, hw int) int { return 3 * c * hw * hw } // conv, bn, relu
	elems += unit(16, 32)
	for stage, c := range []int{16, 32, 64} {
		hw := 32 >> stage
		for i := range 3 {
			elems += 2*unit(c, hw) + c*hw*hw // two units (2nd ReLU after the add) + sum
			if stage > 0 && i == 0 {
				elems += 2 * c * hw * hw // shortcut conv + bn
			}
		}
	}
	return float64(4 * n * elems)
}

const resnet20StateDict = `
conv.weight 16,3,3,3
bn.weight 16
bn.bias 16
layers.0.conv1.weight 16,16,3,3
layers.0.bn1.weight 16
layers.0.bn1.bias 16
layers.0.conv2.weight 16,16,3,3
layers.0.bn2.weight 16
layers.0.bn2.bias 16
layers.1.conv1.weight 16,16,3,3
layers.1.bn1.weight 16
layers.1.bn1.bias 16
layers.1.conv2.weight 16,16,3,3
layers.1.bn2.weight 16
layers.1.bn2.bias 16
layers.2.conv1.weight 16,16,3,3
layers.2.bn1.weight 16
layers.2.bn1.bias 16
layers.2.conv2.weight 16,16,3,3
layers.2.bn2.weight 16
layers.2.bn2.bias 16
layers.3.conv1.weight 32,16,3,3
layers.3.bn1.weight 32
layers.3.bn1.bias 32
layers.3.conv2.weight 32,32,3,3
layers.3.bn2.weight 32
layers.3.bn2.bias 32
layers.3.shortcut.0.weight 32,16,1,1
layers.3.shortcut.1.weight 32
layers.3.shortcut.1.bias 32
layers.4.conv1.weight 32,32,3,3
layers.4.bn1.weight 32
layers.4.bn1.bias 32
layers.4.conv2.weight 32,32,3,3
layers.4.bn2.weight 32
layers.4.bn2.bias 32
layers.5.conv1.weight 32,32,3,3
layers.5.bn1.weight 32
layers.5.bn1.bias 32
layers.5.conv2.weight 32,32,3,3
layers.5.bn2.weight 32
layers.5.bn2.bias 32
layers.6.conv1.weight 64,32,3,3
layers.6.bn1.weight 64
layers.6.bn1.bias 64
layers.6.conv2.weight 64,64,3,3
layers.6.bn2.weight 64
layers.6.bn2.bias 64
layers.6.shortcut.0.weight 64,32,1,1
layers.6.shortcut.1.weight 64
layers.6.shortcut.1.bias 64
layers.7.conv1.weight 64,64,3,3
layers.7.bn1.weight 64
layers.7.bn1.bias 64
layers.7.conv2.weight 64,64,3,3
layers.7.bn2.weight 64
layers.7.bn2.bias 64
layers.8.conv1.weight 64,64,3,3
layers.8.bn1.weight 64
layers.8.bn1.bias 64
layers.8.conv2.weight 64,64,3,3
layers.8.bn2.weight 64
layers.8.bn2.bias 64
fc.weight 10,64
fc.bias 10
bn.running_mean 16
bn.running_var 16
bn.num_batches_tracked -
layers.0.bn1.running_mean 16
layers.0.bn1.running_var 16
layers.0.bn1.num_batches_tracked -
layers.0.bn2.running_mean 16
layers.0.bn2.running_var 16
layers.0.bn2.num_batches_tracked -
layers.1.bn1.running_mean 16
layers.1.bn1.running_var 16
layers.1.bn1.num_batches_tracked -
layers.1.bn2.running_mean 16
layers.1.bn2.running_var 16
layers.1.bn2.num_batches_tracked -
layers.2.bn1.running_mean 16
layers.2.bn1.running_var 16
layers.2.bn1.num_batches_tracked -
layers.2.bn2.running_mean 16
layers.2.bn2.running_var 16
layers.2.bn2.num_batches_tracked -
layers.3.bn1.running_mean 32
layers.3.bn1.running_var 32
layers.3.bn1.num_batches_tracked -
layers.3.bn2.running_mean 32
layers.3.bn2.running_var 32
layers.3.bn2.num_batches_tracked -
layers.3.shortcut.1.running_mean 32
layers.3.shortcut.1.running_var 32
layers.3.shortcut.1.num_batches_tracked -
layers.4.bn1.running_mean 32
layers.4.bn1.running_var 32
layers.4.bn1.num_batches_tracked -
layers.4.bn2.running_mean 32
layers.4.bn2.running_var 32
layers.4.bn2.num_batches_tracked -
layers.5.bn1.running_mean 32
layers.5.bn1.running_var 32
layers.5.bn1.num_batches_tracked -
layers.5.bn2.running_mean 32
layers.5.bn2.running_var 32
layers.5.bn2.num_batches_tracked -
layers.6.bn1.running_mean 64
layers.6.bn1.running_var 64
layers.6.bn1.num_batches_tracked -
layers.6.bn2.running_mean 64
layers.6.bn2.running_var 64
layers.6.bn2.num_batches_tracked -
layers.6.shortcut.1.running_mean 64
layers.6.shortcut.1.running_var 64
layers.6.shortcut.1.num_batches_tracked -
layers.7.bn1.running_mean 64
layers.7.bn1.running_var 64
layers.7.bn1.num_batches_tracked -
layers.7.bn2.running_mean 64
layers.7.bn2.running_var 64
layers.7.bn2.num_batches_tracked -
layers.8.bn1.running_mean 64
layers.8.bn1.running_var 64
layers.8.bn1.num_batches_tracked -
layers.8.bn2.running_mean 64
layers.8.bn2.running_var 64
layers.8.bn2.num_batches_tracked -
`

const resnet18StateDict = `
conv1.weight 64,3,7,7
bn1.weight 64
bn1.bias 64
layer1.0.conv1.weight 64,64,3,3
layer1.0.bn1.weight 64
layer1.0.bn1.bias 64
layer1.0.conv2.weight 64,64,3,3
layer1.0.bn2.weight 64
layer1.0.bn2.bias 64
layer1.1.conv1.weight 64,64,3,3
layer1.1.bn1.weight 64
layer1.1.bn1.bias 64
layer1.1.conv2.weight 64,64,3,3
layer1.1.bn2.weight 64
layer1.1.bn2.bias 64
layer2.0.conv1.weight 128,64,3,3
layer2.0.bn1.weight 128
layer2.0.bn1.bias 128
layer2.0.conv2.weight 128,128,3,3
layer2.0.bn2.weight 128
layer2.0.bn2.bias 128
layer2.0.downsample.0.weight 128,64,1,1
layer2.0.downsample.1.weight 128
layer2.0.downsample.1.bias 128
layer2.1.conv1.weight 128,128,3,3
layer2.1.bn1.weight 128
layer2.1.bn1.bias 128
layer2.1.conv2.weight 128,128,3,3
layer2.1.bn2.weight 128
layer2.1.bn2.bias 128
layer3.0.conv1.weight 256,128,3,3
layer3.0.bn1.weight 256
layer3.0.bn1.bias 256
layer3.0.conv2.weight 256,256,3,3
layer3.0.bn2.weight 256
layer3.0.bn2.bias 256
layer3.0.downsample.0.weight 256,128,1,1
layer3.0.downsample.1.weight 256
layer3.0.downsample.1.bias 256
layer3.1.conv1.weight 256,256,3,3
layer3.1.bn1.weight 256
layer3.1.bn1.bias 256
layer3.1.conv2.weight 256,256,3,3
layer3.1.bn2.weight 256
layer3.1.bn2.bias 256
layer4.0.conv1.weight 512,256,3,3
layer4.0.bn1.weight 512
layer4.0.bn1.bias 512
layer4.0.conv2.weight 512,512,3,3
layer4.0.bn2.weight 512
layer4.0.bn2.bias 512
layer4.0.downsample.0.weight 512,256,1,1
layer4.0.downsample.1.weight 512
layer4.0.downsample.1.bias 512
layer4.1.conv1.weight 512,512,3,3
layer4.1.bn1.weight 512
layer4.1.bn1.bias 512
layer4.1.conv2.weight 512,512,3,3
layer4.1.bn2.weight 512
layer4.1.bn2.bias 512
fc.weight 1000,512
fc.bias 1000
bn1.running_mean 64
bn1.running_var 64
bn1.num_batches_tracked -
layer1.0.bn1.running_mean 64
layer1.0.bn1.running_var 64
layer1.0.bn1.num_batches_tracked -
layer1.0.bn2.running_mean 64
layer1.0.bn2.running_var 64
layer1.0.bn2.num_batches_tracked -
layer1.1.bn1.running_mean 64
layer1.1.bn1.running_var 64
layer1.1.bn1.num_batches_tracked -
layer1.1.bn2.running_mean 64
layer1.1.bn2.running_var 64
layer1.1.bn2.num_batches_tracked -
layer2.0.bn1.running_mean 128
layer2.0.bn1.running_var 128
layer2.0.bn1.num_batches_tracked -
layer2.0.bn2.running_mean 128
layer2.0.bn2.running_var 128
layer2.0.bn2.num_batches_tracked -
layer2.0.downsample.1.running_mean 128
layer2.0.downsample.1.running_var 128
layer2.0.downsample.1.num_batches_tracked -
layer2.1.bn1.running_mean 128
layer2.1.bn1.running_var 128
layer2.1.bn1.num_batches_tracked -
layer2.1.bn2.running_mean 128
layer2.1.bn2.running_var 128
layer2.1.bn2.num_batches_tracked -
layer3.0.bn1.running_mean 256
layer3.0.bn1.running_var 256
layer3.0.bn1.num_batches_tracked -
layer3.0.bn2.running_mean 256
layer3.0.bn2.running_var 256
layer3.0.bn2.num_batches_tracked -
layer3.0.downsample.1.running_mean 256
layer3.0.downsample.1.running_var 256
layer3.0.downsample.1.num_batches_tracked -
layer3.1.bn1.running_mean 256
layer3.1.bn1.running_var 256
layer3.1.bn1.num_batches_tracked -
layer3.1.bn2.running_mean 256
layer3.1.bn2.running_var 256
layer3.1.bn2.num_batches_tracked -
layer4.0.bn1.running_mean 512
layer4.0.bn1.running_var 512
layer4.0.bn1.num_batches_tracked -
layer4.0.bn2.running_mean 512
layer4.0.bn2.running_var 512
layer4.0.bn2.num_batches_tracked -
layer4.0.downsample.1.running_mean 512
layer4.0.downsample.1.running_var 512
layer4.0.downsample.1.num_batches_tracked -
layer4.1.bn1.running_mean 512
layer4.1.bn1.running_var 512
layer4.1.bn1.num_batches_tracked -
layer4.1.bn2.running_mean 512
layer4.1.bn2.running_var 512
layer4.1.bn2.num_batches_tracked -
`
