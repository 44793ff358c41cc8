package autograd

import (
	"fmt"
	"slices"

	"github.com/fovea-ml/fovea/tensor"
)

// Program is a computation recorded once by [Tape.Record] and run again on
// new inputs of the same shape: the operations it performed, in order,
// each with the forward function that recomputes its result from its
// inputs' current values, and the gradient graph linking them. Running it
// creates no Var and no closure and decides nothing again: every op runs
// the kernels it chose when recorded, on memory from the tape's arena in
// the same order, and the backward closures recorded with the ops stay
// attached to their results, so a Backward from anything computed on the
// program's output runs through them as through a fresh computation (the
// backward pass keeps a program's links instead of dropping them).
//
// A program replays exactly the operations recorded: what decides them
// (the model's structure, its training mode, which parameters require a
// gradient, fusion choices made from shapes) must not change between runs;
// [Program.Valid] checks the parameters. Randomness drawn inside an op
// (dropout's mask) is drawn again on every run, and batch-norm running
// statistics are updated on every run, as in eager training.
//
// A program is run by one goroutine at a time, like its tape.
type Program struct {
	tape   *Tape
	input  *Var
	shape  []int // the recorded input's: input.Value's header is recycled by the arena
	output *Var
	steps  []programStep
	leaves []programLeaf
}

// programStep is one recorded op, its result and how to recompute it, or
// one side effect ([Effect]).
type programStep struct {
	out    *Var
	fwd    func() *tensor.Tensor
	effect func()
}

// programLeaf is a parameter an op read, as it was when recorded.
type programLeaf struct {
	v            *Var
	value        *tensor.Tensor
	requiresGrad bool
}

// recording is the state of a [Tape.Record] in progress.
type recording struct {
	known  map[*Var]bool // the input and every recorded result
	leaves map[*Var]bool // the parameters seen
	leafOK func(*Var) bool
	prog   *Program
	err    error
}

// add records op result out, computed by fwd from inputs.
func (r *recording) add(out *Var, fwd func() *tensor.Tensor, inputs []*Var) {
	for _, in := range inputs {
		switch {
		case in == nil || r.known[in] || in.static:
		case in.tape == nil && in.inputs == nil && r.leafOK(in):
			if !r.leaves[in] {
				r.leaves[in] = true
				r.prog.leaves = append(r.prog.leaves, programLeaf{v: in, value: in.Value, requiresGrad: in.requiresGrad})
			}
		default:
			if r.err == nil {
				r.err = fmt.Errorf("autograd: recording: op %d reads a value of shape %v that is neither the input, the result of a recorded op nor a parameter (a constant or a detached or off-tape result made during the forward pass, which a replay would not recompute)",
					len(r.prog.steps), in.Value.Shape())
			}
		}
	}
	r.known[out] = true
	r.prog.steps = append(r.prog.steps, programStep{out: out, fwd: fwd})
}

// Record runs fn on x, put on tape t as by [Tape.Const], and records the
// operations it performs as a [Program] that [Program.Run] performs again
// on new inputs. It returns the program and fn's result, which is an
// ordinary result of this computation (a Backward from it works as usual).
//
// leaf reports the Vars off the tape that ops may read: the parameters (of
// which the program remembers the tensors and gradient flags, see
// [Program.Valid]). Recording fails, with the computation still done and
// its result returned, when an op reads any other Var that the program
// could not recompute (a constant made during the forward pass other
// than by [Static], a detached value, a result computed from parameters
// alone), or when the
// result is not the result of a recorded op: the caller then goes on
// eagerly.
func (t *Tape) Record(x *tensor.Tensor, fn func(*Var) *Var, leaf func(*Var) bool) (*Program, *Var, error) {
	if t.rec != nil {
		panic(tensor.ShapeErrorf("autograd: Record on a tape already recording"))
	}
	p := &Program{tape: t}
	r := &recording{known: map[*Var]bool{}, leaves: map[*Var]bool{}, leafOK: leaf, prog: p}
	t.rec = r
	defer func() { t.rec = nil }()
	p.input, p.shape = t.Const(x), slices.Clone(x.Shape())
	r.known[p.input] = true
	out := fn(p.input)
	switch {
	case r.err != nil:
		return nil, out, r.err
	case out == p.input || !r.known[out]:
		return nil, out, fmt.Errorf("autograd: recording: the result was not computed by a recorded op")
	}
	p.output = out
	for _, s := range p.steps {
		if s.out != nil {
			s.out.retained = true
		}
	}
	return p, out, nil
}

// Valid reports whether p may run: every parameter it reads still holds
// the tensor it held when recorded, with the same gradient flag (a frozen
// or unfrozen layer changes which gradients the recorded graph computes).
func (p *Program) Valid() bool {
	for _, l := range p.leaves {
		if l.v.Value != l.value || l.v.requiresGrad != l.requiresGrad {
			return false
		}
	}
	return true
}

// Steps is the number of ops (and side effects) p runs.
func (p *Program) Steps() int { return len(p.steps) }

// Effect runs fn, a side effect of the computation on x's tape that is not
// an op (a layer counting its batches), now and, when the tape is
// recording a [Program], again at this point of every run.
func Effect(x *Var, fn func()) {
	fn()
	if t := x.tape; t != nil && t.rec != nil {
		t.rec.prog.steps = append(t.rec.prog.steps, programStep{effect: fn})
	}
}

// Run performs p's ops on x, which must have the recorded input's shape,
// and returns the result: the same Var on every run, with a new value and
// its gradient links in place. x takes the tape's arena as [Tape.Const]
// does; reset the arena between runs, as between eager steps.
func (p *Program) Run(x *tensor.Tensor) *Var {
	if !slices.Equal(x.Shape(), p.shape) {
		panic(tensor.ShapeErrorf("autograd: Program recorded on input %v run on %v", p.shape, x.Shape()))
	}
	if p.tape.Arena != nil {
		x = p.tape.Arena.View(x) // the step's input: valid until the next Reset
	}
	p.input.Value = x
	for _, s := range p.steps {
		if s.effect != nil {
			s.effect()
			continue
		}
		s.out.Value = s.fwd()
		s.out.Grad, s.out.gradOwned = nil, false
	}
	return p.output
}

// Opaque runs fn on x as a single op: fn's own operations are not
// recorded by a [Program], which calls fn again, eagerly, on every run,
// and its backward pass runs the gradient graph fn built. It is how a
// layer that a program cannot replay (one whose Forward decides from
// data, time or randomness of its own) runs inside a recorded computation
// ([Tape.Opaque]). fn runs on a leaf holding x's value, on a tape like
// x's that records nothing.
func Opaque(x *Var, fn func(*Var) *Var) *Var {
	var in, out *Var
	backward := func(g *tensor.Tensor) {
		if out == in {
			x.addGrad(g)
			return
		}
		if !out.requiresGrad {
			return
		}
		out.BackwardWithOptions(g, BackwardOptions{})
		if in.Grad != nil {
			x.addOwnedGrad(in.Grad) // the leaf's own copy
			in.Grad = nil
		}
	}
	res := record(func() *tensor.Tensor {
		sub := &Tape{}
		if x.tape != nil {
			*sub = *x.tape
			sub.rec, sub.Opaque = nil, nil
		}
		in = &Var{Value: x.Value, tape: sub, requiresGrad: x.requiresGrad && !sub.NoGrad}
		out = fn(in)
		return out.Value
	}, backward, x)
	if !res.requiresGrad && out.requiresGrad {
		// x needs no gradient but parameters inside fn do: only the
		// backward closure reaches them.
		res.requiresGrad, res.inputs, res.backward = true, []*Var{x}, backward
	}
	return res
}

// recordOnce is record for an op whose forward computation cannot run
// again (a loss, which reads labels and targets given as Go values): a
// [Program] recording it fails instead of replaying a stale value.
func recordOnce(value *tensor.Tensor, backward func(g *tensor.Tensor), inputs ...*Var) *Var {
	if t := tapeOf(inputs); t != nil && t.rec != nil && t.rec.err == nil {
		t.rec.err = fmt.Errorf("autograd: recording: op %d is a loss, which a program cannot replay (its labels are not an input)", len(t.rec.prog.steps))
	}
	return record(func() *tensor.Tensor { return value }, backward, inputs...)
}
