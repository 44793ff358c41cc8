package kernels

// Planes kernels: the batch-normalization kernels of vec.go over the n
// planes of one channel in a single call. A plane is s consecutive floats;
// plane i of a slice v starts at v[i·vStride], so the planes of channel ch
// of an (N, C, S) tensor t are t[ch·S:] with stride C·S, and a dense
// (N, S) buffer is its slice with stride S. Every stride is at least s
// (planes do not overlap) and each slice must hold (n−1)·stride + s floats.
// Outputs may be the same planes as an input (same slice and stride);
// other overlaps are not allowed.
//
// The vector paths (vec_planes_amd64.go) run each plane's whole vectors and
// then its partial last vector masked, all in one assembly call, so the
// Go call, the dispatch and the scalar tail of the per-plane kernels are
// paid once per channel instead of once per plane; the reference loops
// below are the plain-Go paths. Precision is that of the per-plane kernels
// (see vec.go), the fused multiply-adds now covering each plane's tail as
// well. The reductions accumulate across planes in the same float64 lanes,
// so their result depends on n and s but not on the strides: the same
// values laid out with different strides give the same bits.

// Sum64Planes returns Σ x over n planes of s floats, accumulated in
// float64. It is
//
//	var sum float64
//	for i := range n {
//		for _, v := range x[i*xStride : i*xStride+s] {
//			sum += float64(v)
//		}
//	}
//	return sum
func Sum64Planes(n, s int, x []float32, xStride int) float64 {
	if !checkPlanes("Sum64Planes", n, s, len(x), xStride) {
		return 0
	}
	return sum64Planes(n, s, x, xStride)
}

// SqDevSum64Planes returns Σ (x − mu)² over n planes of s floats,
// accumulated in float64. It is
//
//	var sum float64
//	for i := range n {
//		for _, v := range x[i*xStride : i*xStride+s] {
//			d := float64(v) - mu
//			sum += d * d
//		}
//	}
//	return sum
func SqDevSum64Planes(n, s int, x []float32, xStride int, mu float64) float64 {
	if !checkPlanes("SqDevSum64Planes", n, s, len(x), xStride) {
		return 0
	}
	return sqDevSum64Planes(n, s, x, xStride, mu)
}

// DotDev64Planes returns Σ g·(x − mu) over n planes of s floats,
// accumulated in float64. It is
//
//	var sum float64
//	for i := range n {
//		gi, xi := g[i*gStride:i*gStride+s], x[i*xStride:i*xStride+s]
//		for j, v := range xi {
//			sum += float64(gi[j]) * (float64(v) - mu)
//		}
//	}
//	return sum
func DotDev64Planes(n, s int, g []float32, gStride int, x []float32, xStride int, mu float64) float64 {
	if !checkPlanes("DotDev64Planes", n, s, len(g), gStride) || !checkPlanes("DotDev64Planes", n, s, len(x), xStride) {
		return 0
	}
	return dotDev64Planes(n, s, g, gStride, x, xStride, mu)
}

// AffinePlanes sets dst = a·x + b over n planes of s floats: batch
// normalization's output. It is
//
//	for i := range n {
//		affineToGeneric(dst[i*dstStride:i*dstStride+s], a, b, x[i*xStride:i*xStride+s])
//	}
//
// with affineToGeneric AffineTo's loop.
func AffinePlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int) {
	if checkPlanes("AffinePlanes", n, s, len(dst), dstStride) && checkPlanes("AffinePlanes", n, s, len(x), xStride) {
		affinePlanes(n, s, dst, dstStride, a, b, x, xStride)
	}
}

// AffineReLUPlanes sets dst = max(a·x + b, 0) over n planes of s floats:
// the same bits as AffinePlanes followed by ReLUTo on the planes. It is
//
//	for i := range n {
//		d := dst[i*dstStride : i*dstStride+s]
//		affineToGeneric(d, a, b, x[i*xStride:i*xStride+s])
//		reluToGeneric(d, d)
//	}
func AffineReLUPlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int) {
	if checkPlanes("AffineReLUPlanes", n, s, len(dst), dstStride) && checkPlanes("AffineReLUPlanes", n, s, len(x), xStride) {
		affineReLUPlanes(n, s, dst, dstStride, a, b, x, xStride)
	}
}

// AxpbyDevPlanes sets dst = a·x + b·(y − mu) + c over n planes of s
// floats: batch normalization's input gradient. It is
//
//	for i := range n {
//		axpbyDevGeneric(dst[i*dstStride:i*dstStride+s], a, x[i*xStride:i*xStride+s],
//			b, y[i*yStride:i*yStride+s], mu, c)
//	}
//
// with axpbyDevGeneric AxpbyDev's loop.
func AxpbyDevPlanes(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, b float32, y []float32, yStride int, mu, c float32) {
	const op = "AxpbyDevPlanes"
	if checkPlanes(op, n, s, len(dst), dstStride) && checkPlanes(op, n, s, len(x), xStride) && checkPlanes(op, n, s, len(y), yStride) {
		axpbyDevPlanes(n, s, dst, dstStride, a, x, xStride, b, y, yStride, mu, c)
	}
}

// ReLUBackwardPlanes sets dx = g where x > 0 and 0 elsewhere over n planes
// of s floats. It is
//
//	for i := range n {
//		reluBackwardGeneric(dx[i*dxStride:i*dxStride+s], g[i*gStride:i*gStride+s], x[i*xStride:i*xStride+s])
//	}
//
// with reluBackwardGeneric ReLUBackward's loop.
func ReLUBackwardPlanes(n, s int, dx []float32, dxStride int, g []float32, gStride int, x []float32, xStride int) {
	const op = "ReLUBackwardPlanes"
	if checkPlanes(op, n, s, len(dx), dxStride) && checkPlanes(op, n, s, len(g), gStride) && checkPlanes(op, n, s, len(x), xStride) {
		reluBackwardPlanes(n, s, dx, dxStride, g, gStride, x, xStride)
	}
}

// checkPlanes panics unless n planes of s floats, stride apart, fit in a
// slice of length l without overlapping; it reports whether there is
// anything to do (n and s positive).
func checkPlanes(op string, n, s, l, stride int) bool {
	switch {
	case n < 0 || s < 0:
		panic("kernels: " + op + ": negative plane count or size")
	case n == 0 || s == 0:
		return false
	case n > 1 && stride < s:
		panic("kernels: " + op + ": stride shorter than a plane")
	case (n-1)*stride+s > l:
		panic("kernels: " + op + ": slice too short for the planes")
	}
	return true
}

func sum64PlanesGeneric(n, s int, x []float32, xStride int) float64 {
	var sum float64
	for i := range n {
		for _, v := range x[i*xStride : i*xStride+s] {
			sum += float64(v)
		}
	}
	return sum
}

func sqDevSum64PlanesGeneric(n, s int, x []float32, xStride int, mu float64) float64 {
	var sum float64
	for i := range n {
		for _, v := range x[i*xStride : i*xStride+s] {
			d := float64(v) - mu
			sum += d * d
		}
	}
	return sum
}

func dotDev64PlanesGeneric(n, s int, g []float32, gStride int, x []float32, xStride int, mu float64) float64 {
	var sum float64
	for i := range n {
		gi, xi := g[i*gStride:i*gStride+s], x[i*xStride:i*xStride+s]
		for j, v := range xi {
			sum += float64(gi[j]) * (float64(v) - mu)
		}
	}
	return sum
}

func affinePlanesGeneric(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int) {
	for i := range n {
		affineToGeneric(dst[i*dstStride:i*dstStride+s], a, b, x[i*xStride:i*xStride+s])
	}
}

func affineReLUPlanesGeneric(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int) {
	for i := range n {
		d := dst[i*dstStride : i*dstStride+s]
		affineToGeneric(d, a, b, x[i*xStride:i*xStride+s])
		reluToGeneric(d, d)
	}
}

func axpbyDevPlanesGeneric(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, b float32, y []float32, yStride int, mu, c float32) {
	for i := range n {
		axpbyDevGeneric(dst[i*dstStride:i*dstStride+s], a, x[i*xStride:i*xStride+s], b, y[i*yStride:i*yStride+s], mu, c)
	}
}

func reluBackwardPlanesGeneric(n, s int, dx []float32, dxStride int, g []float32, gStride int, x []float32, xStride int) {
	for i := range n {
		reluBackwardGeneric(dx[i*dxStride:i*dxStride+s], g[i*gStride:i*gStride+s], x[i*xStride:i*xStride+s])
	}
}
