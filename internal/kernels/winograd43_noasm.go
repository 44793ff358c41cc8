//go:build !amd64 || noasm || gccgo || safe

package kernels

// Without assembly Winograd43 runs its Go transforms.

const winoTmp = 0

type winoAsm struct{ inS, outS int }

func newWinoAsm(*Winograd43) *winoAsm { return nil }

func (*winoAsm) input(x, v []float32, w, h, vs int, tmp []float32) {
	panic("kernels: Winograd43: no assembly transforms")
}

func (*winoAsm) output(m, y, add []float32, ms, outW int, relu bool, tmp []float32) {
	panic("kernels: Winograd43: no assembly transforms")
}
