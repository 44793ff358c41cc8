package nn_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// adaptiveAvgRef is PyTorch's adaptive average pooling written as loops:
// output cell (i, j) averages rows ⌊i·H/OH⌋ … ⌈(i+1)·H/OH⌉−1 and the same
// for columns.
func adaptiveAvgRef(x *tensor.Tensor, oh, ow int) []float64 {
	s := x.Shape()
	h, w := s[2], s[3]
	d := x.Contiguous().Data()
	var out []float64
	for p := range s[0] * s[1] {
		for i := range oh {
			for j := range ow {
				r0, r1 := i*h/oh, ((i+1)*h+oh-1)/oh
				c0, c1 := j*w/ow, ((j+1)*w+ow-1)/ow
				var sum float64
				for r := r0; r < r1; r++ {
					for c := c0; c < c1; c++ {
						sum += float64(d[p*h*w+r*w+c])
					}
				}
				out = append(out, sum/float64((r1-r0)*(c1-c0)))
			}
		}
	}
	return out
}

func TestAdaptiveAvgPool2d(t *testing.T) {
	for _, c := range []struct{ h, w, oh, ow int }{
		{7, 7, 7, 7},   // identity
		{14, 21, 7, 7}, // even windows: average pooling
		{5, 6, 1, 1},   // global
		{10, 9, 7, 7},  // uneven, overlapping windows
		{1, 1, 7, 7},   // smaller than the output: repeated
		{2, 3, 7, 4},
		{5, 4, 3, 2},
	} {
		t.Run(fmt.Sprintf("%dx%d_to_%dx%d", c.h, c.w, c.oh, c.ow), func(t *testing.T) {
			x := layersRand(uint64(c.h*100+c.w), 2, 3, c.h, c.w)
			l := nn.NewAdaptiveAvgPool2d(c.oh, c.ow)
			y := l.Forward(autograd.Const(x))
			if !slices.Equal(y.Shape(), []int{2, 3, c.oh, c.ow}) {
				t.Fatalf("shape %v", y.Shape())
			}
			for i, want := range adaptiveAvgRef(x, c.oh, c.ow) {
				if got := y.Value.Data()[i]; math.Abs(float64(got)-want) > 1e-5 {
					t.Fatalf("element %d = %g, want %g", i, got, want)
				}
			}
			if c.h == c.oh && c.w == c.ow {
				return // the identity returns x itself
			}
			if err := autograd.CheckGrad(func(xs []*autograd.Var) *autograd.Var { return l.Forward(xs[0]) },
				[]*tensor.Tensor{x}, autograd.CheckOpts{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReLU6Layer(t *testing.T) {
	x := autograd.Param(tensor.FromSlice([]float32{-2, 0.5, 6, 9}, 1, 4))
	y := nn.ReLU6{}.Forward(x)
	if !slices.Equal(y.Value.Data(), []float32{0, 0.5, 6, 6}) {
		t.Fatalf("ReLU6 = %v", y.Value.Data())
	}
	autograd.Sum(y).Backward()
	if !slices.Equal(x.Grad.Data(), []float32{0, 1, 0, 0}) {
		t.Fatalf("ReLU6 gradient = %v", x.Grad.Data())
	}
}
