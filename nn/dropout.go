package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

// Dropout zeroes elements with probability P in training and scales the rest
// by 1/(1−P); in evaluation it is the identity. It has no parameters.
//
//	x (any shape) → same shape
type Dropout struct {
	P        float32
	Training bool
	src      *rand.PCG // the generator's state, saved by training checkpoints
	rng      *rand.Rand
}

// NewDropout returns a dropout layer in training mode whose masks are drawn
// from a generator seeded with seed (the generator of [tensor.NewRNG]).
func NewDropout(p float32, seed uint64) *Dropout {
	if !(p >= 0 && p <= 1) {
		panic(tensor.ShapeErrorf("nn: Dropout probability %v outside [0, 1]", p))
	}
	l := &Dropout{P: p, Training: true}
	l.seed(seed)
	return l
}

func (l *Dropout) seed(seed uint64) {
	l.src = tensor.NewPCG(seed)
	l.rng = rand.New(l.src)
}

// RandomState returns the state of the mask generator; it implements
// [RandomStateOwner].
func (l *Dropout) RandomState() ([]byte, error) {
	if l.src == nil {
		l.seed(0)
	}
	return l.src.MarshalBinary()
}

// SetRandomState restores a state returned by RandomState.
func (l *Dropout) SetRandomState(b []byte) error {
	if l.src == nil {
		l.seed(0)
	}
	if err := l.src.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("nn: dropout generator state: %w", err)
	}
	return nil
}

// Forward drops elements of x in training mode and returns x unchanged in
// evaluation mode.
func (l *Dropout) Forward(x *autograd.Var) *autograd.Var {
	if !l.Training || l.P == 0 {
		return x
	}
	if l.rng == nil { // a zero-value Dropout{P: p, Training: true}
		l.seed(0)
	}
	return autograd.Dropout(x, l.P, l.rng)
}

// SetTraining switches between dropping (true) and the identity (false).
func (l *Dropout) SetTraining(on bool) { l.Training = on }
