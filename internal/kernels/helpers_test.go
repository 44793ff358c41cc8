package kernels

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// u32 is the float32 unit roundoff bound used in the written tolerances:
// a float32 sum of n products of exact float32 values differs from the
// exact sum by at most about n·2^-24·Σ|terms| (Higham's γ_n). The tests use
// (n+3)·2^-23, twice that, to leave room for the alpha/beta multiplies and
// the division of an average.
const u32 = 1.0 / (1 << 23)

// withThreads runs fn with the worker pool set to n threads and restores the
// previous setting afterwards.
func withThreads(n int, fn func()) {
	prev := Threads()
	SetThreads(n)
	defer SetThreads(prev)
	fn()
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// randSlice returns n values uniform in [-1, 1).
func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = 2*r.Float32() - 1
	}
	return s
}

// sentinel is the value guard cells hold: large, finite, distinct per cell.
func sentinel(i int) float32 { return 1e30 * float32(1+i%13) }

// guarded is a slice embedded in a larger buffer whose cells on either side
// hold sentinels, in the manner of gonum's guardVector.
type guarded struct {
	buf  []float32
	lo   int // guard cells before the body
	body []float32
}

func newGuarded(n, guard int) guarded {
	buf := make([]float32, guard+n+guard)
	for i := range buf {
		buf[i] = sentinel(i)
	}
	return guarded{buf: buf, lo: guard, body: buf[guard : guard+n : guard+n]}
}

// checkGuards reports cells outside the body that no longer hold their
// sentinel.
func (g guarded) checkGuards(t *testing.T, what string) {
	t.Helper()
	for i, v := range g.buf {
		if i >= g.lo && i < g.lo+len(g.body) {
			continue
		}
		if math.Float32bits(v) != math.Float32bits(sentinel(i)) {
			t.Errorf("%s: guard cell %d overwritten: %v", what, i-g.lo, v)
			return
		}
	}
}

// mustPanicPrefix checks that fn panics with a string starting with prefix.
func mustPanicPrefix(t *testing.T, prefix string, fn func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("no panic, want one starting %q", prefix)
			return
		}
		s, ok := r.(string)
		if !ok {
			if e, isErr := r.(error); isErr {
				s = e.Error()
			}
		}
		if !strings.HasPrefix(s, prefix) {
			t.Errorf("panic %v, want one starting %q", r, prefix)
		}
	}()
	fn()
}
