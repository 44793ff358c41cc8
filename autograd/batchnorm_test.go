package autograd

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// naiveBatchNorm is the reference batch norm over x (N,C,...) with
// explicit per-channel loops in float64. It returns the output and the
// running statistics after one update (the inputs are not modified).
func naiveBatchNorm(x, gamma, beta, rm, rv *tensor.Tensor, training bool, momentum, eps float64) (y, newRM, newRV *tensor.Tensor) {
	n, c := x.Dim(0), x.Dim(1)
	s := x.Size() / (n * c)
	xd := x.Contiguous().Data()
	at := func(b, ch, i int) float64 { return float64(xd[(b*c+ch)*s+i]) }
	y, newRM, newRV = tensor.New(x.Shape()...), rm.Clone(), rv.Clone()
	yd := y.Data()
	for ch := range c {
		mean, variance := float64(rm.At(ch)), float64(rv.At(ch))
		if training {
			mean, variance = 0, 0
			for b := range n {
				for i := range s {
					mean += at(b, ch, i)
				}
			}
			mean /= float64(n * s)
			for b := range n {
				for i := range s {
					variance += (at(b, ch, i) - mean) * (at(b, ch, i) - mean)
				}
			}
			unbiased := variance / float64(n*s-1)
			variance /= float64(n * s)
			newRM.Set(float32((1-momentum)*float64(rm.At(ch))+momentum*mean), ch)
			newRV.Set(float32((1-momentum)*float64(rv.At(ch))+momentum*unbiased), ch)
		}
		g, bt := 1.0, 0.0
		if gamma != nil {
			g, bt = float64(gamma.At(ch)), float64(beta.At(ch))
		}
		for b := range n {
			for i := range s {
				yd[(b*c+ch)*s+i] = float32(g*(at(b, ch, i)-mean)/math.Sqrt(variance+eps) + bt)
			}
		}
	}
	return y, newRM, newRV
}

// positive returns values in [0.5, 2.5) for running variances.
func positive(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.Uniform(tensor.NewRNG(seed), 0.5, 2.5, shape...)
}

var bnShapes = [][]int{{5, 3}, {4, 3, 5}, {3, 2, 3, 5}, {2, 4, 1, 1}}

func TestBatchNormForward(t *testing.T) {
	// The last shape is large enough to split the channels over threads.
	for _, shape := range append(bnShapes, []int{8, 32, 16, 16}) {
		for _, training := range []bool{true, false} {
			for _, affine := range []bool{true, false} {
				t.Run(fmt.Sprint(shape, training, affine), func(t *testing.T) {
					c := shape[1]
					x := tensor.AddScalar(tensor.Scale(rnd(1, shape...), 2), 0.7)
					var gamma, beta *Var
					var gt, bt *tensor.Tensor
					if affine {
						gt, bt = rnd(2, c), rnd(3, c)
						gamma, beta = Const(gt), Const(bt)
					}
					rm, rv := rnd(4, c), positive(5, c)
					wantY, wantRM, wantRV := naiveBatchNorm(x, gt, bt, rm, rv, training, 0.1, 1e-5)
					y := BatchNorm(Const(x), gamma, beta, rm, rv, training, 0.1, 1e-5).Value
					if d := maxAbsDiff(y, wantY); d > 1e-5 {
						t.Fatalf("output differs from the naive loop by %g", d)
					}
					if d := max(maxAbsDiff(rm, wantRM), maxAbsDiff(rv, wantRV)); d > 1e-6 {
						t.Fatalf("running statistics differ by %g: mean %v want %v, var %v want %v", d, rm, wantRM, rv, wantRV)
					}
				})
			}
		}
	}
}

// The running variance takes the unbiased batch variance, as in PyTorch:
// for x = 1, 2, 3, 4 the batch variance is 1.25 and the unbiased one 5/3.
func TestBatchNormRunningStats(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2, 3, 4}, 4, 1)
	rm, rv := tensor.Zeros(1), tensor.Ones(1)
	y := BatchNorm(Const(x), nil, nil, rm, rv, true, 0.1, 0)
	if got, want := rm.At(0), float32(0.25); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("running mean %v, want %v", got, want)
	}
	if got, want := rv.At(0), float32(0.9+0.1*5.0/3); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("running var %v, want %v", got, want)
	}
	// Normalized with the biased variance: (1-2.5)/√1.25.
	if got, want := y.Value.At(0, 0), float32(-1.5/math.Sqrt(1.25)); math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("y[0] %v, want %v", got, want)
	}
	// Evaluation leaves the statistics alone and uses them.
	y = BatchNorm(Const(x), nil, nil, rm, rv, false, 0.1, 0)
	if rm.At(0) != 0.25 {
		t.Errorf("evaluation changed the running mean to %v", rm.At(0))
	}
	if got, want := y.Value.At(3, 0), float32((4-0.25)/math.Sqrt(float64(rv.At(0)))); math.Abs(float64(got-want)) > 1e-5 {
		t.Errorf("eval y[3] %v, want %v", got, want)
	}
}

func TestGradBatchNorm(t *testing.T) {
	for _, shape := range bnShapes {
		for _, training := range []bool{true, false} {
			t.Run(fmt.Sprint(shape, training), func(t *testing.T) {
				c := shape[1]
				// Not seed 1: CheckGrad's projection R is drawn from seed 1,
				// and for R = x the training gradient with respect to x is 0.
				in := []*tensor.Tensor{rnd(11, shape...), tensor.AddScalar(rnd(2, c), 1), rnd(3, c)}
				rm, rv := rnd(4, c), positive(5, c)
				err := CheckGrad(func(xs []*Var) *Var {
					return BatchNorm(xs[0], xs[1], xs[2], rm, rv, training, 0.1, 1e-5)
				}, in, CheckOpts{})
				if err != nil {
					t.Fatal(err)
				}
				// Without affine parameters, and without running statistics.
				err = CheckGrad(func(xs []*Var) *Var {
					return BatchNorm(xs[0], nil, nil, nil, nil, training, 0.1, 1e-5)
				}, in[:1], CheckOpts{})
				if err != nil {
					t.Fatal("no affine:", err)
				}
			})
		}
	}
}

// A batch-norm output fed through a further op: the training-mode gradient
// must include the terms through the batch mean and variance, so a rule
// that treated them as constants fails this check.
func TestGradBatchNormComposed(t *testing.T) {
	in := []*tensor.Tensor{rnd(7, 6, 2, 3, 3), rnd(8, 2), rnd(9, 2)}
	err := CheckGrad(func(xs []*Var) *Var {
		y := BatchNorm(xs[0], xs[1], xs[2], nil, nil, true, 0.1, 1e-5)
		return Mul(y, y)
	}, in, CheckOpts{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBatchNormPanics(t *testing.T) {
	cases := map[string]func(){
		"1-D":          func() { BatchNorm(Const(rnd(1, 5)), nil, nil, nil, nil, true, 0.1, 1e-5) },
		"gamma shape":  func() { BatchNorm(Const(rnd(1, 4, 3)), Const(rnd(2, 2)), nil, nil, nil, true, 0.1, 1e-5) },
		"single value": func() { BatchNorm(Const(rnd(1, 1, 3)), nil, nil, nil, nil, true, 0.1, 1e-5) },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r, _ := recover().(*tensor.ShapeError); r == nil || !strings.HasPrefix(r.Msg, "autograd: ") {
					t.Fatalf("panic %q, want an autograd: panic", r)
				}
			}()
			f()
		})
	}
}

// Enough channels and values per channel that the fused loops run split
// over threads.
func TestGradBatchNormLarge(t *testing.T) {
	in := []*tensor.Tensor{rnd(11, 8, 32, 16, 16), tensor.AddScalar(rnd(2, 32), 1), rnd(3, 32)}
	// Each channel has 2048 values, so the float32 round-off of its scale
	// and shift moves L coherently; a larger step keeps the difference
	// quotient above that noise.
	err := CheckGrad(func(xs []*Var) *Var {
		return BatchNorm(xs[0], xs[1], xs[2], nil, nil, true, 0.1, 1e-5)
	}, in, CheckOpts{Eps: 0.05, ATol: 5e-3, RTol: 2e-2, MaxPerInput: 24})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBatchNormLargeMean checks the one-pass batch statistics on channels
// whose mean is far from zero against its spread (means ±10³, standard
// deviation 10⁻², 12544 values each): with momentum 1 the running
// statistics are the batch mean and unbiased variance rounded to float32,
// which must match a float64 two-pass reference to float32 rounding. Σx²/M
// − μ² without the shift misses the variance here by about 10⁻⁵ of itself.
func TestBatchNormLargeMean(t *testing.T) {
	const n, c, s = 64, 2, 14 * 14
	x := tensor.Scale(rnd(31, n, c, 14, 14), 1e-2)
	xd := x.Data()
	for b := range n {
		for ch := range c {
			for i := range s {
				xd[(b*c+ch)*s+i] += float32(1e3 * (1 - 2*float64(ch)))
			}
		}
	}
	rm, rv := tensor.Zeros(c), tensor.Ones(c)
	BatchNorm(Const(x), nil, nil, rm, rv, true, 1, 1e-5)
	for ch := range c {
		var mean, sq float64
		for b := range n {
			for i := range s {
				mean += float64(xd[(b*c+ch)*s+i])
			}
		}
		mean /= n * s
		for b := range n {
			for i := range s {
				d := float64(xd[(b*c+ch)*s+i]) - mean
				sq += d * d
			}
		}
		unbiased := sq / (n*s - 1)
		if got, want := rm.At(ch), float32(mean); got != want {
			t.Errorf("channel %d: batch mean %v, want %v", ch, got, want)
		}
		if got := float64(rv.At(ch)); math.Abs(got-unbiased) > 0x1p-24*unbiased {
			t.Errorf("channel %d: batch variance %.9g, want %.9g (relative error %.3g)", ch, got, unbiased, math.Abs(got-unbiased)/unbiased)
		}
	}
}

// TestBatchNormReLU checks the fused op against ReLU(BatchNorm(…)) bit for
// bit: outputs, running statistics and the gradients of x, γ and β, in
// training and evaluation mode, with and without affine parameters, with
// NaNs and exact zeros among the inputs; on a tracing tape it records the
// two operations.
func TestBatchNormReLU(t *testing.T) {
	for _, shape := range append(bnShapes, []int{6, 5, 7, 9}) {
		for _, training := range []bool{true, false} {
			for _, affine := range []bool{true, false} {
				c := shape[1]
				x := rnd(21, shape...)
				xd := x.Data()
				xd[0], xd[len(xd)/2] = 0, float32(math.NaN())
				g := rnd(22, shape...)
				run := func(fused bool) (y *tensor.Tensor, grads []*tensor.Tensor, rm, rv *tensor.Tensor) {
					rm, rv = rnd(4, c), positive(5, c)
					xv := Param(x.Clone())
					var gamma, beta *Var
					if affine {
						gamma, beta = Param(tensor.AddScalar(rnd(2, c), 1)), Param(rnd(3, c))
					}
					var out *Var
					if fused {
						out = BatchNormReLU(xv, gamma, beta, rm, rv, training, 0.1, 1e-5)
					} else {
						out = ReLU(BatchNorm(xv, gamma, beta, rm, rv, training, 0.1, 1e-5))
					}
					Sum(Mul(out, Const(g))).Backward()
					grads = []*tensor.Tensor{xv.Grad}
					if affine {
						grads = append(grads, gamma.Grad, beta.Grad)
					}
					return out.Value, grads, rm, rv
				}
				y1, g1, rm1, rv1 := run(false)
				y2, g2, rm2, rv2 := run(true)
				sameFused(t, fmt.Sprintf("%v training=%v affine=%v", shape, training, affine), []*tensor.Tensor{y1, rm1, rv1}, []*tensor.Tensor{y2, rm2, rv2}, g1, g2)
			}
		}
	}
	var ops []string
	tape := &Tape{Trace: func(op TraceOp) { ops = append(ops, op.Op.String()) }}
	BatchNormReLU(tape.Const(rnd(1, 2, 3, 4)), nil, nil, nil, nil, true, 0.1, 1e-5)
	if strings.Join(ops, ",") != "batchnorm,relu" {
		t.Fatalf("traced %v, want the two operations", ops)
	}
}

// TestBatchNormEmptyBatch runs an empty batch through evaluation mode
// (running statistics, no batch ones needed), forward and backward, fused
// and not: nothing to compute, and no panic.
func TestBatchNormEmptyBatch(t *testing.T) {
	for _, relu := range []bool{false, true} {
		x := Param(tensor.New(0, 3, 4, 4))
		gamma, beta := Param(tensor.AddScalar(rnd(2, 3), 1)), Param(rnd(3, 3))
		bn := BatchNorm
		if relu {
			bn = BatchNormReLU
		}
		y := bn(x, gamma, beta, rnd(4, 3), positive(5, 3), false, 0.1, 1e-5)
		if y.Value.Size() != 0 {
			t.Fatalf("relu=%v: output of %v", relu, y.Value.Shape())
		}
		Sum(y).Backward()
		for ch := range 3 {
			if gamma.Grad.At(ch) != 0 || beta.Grad.At(ch) != 0 {
				t.Fatalf("relu=%v: γ, β gradients %v, %v, want zeros", relu, gamma.Grad, beta.Grad)
			}
		}
	}
}

// TestBatchNormReLUMaxPool2d checks the fused batch norm + ReLU + 2×2 max
// pool against the three operations, bit for bit: outputs, running
// statistics and the gradients of x, gamma and beta, in training and
// evaluation mode, with and without affine parameters, on planes of even
// and odd sizes (a last row or column no window covers), with ties at
// zero, a NaN, and pool parameters it does not fuse (which must give the
// same results by the composition).
func TestBatchNormReLUMaxPool2d(t *testing.T) {
	pools := []tensor.PoolParams{
		{Kernel: [2]int{2, 2}},
		{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}},
		{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}},
		{Kernel: [2]int{2, 2}, CeilMode: true},
	}
	for _, shape := range [][]int{{2, 3, 4, 4}, {3, 2, 7, 9}, {5, 4, 14, 14}, {4, 2, 2, 3}, {2, 3, 33, 18}} {
		for pi, p := range pools {
			for _, training := range []bool{true, false} {
				for _, affine := range []bool{true, false} {
					c := shape[1]
					x := rnd(31, shape...)
					xd := x.Data()
					xd[0], xd[1], xd[len(xd)/2] = 0, 0, float32(math.NaN())
					var g *tensor.Tensor
					run := func(fused bool) (y *tensor.Tensor, grads []*tensor.Tensor, rm, rv *tensor.Tensor) {
						rm, rv = rnd(4, c), positive(5, c)
						xv := Param(x.Clone())
						var gamma, beta *Var
						if affine {
							gamma, beta = Param(tensor.AddScalar(rnd(2, c), 1)), Param(rnd(3, c))
						}
						var out *Var
						if fused {
							out = BatchNormReLUMaxPool2d(xv, gamma, beta, rm, rv, training, 0.1, 1e-5, p)
						} else {
							out = MaxPool2d(ReLU(BatchNorm(xv, gamma, beta, rm, rv, training, 0.1, 1e-5)), p)
						}
						if g == nil {
							g = rnd(32, out.Shape()...)
							gd := g.Data()
							gd[0] = float32(math.Copysign(0, -1))
						}
						Sum(Mul(out, Const(g))).Backward()
						grads = []*tensor.Tensor{xv.Grad}
						if affine {
							grads = append(grads, gamma.Grad, beta.Grad)
						}
						return out.Value, grads, rm, rv
					}
					y1, g1, rm1, rv1 := run(false)
					y2, g2, rm2, rv2 := run(true)
					sameFused(t, fmt.Sprintf("%v pool %d training=%v affine=%v", shape, pi, training, affine), []*tensor.Tensor{y1, rm1, rv1}, []*tensor.Tensor{y2, rm2, rv2}, g1, g2)
				}
			}
		}
	}
	var ops []string
	tape := &Tape{Trace: func(op TraceOp) { ops = append(ops, op.Op.String()) }}
	BatchNormReLUMaxPool2d(tape.Const(rnd(1, 2, 3, 4, 4)), nil, nil, nil, nil, true, 0.1, 1e-5, pools[0])
	if strings.Join(ops, ",") != "batchnorm,relu,maxpool2d" {
		t.Fatalf("traced %v, want the three operations", ops)
	}
}

// TestBatchNormAddReLU checks the fused batch norm + residual sum + ReLU
// against AddReLU(BatchNorm(x), add), bit for bit: output, running
// statistics and the gradients of x, gamma, beta and add, in training and
// evaluation mode, with and without affine parameters, with a NaN, ties at
// zero and an add that needs no gradient; and that a tracing tape records
// the separate operations.
func TestBatchNormAddReLU(t *testing.T) {
	for _, shape := range [][]int{{2, 3, 4, 4}, {3, 2, 7, 9}, {5, 4, 14, 14}, {4, 3, 5}, {6, 2}} {
		for _, training := range []bool{true, false} {
			for _, affine := range []bool{true, false} {
				for _, addGrad := range []bool{true, false} {
					c := shape[1]
					x, s, g := rnd(41, shape...), rnd(42, shape...), rnd(43, shape...)
					xd := x.Data()
					xd[0], xd[len(xd)/2] = 0, float32(math.NaN())
					s.Data()[1] = float32(math.Copysign(0, -1))
					run := func(fused bool) (y *tensor.Tensor, grads []*tensor.Tensor, rm, rv *tensor.Tensor) {
						rm, rv = rnd(4, c), positive(5, c)
						xv, sv := Param(x.Clone()), Const(s.Clone())
						if addGrad {
							sv = Param(s.Clone())
						}
						var gamma, beta *Var
						if affine {
							gamma, beta = Param(tensor.AddScalar(rnd(2, c), 1)), Param(rnd(3, c))
						}
						var out *Var
						if fused {
							out = BatchNormAddReLU(xv, gamma, beta, rm, rv, training, 0.1, 1e-5, sv)
						} else {
							out = AddReLU(BatchNorm(xv, gamma, beta, rm, rv, training, 0.1, 1e-5), sv)
						}
						Sum(Mul(out, Const(g))).Backward()
						grads = []*tensor.Tensor{xv.Grad}
						if addGrad {
							grads = append(grads, sv.Grad)
						}
						if affine {
							grads = append(grads, gamma.Grad, beta.Grad)
						}
						return out.Value, grads, rm, rv
					}
					y1, g1, rm1, rv1 := run(false)
					y2, g2, rm2, rv2 := run(true)
					sameFused(t, fmt.Sprintf("%v training=%v affine=%v addGrad=%v", shape, training, affine, addGrad), []*tensor.Tensor{y1, rm1, rv1}, []*tensor.Tensor{y2, rm2, rv2}, g1, g2)
				}
			}
		}
	}
	var ops []string
	tape := &Tape{Trace: func(op TraceOp) { ops = append(ops, op.Op.String()) }}
	BatchNormAddReLU(tape.Const(rnd(1, 2, 3, 4)), nil, nil, nil, nil, true, 0.1, 1e-5, tape.Const(rnd(2, 2, 3, 4)))
	if len(ops) < 2 || ops[0] != "batchnorm" {
		t.Fatalf("traced %v, want the separate operations", ops)
	}
}

// sameFused fails t unless a fused operation's results (output, running
// mean and variance) and gradients have the bits of the composed
// operations' (what names the case).
func sameFused(t *testing.T, what string, composed, fused, gComposed, gFused []*tensor.Tensor) {
	t.Helper()
	names := []string{"y", "running mean", "running var"}
	for k := range composed {
		if !slices.Equal(composed[k].Shape(), fused[k].Shape()) {
			t.Fatalf("%s: %s fused shape %v, composed %v", what, names[k], fused[k].Shape(), composed[k].Shape())
		}
	}
	for k := range gComposed {
		names = append(names, fmt.Sprintf("grad %d", k))
	}
	all, allFused := slices.Concat(composed, gComposed), slices.Concat(fused, gFused)
	for k, a := range all {
		ad, bd := a.Data(), allFused[k].Data()
		for i := range ad {
			if math.Float32bits(ad[i]) != math.Float32bits(bd[i]) {
				t.Fatalf("%s: %s[%d] fused %v, composed %v", what, names[k], i, bd[i], ad[i])
			}
		}
	}
}
