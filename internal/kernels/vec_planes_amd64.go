//go:build !noasm && !gccgo && !safe

package kernels

// The planes kernels on the current vector path: the assembly of
// vec_amd64.s (generated, see _asm/vec/planes.go) handles whole planes,
// each plane's partial last vector masked by the tail argument.

// tailMasks holds 8 all-ones dwords and then 8 zeros: tailMasks[8-k:]
// starts with k all-ones dwords, the AVX2 mask of a k-lane partial vector.
var tailMasks = [16]int32{-1, -1, -1, -1, -1, -1, -1, -1}

// tailAVX2 is the VMASKMOVPS mask of the first k of 8 (or 4) lanes.
func tailAVX2(k int) []int32 { return tailMasks[8-k : 16-k] }

// tailAVX512 is the k-register mask of the first k lanes.
func tailAVX512(k int) uint16 { return uint16(1)<<k - 1 }

func devSums64Planes(n, s int, x []float32, xStride int, mu float64) (dev, sqDev float64) {
	switch vecUse {
	case isaAVX512:
		return devSums64PlanesAVX512(n, s, x, xStride, mu, tailAVX512(s%8))
	case isaAVX2:
		return devSums64PlanesAVX2(n, s, x, xStride, mu, tailAVX2(s%4))
	}
	return devSums64PlanesGeneric(n, s, x, xStride, mu)
}

func sumDotDev64Planes(n, s int, g []float32, gStride int, x []float32, xStride int, mu float64) (sum, dot float64) {
	switch vecUse {
	case isaAVX512:
		return sumDotDev64PlanesAVX512(n, s, g, gStride, x, xStride, mu, tailAVX512(s%8))
	case isaAVX2:
		return sumDotDev64PlanesAVX2(n, s, g, gStride, x, xStride, mu, tailAVX2(s%4))
	}
	return sumDotDev64PlanesGeneric(n, s, g, gStride, x, xStride, mu)
}

func sumDotDev64ReLUPlanes(n, s int, g []float32, gStride int, r []float32, rStride int, x []float32, xStride int, mu float64) (sum, dot float64) {
	switch vecUse {
	case isaAVX512:
		return sumDotDev64ReLUPlanesAVX512(n, s, g, gStride, r, rStride, x, xStride, mu, tailAVX512(s%8))
	case isaAVX2:
		return sumDotDev64ReLUPlanesAVX2(n, s, g, gStride, r, rStride, x, xStride, mu, tailAVX2(s%4))
	}
	return sumDotDev64ReLUPlanesGeneric(n, s, g, gStride, r, rStride, x, xStride, mu)
}

func affinePlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int) {
	switch vecUse {
	case isaAVX512:
		affinePlanesAVX512(n, s, dst, dstStride, a, b, x, xStride, tailAVX512(s%16))
	case isaAVX2:
		affinePlanesAVX2(n, s, dst, dstStride, a, b, x, xStride, tailAVX2(s%8))
	default:
		affinePlanesGeneric(n, s, dst, dstStride, a, b, x, xStride)
	}
}

func affineReLUPlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int) {
	switch vecUse {
	case isaAVX512:
		affineReLUPlanesAVX512(n, s, dst, dstStride, a, b, x, xStride, tailAVX512(s%16))
	case isaAVX2:
		affineReLUPlanesAVX2(n, s, dst, dstStride, a, b, x, xStride, tailAVX2(s%8))
	default:
		affineReLUPlanesGeneric(n, s, dst, dstStride, a, b, x, xStride)
	}
}

func affineAddReLUPlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int, y []float32, yStride int) {
	switch vecUse {
	case isaAVX512:
		affineAddReLUPlanesAVX512(n, s, dst, dstStride, a, b, x, xStride, y, yStride, tailAVX512(s%16))
	case isaAVX2:
		affineAddReLUPlanesAVX2(n, s, dst, dstStride, a, b, x, xStride, y, yStride, tailAVX2(s%8))
	default:
		affineAddReLUPlanesGeneric(n, s, dst, dstStride, a, b, x, xStride, y, yStride)
	}
}

func axpbyDevPlanes(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, b float32, y []float32, yStride int, mu, c float32) {
	switch vecUse {
	case isaAVX512:
		axpbyDevPlanesAVX512(n, s, dst, dstStride, a, x, xStride, b, y, yStride, mu, c, tailAVX512(s%16))
	case isaAVX2:
		axpbyDevPlanesAVX2(n, s, dst, dstStride, a, x, xStride, b, y, yStride, mu, c, tailAVX2(s%8))
	default:
		axpbyDevPlanesGeneric(n, s, dst, dstStride, a, x, xStride, b, y, yStride, mu, c)
	}
}

func axpbyDevReLUPlanes(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, r []float32, rStride int, b float32, y []float32, yStride int, mu, c float32) {
	switch vecUse {
	case isaAVX512:
		axpbyDevReLUPlanesAVX512(n, s, dst, dstStride, a, x, xStride, r, rStride, b, y, yStride, mu, c, tailAVX512(s%16))
	case isaAVX2:
		axpbyDevReLUPlanesAVX2(n, s, dst, dstStride, a, x, xStride, r, rStride, b, y, yStride, mu, c, tailAVX2(s%8))
	default:
		axpbyDevReLUPlanesGeneric(n, s, dst, dstStride, a, x, xStride, r, rStride, b, y, yStride, mu, c)
	}
}
