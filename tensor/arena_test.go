package tensor

import "testing"

func TestArenaRecyclesMemory(t *testing.T) {
	a := NewArena()
	step := func() (*Tensor, *Tensor) {
		a.Reset()
		defer a.Use()()
		x := Full(3, 4, 5)
		y := Add(x, x)
		return x, y
	}
	x1, y1 := step()
	if y1.At(0, 0) != 6 {
		t.Fatalf("arena tensor value %g", y1.At(0, 0))
	}
	owned := a.Floats()
	x2, _ := step()
	if a.Floats() != owned {
		t.Fatalf("second step grew the arena from %d to %d floats", owned, a.Floats())
	}
	if &x1.Data()[0] != &x2.Data()[0] && &y1.Data()[0] != &x2.Data()[0] {
		t.Fatal("second step did not reuse the first step's memory")
	}
	// Memory comes back zeroed.
	a.Reset()
	stop := a.Use()
	z := New(4, 5)
	stop()
	for _, v := range z.Data() {
		if v != 0 {
			t.Fatal("recycled tensor not zeroed")
		}
	}
	// Outside Use, and for clones and persistent tensors, memory is ordinary.
	if New(20).Data()[0] != 0 {
		t.Fatal("New outside the arena")
	}
	stop = a.Use()
	c := z.Clone()
	p := NewPersistent(4, 5)
	stop()
	before := a.Floats()
	a.Reset()
	stop = a.Use()
	w := Full(7, 4, 5)
	stop()
	if &w.Data()[0] == &c.Data()[0] || &w.Data()[0] == &p.Data()[0] || a.Floats() != before {
		t.Fatal("Clone or NewPersistent memory came from the arena")
	}
}

func TestArenaAllocsPerStep(t *testing.T) {
	a := NewArena()
	x := Full(1, 64, 64)
	run := func() {
		a.Reset()
		stop := a.Use()
		_ = Add(Mul(x, x), x)
		stop()
	}
	run()
	// Only the small Tensor headers (shape and stride slices) are allocated.
	if n := testing.AllocsPerRun(10, run); n > 12 {
		t.Fatalf("%v allocations per arena step", n)
	}
}

func TestArenaRelease(t *testing.T) {
	a := NewArena()
	stop := a.Use()
	x := Full(1, 4, 5)
	y := Full(2, 4, 5)
	stop()
	owned := a.Floats()

	// Foreign memory: ordinary, persistent, another arena's, nil, empty.
	other := NewArena()
	stop = other.Use()
	z := New(4, 5)
	stop()
	for name, f := range map[string]*Tensor{"ordinary": New(4, 5), "persistent": NewPersistent(4, 5), "other arena": z, "nil": nil, "empty": New(0, 3), "clone": x.Clone()} {
		if a.Release(f) {
			t.Errorf("released %s memory", name)
		}
	}
	if Release(x) {
		t.Error("package Release with no arena in use released")
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
	if !a.Release(v) {
		t.Fatal("release through a view failed")
	}
	if a.Release(x) || a.Release(v) {
		t.Fatal("double release succeeded")
	}

	// The released buffer is reused, zeroed by New, and the arena does not
	// grow; y is untouched.
	stop = a.Use()
	w := New(20)
	stop()
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
	stop = a.Use()
	p, q, r := New(4, 5), New(4, 5), New(4, 5)
	stop()
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
	stop := a.Use()
	x := Full(1, 8)
	stop()
	a.Release(x)
	for _, v := range x.Data() {
		if v == v {
			t.Fatal("released buffer not poisoned")
		}
	}
}

func TestArenaReleaseAllocs(t *testing.T) {
	a := NewArena()
	x := Full(1, 64, 64)
	step := func(release bool) func() {
		return func() {
			a.Reset()
			stop := a.Use()
			m := Mul(x, x)
			s := Add(m, x)
			if release {
				a.Release(m)
			}
			_ = Add(s, x) // reuses m's buffer when released
			stop()
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
