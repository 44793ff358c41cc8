//go:build !noasm && !gccgo && !safe

package kernels

// vecSplit returns how many leading elements of an n-element float32 loop
// the current vector path handles; the reference loop does the rest.
func vecSplit(n int) int {
	switch vecUse {
	case isaAVX512:
		return n &^ 15
	case isaAVX2:
		return n &^ 7
	}
	return 0
}

// vecSplit64 is vecSplit for the float64-accumulating reductions.
func vecSplit64(n int) int {
	switch vecUse {
	case isaAVX512:
		return n &^ 7
	case isaAVX2:
		return n &^ 3
	}
	return 0
}

func addTo(dst, x, y []float32) {
	k := vecSplit(len(dst))
	switch vecUse {
	case isaAVX512:
		addToAVX512(dst[:k], x[:k], y[:k])
	case isaAVX2:
		addToAVX2(dst[:k], x[:k], y[:k])
	}
	addToGeneric(dst[k:], x[k:], y[k:])
}

func subTo(dst, x, y []float32) {
	k := vecSplit(len(dst))
	switch vecUse {
	case isaAVX512:
		subToAVX512(dst[:k], x[:k], y[:k])
	case isaAVX2:
		subToAVX2(dst[:k], x[:k], y[:k])
	}
	subToGeneric(dst[k:], x[k:], y[k:])
}

func mulTo(dst, x, y []float32) {
	k := vecSplit(len(dst))
	switch vecUse {
	case isaAVX512:
		mulToAVX512(dst[:k], x[:k], y[:k])
	case isaAVX2:
		mulToAVX2(dst[:k], x[:k], y[:k])
	}
	mulToGeneric(dst[k:], x[k:], y[k:])
}

func axpy(alpha float32, x, y []float32) {
	k := vecSplit(len(y))
	switch vecUse {
	case isaAVX512:
		axpyAVX512(alpha, x[:k], y[:k])
	case isaAVX2:
		axpyAVX2(alpha, x[:k], y[:k])
	}
	axpyGeneric(alpha, x[k:], y[k:])
}

func scalTo(dst []float32, alpha float32, x []float32) {
	k := vecSplit(len(dst))
	switch vecUse {
	case isaAVX512:
		scalToAVX512(dst[:k], alpha, x[:k])
	case isaAVX2:
		scalToAVX2(dst[:k], alpha, x[:k])
	}
	scalToGeneric(dst[k:], alpha, x[k:])
}

func affineTo(dst []float32, a, b float32, x []float32) {
	k := vecSplit(len(dst))
	switch vecUse {
	case isaAVX512:
		affineToAVX512(dst[:k], a, b, x[:k])
	case isaAVX2:
		affineToAVX2(dst[:k], a, b, x[:k])
	}
	affineToGeneric(dst[k:], a, b, x[k:])
}

func axpbyDev(dst []float32, a float32, x []float32, b float32, y []float32, mu, c float32) {
	k := vecSplit(len(dst))
	switch vecUse {
	case isaAVX512:
		axpbyDevAVX512(dst[:k], a, x[:k], b, y[:k], mu, c)
	case isaAVX2:
		axpbyDevAVX2(dst[:k], a, x[:k], b, y[:k], mu, c)
	}
	axpbyDevGeneric(dst[k:], a, x[k:], b, y[k:], mu, c)
}

func reluTo(dst, x []float32) {
	k := vecSplit(len(dst))
	switch vecUse {
	case isaAVX512:
		reluToAVX512(dst[:k], x[:k])
	case isaAVX2:
		reluToAVX2(dst[:k], x[:k])
	}
	reluToGeneric(dst[k:], x[k:])
}

func reluBackward(dx, g, x []float32) {
	k := vecSplit(len(dx))
	switch vecUse {
	case isaAVX512:
		reluBackwardAVX512(dx[:k], g[:k], x[:k])
	case isaAVX2:
		reluBackwardAVX2(dx[:k], g[:k], x[:k])
	}
	reluBackwardGeneric(dx[k:], g[k:], x[k:])
}

func sum64(x []float32) float64 {
	k := vecSplit64(len(x))
	var s float64
	switch vecUse {
	case isaAVX512:
		s = sum64AVX512(x[:k])
	case isaAVX2:
		s = sum64AVX2(x[:k])
	}
	return s + sum64Generic(x[k:])
}

func sqDevSum64(x []float32, mu float64) float64 {
	k := vecSplit64(len(x))
	var s float64
	switch vecUse {
	case isaAVX512:
		s = sqDevSum64AVX512(x[:k], mu)
	case isaAVX2:
		s = sqDevSum64AVX2(x[:k], mu)
	}
	return s + sqDevSum64Generic(x[k:], mu)
}

func dotDev64(g, x []float32, mu float64) float64 {
	k := vecSplit64(len(x))
	var s float64
	switch vecUse {
	case isaAVX512:
		s = dotDev64AVX512(g[:k], x[:k], mu)
	case isaAVX2:
		s = dotDev64AVX2(g[:k], x[:k], mu)
	}
	return s + dotDev64Generic(g[k:], x[k:], mu)
}

func sgdBuf(buf, g, p []float32, wd, mom, damp float32) {
	k := vecSplit(len(buf))
	switch vecUse {
	case isaAVX512:
		sgdBufAVX512(buf[:k], g[:k], p[:k], wd, mom, damp)
	case isaAVX2:
		sgdBufAVX2(buf[:k], g[:k], p[:k], wd, mom, damp)
	}
	sgdBufGeneric(buf[k:], g[k:], p[k:], wd, mom, damp)
}

func sgdStep(p, buf []float32, lr float32) {
	k := vecSplit(len(p))
	switch vecUse {
	case isaAVX512:
		sgdStepAVX512(p[:k], buf[:k], lr)
	case isaAVX2:
		sgdStepAVX2(p[:k], buf[:k], lr)
	}
	sgdStepGeneric(p[k:], buf[k:], lr)
}

func sgdNesterov(p, g, buf []float32, lr, wd, mom float32) {
	k := vecSplit(len(p))
	switch vecUse {
	case isaAVX512:
		sgdNesterovAVX512(p[:k], g[:k], buf[:k], lr, wd, mom)
	case isaAVX2:
		sgdNesterovAVX2(p[:k], g[:k], buf[:k], lr, wd, mom)
	}
	sgdNesterovGeneric(p[k:], g[k:], buf[k:], lr, wd, mom)
}

func adamM(m, g, p []float32, decay, wd, beta1, oneMinB1 float32) {
	k := vecSplit(len(m))
	switch vecUse {
	case isaAVX512:
		adamMAVX512(m[:k], g[:k], p[:k], decay, wd, beta1, oneMinB1)
	case isaAVX2:
		adamMAVX2(m[:k], g[:k], p[:k], decay, wd, beta1, oneMinB1)
	}
	adamMGeneric(m[k:], g[k:], p[k:], decay, wd, beta1, oneMinB1)
}

func adamV(v, g, p []float32, decay, wd, beta2, oneMinB2 float32) {
	k := vecSplit(len(v))
	switch vecUse {
	case isaAVX512:
		adamVAVX512(v[:k], g[:k], p[:k], decay, wd, beta2, oneMinB2)
	case isaAVX2:
		adamVAVX2(v[:k], g[:k], p[:k], decay, wd, beta2, oneMinB2)
	}
	adamVGeneric(v[k:], g[k:], p[k:], decay, wd, beta2, oneMinB2)
}

func adamStep(p, m, v []float32, decay, stepSize, bc2Sqrt, eps float32) {
	k := vecSplit(len(p))
	switch vecUse {
	case isaAVX512:
		adamStepAVX512(p[:k], m[:k], v[:k], decay, stepSize, bc2Sqrt, eps)
	case isaAVX2:
		adamStepAVX2(p[:k], m[:k], v[:k], decay, stepSize, bc2Sqrt, eps)
	}
	adamStepGeneric(p[k:], m[k:], v[k:], decay, stepSize, bc2Sqrt, eps)
}

func geluTo(dst, x []float32) {
	k := vecSplit(len(dst))
	switch vecUse {
	case isaAVX512:
		geluToAVX512(dst[:k], x[:k])
	case isaAVX2:
		geluToAVX2(dst[:k], x[:k])
	}
	geluGeneric(dst[k:], x[k:])
}

func geluBackward(dx, g, x []float32) {
	k := vecSplit(len(dx))
	switch vecUse {
	case isaAVX512:
		geluBackwardAVX512(dx[:k], g[:k], x[:k])
	case isaAVX2:
		geluBackwardAVX2(dx[:k], g[:k], x[:k])
	}
	geluBackwardGeneric(dx[k:], g[k:], x[k:])
}
