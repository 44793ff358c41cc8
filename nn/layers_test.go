package nn_test

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// reluLike is a ReLU written as a Func, so this file needs no activation layer.
var reluLike = nn.Func(func(x *autograd.Var) *autograd.Var {
	return autograd.Clamp(x, 0, float32(math.Inf(1)))
})

func layersRand(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.Normal(tensor.NewRNG(seed), 0, 1, shape...)
}

// smallNet is conv(3→4, 3×3) → batch norm → relu → max pool 2 → flatten →
// linear(16→5), for input (N, 3, 4, 4).
func smallNet() *nn.Sequential {
	rng := tensor.NewRNG(1)
	return nn.NewSequential(
		nn.NewConv2d(rng, nn.Conv2dConfig{In: 3, Out: 4, Kernel: 3, Padding: 1}),
		nn.NewBatchNorm2d(4),
		reluLike,
		nn.NewMaxPool2d(2, 0, 0),
		nn.Flatten{},
		nn.NewLinear(rng, 16, 5, true),
	)
}

func names[T any](ns []nn.Named[T]) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.Name
	}
	return out
}

func TestNamesByPath(t *testing.T) {
	net := smallNet()
	if got, want := names(nn.Params(net)), []string{"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"}; !slices.Equal(got, want) {
		t.Errorf("Params %v, want %v", got, want)
	}
	if got, want := names(nn.Buffers(net)), []string{"1.running_mean", "1.running_var", "1.num_batches_tracked"}; !slices.Equal(got, want) {
		t.Errorf("Buffers %v, want %v", got, want)
	}
	want := []string{"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"}
	if got := names(nn.StateDict(net)); !slices.Equal(got, want) {
		t.Errorf("StateDict %v, want %v", got, want)
	}
	// Nested containers join their paths.
	outer := nn.NewSequential(&nn.Residual{Body: nn.NewBatchNorm2d(2)}, &nn.Concat{Branches: []nn.Layer{nn.NewBatchNorm1d(3)}})
	if got, want := names(nn.Params(outer)), []string{"0.body.weight", "0.body.bias", "1.0.weight", "1.0.bias"}; !slices.Equal(got, want) {
		t.Errorf("nested Params %v, want %v", got, want)
	}
}

func TestNumParams(t *testing.T) {
	// conv 4·3·3·3 + 4, batch norm 4 + 4, linear 5·16 + 5.
	if got, want := nn.NumParams(smallNet()), 112+8+85; got != want {
		t.Fatalf("NumParams %d, want %d", got, want)
	}
	if got := nn.NumParams(nn.NewSequential(nn.NewMaxPool2d(2, 2, 0), nn.GlobalAvgPool2d{}, nn.NewDropout(0.5, 1))); got != 0 {
		t.Fatalf("parameter-free layers have %d parameters", got)
	}
}

func TestSmallNetForwardBackward(t *testing.T) {
	net := smallNet()
	y := net.Forward(autograd.Const(layersRand(2, 3, 3, 4, 4)))
	if !slices.Equal(y.Shape(), []int{3, 5}) {
		t.Fatalf("output shape %v, want [3 5]", y.Shape())
	}
	autograd.Sum(autograd.Mul(y, y)).Backward()
	for _, p := range nn.Params(net) {
		if p.Value.Grad == nil {
			t.Errorf("%s got no gradient", p.Name)
		}
	}
}

// convParams returns the weight and bias tensors of convs, in order, and a
// function that installs Vars for them (CheckGrad's clones) in the layers.
func convParams(convs ...*nn.Conv2d) ([]*tensor.Tensor, func([]*autograd.Var)) {
	var ts []*tensor.Tensor
	for _, c := range convs {
		ts = append(ts, c.Weight.Value, c.Bias.Value)
	}
	return ts, func(vs []*autograd.Var) {
		for i, c := range convs {
			c.Weight, c.Bias = vs[2*i], vs[2*i+1]
		}
	}
}

func TestGradResidual(t *testing.T) {
	rng := tensor.NewRNG(3)
	c1 := nn.NewConv2d(rng, nn.Conv2dConfig{In: 2, Out: 3, Kernel: 3, Padding: 1})
	c2 := nn.NewConv2d(rng, nn.Conv2dConfig{In: 3, Out: 3, Kernel: 3, Padding: 1})
	sc := nn.NewConv2d(rng, nn.Conv2dConfig{In: 2, Out: 3, Kernel: 1})
	square := nn.Func(func(x *autograd.Var) *autograd.Var { return autograd.Mul(x, x) })
	block := &nn.Residual{Body: nn.NewSequential(c1, nn.NewAvgPool2d(3, 1, 1), c2), Shortcut: sc, Post: square}
	ps, install := convParams(c1, c2, sc)
	x := layersRand(4, 2, 2, 5, 6)

	// Forward: Post(Body(x) + Shortcut(x)).
	y := block.Forward(autograd.Const(x)).Value
	b := block.Body.Forward(autograd.Const(x)).Value
	s := sc.Forward(autograd.Const(x)).Value
	want := tensor.Mul(tensor.Add(b, s), tensor.Add(b, s))
	if d := maxDiff(y, want); d > 1e-5 {
		t.Fatalf("Residual forward differs from body+shortcut by %g", d)
	}

	err := autograd.CheckGrad(func(xs []*autograd.Var) *autograd.Var {
		install(xs[1:])
		return block.Forward(xs[0])
	}, append([]*tensor.Tensor{x}, ps...), autograd.CheckOpts{})
	if err != nil {
		t.Fatal(err)
	}
	// The identity shortcut passes the gradient straight through.
	id := &nn.Residual{Body: nn.NewSequential(c2)}
	err = autograd.CheckGrad(func(xs []*autograd.Var) *autograd.Var { return id.Forward(xs[0]) },
		[]*tensor.Tensor{layersRand(5, 1, 3, 4, 4)}, autograd.CheckOpts{})
	if err != nil {
		t.Fatal("identity shortcut:", err)
	}
}

func TestGradConcat(t *testing.T) {
	rng := tensor.NewRNG(6)
	a := nn.NewConv2d(rng, nn.Conv2dConfig{In: 2, Out: 3, Kernel: 1})
	b := nn.NewConv2d(rng, nn.Conv2dConfig{In: 2, Out: 2, Kernel: 3, Padding: 1})
	cat := &nn.Concat{Branches: []nn.Layer{a, b, nn.NewAvgPool2d(3, 1, 1)}}
	ps, install := convParams(a, b)
	x := layersRand(7, 2, 2, 5, 4)

	y := cat.Forward(autograd.Const(x)).Value
	if !slices.Equal(y.Shape(), []int{2, 7, 5, 4}) {
		t.Fatalf("Concat output %v, want [2 7 5 4]", y.Shape())
	}
	// Channels 3..4 are branch b's output.
	bOut := b.Forward(autograd.Const(x)).Value
	if d := maxDiff(y.Narrow(1, 3, 2).Contiguous(), bOut); d != 0 {
		t.Fatalf("Concat channels 3..4 differ from branch 1 by %g", d)
	}

	err := autograd.CheckGrad(func(xs []*autograd.Var) *autograd.Var {
		install(xs[1:])
		return cat.Forward(xs[0])
	}, append([]*tensor.Tensor{x}, ps...), autograd.CheckOpts{})
	if err != nil {
		t.Fatal(err)
	}
}

func maxDiff(a, b *tensor.Tensor) float64 {
	ad, bd := a.Contiguous().Data(), b.Contiguous().Data()
	var m float64
	for i := range ad {
		m = max(m, math.Abs(float64(ad[i]-bd[i])))
	}
	return m
}

func TestSetTraining(t *testing.T) {
	bn, drop := nn.NewBatchNorm2d(3), nn.NewDropout(0.5, 9)
	net := nn.NewSequential(bn, drop)
	x := tensor.AddScalar(layersRand(8, 4, 3, 2, 2), 1)

	// Training: batch statistics, running statistics updated, elements dropped.
	y := net.Forward(autograd.Const(x)).Value
	if got := bn.NumBatchesTracked.At(0); got != 1 {
		t.Fatalf("num_batches_tracked %v after one training batch, want 1", got)
	}
	if bn.RunningMean.At(0) == 0 || bn.RunningVar.At(0) == 1 {
		t.Fatal("training forward left the running statistics at their initial values")
	}
	zeros := 0
	for _, v := range y.Data() {
		if v == 0 {
			zeros++
		}
	}
	if zeros == 0 || zeros == y.Size() {
		t.Fatalf("training dropout zeroed %d of %d elements", zeros, y.Size())
	}

	// Evaluation: running statistics, nothing updated, no dropout,
	// deterministic.
	nn.SetTraining(net, false)
	if bn.Training || drop.Training {
		t.Fatal("SetTraining(false) did not reach the layers")
	}
	rm, rv := bn.RunningMean.Clone(), bn.RunningVar.Clone()
	y1 := net.Forward(autograd.Const(x)).Value
	y2 := net.Forward(autograd.Const(x)).Value
	if maxDiff(y1, y2) != 0 {
		t.Fatal("evaluation is not deterministic")
	}
	if maxDiff(rm, bn.RunningMean) != 0 || maxDiff(rv, bn.RunningVar) != 0 || bn.NumBatchesTracked.At(0) != 1 {
		t.Fatal("evaluation changed the running statistics")
	}
	for i := range 4 {
		for c := range 3 {
			want := (x.At(i, c, 1, 0) - rm.At(c)) / float32(math.Sqrt(float64(rv.At(c)+1e-5)))
			if got := y1.At(i, c, 1, 0); math.Abs(float64(got-want)) > 1e-5 {
				t.Fatalf("eval output (%d,%d) %v, want %v from the running statistics", i, c, got, want)
			}
		}
	}

	nn.SetTraining(net, true)
	net.Forward(autograd.Const(x))
	if !bn.Training || !drop.Training || bn.NumBatchesTracked.At(0) != 2 {
		t.Fatal("SetTraining(true) did not restore training mode")
	}
}

func TestBatchNormBadInput(t *testing.T) {
	cases := map[string]func(){
		"channels": func() { nn.NewBatchNorm2d(3).Forward(autograd.Const(layersRand(1, 2, 4, 2, 2))) },
		"rank 2d":  func() { nn.NewBatchNorm2d(3).Forward(autograd.Const(layersRand(1, 2, 3))) },
		"rank 1d":  func() { nn.NewBatchNorm1d(3).Forward(autograd.Const(layersRand(1, 2, 3, 2, 2))) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r, _ := recover().(*tensor.ShapeError); r == nil || !strings.HasPrefix(r.Msg, "nn: ") {
					t.Fatalf("panic %q, want an nn: panic", r)
				}
			}()
			f()
		})
	}
	// (N, C, L) is accepted by BatchNorm1d.
	if y := nn.NewBatchNorm1d(3).Forward(autograd.Const(layersRand(1, 2, 3, 5))); !slices.Equal(y.Shape(), []int{2, 3, 5}) {
		t.Fatalf("BatchNorm1d on (N,C,L) gave %v", y.Shape())
	}
}

func TestPoolLayers(t *testing.T) {
	x := tensor.Ones(1, 1, 4, 4)
	ap := nn.NewAvgPool2d(3, 1, 1)
	if !ap.Params.CountPad {
		t.Fatal("NewAvgPool2d should count padding, as PyTorch does by default")
	}
	if got := ap.Forward(autograd.Const(x)).Value.At(0, 0, 0, 0); math.Abs(float64(got)-4.0/9) > 1e-6 {
		t.Fatalf("AvgPool2d corner %v, want 4/9", got)
	}
	mp := nn.NewMaxPool2d(3, 2, 1)
	if y := mp.Forward(autograd.Const(layersRand(1, 2, 3, 7, 7))); !slices.Equal(y.Shape(), []int{2, 3, 4, 4}) {
		t.Fatalf("MaxPool2d(3,2,1) on 7×7 gave %v, want 4×4", y.Shape())
	}
	if y := (nn.GlobalAvgPool2d{}).Forward(autograd.Const(layersRand(1, 2, 3, 5, 4))); !slices.Equal(y.Shape(), []int{2, 3, 1, 1}) {
		t.Fatalf("GlobalAvgPool2d gave %v", y.Shape())
	}
}
