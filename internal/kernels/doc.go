// Package kernels holds the numeric inner loops of Fovea: they see only flat
// float32 slices, leading dimensions and sizes, never tensors. The row
// softmax kernels (softmax.go) are generic so that package metrics can run
// the same code in float64.
//
// Every kernel has a plain-Go reference loop. The faster variants (Go
// assembly generated from _asm, blocked layouts) keep that loop as their
// fallback and are tested against it; the noasm build tag builds only the
// loops.
//
// # Instruction-set paths
//
// The kernels with assembly (the GEMM micro-kernels, the vector kernels of
// vec.go and vec_planes.go, the training max pool's 2×2 stride-2 window and
// Winograd F(4×4, 3×3)'s input and output transforms) run one path, chosen
// once at start-up: "avx512" (AVX-512 F and DQ), "avx2" (AVX2 and FMA) or
// "generic" (the Go loops), the best the CPU supports. The environment
// variable FOVEA_CPU ([CPUEnv]) lowers it for a
// whole run, for instance FOVEA_CPU=avx2 to run an AVX2-only CPU's code on
// an AVX-512 one; asking for a path the CPU lacks, or a name it does not
// know, prints a warning and runs the best supported path. [Path] reports
// the path in use, and [UsePath] switches between [Paths] inside one
// process (tests and benchmarks).
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
