//go:build !noasm && !gccgo && !safe

package kernels

import "golang.org/x/sys/cpu"

// detectISA returns the best path this CPU (and OS) supports. It is the one
// place that reads the CPU's features: every kernel chooses through
// isaBest, which $FOVEA_CPU may lower.
func detectISA() isa {
	x := cpu.X86
	switch {
	case x.HasAVX512F && x.HasAVX512DQ && x.HasAVX2 && x.HasFMA:
		return isaAVX512
	case x.HasAVX2 && x.HasFMA:
		return isaAVX2
	}
	return isaGeneric
}
