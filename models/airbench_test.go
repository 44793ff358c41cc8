package models

import (
	"math"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestAirbench94 checks the network's names (those of the reference's
// make_net state dict), shapes, frozen tensors and initialization.
func TestAirbench94(t *testing.T) {
	m := NewAirbench94(Options{Seed: 1})
	var names, frozen []string
	for _, p := range nn.Params(m) {
		names = append(names, p.Name)
		if !p.Value.RequiresGrad() {
			frozen = append(frozen, p.Name)
		}
	}
	want := []string{"0.weight", "0.bias"}
	for _, g := range []string{"2", "3", "4"} {
		want = append(want, g+".conv1.weight", g+".norm1.weight", g+".norm1.bias", g+".conv2.weight", g+".norm2.weight", g+".norm2.bias")
	}
	want = append(want, "7.weight")
	if !slices.Equal(names, want) {
		t.Errorf("parameter names\n got %v\nwant %v", names, want)
	}
	wantFrozen := []string{"0.weight", "2.norm1.weight", "2.norm2.weight", "3.norm1.weight", "3.norm2.weight", "4.norm1.weight", "4.norm2.weight"}
	if !slices.Equal(frozen, wantFrozen) {
		t.Errorf("frozen %v, want %v", frozen, wantFrozen)
	}
	if n := nn.NumParams(m); n != 1972792 {
		t.Errorf("%d parameters, want 1,972,792", n)
	}
	// Each 3×3 convolution starts as the identity on its first channels.
	g := m.Layers[3].(*AirbenchGroup)
	w := g.Conv1.Weight.Value // (256, 64, 3, 3)
	for i := range 64 {
		for c := range 64 {
			for k := range 9 {
				v, want := w.At(i, c, k/3, k%3), float32(0)
				if c == i && k == 4 {
					want = 1
				}
				if v != want {
					t.Fatalf("conv1 filter %d channel %d tap %d = %v, want %v", i, c, k, v, want)
				}
			}
		}
	}
	if w.At(64, 0, 0, 0) == 0 && w.At(64, 1, 1, 1) == 0 {
		t.Errorf("filters past the input channels should keep their random initialization")
	}
	if g.Norm1.Momentum != 0.4 || g.Norm1.Eps != 1e-12 {
		t.Errorf("batch norm momentum %v eps %v, want 0.4 and 1e-12", g.Norm1.Momentum, g.Norm1.Eps)
	}
	nn.SetTraining(m, false)
	x := tensor.Normal(tensor.NewRNG(2), 0, 1, 2, 3, 32, 32)
	if got := m.Forward(autograd.Const(x)).Value.Shape(); !slices.Equal(got, []int{2, 10}) {
		t.Errorf("output shape %v, want [2 10]", got)
	}
}

// TestInitWhitening checks the patch whitening: on correlated images, the
// first D filters' responses over all patches have the identity as their
// second-moment matrix (eps 0), the last D are their negatives, and bad
// shapes are errors.
func TestInitWhitening(t *testing.T) {
	r := tensor.NewRNG(3)
	n, c, h, w := 6, 3, 9, 8
	x := tensor.Normal(r, 0, 1, n, c, h, w)
	xd := x.Data()
	for i := range xd { // correlate neighbours and channels, add a mean
		if i > 0 {
			xd[i] += 0.7*xd[i-1] + 0.3
		}
	}
	conv := nn.NewConv2d(r, nn.Conv2dConfig{In: c, Out: 24, Kernel: 2})
	if err := InitWhitening(conv, x, 0); err != nil {
		t.Fatal(err)
	}
	d := 12
	wd := conv.Weight.Value.Data()
	for i := range d * d {
		if wd[d*d+i] != -wd[i] {
			t.Fatalf("filter %d is not the negative of filter %d", d+i/d, i/d)
		}
	}
	// Responses of the first d filters (no bias) at every patch.
	var m [12][12]float64
	count := 0
	for b := range n {
		for y := range h - 1 {
			for xx := range w - 1 {
				var resp [12]float64
				for k := range d {
					for ch := range c {
						for i := range 2 {
							for j := range 2 {
								resp[k] += float64(wd[k*d+(ch*2+i)*2+j]) * float64(x.At(b, ch, y+i, xx+j))
							}
						}
					}
				}
				for k := range d {
					for l := range d {
						m[k][l] += resp[k] * resp[l]
					}
				}
				count++
			}
		}
	}
	for k := range d {
		for l := range d {
			want := 0.0
			if k == l {
				want = 1
			}
			if got := m[k][l] / float64(count); math.Abs(got-want) > 1e-3 {
				t.Errorf("whitened second moment [%d][%d] = %.5f, want %v", k, l, got, want)
			}
		}
	}
	bad := nn.NewConv2d(r, nn.Conv2dConfig{In: c, Out: 12, Kernel: 2})
	if err := InitWhitening(bad, x, 0); err == nil {
		t.Errorf("12 filters for 12-value patches: no error")
	}
	if err := InitWhitening(conv, tensor.Zeros(2, c, 1, 1), 0); err == nil {
		t.Errorf("images smaller than a patch: no error")
	}
	if err := InitWhitening(conv, tensor.Zeros(2, c, 4, 4), 0); err == nil {
		t.Errorf("constant images (a singular covariance) with eps 0: no error")
	}
}

// TestDirac checks that a Dirac-initialized "same" convolution passes its
// input channels through.
func TestDirac(t *testing.T) {
	r := tensor.NewRNG(4)
	conv := nn.NewConv2d(r, nn.Conv2dConfig{In: 3, Out: 5, Kernel: 3, PadSame: true, NoBias: true})
	nn.Dirac(conv.Weight.Value)
	x := tensor.Normal(r, 0, 1, 2, 3, 6, 7)
	y := conv.Forward(autograd.Const(x)).Value
	for b := range 2 {
		for c := range 3 {
			for i := range 6 {
				for j := range 7 {
					if y.At(b, c, i, j) != x.At(b, c, i, j) {
						t.Fatalf("output (%d,%d,%d,%d) = %v, want the input's %v", b, c, i, j, y.At(b, c, i, j), x.At(b, c, i, j))
					}
				}
			}
		}
	}
}
