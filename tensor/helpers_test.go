package tensor_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// u32 is the tolerance unit: a float32 sum of n terms differs from the exact
// sum by at most about n·2^-24·Σ|terms|; the tests allow (n+3)·2^-23·Σ|terms|.
const u32 = 1.0 / (1 << 23)

func withThreads(n int, fn func()) {
	prev := tensor.Threads()
	tensor.SetThreads(n)
	defer tensor.SetThreads(prev)
	fn()
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 77)) }

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// indices lists every multi-index of shape in row-major order.
func indices(shape []int) [][]int {
	n := numel(shape)
	out := make([][]int, 0, n)
	idx := make([]int, len(shape))
	for range n {
		out = append(out, slices.Clone(idx))
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

// flat is the row-major position of idx in shape.
func flat(shape, idx []int) int {
	f := 0
	for d, v := range idx {
		f = f*shape[d] + v
	}
	return f
}

// values reads t element by element through At, in row-major order,
// independently of Contiguous and Data.
func values(t *tensor.Tensor) []float32 {
	var out []float32
	for _, idx := range indices(t.Shape()) {
		out = append(out, t.At(idx...))
	}
	return out
}

func randVals(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 2*r.Float32() - 1
	}
	return s
}

// quantVals returns small integers, so that ties are common.
func quantVals(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.IntN(4)) - 1
	}
	return s
}

// layout is one way of holding the same logical tensor.
type layout struct {
	name       string
	t          *tensor.Tensor
	contiguous bool
}

// layouts returns the logical tensor (shape, vals) stored four ways: plain;
// as a Slice of a larger tensor (contiguous, data at an offset); as a
// Permute of a tensor with reversed axes (non-contiguous when at least two
// axes exceed 1); and as a Narrow of the last axis of a wider tensor whose
// extra columns hold NaN (non-contiguous when there is more than one row).
func layouts(shape []int, vals []float32) []layout {
	out := []layout{{"contiguous", tensor.FromSlice(slices.Clone(vals), shape...), true}}
	if len(shape) == 0 {
		return out
	}
	// Offset: rows 1..1+shape[0] of a tensor with two extra rows of NaN.
	big := slices.Clone(shape)
	big[0] += 2
	bt := tensor.Full(float32(math.NaN()), big...)
	row := numel(shape[1:])
	copy(bt.Data()[row:], vals)
	out = append(out, layout{"offset", bt.Slice(1, 1+shape[0]), true})

	// Permuted: store the reversed-axes tensor, then permute back.
	rank := len(shape)
	rev := make([]int, rank)
	for i := range rev {
		rev[i] = shape[rank-1-i]
	}
	pt := tensor.New(rev...)
	perm := make([]int, rank)
	for i := range perm {
		perm[i] = rank - 1 - i
	}
	for i, idx := range indices(shape) {
		ridx := make([]int, rank)
		for d := range idx {
			ridx[rank-1-d] = idx[d]
		}
		pt.Set(vals[i], ridx...)
	}
	many := 0
	for _, d := range shape {
		if d > 1 {
			many++
		}
	}
	out = append(out, layout{"permuted", pt.Permute(perm...), many < 2})

	// Narrowed: the last axis widened by 3 NaN columns, one before.
	wide := slices.Clone(shape)
	wide[rank-1] += 3
	wt := tensor.Full(float32(math.NaN()), wide...)
	for i, idx := range indices(shape) {
		widx := slices.Clone(idx)
		widx[rank-1]++
		wt.Set(vals[i], widx...)
	}
	out = append(out, layout{"narrowed", wt.Narrow(-1, 1, shape[rank-1]), numel(shape[:rank-1]) <= 1 || shape[rank-1] == 0})
	return out
}

// sameBits compares float32 slices exactly, NaN payloads included.
func sameBits(x, y []float32) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) && !(x[i] != x[i] && y[i] != y[i]) {
			return false
		}
	}
	return true
}

// checkExact fails unless got has shape and exactly the values want.
func checkExact(t *testing.T, what string, got *tensor.Tensor, shape []int, want []float32) {
	t.Helper()
	if !slices.Equal(got.Shape(), shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), shape)
		return
	}
	if g := values(got); !sameBits(g, want) {
		for i := range want {
			if !sameBits(g[i:i+1], want[i:i+1]) {
				t.Errorf("%s: element %v = %v, want %v", what, indices(shape)[i], g[i], want[i])
				return
			}
		}
	}
}

// checkClose fails unless got has shape and every value within tol[i] of
// want[i].
func checkClose(t *testing.T, what string, got *tensor.Tensor, shape []int, want, tol []float64) {
	t.Helper()
	if !slices.Equal(got.Shape(), shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), shape)
		return
	}
	g := values(got)
	bad := 0
	for i := range want {
		if !(math.Abs(float64(g[i])-want[i]) <= tol[i]) {
			if bad++; bad <= 3 {
				t.Errorf("%s: element %v = %v, want %v ± %.3g", what, indices(shape)[i], g[i], want[i], tol[i])
			}
		}
	}
}

// mustPanic checks that fn panics with a message starting "tensor: ".
func mustPanic(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("%s: no panic", what)
			return
		}
		e, ok := r.(*tensor.ShapeError)
		if !ok || !strings.HasPrefix(e.Msg, "tensor: ") {
			t.Errorf("%s: panic %v (%T), want a *ShapeError starting with \"tensor: \"", what, r, r)
		}
	}()
	fn()
}
