package tensor

import (
	"slices"
	"sync"
	"testing"
)

// fullIn is Full in arena a.
func fullIn(a *Arena, v float32, shape ...int) *Tensor {
	t := a.Empty(shape...)
	for i := range t.data {
		t.data[i] = v
	}
	return t
}

func TestArenaRecyclesMemory(t *testing.T) {
	a := NewArena()
	ordinary := Full(3, 4, 5)
	step := func() (*Tensor, *Tensor) {
		a.Reset()
		x := ordinary.In(a) // results of x come from a
		y := Add(x, x)
		return y, Mul(y, ordinary)
	}
	s1, y1 := step()
	if y1.At(0, 0) != 18 || y1.Arena() != a {
		t.Fatalf("arena result %g from arena %p", y1.At(0, 0), y1.Arena())
	}
	owned := a.Floats()
	first := []BufferID{s1.Buffer(), y1.Buffer()}
	s2, y2 := step()
	if a.Floats() != owned {
		t.Fatalf("second step grew the arena from %d to %d floats", owned, a.Floats())
	}
	if !slices.Contains(first, s2.Buffer()) || !slices.Contains(first, y2.Buffer()) {
		t.Fatal("second step did not reuse the first step's memory")
	}
	// Memory comes back zeroed from New.
	a.Reset()
	z := a.New(4, 5)
	for _, v := range z.Data() {
		if v != 0 {
			t.Fatal("recycled tensor not zeroed")
		}
	}
	// Results of tensors of no arena, clones and New are ordinary memory.
	if New(20).Arena() != nil || Add(ordinary, ordinary).Arena() != nil {
		t.Fatal("ordinary tensors' results have an arena")
	}
	c := z.Clone()
	before := a.Floats()
	a.Reset()
	w := fullIn(a, 7, 4, 5)
	if c.Arena() != nil || w.Buffer() == c.Buffer() || a.Floats() != before {
		t.Fatal("Clone memory came from the arena")
	}
	// Views keep the arena: results computed from them come from it.
	if v := w.Reshape(20).Slice(2, 5); v.Arena() != a || Neg(v).Arena() != a || Neg(w.Transpose(0, 1)).Arena() != a {
		t.Fatal("views lost the arena")
	}
	// The first input with an arena decides.
	if Add(ordinary, w).Arena() != a || Concat(0, ordinary, w).Arena() != a || w.In(nil).Arena() != nil {
		t.Fatal("mixed inputs: the result's arena does not follow the inputs")
	}
}

// TestArenasAreIndependent: two goroutines computing at once, each with its
// own arena, get their own memory and correct results.
func TestArenasAreIndependent(t *testing.T) {
	base := Full(1, 32, 32)
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := NewArena()
			for step := range 200 {
				a.Reset()
				x := base.In(a)
				y := Add(Scale(x, float32(g+1)), Full(float32(step), 32, 32))
				if y.Arena() != a || y.At(3, 4) != float32(g+1+step) {
					t.Errorf("goroutine %d step %d: %g from arena %p", g, step, y.At(3, 4), y.Arena())
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestArenaAllocsPerStep(t *testing.T) {
	a := NewArena()
	base := Full(1, 64, 64)
	run := func() {
		a.Reset()
		x := base.In(a)
		_ = Add(Mul(x, x), x)
	}
	run()
	// Only the small Tensor headers (shape and stride slices) are allocated.
	if n := testing.AllocsPerRun(10, run); n > 14 {
		t.Fatalf("%v allocations per arena step", n)
	}
}

func TestArenaRelease(t *testing.T) {
	a := NewArena()
	x := fullIn(a, 1, 4, 5)
	y := fullIn(a, 2, 4, 5)
	owned := a.Floats()

	// Foreign memory: ordinary, another arena's, nil, empty, a clone, and
	// ordinary memory tagged with a.
	other := NewArena()
	for name, f := range map[string]*Tensor{"ordinary": New(4, 5), "other arena": other.New(4, 5), "nil": nil,
		"empty": New(0, 3), "clone": x.Clone(), "tagged": New(4, 5).In(a)} {
		if a.Release(f) || name != "other arena" && Release(f) {
			t.Errorf("released %s memory", name)
		}
	}

	// A view identifies its buffer: releasing through it releases the
	// whole buffer, once.
	v := x.Reshape(20).Slice(5, 10)
	if v.Buffer() != x.Buffer() || x.Buffer() == y.Buffer() || x.Narrow(1, 2, 3).Buffer() != x.Buffer() || x.Transpose(0, 1).Buffer() != x.Buffer() {
		t.Fatal("BufferID does not follow views")
	}
	if (&Tensor{}).Buffer() != (BufferID{}) {
		t.Fatal("empty tensor has a buffer")
	}
	if !Release(v) {
		t.Fatal("release through a view failed")
	}
	if a.Release(x) || Release(v) {
		t.Fatal("double release succeeded")
	}

	// The released buffer is reused, zeroed by New, and the arena does not
	// grow; y is untouched.
	w := a.New(20)
	if w.Buffer() != x.Buffer() || a.Floats() != owned {
		t.Fatal("released buffer not reused")
	}
	for _, e := range w.Data() {
		if e != 0 {
			t.Fatal("reused buffer not zeroed")
		}
	}
	for _, e := range y.Data() {
		if e != 2 {
			t.Fatal("release touched another buffer")
		}
	}
	// w was handed out again: it can be released once more.
	if !a.Release(w) || a.Release(w) {
		t.Fatal("re-handed-out buffer: want exactly one release")
	}

	// Reset returns the rest; a buffer released before Reset is not listed
	// twice, so the next step hands out distinct buffers.
	a.Reset()
	if a.Release(y) {
		t.Fatal("released after Reset")
	}
	p, q, r := a.New(4, 5), a.New(4, 5), a.New(4, 5)
	if p.Buffer() == q.Buffer() || p.Buffer() == r.Buffer() || q.Buffer() == r.Buffer() {
		t.Fatal("one buffer handed out twice")
	}
	if a.Floats() != owned+20 {
		t.Fatalf("arena owns %d floats, want %d", a.Floats(), owned+20)
	}
	// Releasing in any order keeps the bookkeeping consistent.
	for _, u := range []*Tensor{q, p, r} {
		if !a.Release(u) {
			t.Fatal("release failed")
		}
	}
	if a.Release(p) || a.Release(q) || a.Release(r) {
		t.Fatal("double release succeeded")
	}
}

func TestArenaPoison(t *testing.T) {
	a := NewArena()
	a.Poison = true
	x := fullIn(a, 1, 8)
	a.Release(x)
	for _, v := range x.Data() {
		if v == v {
			t.Fatal("released buffer not poisoned")
		}
	}
}

func TestArenaReleaseAllocs(t *testing.T) {
	a := NewArena()
	base := Full(1, 64, 64)
	step := func(release bool) func() {
		return func() {
			a.Reset()
			x := base.In(a)
			m := Mul(x, x)
			s := Add(m, x)
			if release {
				a.Release(m)
			}
			_ = Add(s, x) // reuses m's buffer when released
		}
	}
	step(true)()
	if a.Floats() != 2*64*64 {
		t.Fatalf("arena owns %d floats, want %d", a.Floats(), 2*64*64)
	}
	// Release and the bookkeeping behind it allocate nothing.
	with, without := testing.AllocsPerRun(10, step(true)), testing.AllocsPerRun(10, step(false))
	if with != without {
		t.Fatalf("%v allocations per step with Release, %v without", with, without)
	}
}

// TestArenaRecyclesHeaders checks that an arena's tensors reuse their
// headers after Reset (a step's tensors cost no allocation once the arena
// is warm) with the right shapes and strides, and that tensors of more
// dimensions than a recycled header holds still work.
func TestArenaRecyclesHeaders(t *testing.T) {
	a := NewArena()
	shapes := [][]int{{2, 3, 4, 5}, {7}, {3, 2}, {1, 1, 1}, {}}
	step := func() []*Tensor {
		a.Reset()
		ts := make([]*Tensor, 0, 300*len(shapes))
		for range 300 { // more than one chunk of headers
			for _, s := range shapes {
				ts = append(ts, a.Empty(s...))
			}
		}
		return ts
	}
	first := step()
	second := step()
	for i, tt := range second {
		if tt != first[i] {
			t.Fatalf("tensor %d: header not recycled", i)
		}
		want := shapes[i%len(shapes)]
		if !slices.Equal(tt.Shape(), want) || !slices.Equal(tt.strides, rowMajor(want)) || tt.Size() != New(want...).Size() {
			t.Fatalf("tensor %d: shape %v strides %v, want %v %v", i, tt.Shape(), tt.strides, want, rowMajor(want))
		}
	}
	if allocs := testing.AllocsPerRun(5, func() { step() }); allocs > 1 { // the result slice aside
		t.Errorf("a warm arena allocated %v objects per step", allocs)
	}
	big := a.Empty(2, 1, 1, 3, 2)
	if !slices.Equal(big.Shape(), []int{2, 1, 1, 3, 2}) || big.Size() != 12 {
		t.Fatalf("5-D tensor: shape %v size %d", big.Shape(), big.Size())
	}
}

// TestArenaView checks that a View shares t's memory, takes results'
// memory from the arena, and holds t's shape.
func TestArenaView(t *testing.T) {
	a := NewArena()
	x := FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	v := a.View(x)
	if v.Arena() != a || !slices.Equal(v.Shape(), x.Shape()) || &v.Data()[0] != &x.Data()[0] {
		t.Fatalf("view: arena %v, shape %v, shares memory %v", v.Arena() == a, v.Shape(), &v.Data()[0] == &x.Data()[0])
	}
	if Add(v, v).Arena() != a {
		t.Error("a result of the view does not take the arena's memory")
	}
	if (*Arena)(nil).View(x).Arena() != nil {
		t.Error("a nil arena's view is tagged")
	}
}
