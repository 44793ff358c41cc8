//go:build !amd64 || noasm || gccgo || safe

package kernels

// Without assembly every planes kernel of vec_planes.go is its reference
// loop.

func sum64Planes(n, s int, x []float32, xStride int) float64 {
	return sum64PlanesGeneric(n, s, x, xStride)
}

func sqDevSum64Planes(n, s int, x []float32, xStride int, mu float64) float64 {
	return sqDevSum64PlanesGeneric(n, s, x, xStride, mu)
}

func dotDev64Planes(n, s int, g []float32, gStride int, x []float32, xStride int, mu float64) float64 {
	return dotDev64PlanesGeneric(n, s, g, gStride, x, xStride, mu)
}

func affinePlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int) {
	affinePlanesGeneric(n, s, dst, dstStride, a, b, x, xStride)
}

func affineReLUPlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int) {
	affineReLUPlanesGeneric(n, s, dst, dstStride, a, b, x, xStride)
}

func axpbyDevPlanes(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, b float32, y []float32, yStride int, mu, c float32) {
	axpbyDevPlanesGeneric(n, s, dst, dstStride, a, x, xStride, b, y, yStride, mu, c)
}

func reluBackwardPlanes(n, s int, dx []float32, dxStride int, g []float32, gStride int, x []float32, xStride int) {
	reluBackwardPlanesGeneric(n, s, dx, dxStride, g, gStride, x, xStride)
}
