package kernels

// Planes kernels: batch normalization's passes over the n planes of one
// channel in a single call, with the arithmetic of the kernels of vec.go;
// each reduction returns two sums from one pass, and the ReLU variants
// mask the gradient by the ReLU's output on the fly (BatchNormReLU's
// backward) instead of reading a masked copy. A plane is s consecutive
// floats; plane i of a slice v starts at v[i·vStride], so the planes of
// channel ch of an (N, C, S) tensor t are t[ch·S:] with stride C·S, and a
// dense (N, S) buffer is its slice with stride S. Every stride is at least s
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

// DevSums64Planes returns Σ (x − mu) and Σ (x − mu)² over n planes of s
// floats, accumulated in float64 in one pass: batch normalization's
// statistics, the mean mu + dev/M and the biased variance
// sqDev/M − (dev/M)² of the M = n·s values, shifted by mu so that a mean
// far from zero does not cancel (see autograd.BatchNorm). It is
//
//	for i := range n {
//		for _, v := range x[i*xStride : i*xStride+s] {
//			d := float64(v) - mu
//			dev += d
//			sqDev += d * d
//		}
//	}
//	return dev, sqDev
func DevSums64Planes(n, s int, x []float32, xStride int, mu float64) (dev, sqDev float64) {
	if !checkPlanes("DevSums64Planes", n, s, len(x), xStride) {
		return 0, 0
	}
	return devSums64Planes(n, s, x, xStride, mu)
}

// SumDotDev64Planes returns Σ g and Σ g·(x − mu) over n planes of s
// floats, accumulated in float64 in one pass: batch normalization's
// gradient sums. It is
//
//	for i := range n {
//		gi, xi := g[i*gStride:i*gStride+s], x[i*xStride:i*xStride+s]
//		for j, v := range xi {
//			sum += float64(gi[j])
//			dot += float64(gi[j]) * (float64(v) - mu)
//		}
//	}
//	return sum, dot
func SumDotDev64Planes(n, s int, g []float32, gStride int, x []float32, xStride int, mu float64) (sum, dot float64) {
	const op = "SumDotDev64Planes"
	if !checkPlanes(op, n, s, len(g), gStride) || !checkPlanes(op, n, s, len(x), xStride) {
		return 0, 0
	}
	return sumDotDev64Planes(n, s, g, gStride, x, xStride, mu)
}

// SumDotDev64ReLUPlanes is SumDotDev64Planes of g masked by the ReLU
// output r: g′ = g where r > 0 and 0 elsewhere (NaN r included), computed
// on the fly, so that it gives the bits of ReLUBackward into a buffer and
// SumDotDev64Planes over that. It is
//
//	for i := range n {
//		gi, ri, xi := g[i*gStride:i*gStride+s], r[i*rStride:i*rStride+s], x[i*xStride:i*xStride+s]
//		for j, v := range xi {
//			var gm float64
//			if ri[j] > 0 {
//				gm = float64(gi[j])
//			}
//			sum += gm
//			dot += gm * (float64(v) - mu)
//		}
//	}
//	return sum, dot
func SumDotDev64ReLUPlanes(n, s int, g []float32, gStride int, r []float32, rStride int, x []float32, xStride int, mu float64) (sum, dot float64) {
	const op = "SumDotDev64ReLUPlanes"
	if !checkPlanes(op, n, s, len(g), gStride) || !checkPlanes(op, n, s, len(r), rStride) || !checkPlanes(op, n, s, len(x), xStride) {
		return 0, 0
	}
	return sumDotDev64ReLUPlanes(n, s, g, gStride, r, rStride, x, xStride, mu)
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

// AffineAddReLUPlanes sets dst = max((a·x + b) + y, 0) over n planes of s
// floats: batch normalization, a residual sum and its ReLU, the same bits
// as AffinePlanes, AddTo and ReLUTo one after the other. It is
//
//	for i := range n {
//		d := dst[i*dstStride : i*dstStride+s]
//		affineToGeneric(d, a, b, x[i*xStride:i*xStride+s])
//		addToGeneric(d, d, y[i*yStride:i*yStride+s])
//		reluToGeneric(d, d)
//	}
func AffineAddReLUPlanes(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int, y []float32, yStride int) {
	const op = "AffineAddReLUPlanes"
	if checkPlanes(op, n, s, len(dst), dstStride) && checkPlanes(op, n, s, len(x), xStride) && checkPlanes(op, n, s, len(y), yStride) {
		affineAddReLUPlanes(n, s, dst, dstStride, a, b, x, xStride, y, yStride)
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

// AxpbyDevReLUPlanes is AxpbyDevPlanes with x masked by the ReLU output
// r: dst = a·x′ + b·(y − mu) + c with x′ = x where r > 0 and 0 elsewhere,
// the bits of ReLUBackward into a buffer and AxpbyDevPlanes over it
// (batch normalization's input gradient behind a fused ReLU). It is
//
//	for i := range n {
//		d, xi := dst[i*dstStride:i*dstStride+s], x[i*xStride:i*xStride+s]
//		ri, yi := r[i*rStride:i*rStride+s], y[i*yStride:i*yStride+s]
//		for j := range d {
//			var xm float32
//			if ri[j] > 0 {
//				xm = xi[j]
//			}
//			d[j] = a*xm + b*(yi[j]-mu) + c
//		}
//	}
func AxpbyDevReLUPlanes(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, r []float32, rStride int, b float32, y []float32, yStride int, mu, c float32) {
	const op = "AxpbyDevReLUPlanes"
	if checkPlanes(op, n, s, len(dst), dstStride) && checkPlanes(op, n, s, len(x), xStride) &&
		checkPlanes(op, n, s, len(r), rStride) && checkPlanes(op, n, s, len(y), yStride) {
		axpbyDevReLUPlanes(n, s, dst, dstStride, a, x, xStride, r, rStride, b, y, yStride, mu, c)
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

func devSums64PlanesGeneric(n, s int, x []float32, xStride int, mu float64) (dev, sqDev float64) {
	for i := range n {
		for _, v := range x[i*xStride : i*xStride+s] {
			d := float64(v) - mu
			dev += d
			sqDev += d * d
		}
	}
	return dev, sqDev
}

func sumDotDev64PlanesGeneric(n, s int, g []float32, gStride int, x []float32, xStride int, mu float64) (sum, dot float64) {
	for i := range n {
		gi, xi := g[i*gStride:i*gStride+s], x[i*xStride:i*xStride+s]
		for j, v := range xi {
			sum += float64(gi[j])
			dot += float64(gi[j]) * (float64(v) - mu)
		}
	}
	return sum, dot
}

func sumDotDev64ReLUPlanesGeneric(n, s int, g []float32, gStride int, r []float32, rStride int, x []float32, xStride int, mu float64) (sum, dot float64) {
	for i := range n {
		gi, ri, xi := g[i*gStride:i*gStride+s], r[i*rStride:i*rStride+s], x[i*xStride:i*xStride+s]
		for j, v := range xi {
			var gm float64
			if ri[j] > 0 {
				gm = float64(gi[j])
			}
			sum += gm
			dot += gm * (float64(v) - mu)
		}
	}
	return sum, dot
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

func affineAddReLUPlanesGeneric(n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int, y []float32, yStride int) {
	for i := range n {
		d := dst[i*dstStride : i*dstStride+s]
		affineToGeneric(d, a, b, x[i*xStride:i*xStride+s])
		addToGeneric(d, d, y[i*yStride:i*yStride+s])
		reluToGeneric(d, d)
	}
}

func axpbyDevPlanesGeneric(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, b float32, y []float32, yStride int, mu, c float32) {
	for i := range n {
		axpbyDevGeneric(dst[i*dstStride:i*dstStride+s], a, x[i*xStride:i*xStride+s], b, y[i*yStride:i*yStride+s], mu, c)
	}
}

func axpbyDevReLUPlanesGeneric(n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, r []float32, rStride int, b float32, y []float32, yStride int, mu, c float32) {
	for i := range n {
		d, xi := dst[i*dstStride:i*dstStride+s], x[i*xStride:i*xStride+s]
		ri, yi := r[i*rStride:i*rStride+s], y[i*yStride:i*yStride+s]
		for j := range d {
			var xm float32
			if ri[j] > 0 {
				xm = xi[j]
			}
			d[j] = a*xm + b*(yi[j]-mu) + c
		}
	}
}
