package autograd

import (
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// TestOwnedGradResidual checks gradient accumulation into the input of a
// residual block, where one contribution is aliased (the skip path of Add)
// and one freshly allocated (the convolution's input gradient, taken
// without a copy), in both arrival orders, for an intermediate and a leaf.
func TestOwnedGradResidual(t *testing.T) {
	rng := tensor.NewRNG(1)
	x0 := tensor.Normal(rng, 0, 1, 2, 3, 5, 5)
	w := tensor.Normal(rng, 0, 0.5, 3, 3, 3, 3)
	p := tensor.ConvParams{Pad: [4]int{1, 1, 1, 1}}
	gy := tensor.Normal(rng, 0, 1, 2, 3, 5, 5)
	want := tensor.Add(gy, tensor.Conv2dBackwardInput(gy, w, x0.Shape(), p))

	for _, leaf := range []bool{false, true} {
		for _, convFirst := range []bool{false, true} {
			xp := Param(x0.Clone())
			x := xp
			if !leaf {
				x = Scale(xp, 1) // an intermediate
			}
			c := Conv2d(x, Const(w), nil, p)
			var y *Var
			if convFirst {
				y = Add(x, c)
			} else {
				y = Add(c, x)
			}
			g := gy.Clone()
			y.BackwardWith(g)
			if !slices.Equal(g.Data(), gy.Data()) {
				t.Fatalf("leaf %v: the upstream gradient was modified", leaf)
			}
			got := xp.Grad
			if d := maxDiff(got, want); d > 1e-5 {
				t.Errorf("leaf %v, conv first %v: gradient off by %g", leaf, convFirst, d)
			}
		}
	}

	// Two owned contributions to a leaf (x feeds two convolutions), twice:
	// the second Backward accumulates into the buffer the first one kept.
	xp := Param(x0.Clone())
	for range 2 {
		Add(Conv2d(xp, Const(w), nil, p), Conv2d(xp, Const(w), nil, p)).BackwardWith(gy.Clone())
	}
	one := tensor.Conv2dBackwardInput(gy, w, x0.Shape(), p)
	if d := maxDiff(xp.Grad, tensor.Scale(one, 4)); d > 1e-5 {
		t.Errorf("two owned contributions over two Backward calls: off by %g", d)
	}
}

func maxDiff(a, b *tensor.Tensor) float64 {
	var m float64
	ad, bd := a.Contiguous().Data(), b.Contiguous().Data()
	for i := range ad {
		d := float64(ad[i] - bd[i])
		if d < 0 {
			d = -d
		}
		m = max(m, d)
	}
	return m
}
