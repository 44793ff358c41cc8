package autograd

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// ceLogits (3, 4), ceLabels and ceWeight are the inputs of the PyTorch
// golden values below.
var (
	ceLogits = []float32{1, -0.5, 2, 0.25, 0, 3, -1, 0.5, -2, 0.5, 1.5, 1}
	ceLabels = []int{2, 0, 3}
	ceWeight = []float32{0.5, 1, 2, 1.5}
)

// ceGolden holds F.cross_entropy(z, y, weight, label_smoothing) and its
// gradient for ceLogits, from PyTorch 1.13 in float64.
var ceGolden = []struct {
	smoothing float32
	weighted  bool
	loss      float64
	grad      []float64
}{
	{0, false, 1.6067015198100725, []float64{0.07552108249443207, 0.016851031231565408, -0.1280457471231621, 0.03567363339716467, -0.31890465410897123, 0.28980776931375607, 0.005308014449900333, 0.02378887034531484, 0.0050213293888748435, 0.06117231495467066, 0.16628359214605476, -0.23247723648960025}},
	{0.1, false, 1.654618186476739, []float64{0.06718774916109874, 0.008517697898232077, -0.10304574712316211, 0.027340300063831344, -0.2939046541089712, 0.2814744359804228, -0.0030253188834329986, 0.015455537011981513, -0.0033120039444584884, 0.052838981621337336, 0.15795025881272146, -0.20747723648960026}},
	{0, true, 1.0831493137339288, []float64{0.1132816237416481, 0.025276546847348112, -0.19206862068474317, 0.05351045009574701, -0.1195892452908642, 0.10867791349265853, 0.001990505418712625, 0.008920826379493065, 0.005648995562484199, 0.0688188543240045, 0.1870690411643116, -0.2615368910508003}},
	{0.1, true, 1.15593139984273, []float64{0.10590856285133632, 0.01807867634057256, -0.1661160474090653, 0.042128808217156505, -0.10940263208449384, 0.11872960051655732, -0.010210918768480482, 0.0008839503364170248, 0.0024298456364427964, 0.061421873418604424, 0.1714512238115731, -0.23530294286662032}},
}

func closeTo(got float32, want, tol float64) bool {
	return math.Abs(float64(got)-want) <= tol*(1+math.Abs(want))
}

func TestCrossEntropyGolden(t *testing.T) {
	for _, c := range ceGolden {
		t.Run(fmt.Sprint(c.smoothing, c.weighted), func(t *testing.T) {
			opt := CrossEntropyOpts{LabelSmoothing: c.smoothing}
			if c.weighted {
				opt.Weight = ceWeight
			}
			z := Param(tensor.FromSlice(append([]float32(nil), ceLogits...), 3, 4))
			loss := CrossEntropy(z, ceLabels, opt)
			if !closeTo(loss.Value.Item(), c.loss, 1e-6) {
				t.Errorf("loss %.7g, PyTorch %.7g", loss.Value.Item(), c.loss)
			}
			loss.Backward()
			for i, g := range z.Grad.Data() {
				if !closeTo(g, c.grad[i], 1e-6) {
					t.Errorf("grad[%d] %.7g, PyTorch %.7g", i, g, c.grad[i])
				}
			}
		})
	}
}

// crossEntropyRef is PyTorch's definition written naively in float64:
// the weighted NLL of log-softmax mixed with the weighted smoothing term,
// both divided by the summed target weights.
func crossEntropyRef(z []float32, n, c int, labels []int, eps float64, weight []float32) float64 {
	w := func(k int) float64 {
		if weight == nil {
			return 1
		}
		return float64(weight[k])
	}
	var nll, smooth, wSum float64
	for i, y := range labels {
		var s float64
		for k := range c {
			s += math.Exp(float64(z[i*c+k]))
		}
		logp := func(k int) float64 { return float64(z[i*c+k]) - math.Log(s) }
		nll -= w(y) * logp(y)
		wSum += w(y)
		for k := range c {
			smooth -= w(k) * logp(k)
		}
	}
	return (1-eps)*nll/wSum + eps/float64(c)*smooth/wSum
}

func TestCrossEntropyRandom(t *testing.T) {
	const n, c = 6, 5
	labels := []int{0, 4, 2, 2, 1, 3}
	weight := []float32{0.3, 1, 2.5, 0.7, 1.2}
	z := rnd(7, n, c)
	for _, eps := range []float32{0, 0.2, 1} {
		for _, w := range [][]float32{nil, weight} {
			opt := CrossEntropyOpts{LabelSmoothing: eps, Weight: w}
			name := fmt.Sprintf("eps%g-weighted%v", eps, w != nil)
			t.Run(name, func(t *testing.T) {
				got := CrossEntropy(Const(z), labels, opt).Value.Item()
				if want := crossEntropyRef(z.Data(), n, c, labels, float64(eps), w); !closeTo(got, want, 1e-6) {
					t.Errorf("loss %.7g, reference %.7g", got, want)
				}
				err := CheckGrad(func(xs []*Var) *Var { return CrossEntropy(xs[0], labels, opt) }, []*tensor.Tensor{z}, CheckOpts{})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// Values checkable by hand: uniform logits give log C whatever the label or
// smoothing; logits (0, ln 3) with label 1 give −log(3/4).
func TestCrossEntropyByHand(t *testing.T) {
	uniform := Const(tensor.Zeros(2, 4))
	for _, eps := range []float32{0, 0.3} {
		if got := CrossEntropy(uniform, []int{1, 3}, CrossEntropyOpts{LabelSmoothing: eps}).Value.Item(); !closeTo(got, math.Log(4), 1e-6) {
			t.Errorf("uniform logits, smoothing %g: loss %g, want ln 4 = %g", eps, got, math.Log(4))
		}
	}
	z := Param(tensor.FromSlice([]float32{0, float32(math.Log(3))}, 1, 2))
	loss := CrossEntropy(z, []int{1}, CrossEntropyOpts{})
	if got := loss.Value.Item(); !closeTo(got, math.Log(4.0/3), 1e-6) {
		t.Errorf("loss %g, want ln(4/3) = %g", got, math.Log(4.0/3))
	}
	loss.Backward()
	// softmax − onehot = (1/4, 3/4) − (0, 1)
	if g := z.Grad.Data(); !closeTo(g[0], 0.25, 1e-6) || !closeTo(g[1], -0.25, 1e-6) {
		t.Errorf("gradient %v, want [0.25 -0.25]", g)
	}
	// A large logit must not overflow.
	big := CrossEntropy(Const(tensor.FromSlice([]float32{1000, 0}, 1, 2)), []int{1}, CrossEntropyOpts{}).Value.Item()
	if !closeTo(big, 1000, 1e-6) {
		t.Errorf("loss with logit 1000: %g, want 1000", big)
	}
}

func TestCrossEntropyPanics(t *testing.T) {
	mustPanic := func(name, want string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			if r == nil {
				t.Errorf("%s: no panic", name)
			} else if s := fmt.Sprint(r); !strings.Contains(s, want) {
				t.Errorf("%s: panic %q, want it to contain %q", name, s, want)
			}
		}()
		f()
	}
	z := Const(tensor.Zeros(3, 4))
	mustPanic("label range", "labels[1] = 4", func() { CrossEntropy(z, []int{0, 4, 1}, CrossEntropyOpts{}) })
	mustPanic("negative label", "labels[2] = -1", func() { NLLLoss(z, []int{0, 1, -1}, nil) })
	mustPanic("label count", "2 labels", func() { CrossEntropy(z, []int{0, 1}, CrossEntropyOpts{}) })
	mustPanic("weights", "3 class weights", func() { CrossEntropy(z, []int{0, 1, 2}, CrossEntropyOpts{Weight: []float32{1, 2, 3}}) })
	mustPanic("rank", "want (N, C)", func() { CrossEntropy(Const(tensor.Zeros(4)), []int{0}, CrossEntropyOpts{}) })
}

func TestNLLLoss(t *testing.T) {
	z := tensor.FromSlice(append([]float32(nil), ceLogits...), 3, 4)
	// F.nll_loss(F.log_softmax(z, 1), y, weight) from PyTorch 1.13.
	const golden = 1.0831493137339288
	if got := NLLLoss(LogSoftmax(Const(z), 1), ceLabels, ceWeight).Value.Item(); !closeTo(got, golden, 1e-6) {
		t.Errorf("weighted NLL %.7g, PyTorch %.7g", got, golden)
	}
	// Unweighted by hand: the mean of −lp at the targets.
	lp := tensor.FromSlice([]float32{-1, -2, -3, -4, -5, -6}, 2, 3)
	if got := NLLLoss(Const(lp), []int{2, 0}, nil).Value.Item(); got != 3.5 {
		t.Errorf("NLL %g, want (3+4)/2 = 3.5", got)
	}
	for _, w := range [][]float32{nil, ceWeight} {
		err := CheckGrad(func(xs []*Var) *Var { return NLLLoss(xs[0], ceLabels, w) }, []*tensor.Tensor{rnd(8, 3, 4)}, CheckOpts{})
		if err != nil {
			t.Fatal(err)
		}
		err = CheckGrad(func(xs []*Var) *Var { return NLLLoss(LogSoftmax(xs[0], 1), ceLabels, w) }, []*tensor.Tensor{rnd(9, 3, 4)}, CheckOpts{})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestMSELoss(t *testing.T) {
	p := tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2)
	q := tensor.FromSlice([]float32{1, 0, 4, 1}, 2, 2)
	if got := MSELoss(Const(p), Const(q)).Value.Item(); got != 3.5 {
		t.Errorf("MSE %g, want (0+4+1+9)/4 = 3.5", got)
	}
	in := []*tensor.Tensor{rnd(1, 3, 4, 2), rnd(2, 3, 4, 2)}
	if err := CheckGrad(func(xs []*Var) *Var { return MSELoss(xs[0], xs[1]) }, in, CheckOpts{}); err != nil {
		t.Fatal(err)
	}
}

// bceGolden holds F.binary_cross_entropy_with_logits of bceLogits and
// bceTargets without and with pos_weight bcePosWeight, and the gradients
// for both, from PyTorch 1.13 in float64.
var (
	bceLogits    = []float32{1, -0.5, 2, 0, 3, -1}
	bceTargets   = []float32{1, 0, 0.3, 0, 1, 0.8}
	bcePosWeight = []float32{2, 0.5, 3}
	bceGolden    = []struct {
		posWeight    bool
		loss         float64
		dLogits, dTg []float64
	}{
		{false, 0.6948771503988688,
			[]float64{-0.04482357022833252, 0.0629234447996909, 0.09679951299631373, 0.08333333333333333, -0.007904312196261106, -0.08850976310500082},
			[]float64{-0.16666666666666666, 0.08333333333333333, -0.3333333333333333, 0, -0.5, 0.16666666666666666}},
		{true, 1.1059344034632508,
			[]float64{-0.08964714045666504, 0.0629234447996909, 0.08487922079410193, 0.08333333333333333, -0.003952156098130553, -0.2834587174063355},
			[]float64{-0.11445638541362951, 0.002160251318324443, -0.29102399631900916, 0.11552453009332421, -0.5040489459644785, 0.6044205625060742}},
	}
)

func TestBCEWithLogits(t *testing.T) {
	for _, c := range bceGolden {
		var pw []float32
		if c.posWeight {
			pw = bcePosWeight
		}
		x := Param(tensor.FromSlice(append([]float32(nil), bceLogits...), 2, 3))
		y := Param(tensor.FromSlice(append([]float32(nil), bceTargets...), 2, 3))
		loss := BCEWithLogits(x, y, pw)
		if !closeTo(loss.Value.Item(), c.loss, 1e-6) {
			t.Errorf("pos weight %v: loss %.7g, PyTorch %.7g", c.posWeight, loss.Value.Item(), c.loss)
		}
		loss.Backward()
		for i := range c.dLogits {
			if !closeTo(x.Grad.Data()[i], c.dLogits[i], 1e-6) || !closeTo(y.Grad.Data()[i], c.dTg[i], 1e-6) {
				t.Errorf("pos weight %v: gradient %d: logits %.7g targets %.7g, PyTorch %.7g %.7g",
					c.posWeight, i, x.Grad.Data()[i], y.Grad.Data()[i], c.dLogits[i], c.dTg[i])
			}
		}
	}
	// By hand: logit 0 gives log 2 whatever the target; huge logits stay finite.
	if got := BCEWithLogits(Const(tensor.Zeros(3)), Const(tensor.FromSlice([]float32{0, 0.5, 1}, 3)), nil).Value.Item(); !closeTo(got, math.Ln2, 1e-6) {
		t.Errorf("loss at logit 0: %g, want ln 2", got)
	}
	if got := BCEWithLogits(Const(tensor.FromSlice([]float32{-200, 200}, 2)), Const(tensor.FromSlice([]float32{1, 0}, 2)), nil).Value.Item(); !closeTo(got, 200, 1e-6) {
		t.Errorf("loss of confident mistakes: %g, want 200", got)
	}
	targets := tensor.Uniform(tensor.NewRNG(5), 0, 1, 4, 3)
	for _, pw := range [][]float32{nil, bcePosWeight} {
		err := CheckGrad(func(xs []*Var) *Var { return BCEWithLogits(xs[0], xs[1], pw) }, []*tensor.Tensor{rnd(6, 4, 3), targets}, CheckOpts{})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrossEntropyGrad checks that CrossEntropyGrad gives CrossEntropy's
// value and the gradient its backward pass gives the logits, bit for bit,
// with and without class weights and label smoothing.
func TestCrossEntropyGrad(t *testing.T) {
	rng := tensor.NewRNG(4)
	labels := []int{2, 0, 4, 4, 1, 3}
	for _, opt := range []CrossEntropyOpts{{}, {LabelSmoothing: 0.2}, {LabelSmoothing: 0.1, Weight: []float32{1, 2, 0.5, 1, 3}}} {
		z := tensor.Normal(rng, 0, 2, 6, 5)
		logits := Param(z.Clone())
		l := CrossEntropy(logits, labels, opt)
		l.Backward()
		dz := tensor.New(6, 5)
		got := CrossEntropyGrad(Const(z), labels, opt, dz)
		if got != l.Value.Item() {
			t.Errorf("%+v: value %v, CrossEntropy %v", opt, got, l.Value.Item())
		}
		for i, v := range dz.Data() {
			if w := logits.Grad.Data()[i]; v != w {
				t.Fatalf("%+v: gradient[%d] = %v, CrossEntropy's backward %v", opt, i, v, w)
			}
		}
	}
	defer func() {
		if r := recover(); r == nil {
			t.Error("no panic on a gradient of the wrong shape")
		}
	}()
	CrossEntropyGrad(Const(tensor.New(6, 5)), labels, CrossEntropyOpts{}, tensor.New(5, 6))
}

// TestSumRowsIsSum checks that Linear's bias gradient, sumRows, gives
// tensor.Sum(g, 0)'s numbers bit for bit.
func TestSumRowsIsSum(t *testing.T) {
	g := tensor.Normal(tensor.NewRNG(6), 0, 1, 37, 11)
	want, got := tensor.Sum(g, 0).Data(), sumRows(g).Data()
	for j := range want {
		if got[j] != want[j] {
			t.Fatalf("column %d: %v, tensor.Sum %v", j, got[j], want[j])
		}
	}
}
