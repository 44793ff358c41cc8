//go:build !amd64 || noasm || gccgo || safe

package kernels

// detectISA returns generic: this build has no assembly kernels.
func detectISA() isa { return isaGeneric }
