//go:build !amd64 || noasm || gccgo || safe

package kernels

// asmGemmKernels is empty: this build has no assembly micro-kernels.
func asmGemmKernels() []*gemmKernel { return nil }

func (k *gemmKernel) path() string { return k.name }
