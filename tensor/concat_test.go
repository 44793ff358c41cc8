package tensor_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

func TestConcat(t *testing.T) {
	r := newRand(60)
	base := []int{2, 3, 4}
	for axis := range base {
		for _, sizes := range [][]int{{1}, {2, 3}, {1, 0, 2}, {3, 1, 1, 2}} {
			var parts [][]float32
			var shapes [][]int
			for _, s := range sizes {
				sh := slices.Clone(base)
				sh[axis] = s
				shapes = append(shapes, sh)
				parts = append(parts, randVals(r, numel(sh)))
			}
			out := slices.Clone(base)
			out[axis] = 0
			for _, s := range sizes {
				out[axis] += s
			}
			// Naive: walk the output and find which part each index is in.
			want := make([]float32, numel(out))
			for i, idx := range indices(out) {
				at := idx[axis]
				for pi, s := range sizes {
					if at < s {
						src := slices.Clone(idx)
						src[axis] = at
						want[i] = parts[pi][flat(shapes[pi], src)]
						break
					}
					at -= s
				}
			}
			// Mix layouts: part i uses layout (i + variant) mod 4.
			for variant := range 4 {
				var ts []*tensor.Tensor
				for pi := range parts {
					ls := layouts(shapes[pi], parts[pi])
					ts = append(ts, ls[(pi+variant)%len(ls)].t)
				}
				ax := axis
				if variant%2 == 1 {
					ax = axis - len(base)
				}
				what := fmt.Sprintf("Concat(%d, sizes %v, variant %d)", ax, sizes, variant)
				got := tensor.Concat(ax, ts...)
				checkExact(t, what, got, out, want)
				if !got.IsContiguous() {
					t.Errorf("%s: result not contiguous", what)
				}
			}
		}
	}
	// The result is a copy.
	a := tensor.Ones(2, 2)
	c := tensor.Concat(0, a)
	c.Set(5, 0, 0)
	if a.At(0, 0) != 1 {
		t.Errorf("Concat of one tensor shares memory with it")
	}
	checkExact(t, "Concat of 1-D", tensor.Concat(0, tensor.FromSlice([]float32{1, 2}, 2), tensor.FromSlice([]float32{3}, 1)), []int{3}, []float32{1, 2, 3})

	mustPanic(t, "Concat of nothing", func() { tensor.Concat(0) })
	mustPanic(t, "Concat other dims differ", func() { tensor.Concat(1, tensor.New(2, 3), tensor.New(3, 3)) })
	mustPanic(t, "Concat ranks differ", func() { tensor.Concat(0, tensor.New(2, 3), tensor.New(2, 3, 1)) })
	mustPanic(t, "Concat axis range", func() { tensor.Concat(2, tensor.New(2, 3), tensor.New(2, 3)) })
}
