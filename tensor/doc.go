// Package tensor holds Fovea's concrete n-dimensional float32 array and the
// forward operations on it. It knows nothing of gradients: package autograd
// records these operations and supplies their derivatives.
//
// Layout is row-major; image batches are NCHW (batch, channels, height,
// width), as in PyTorch and ONNX. A Tensor is a shape, strides and a flat
// []float32 slice. Reshape of a contiguous tensor, Slice along the first
// axis, and Permute/Transpose return views sharing that slice; operations
// that need contiguous data call [Tensor.Contiguous] themselves.
//
// # Error handling
//
// Shape mismatches and other programmer errors panic with a [*ShapeError]
// whose message starts with "tensor: " and names the shapes involved, as
// gonum and GoMLX do: such an error is a bug in the calling code, not a
// condition to handle. (Packages autograd, nn, models and engine panic with
// the same type; a command or server running a model it was given recovers
// it as an error with internal/maybe, as gonum's mat.Maybe does.) Nothing
// in this package reads outside bytes.
//
// # Parallelism
//
// Heavy operations (matmul, convolution, pooling, large elementwise loops)
// run on the worker pool of internal/kernels, sized by [SetThreads].
package tensor

import "github.com/fovea-ml/fovea/internal/kernels"

// SetThreads sets how many goroutines tensor operations use (GOMAXPROCS by
// default).
func SetThreads(n int) { kernels.SetThreads(n) }

// Threads reports how many goroutines tensor operations use.
func Threads() int { return kernels.Threads() }
