package torchref

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/tensor"
)

// tol is an elementwise tolerance: |got − want| ≤ Atol + Rtol·|want|, as
// numpy.allclose and torch.allclose.
type tol struct{ Atol, Rtol float64 }

// Tolerances. The references are float64 results of float32 inputs rounded
// once (see tools/refgen/README.md), so the whole error is Fovea's float32
// arithmetic. Values and upstream gradients are O(1).
var (
	// tolExact is for results with no accumulation: pooling selects or
	// averages a handful of values, elementwise activations.
	tolExact = tol{Atol: 1e-6, Rtol: 1e-5}
	// tolOp covers forward outputs of reductions over at most a few hundred
	// float32 products (conv, linear, batch norm, softmax, losses).
	tolOp = tol{Atol: 1e-5, Rtol: 1e-4}
	// tolGrad covers gradients that sum over the batch and spatial
	// positions (conv/linear weight gradients, batch-norm input gradients).
	tolGrad = tol{Atol: 5e-5, Rtol: 1e-4}
	// tolOptim is for optimizer steps: PyTorch ran them in float32 with the
	// same formula, so only rounding-order differences (a few ulps) remain.
	// AdamW's decoupled decay moves w by lr·wd·w = 1e-5·w per step, ten
	// times this tolerance, so dropping or coupling it fails.
	tolOptim = tol{Atol: 1e-7, Rtol: 1e-6}
	// tolNet is for a whole network (LeNet-5): errors of five layers
	// compound (conv1's weight gradient sums 3136 products per element),
	// but with PyTorch's default init the logits are O(0.1) and the
	// gradients O(0.01), so atol must be small for the check to mean
	// anything; Fovea is measured at about 1e-8 on the gradients.
	tolNet = tol{Atol: 1e-6, Rtol: 1e-4}
)

// ref is one reference file.
type ref struct {
	t    *testing.T
	name string
	f    *checkpoint.File
}

func load(t *testing.T, name string) *ref {
	t.Helper()
	f, err := checkpoint.ReadFile(filepath.Join("testdata", name+".safetensors"))
	if err != nil {
		t.Fatalf("%s: %v (regenerate with python3 tools/refgen/refgen.py)", name, err)
	}
	return &ref{t: t, name: name, f: f}
}

// get returns a copy of tensor k, so a test may hand it to an op that
// changes it in place.
func (r *ref) get(k string) *tensor.Tensor {
	r.t.Helper()
	v, ok := r.f.Tensor(k)
	if !ok {
		r.t.Fatalf("%s: no tensor %q in the reference file", r.name, k)
	}
	return v.Clone()
}

func (r *ref) has(k string) bool { _, ok := r.f.Tensor(k); return ok }

func (r *ref) meta(k string) string {
	r.t.Helper()
	v, ok := r.f.Metadata[k]
	if !ok {
		r.t.Fatalf("%s: no metadata %q", r.name, k)
	}
	return v
}

func (r *ref) metaFloat(k string) float64 {
	r.t.Helper()
	v, err := strconv.ParseFloat(r.meta(k), 64)
	if err != nil {
		r.t.Fatalf("%s: metadata %s: %v", r.name, k, err)
	}
	return v
}

func (r *ref) metaInt(k string) int { return int(r.metaFloat(k)) }

func (r *ref) metaBool(k string) bool { return r.meta(k) == "true" }

// metaPair parses "a,b".
func (r *ref) metaPair(k string) [2]int {
	r.t.Helper()
	s := strings.Split(r.meta(k), ",")
	if len(s) != 2 {
		r.t.Fatalf("%s: metadata %s = %q, want \"a,b\"", r.name, k, r.meta(k))
	}
	var p [2]int
	for i := range p {
		v, err := strconv.Atoi(s[i])
		if err != nil {
			r.t.Fatalf("%s: metadata %s: %v", r.name, k, err)
		}
		p[i] = v
	}
	return p
}

// labels returns the class indices stored as float32 under k.
func (r *ref) labels(k string) []int {
	d := r.get(k).Data()
	out := make([]int, len(d))
	for i, v := range d {
		out[i] = int(v)
	}
	return out
}

// backward seeds v with the stored upstream gradient grad_y, reshaped to
// v's shape (losses are stored as [1], Fovea's may be scalars).
func (r *ref) backward(v *autograd.Var) {
	r.t.Helper()
	g := r.get("grad_y")
	if g.Size() != v.Value.Size() {
		r.t.Fatalf("%s: output has shape %v, grad_y %v", r.name, v.Shape(), g.Shape())
	}
	v.BackwardWith(g.Reshape(v.Shape()...))
}

// check compares got against the reference tensor k.
func (r *ref) check(k string, got *tensor.Tensor, tl tol) {
	r.t.Helper()
	v, ok := r.f.Tensor(k)
	if !ok {
		r.t.Fatalf("%s: no tensor %q in the reference file", r.name, k)
	}
	maxDiff, err := compare(got, v, tl)
	if err != nil {
		r.t.Errorf("%s: %s: %v", r.name, k, err)
		return
	}
	r.t.Logf("%s: %s: max |diff| %.3g (atol %g rtol %g)", r.name, k, maxDiff, tl.Atol, tl.Rtol)
}

// checkGrad compares v.Grad with the reference tensor k, failing if v has
// no gradient.
func (r *ref) checkGrad(k string, v *autograd.Var, tl tol) {
	r.t.Helper()
	if v.Grad == nil {
		r.t.Errorf("%s: %s: no gradient", r.name, k)
		return
	}
	r.check(k, v.Grad, tl)
}

// compare returns nil if got matches want within tl, or an error naming the
// number of mismatches and the worst one (largest excess over the
// tolerance) with its index and both values. A NaN anywhere is a mismatch.
// A scalar matches a one-element tensor of any shape.
func compare(got, want *tensor.Tensor, tl tol) (maxAbs float64, err error) {
	if got == nil {
		return 0, fmt.Errorf("got nil, want shape %v", want.Shape())
	}
	if !slices.Equal(got.Shape(), want.Shape()) && !(got.Size() == 1 && want.Size() == 1) {
		return 0, fmt.Errorf("shape %v, want %v", got.Shape(), want.Shape())
	}
	g, w := got.Contiguous().Data(), want.Contiguous().Data()
	bad, worst, worstExcess := 0, -1, math.Inf(-1)
	for i := range w {
		gi, wi := float64(g[i]), float64(w[i])
		d := math.Abs(gi - wi)
		excess := d - (tl.Atol + tl.Rtol*math.Abs(wi))
		if math.IsNaN(d) {
			excess = math.Inf(1)
		}
		if !(d <= maxAbs) {
			maxAbs = d // NaN propagates
		}
		if excess > 0 {
			bad++
		}
		if excess > worstExcess {
			worst, worstExcess = i, excess
		}
	}
	if bad == 0 {
		return maxAbs, nil
	}
	return maxAbs, fmt.Errorf("%d of %d elements differ beyond atol %g rtol %g; worst at %v (flat %d): got %.9g, want %.9g (|diff| %.3g); max |diff| %.3g",
		bad, len(w), tl.Atol, tl.Rtol, unravel(worst, want.Shape()), worst, g[worst], w[worst],
		math.Abs(float64(g[worst])-float64(w[worst])), maxAbs)
}

func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

// TestCompareFails checks that the comparison can fail: a reference
// perturbed by a little more than the tolerance is rejected and the message
// names the worst element.
func TestCompareFails(t *testing.T) {
	want := tensor.FromSlice([]float32{1, -2, 3, 4, 5, 6}, 2, 3)
	got := want.Clone()
	if _, err := compare(got, want, tolOp); err != nil {
		t.Fatalf("identical tensors: %v", err)
	}
	got.Set(4+4*2e-4, 1, 0)
	got.Set(-2-5e-4, 0, 1) // a smaller miss
	_, err := compare(got, want, tolOp)
	if err == nil || !strings.Contains(err.Error(), "worst at [1 0]") || !strings.Contains(err.Error(), "2 of 6") {
		t.Fatalf("perturbed tensor: got error %v, want 2 mismatches, worst at [1 0]", err)
	}
	got = want.Clone()
	got.Set(float32(math.NaN()), 0, 2)
	if _, err := compare(got, want, tol{Atol: 1, Rtol: 1}); err == nil {
		t.Fatal("NaN passed the comparison")
	}
	if _, err := compare(tensor.New(3, 2), want, tol{Atol: 100}); err == nil {
		t.Fatal("transposed shape passed the comparison")
	}
}
