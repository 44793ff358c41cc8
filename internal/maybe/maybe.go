// Package maybe turns the panics that Fovea's packages raise on input they
// cannot take into errors, as gonum's mat.Maybe does for mat.Error.
//
// Packages panic on programmer errors, following the Go convention:
// package tensor with a [tensor.ShapeError] on shapes an operation cannot
// take, package onnx with an onnx.Error when an imported graph meets a
// shape its operators cannot take. For a Go caller these are bugs. For a
// command or a server running a model or file it was given, they are bad
// input and deserve a one-line error: such callers wrap the work in [Do]
// or [Value]. Both recover only panics whose value is an [Expected] error;
// any other panic is a bug and goes on with its stack trace.
package maybe

// Expected is an error that a package panics with for input its
// operations cannot take, which a caller may recover as an error. The
// ExpectedPanic method only marks the type.
type Expected interface {
	error
	ExpectedPanic()
}

// Do runs fn and returns the Expected error it panicked with, or nil. Any
// other panic goes on.
func Do(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(Expected)
			if !ok {
				panic(r)
			}
			err = e
		}
	}()
	fn()
	return nil
}

// Value is [Do] for a function with a result: the result, or the zero
// value and the Expected error fn panicked with.
func Value[T any](fn func() T) (v T, err error) {
	err = Do(func() { v = fn() })
	return v, err
}
