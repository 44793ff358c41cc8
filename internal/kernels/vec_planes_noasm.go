//go:build !amd64 || noasm || gccgo || safe

package kernels

// Without assembly every planes kernel of vec_planes.go is its reference
// loop.

func devSums64Planes(n, s int, x []float32, xStride int, mu float64) (dev, sqDev float64) {
	return devSums64PlanesGeneric(n, s, x, xStride, mu)
}

func sumDotDev64Planes(n, s int, g []float32, gStride int, x []float32, xStride int, mu float64) (sum, dot float64) {
	return sumDotDev64PlanesGeneric(n, s, g, gStride, x, xStride, mu)
}

func sumDotDev64ReLUPlanes(n, s int, g []float32, gStride int, r []float32, rStride int, x []float32, xStride int, mu float64) (sum, dot float64) {
	return sumDotDev64ReLUPlanesGeneric(n, s, g, gStride, r, rStride, x, xStride, mu)
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

func axpbyDevReLUPlanes(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, r []float32, rStride int, b float32, y []float32, yStride int, mu, c float32) {
	axpbyDevReLUPlanesGeneric(n, s, dst, dstStride, a, x, xStride, r, rStride, b, y, yStride, mu, c)
}

func affineAddReLUPlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int, y []float32, yStride int) {
	affineAddReLUPlanesGeneric(n, s, dst, dstStride, a, b, x, xStride, y, yStride)
}
