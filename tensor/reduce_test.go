package tensor_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// naiveReduce folds vals (of shape) over the axes in mask. It returns the
// kept-dims shape, the squeezed shape, and per output element the float64
// sum, the sum of magnitudes, the count, and the maximum.
func naiveReduce(shape []int, vals []float32, mask []bool) (keep, squeezed []int, sum, mag []float64, count int, mx []float32) {
	keep = slices.Clone(shape)
	squeezed = []int{}
	count = 1
	for d, m := range mask {
		if m {
			keep[d] = 1
			count *= shape[d]
		} else {
			squeezed = append(squeezed, shape[d])
		}
	}
	n := numel(keep)
	sum, mag, mx = make([]float64, n), make([]float64, n), make([]float32, n)
	for i := range mx {
		mx[i] = float32(math.Inf(-1))
	}
	for i, idx := range indices(shape) {
		o := slices.Clone(idx)
		for d, m := range mask {
			if m {
				o[d] = 0
			}
		}
		f := flat(keep, o)
		sum[f] += float64(vals[i])
		mag[f] += math.Abs(float64(vals[i]))
		mx[f] = max(mx[f], vals[i])
	}
	return keep, squeezed, sum, mag, count, mx
}

func TestReductions(t *testing.T) {
	r := newRand(20)
	for _, shape := range [][]int{{2, 3, 4, 5}, {3, 1, 4, 2}, {2, 0, 3, 1}} {
		vals := randVals(r, numel(shape))
		ls := layouts(shape, vals)
		for subset := range 1 << len(shape) {
			mask := make([]bool, len(shape))
			var axes, negAxes []int
			for d := range shape {
				if subset&(1<<d) != 0 {
					mask[d] = true
					axes = append(axes, d)
					negAxes = append(negAxes, d-len(shape))
				}
			}
			if subset == 0 { // no axes means all of them
				for d := range mask {
					mask[d] = true
				}
			}
			keep, squeezed, sum, mag, count, mx := naiveReduce(shape, vals, mask)
			tol := make([]float64, len(sum))
			meanWant, meanTol := make([]float64, len(sum)), make([]float64, len(sum))
			for i := range sum {
				tol[i] = float64(count+3) * u32 * mag[i]
				meanWant[i] = sum[i] / float64(count)
				meanTol[i] = float64(count+4) * u32 * mag[i] / float64(count)
				if count == 0 {
					meanWant[i], meanTol[i] = math.NaN(), 0
				}
			}
			for li, l := range ls {
				ax := axes
				if li%2 == 1 {
					ax = negAxes
				}
				what := fmt.Sprintf("%v %s axes %v", shape, l.name, ax)
				checkClose(t, "Sum "+what, tensor.Sum(l.t, ax...), squeezed, sum, tol)
				checkClose(t, "SumKeep "+what, tensor.SumKeep(l.t, ax...), keep, sum, tol)
				if count > 0 {
					checkClose(t, "Mean "+what, tensor.Mean(l.t, ax...), squeezed, meanWant, meanTol)
					checkClose(t, "MeanKeep "+what, tensor.MeanKeep(l.t, ax...), keep, meanWant, meanTol)
				} else if m := values(tensor.Mean(l.t, ax...)); len(m) > 0 && !math.IsNaN(float64(m[0])) {
					t.Errorf("Mean %s over an empty axis = %v, want NaN", what, m[0])
				}
				checkExact(t, "Max "+what, tensor.Max(l.t, ax...), squeezed, mx)
			}
		}
	}
	x := tensor.New(2, 3)
	mustPanic(t, "Sum repeated axis", func() { tensor.Sum(x, 1, 1) })
	mustPanic(t, "Sum repeated negative axis", func() { tensor.SumKeep(x, 1, -1) })
	mustPanic(t, "Mean axis range", func() { tensor.Mean(x, 2) })
	mustPanic(t, "Max axis range", func() { tensor.Max(x, -3) })
}

func TestReduceScalarAndNaN(t *testing.T) {
	s := tensor.Scalar(2.5)
	checkExact(t, "Sum(scalar)", tensor.Sum(s), nil, []float32{2.5})
	checkExact(t, "Max(scalar)", tensor.Max(s), nil, []float32{2.5})
	nan := float32(math.NaN())
	x := tensor.FromSlice([]float32{1, nan, 3, 4, 5, 6}, 2, 3)
	if v := tensor.Sum(x, 1).At(0); v == v {
		t.Errorf("Sum with NaN = %v, want NaN", v)
	}
	if v := tensor.Max(x, 1).At(0); v == v {
		t.Errorf("Max with NaN = %v, want NaN", v)
	}
	if v := tensor.Max(x, 1).At(1); v != 6 {
		t.Errorf("Max of the NaN-free row = %v, want 6", v)
	}
}

func TestArgMax(t *testing.T) {
	r := newRand(21)
	for _, shape := range [][]int{{7}, {3, 4}, {2, 3, 4, 5}, {4, 1, 3}, {1, 6}, {3, 0}} {
		vals := quantVals(r, numel(shape)) // many ties: the first index must win
		for axis := range shape {
			if shape[axis] == 0 {
				continue
			}
			rest := slices.Delete(slices.Clone(shape), axis, axis+1)
			want := make([]int, numel(rest))
			best := make([]float32, numel(rest))
			seen := make([]bool, numel(rest))
			for i, idx := range indices(shape) {
				o := flat(rest, slices.Delete(slices.Clone(idx), axis, axis+1))
				if !seen[o] || vals[i] > best[o] {
					seen[o], best[o], want[o] = true, vals[i], idx[axis]
				}
			}
			for li, l := range layouts(shape, vals) {
				ax := axis
				if li%2 == 1 {
					ax = axis - len(shape)
				}
				if got := tensor.ArgMax(l.t, ax); !slices.Equal(got, want) && len(want) > 0 {
					t.Errorf("ArgMax(%v %s, %d) = %v, want %v", shape, l.name, ax, got, want)
				} else if len(got) != len(want) {
					t.Errorf("ArgMax(%v %s, %d) has %d entries, want %d", shape, l.name, ax, len(got), len(want))
				}
			}
		}
	}
	// ArgMax over a 0-size axis has no answer; a 0-size other axis has an
	// empty one.
	mustPanic(t, "ArgMax over an empty axis", func() { tensor.ArgMax(tensor.New(3, 0), 1) })
	if got := tensor.ArgMax(tensor.New(3, 0), 0); len(got) != 0 {
		t.Errorf("ArgMax((3, 0), 0) = %v, want []", got)
	}
	if got := tensor.ArgMax(tensor.New(0, 4), 1); len(got) != 0 {
		t.Errorf("ArgMax((0, 4), 1) = %v, want []", got)
	}
	mustPanic(t, "ArgMax axis range", func() { tensor.ArgMax(tensor.New(3), 1) })
}

func TestSumTo(t *testing.T) {
	r := newRand(22)
	for _, pair := range [][2][]int{
		{{3}, {2, 3}}, {{1, 3}, {4, 3}}, {{2, 1}, {2, 5}}, {{}, {2, 3}}, {{1}, {4}},
		{{2, 1, 4}, {3, 2, 5, 4}}, {{1, 1}, {3, 4}}, {{4, 1}, {4, 1}}, {{1, 3, 1}, {2, 3, 4}},
		{{1}, {0}}, {{2, 3}, {2, 3}},
	} {
		small, big := pair[0], pair[1]
		vals := randVals(r, numel(big))
		want, mag := make([]float64, numel(small)), make([]float64, numel(small))
		for i, idx := range indices(big) {
			want[source(small, idx)] += float64(vals[i])
			mag[source(small, idx)] += math.Abs(float64(vals[i]))
		}
		tol := make([]float64, len(want))
		for i := range tol {
			tol[i] = float64(numel(big)/max(numel(small), 1)+3) * u32 * mag[i]
		}
		for _, l := range layouts(big, vals) {
			got := tensor.SumTo(l.t, small)
			checkClose(t, fmt.Sprintf("SumTo(%v %s, %v)", big, l.name, small), got, small, want, tol)
			if slices.Equal(small, big) && got != l.t {
				t.Errorf("SumTo to the same shape %v did not return its argument", big)
			}
		}
		// SumTo undoes the broadcast of Add: the gradient of a broadcast
		// operand sums the upstream gradient.
		b := tensor.FromSlice(randVals(r, numel(small)), small...)
		sum := tensor.Add(tensor.New(big...), b)
		c := float64(numel(big) / max(numel(small), 1)) // copies of each b element
		bw := scaled(b.Data(), c)
		btol := make([]float64, len(bw))
		for i := range bw {
			btol[i] = (c + 3) * u32 * math.Abs(bw[i])
		}
		checkClose(t, fmt.Sprintf("SumTo(Add(0, b)) %v→%v", small, big), tensor.SumTo(sum, small), small, bw, btol)
	}
	mustPanic(t, "SumTo mismatch", func() { tensor.SumTo(tensor.New(2, 4), []int{3}) })
	mustPanic(t, "SumTo larger rank", func() { tensor.SumTo(tensor.New(3, 4), []int{2, 3, 4}) })
	mustPanic(t, "SumTo grow axis", func() { tensor.SumTo(tensor.New(1, 4), []int{3, 4}) })
}

func scaled(x []float32, s float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) * s
	}
	return out
}
