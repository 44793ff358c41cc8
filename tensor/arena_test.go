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
