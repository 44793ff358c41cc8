package autograd

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// TestProgramRun records a small computation with a side effect and an
// opaque op and checks that every run computes what a fresh eager
// computation does: values, parameter gradients and the effect.
func TestProgramRun(t *testing.T) {
	rng := tensor.NewRNG(1)
	w := Param(tensor.Normal(rng, 0, 1, 3, 4))
	b := Param(tensor.Normal(rng, 0, 1, 3))
	count := 0
	scale := float32(1) // read by the opaque op on every call
	fn := func(x *Var) *Var {
		h := ReLU(Linear(x, w, b))
		Effect(x, func() { count++ })
		h = Opaque(h, func(v *Var) *Var { return Scale(v, scale) })
		return Sum(Mul(h, h))
	}
	leaf := func(v *Var) bool { return v == w || v == b }
	arena := tensor.NewArena()
	tape := &Tape{Arena: arena}
	x0 := tensor.Normal(rng, 0, 1, 2, 4)
	p, out, err := tape.Record(x0, fn, leaf)
	if err != nil {
		t.Fatal(err)
	}
	out.Backward()
	if count != 1 {
		t.Fatalf("the effect ran %d times while recording, want 1", count)
	}
	for run := range 3 {
		x := tensor.Normal(rng, 0, 1, 2, 4)
		scale = float32(run + 2)
		// Eager reference on fresh gradients.
		w.Grad, b.Grad = nil, nil
		want := fn(Const(x))
		want.Backward()
		wantW, wantB := w.Grad.Clone(), b.Grad.Clone()

		w.ZeroGrad()
		b.ZeroGrad()
		arena.Reset()
		before := count
		got := p.Run(x)
		if got != out {
			t.Fatalf("run %d: Run returned another Var", run)
		}
		if count != before+1 {
			t.Errorf("run %d: the effect ran %d times, want 1", run, count-before)
		}
		if g, w := got.Value.Item(), want.Value.Item(); g != w {
			t.Fatalf("run %d: value %v, eager %v", run, g, w)
		}
		got.Backward()
		if !slices.Equal(w.Grad.Data(), wantW.Data()) || !slices.Equal(b.Grad.Data(), wantB.Data()) {
			t.Fatalf("run %d: parameter gradients differ from eager ones", run)
		}
	}
	if p.Steps() < 5 {
		t.Errorf("%d steps recorded, want the ops and the effect", p.Steps())
	}
	if !p.Valid() {
		t.Error("Valid false with the parameters unchanged")
	}
	b.SetRequiresGrad(false)
	if p.Valid() {
		t.Error("Valid true after a parameter was frozen")
	}
	b.SetRequiresGrad(true)
	w.Value = w.Value.Clone()
	if p.Valid() {
		t.Error("Valid true after a parameter's tensor was replaced")
	}
}

// TestRecordRefuses checks that recording fails, naming the cause, on the
// computations a replay would get wrong, and still returns the eager
// result.
func TestRecordRefuses(t *testing.T) {
	rng := tensor.NewRNG(2)
	w := Param(tensor.Normal(rng, 0, 1, 4))
	leaf := func(v *Var) bool { return v == w }
	for _, c := range []struct {
		name, want string
		fn         func(x *Var) *Var
	}{
		{"constant", "neither the input", func(x *Var) *Var {
			// A value drawn in Go during the forward pass.
			return Mul(x, Const(tensor.Full(float32(math.Pi), 2, 4)))
		}},
		{"detached", "neither the input", func(x *Var) *Var { return Add(x, ReLU(x).Detach()) }},
		{"off-tape", "neither the input", func(x *Var) *Var { return Mul(x, Scale(w, 2)) }},
		{"loss", "a loss", func(x *Var) *Var { return CrossEntropy(Mul(x, w), []int{1, 2}, CrossEntropyOpts{}) }},
		{"identity", "not computed by a recorded op", func(x *Var) *Var { return x }},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := tensor.Normal(rng, 0, 1, 2, 4)
			p, out, err := (&Tape{}).Record(x, c.fn, leaf)
			if err == nil || !strings.Contains(err.Error(), c.want) || p != nil {
				t.Fatalf("Record: %v, program %v; want an error containing %q", err, p, c.want)
			}
			if out == nil || out.Value == nil {
				t.Fatal("no eager result")
			}
		})
	}
}

// TestRecordStatic checks that a program keeps a Static constant made
// during the forward pass, where it refuses the same made by Const.
func TestRecordStatic(t *testing.T) {
	m := tensor.Full(0.5, 4, 2)
	fn := func(x *Var) *Var { return MatMul(x, Static(m)) }
	p, _, err := (&Tape{}).Record(tensor.New(3, 4), fn, func(*Var) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.Normal(tensor.NewRNG(3), 0, 1, 3, 4)
	got, want := p.Run(x).Value.Data(), MatMul(Const(x), Const(m)).Value.Data()
	if !slices.Equal(got, want) {
		t.Fatalf("run %v, eager %v", got, want)
	}
}

// TestProgramRunShape checks that a program run on another input shape
// panics with a message naming both shapes.
func TestProgramRunShape(t *testing.T) {
	p, _, err := (&Tape{}).Record(tensor.New(2, 3), func(x *Var) *Var { return ReLU(x) }, func(*Var) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(error).Error(), "[2 3] run on [4 3]") {
			t.Fatalf("panic %v", r)
		}
	}()
	p.Run(tensor.New(4, 3))
}

// TestProgramRunRecycledInput checks that a program on an arena compares a
// new input with the shape it was recorded on, not with the arena header
// of the previous run's input, which the arena hands out again after a
// Reset (the stale shape made a Stepper refuse a valid batch once another
// tensor took that header).
func TestProgramRunRecycledInput(t *testing.T) {
	ar := tensor.NewArena()
	tape := &Tape{Arena: ar}
	p, _, err := tape.Record(tensor.New(4, 3), func(x *Var) *Var { return ReLU(x) }, func(*Var) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		ar.Reset()
		p.Run(tensor.New(4, 3))
		ar.Reset()
		for range 4 { // other tensors take the freed headers
			ar.New(3, 3, 2)
		}
	}
}
