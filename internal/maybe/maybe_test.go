package maybe

import (
	"errors"
	"testing"
)

type expected struct{ msg string }

func (e *expected) Error() string  { return e.msg }
func (e *expected) ExpectedPanic() {}

func TestDo(t *testing.T) {
	if err := Do(func() {}); err != nil {
		t.Errorf("no panic: %v", err)
	}
	want := &expected{"pkg: bad shape"}
	err := Do(func() { panic(want) })
	var e *expected
	if !errors.As(err, &e) || e != want {
		t.Errorf("expected panic: %v", err)
	}
	v, err := Value(func() int { return 7 })
	if v != 7 || err != nil {
		t.Errorf("Value: %d, %v", v, err)
	}
	if v, err = Value(func() int { panic(want) }); v != 0 || err != want {
		t.Errorf("Value of a panic: %d, %v", v, err)
	}
	for _, p := range []any{"a string", errors.New("a plain error"), 42} {
		func() {
			defer func() {
				if r := recover(); r != p {
					t.Errorf("panic %v: recovered %v, want it to go on", p, r)
				}
			}()
			Do(func() { panic(p) })
			t.Errorf("panic %v was swallowed", p)
		}()
	}
}
