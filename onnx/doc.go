// Package onnx converts between Fovea models and ONNX files (the protobuf
// types are in package onnxpb, generated from onnx.proto).
//
// # Export
//
// [Export] traces a model with package graph, on an input of a given shape
// in evaluation mode, and maps every traced operation to ONNX operators of
// the default domain: conv2d → Conv, batchnorm → BatchNormalization
// (inference form, running statistics as initializers), linear → Gemm
// (transB=1), relu6 → Clip, silu → Sigmoid·Mul, gelu → Gelu from opset 20
// and the erf formula below it, dropout → nothing (the identity in
// inference), and so on; docs/onnx.md has the full table. Parameters and
// buffers become initializers named by their state-dict names, so the
// weights of an exported file line up with a Fovea or PyTorch checkpoint by
// name. The graph input is "input" (N, C, H, W) and the output "output";
// with [ExportOptions].DynamicBatch the batch dimension is the symbolic
// "batch". [WriteFile] writes the model atomically.
//
// Export writes opsets 13 to 21 (17 by default) with IR version 8, which
// ONNX Runtime 1.10 and later read. Its tests run every zoo model through
// ONNX Runtime (onnxruntime-node, see tools/ort) and compare the outputs
// with Fovea's own.
//
// # Errors
//
// Export returns an error, never panics, for a model that fails to trace on
// the given shape, for an unsupported opset, and for an operation without a
// mapping (naming the operation and its node index). Import ([Load],
// [FromProto]) returns an error for anything wrong in the file. An imported
// [Model] panics with an [*Error] when it runs on input its graph cannot
// take (an input shape it does not declare, a node whose operator meets a
// shape it cannot handle), naming the node; callers running files they
// were given recover it as an error with internal/maybe, as fovea's
// commands and server do.
package onnx

import "fmt"

// Error is what an imported [Model] panics with when its graph cannot run
// on its input: the model's name, the node at fault (its index, name and
// operator) and why. Cause, if not nil, is the panic that stopped the node
// (a *tensor.ShapeError, say).
type Error struct {
	Msg   string
	Cause error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// ExpectedPanic marks Error as a panic for bad input (see internal/maybe).
func (e *Error) ExpectedPanic() {}

// errorf panics with an *Error whose message starts "onnx: ".
func errorf(format string, args ...any) {
	panic(&Error{Msg: "onnx: " + fmt.Sprintf(format, args...)})
}
