package train

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// The compiled training step.
//
// The first step of each input shape runs the model's forward pass on a
// recording tape; the program it records ([autograd.Program]) is what the
// following steps of that shape run: the same ops, with the same kernel
// and fusion choices, on memory from the step's arena in the same order,
// and the same backward closures, kept attached to their results. The
// loss's gradient seeds the backward pass directly (autograd's
// CrossEntropyGrad), so a step builds no graph at all and allocates about
// nothing (TestCompiledStepAllocs). The results are those of eager steps
// bit for bit (TestCompiledSteps).
//
// What a program replays must not depend on anything but the input's
// shape, so the step records only layers it knows to behave that way:
// Fovea's own (packages nn and models, except nn.Func). Any other layer
// inside a container runs as one opaque op ([autograd.Opaque]): its
// Forward is called again, eagerly, on every step, inside the compiled
// one. A model whose root layer is unknown, or whose recording fails (an
// op reading a constant made during the forward pass, see
// [autograd.Tape.Record]), trains eagerly; [Stepper.Compiled] says which
// and why. A program is recorded again when a parameter it reads is
// replaced or frozen or unfrozen ([autograd.Program.Valid]) or a layer's
// Training flag changes; after other changes to the model's structure,
// [Stepper.Forget] drops the programs.

// compiled holds a Stepper's programs, one per input shape.
type compiled struct {
	programs map[shapeKey]*program
	eager    map[shapeKey]string // shapes that train eagerly, and why
	leaves   map[*autograd.Var]bool
}

// program is a recorded forward pass and the training-mode flags of the
// model's layers when it was recorded.
type program struct {
	*autograd.Program
	modes []*bool
	want  []bool
}

// valid reports whether p may run: its parameters are as recorded
// ([autograd.Program.Valid]) and so is every layer's mode.
func (p *program) valid() bool {
	for i, m := range p.modes {
		if *m != p.want[i] {
			return false
		}
	}
	return p.Valid()
}

// shapeKey identifies an input shape of up to 6 dimensions.
type shapeKey struct {
	dims [6]int
	n    int
}

// keyOf returns x's shape key; ok is false for more than 6 dimensions.
func keyOf(x *tensor.Tensor) (k shapeKey, ok bool) {
	if x.Dims() > len(k.dims) {
		return k, false
	}
	k.n = copy(k.dims[:], x.Shape())
	return k, true
}

// forward runs the model on x, on the step's arena, compiled unless
// s.NoCompile.
func (s *Stepper) forward(x *tensor.Tensor) *autograd.Var {
	key, ok := keyOf(x)
	c := &s.compiled
	if p := c.programs[key]; p != nil && ok && !s.NoCompile {
		if p.valid() {
			return p.Run(x)
		}
		delete(c.programs, key)
	}
	tape := &autograd.Tape{Arena: s.arena}
	if s.NoCompile || !ok {
		return s.Model.Forward(tape.Const(x))
	}
	if _, ok := c.eager[key]; ok {
		return s.Model.Forward(tape.Const(x))
	}
	if c.programs == nil {
		c.programs, c.eager = map[shapeKey]*program{}, map[shapeKey]string{}
	}
	if err := checkReplayable("", s.Model); err != nil {
		c.eager[key] = err.Error()
		return s.Model.Forward(tape.Const(x))
	}
	c.leaves = map[*autograd.Var]bool{}
	for _, p := range nn.ParamVars(s.Model) {
		c.leaves[p] = true
	}
	tape.Opaque = func(l any) bool { return !replayable(l) }
	p, out, err := tape.Record(x, s.Model.Forward, func(v *autograd.Var) bool { return c.leaves[v] })
	tape.Opaque = nil
	if err != nil {
		c.eager[key] = err.Error()
		return out
	}
	prog := &program{Program: p}
	nn.Walk(s.Model, func(_ string, l nn.Layer) {
		if m := modeFlag(l); m != nil {
			prog.modes, prog.want = append(prog.modes, m), append(prog.want, *m)
		}
	})
	if len(c.programs) >= maxPrograms {
		for k := range c.programs { // forget one: it is recorded again if needed
			delete(c.programs, k)
			break
		}
	}
	c.programs[key] = prog
	return out
}

// maxPrograms bounds the programs a Stepper keeps (each holds its graph):
// a loop feeding ever new batch sizes records without end but keeps few.
const maxPrograms = 8

// modeFlag returns the address of l's exported Training field (the mode of
// nn.BatchNorm, nn.Dropout), or nil.
func modeFlag(l nn.Layer) *bool {
	v := reflect.ValueOf(l)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("Training")
	if !f.IsValid() || f.Kind() != reflect.Bool || !f.CanAddr() {
		return nil
	}
	m, _ := f.Addr().Interface().(*bool)
	return m
}

// checkReplayable reports a layer under l, at path, that a program would
// replay without knowing it: l itself, or any unknown layer that its
// parent calls directly rather than through the containers' child hook
// (nn.Sequential, nn.Residual and nn.Concat run each child through it,
// which makes unknown ones opaque ops). An unknown layer's own children
// are its business.
func checkReplayable(path string, l nn.Layer) error {
	if !replayable(l) {
		return fmt.Errorf("the model's layer %q is of type %T, which the compiler does not know and its parent does not run as a child", path, l)
	}
	p, ok := l.(nn.Parent)
	if !ok {
		return nil
	}
	var container bool
	switch l.(type) {
	case *nn.Sequential, *nn.Residual, *nn.Concat:
		container = true
	}
	for _, ch := range p.Children() {
		if ch.Value == nil {
			continue
		}
		sub := ch.Name
		if path != "" {
			sub = path + "." + ch.Name
		}
		if container && !replayable(ch.Value) {
			continue // an opaque op
		}
		if err := checkReplayable(sub, ch.Value); err != nil {
			return err
		}
	}
	return nil
}

// Forget drops the recorded programs, so that the next step of each input
// shape records the forward pass again. A program replays the model as it
// was recorded, and checks only its parameters and layers' modes: call
// Forget after changing the model's structure (adding, removing or
// replacing layers) between steps.
func (s *Stepper) Forget() { s.compiled = compiled{} }

// Compiled describes how the steps so far ran: "compiled" with the
// recorded programs' shapes and op counts, or "eager" and why, per input
// shape; "eager (NoCompile)" when compiling is off.
func (s *Stepper) Compiled() string {
	if s.NoCompile {
		return "eager (NoCompile)"
	}
	var parts []string
	for k, p := range s.compiled.programs {
		parts = append(parts, fmt.Sprintf("compiled: input %v, %d ops", k.dims[:k.n], p.Steps()))
	}
	for k, why := range s.compiled.eager {
		parts = append(parts, fmt.Sprintf("eager: input %v: %s", k.dims[:k.n], why))
	}
	if len(parts) == 0 {
		return "no step yet"
	}
	return strings.Join(parts, "; ")
}

// Packages whose layers a program may replay.
var (
	nnPkg     = reflect.TypeFor[nn.Sequential]().PkgPath()
	modelsPkg = strings.TrimSuffix(nnPkg, "/nn") + "/models"
	funcType  = reflect.TypeFor[nn.Func]()
)

// replayable reports whether l is a layer of Fovea's own, whose Forward
// performs the same operations on every call with an input of the same
// shape (in the same mode, with the same parameters frozen), so that a
// program may record them once.
func replayable(l any) bool {
	t := reflect.TypeOf(l)
	if t == nil {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == funcType {
		return false
	}
	return t.PkgPath() == nnPkg || t.PkgPath() == modelsPkg
}
