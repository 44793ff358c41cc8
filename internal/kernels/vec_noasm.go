//go:build !amd64 || noasm || gccgo || safe

package kernels

// Without assembly every kernel of vec.go is its reference loop.

func addTo(dst, x, y []float32)                    { addToGeneric(dst, x, y) }
func subTo(dst, x, y []float32)                    { subToGeneric(dst, x, y) }
func mulTo(dst, x, y []float32)                    { mulToGeneric(dst, x, y) }
func axpy(alpha float32, x, y []float32)           { axpyGeneric(alpha, x, y) }
func scalTo(dst []float32, a float32, x []float32) { scalToGeneric(dst, a, x) }
func affineTo(dst []float32, a, b float32, x []float32) {
	affineToGeneric(dst, a, b, x)
}
func axpbyDev(dst []float32, a float32, x []float32, b float32, y []float32, mu, c float32) {
	axpbyDevGeneric(dst, a, x, b, y, mu, c)
}
func reluTo(dst, x []float32)                     { reluToGeneric(dst, x) }
func reluBackward(dx, g, x []float32)             { reluBackwardGeneric(dx, g, x) }
func sum64(x []float32) float64                   { return sum64Generic(x) }
func sqDevSum64(x []float32, mu float64) float64  { return sqDevSum64Generic(x, mu) }
func dotDev64(g, x []float32, mu float64) float64 { return dotDev64Generic(g, x, mu) }

func sgdBuf(buf, g, p []float32, wd, mom, damp float32) { sgdBufGeneric(buf, g, p, wd, mom, damp) }
func sgdStep(p, buf []float32, lr float32)              { sgdStepGeneric(p, buf, lr) }
func sgdNesterov(p, g, buf []float32, lr, wd, mom float32) {
	sgdNesterovGeneric(p, g, buf, lr, wd, mom)
}

func adamM(m, g, p []float32, decay, wd, beta1, oneMinB1 float32) {
	adamMGeneric(m, g, p, decay, wd, beta1, oneMinB1)
}
func adamV(v, g, p []float32, decay, wd, beta2, oneMinB2 float32) {
	adamVGeneric(v, g, p, decay, wd, beta2, oneMinB2)
}
func adamStep(p, m, v []float32, decay, stepSize, bc2Sqrt, eps float32) {
	adamStepGeneric(p, m, v, decay, stepSize, bc2Sqrt, eps)
}

func geluTo(dst, x []float32)         { geluGeneric(dst, x) }
func geluBackward(dx, g, x []float32) { geluBackwardGeneric(dx, g, x) }
