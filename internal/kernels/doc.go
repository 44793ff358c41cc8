// Package kernels holds the numeric inner loops of Fovea: they see only flat
// float32 slices, leading dimensions and sizes, never tensors.
//
// Every kernel here is the plain-Go reference implementation. Faster variants
// (assembly, blocked layouts) added later must keep these loops as their
// fallback and be tested against them.
//
// # Error handling
//
// Kernels are called by package tensor after it has checked shapes; a kernel
// given slices that are too short panics with a "kernels: ..." message.
//
// # Parallelism
//
// Work is spread over one process-wide worker pool sized to GOMAXPROCS (see
// [For] and [SetThreads]); no kernel starts a goroutine per element.
package kernels
