//go:build !amd64 || noasm || gccgo || safe

package kernels

// asmGemmKernels is empty: this build has no assembly micro-kernels.
func asmGemmKernels() []*gemmKernel { return nil }

// asmDotKernels is empty: this build has no assembly dot kernels.
func asmDotKernels() []*dotKernel { return nil }

func (k *dotKernel) path() string { return k.name }

func (k *gemmKernel) path() string { return k.name }
