package nn

import (
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/tensor"
)

func TestDropoutRandomState(t *testing.T) {
	mask := func(l *Dropout) []float32 {
		return l.Forward(autograd.Const(tensor.Full(1, 64))).Value.Data()
	}
	a := NewDropout(0.5, 7)
	mask(a)
	st, err := a.RandomState()
	if err != nil {
		t.Fatal(err)
	}
	want := mask(a)
	b := NewDropout(0.5, 99)
	if err := b.SetRandomState(st); err != nil {
		t.Fatal(err)
	}
	if got := mask(b); !slices.Equal(got, want) {
		t.Error("a restored generator draws other masks")
	}
	if err := b.SetRandomState([]byte("junk")); err == nil {
		t.Error("a bad state was accepted")
	}
	var _ RandomStateOwner = a
}
