package kernels

import "math"

// Elementwise kernels over float32 slices: the loops of tensor's
// elementwise ops, the activations, batch normalization and the optimizers.
// Each exported function checks its lengths, then runs the fastest path the
// CPU has (vec_amd64.go: AVX-512 or AVX2+FMA from vec_amd64.s, the tail and
// older CPUs through the reference loop) or, built with -tags noasm (and on
// other architectures), the reference loop alone (vec_noasm.go). The
// reference loop of each kernel is its ...Generic function below and is
// quoted in the doc comment.
//
// Precision: addTo, subTo, mulTo, scalTo and reluTo round exactly as the
// loop does, so every path gives the same bits. axpy, affineTo and axpbyDev
// use fused multiply-adds on the vector paths, so a result may differ from
// the loop's by an ulp or so of the larger term. The three reductions widen
// every element to float64 and accumulate in float64 (4 vectors of lanes on
// the vector paths, so the summation order differs from the loop's): their
// error is that of a float64 sum, about len·2⁻⁵³·Σ|terms|, far below float32
// resolution.
//
// Outputs may be the same slice as an input (dst == x); other overlaps are
// not allowed.

// AddTo sets dst = x + y elementwise. It is
//
//	for i := range dst {
//		dst[i] = x[i] + y[i]
//	}
func AddTo(dst, x, y []float32) {
	checkVec("AddTo", len(dst), len(x), len(y))
	addTo(dst, x, y)
}

// SubTo sets dst = x − y elementwise. It is
//
//	for i := range dst {
//		dst[i] = x[i] - y[i]
//	}
func SubTo(dst, x, y []float32) {
	checkVec("SubTo", len(dst), len(x), len(y))
	subTo(dst, x, y)
}

// MulTo sets dst = x · y elementwise. It is
//
//	for i := range dst {
//		dst[i] = x[i] * y[i]
//	}
func MulTo(dst, x, y []float32) {
	checkVec("MulTo", len(dst), len(x), len(y))
	mulTo(dst, x, y)
}

// Axpy adds alpha·x to y. It is
//
//	for i, v := range x {
//		y[i] += alpha * v
//	}
func Axpy(alpha float32, x, y []float32) {
	checkVec("Axpy", len(y), len(x), len(y))
	axpy(alpha, x, y)
}

// ScalTo sets dst = alpha·x (dst may be x). It is
//
//	for i, v := range x {
//		dst[i] = alpha * v
//	}
func ScalTo(dst []float32, alpha float32, x []float32) {
	checkVec("ScalTo", len(dst), len(x), len(x))
	scalTo(dst, alpha, x)
}

// AffineTo sets dst = a·x + b (dst may be x): batch-norm application, a
// per-channel bias, x + b with a = 1. It is
//
//	for i, v := range x {
//		dst[i] = a*v + b
//	}
func AffineTo(dst []float32, a, b float32, x []float32) {
	checkVec("AffineTo", len(dst), len(x), len(x))
	affineTo(dst, a, b, x)
}

// AxpbyDev sets dst = a·x + b·(y − mu) + c: the batch-norm input gradient
// g·a + (x − μ)·b + c, with the centring done before the multiply so that a
// large mean cancels exactly. It is
//
//	for i := range dst {
//		dst[i] = a*x[i] + b*(y[i]-mu) + c
//	}
func AxpbyDev(dst []float32, a float32, x []float32, b float32, y []float32, mu, c float32) {
	checkVec("AxpbyDev", len(dst), len(x), len(y))
	axpbyDev(dst, a, x, b, y, mu, c)
}

// ReLUTo sets dst = max(x, 0): NaN stays NaN and −0 becomes +0. It is
//
//	for i, v := range x {
//		dst[i] = max(v, 0)
//	}
func ReLUTo(dst, x []float32) {
	checkVec("ReLUTo", len(dst), len(x), len(x))
	reluTo(dst, x)
}

// ReLUBackward sets dx = g where x > 0 and 0 elsewhere (at 0 and NaN too).
// It is
//
//	for i, v := range x {
//		if v > 0 {
//			dx[i] = g[i]
//		} else {
//			dx[i] = 0
//		}
//	}
func ReLUBackward(dx, g, x []float32) {
	checkVec("ReLUBackward", len(dx), len(g), len(x))
	reluBackward(dx, g, x)
}

// Sum64 returns Σ x accumulated in float64. It is
//
//	var s float64
//	for _, v := range x {
//		s += float64(v)
//	}
//	return s
func Sum64(x []float32) float64 { return sum64(x) }

// SqDevSum64 returns Σ (x − mu)² accumulated in float64 (the second pass
// of a two-pass variance). It is
//
//	var s float64
//	for _, v := range x {
//		d := float64(v) - mu
//		s += d * d
//	}
//	return s
func SqDevSum64(x []float32, mu float64) float64 { return sqDevSum64(x, mu) }

// DotDev64 returns Σ g·(x − mu) accumulated in float64. It is
//
//	var s float64
//	for i, v := range x {
//		s += float64(g[i]) * (float64(v) - mu)
//	}
//	return s
func DotDev64(g, x []float32, mu float64) float64 {
	checkVec("DotDev64", len(g), len(x), len(x))
	return dotDev64(g, x, mu)
}

// SGDMomentum is one step of SGD with momentum (PyTorch's rule) on the
// parameters p, their gradient g and momentum buffer buf, which already
// holds history. It is
//
//	for i := range p {
//		d := g[i] + wd*p[i]
//		b := buf[i]*mom + damp*d
//		buf[i] = b
//		if nesterov {
//			d += mom * b
//		} else {
//			d = b
//		}
//		p[i] -= lr * d
//	}
//
// with every product and sum rounded separately, as written, on every
// path: the vector kernels use no fused multiply-add here, so training
// gives the same bits with and without them.
func SGDMomentum(p, g, buf []float32, lr, wd, mom, damp float32, nesterov bool) {
	checkVec("SGDMomentum", len(p), len(g), len(buf))
	sgdBuf(buf, g, p, wd, mom, damp)
	if nesterov {
		sgdNesterov(p, g, buf, lr, wd, mom)
	} else {
		sgdStep(p, buf, lr)
	}
}

// AdamCoef holds one Adam or AdamW step's coefficients for [AdamUpdate].
type AdamCoef struct {
	Beta1, Beta2, OneMinB1, OneMinB2 float32
	StepSize, BC2Sqrt, Eps           float32 // lr/(1−β1ᵗ), √(1−β2ᵗ), ε
	WD                               float32 // L2 weight decay (Adam)
	Decay                            float32 // 1 − lr·weight decay (AdamW), else 1
}

// AdamUpdate is one Adam step (PyTorch's order of operations) on the
// parameters p, their gradient g and moment averages m and v. It is
//
//	for i := range p {
//		pi := p[i] * c.Decay
//		gi := g[i] + c.WD*pi
//		m[i] = m[i]*c.Beta1 + c.OneMinB1*gi
//		v[i] = v[i]*c.Beta2 + c.OneMinB2*(gi*gi)
//		denom := float32(math.Sqrt(float64(v[i])))/c.BC2Sqrt + c.Eps
//		p[i] = pi - c.StepSize*(m[i]/denom)
//	}
//
// with every operation rounded separately, as written, on every path (the
// vector kernels use no fused multiply-add here).
func AdamUpdate(p, g, m, v []float32, c AdamCoef) {
	checkVec("AdamUpdate", len(p), len(g), len(m))
	checkVec("AdamUpdate", len(p), len(v), len(p))
	adamM(m, g, p, c.Decay, c.WD, c.Beta1, c.OneMinB1)
	adamV(v, g, p, c.Decay, c.WD, c.Beta2, c.OneMinB2)
	adamStep(p, m, v, c.Decay, c.StepSize, c.BC2Sqrt, c.Eps)
}

func adamMGeneric(m, g, p []float32, decay, wd, beta1, oneMinB1 float32) {
	for i, mi := range m {
		gi := g[i] + wd*(p[i]*decay)
		m[i] = mi*beta1 + oneMinB1*gi
	}
}

func adamVGeneric(v, g, p []float32, decay, wd, beta2, oneMinB2 float32) {
	for i, vi := range v {
		gi := g[i] + wd*(p[i]*decay)
		v[i] = vi*beta2 + oneMinB2*(gi*gi)
	}
}

func adamStepGeneric(p, m, v []float32, decay, stepSize, bc2Sqrt, eps float32) {
	for i, pi := range p {
		denom := float32(math.Sqrt(float64(v[i])))/bc2Sqrt + eps
		p[i] = pi*decay - stepSize*(m[i]/denom)
	}
}

func sgdBufGeneric(buf, g, p []float32, wd, mom, damp float32) {
	for i, b := range buf {
		d := g[i] + wd*p[i]
		buf[i] = b*mom + damp*d
	}
}

func sgdStepGeneric(p, buf []float32, lr float32) {
	for i, b := range buf {
		p[i] -= lr * b
	}
}

func sgdNesterovGeneric(p, g, buf []float32, lr, wd, mom float32) {
	for i, b := range buf {
		d := g[i] + wd*p[i]
		d += mom * b
		p[i] -= lr * d
	}
}

func checkVec(op string, n, a, b int) {
	if a != n || b != n {
		panic("kernels: " + op + ": slice lengths differ")
	}
}

func addToGeneric(dst, x, y []float32) {
	for i := range dst {
		dst[i] = x[i] + y[i]
	}
}

func subToGeneric(dst, x, y []float32) {
	for i := range dst {
		dst[i] = x[i] - y[i]
	}
}

func mulToGeneric(dst, x, y []float32) {
	for i := range dst {
		dst[i] = x[i] * y[i]
	}
}

func axpyGeneric(alpha float32, x, y []float32) {
	for i, v := range x {
		y[i] += alpha * v
	}
}

func scalToGeneric(dst []float32, alpha float32, x []float32) {
	for i, v := range x {
		dst[i] = alpha * v
	}
}

func affineToGeneric(dst []float32, a, b float32, x []float32) {
	for i, v := range x {
		dst[i] = a*v + b
	}
}

func axpbyDevGeneric(dst []float32, a float32, x []float32, b float32, y []float32, mu, c float32) {
	for i := range dst {
		dst[i] = a*x[i] + b*(y[i]-mu) + c
	}
}

func reluToGeneric(dst, x []float32) {
	for i, v := range x {
		dst[i] = max(v, 0)
	}
}

func reluBackwardGeneric(dx, g, x []float32) {
	for i, v := range x {
		if v > 0 {
			dx[i] = g[i]
		} else {
			dx[i] = 0
		}
	}
}

func sum64Generic(x []float32) float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	return s
}

func sqDevSum64Generic(x []float32, mu float64) float64 {
	var s float64
	for _, v := range x {
		d := float64(v) - mu
		s += d * d
	}
	return s
}

func dotDev64Generic(g, x []float32, mu float64) float64 {
	var s float64
	for i, v := range x {
		s += float64(g[i]) * (float64(v) - mu)
	}
	return s
}
