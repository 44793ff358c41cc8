//go:build !amd64 || noasm || gccgo || safe

package kernels

// Without assembly the 2×2 max pool is its reference loop.

func maxPool2x2(g PoolGeom, x, out []float32, arg []int32) { maxPool2x2Generic(g, x, out, arg) }
