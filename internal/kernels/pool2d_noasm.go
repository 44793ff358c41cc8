//go:build !amd64 || noasm || gccgo || safe

package kernels

// Without assembly the 2×2 max pools are their reference loops.

func maxPool2x2(g PoolGeom, x, out []float32, arg []int32) { maxPool2x2Generic(g, x, out, arg) }

func affineReLUMaxPool2x2(g PoolGeom, a, b float32, x, out []float32, arg []int32) {
	affineReLUMaxPool2x2Generic(g, a, b, x, out, arg)
}

func unpool2x2Masked(PoolGeom, []float32, []float32, []int32, []float32) bool { return false }
