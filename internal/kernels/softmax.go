package kernels

import "math"

// Float is the element type of the row softmax kernels: float32 for
// tensors, float64 for the metrics computed in double precision.
type Float interface{ ~float32 | ~float64 }

// The row kernels below read the row x[0], x[inc], …, x[(n−1)·inc] (inc is
// the distance between its elements: 1 for a contiguous row, the product of
// the later dimensions for a softmax over an inner axis) and write the same
// places of y, which may be x itself. They subtract the row's maximum
// before exponentiating, so large inputs do not overflow; exponentials are
// taken and summed in float64. They are the one implementation of softmax
// in Fovea: autograd's Softmax, LogSoftmax and CrossEntropy, the inference
// engine's softmax steps and package metrics all call them, so a compiled
// model gives the eager probabilities to the bit.

// SoftmaxRow writes softmax(x) of the row to y:
//
//	m := max_j x[j]
//	e[j] := F(exp(x[j] − m)),  s := Σⱼ e[j] (in float64)
//	y[j] = e[j] · F(1/s)
func SoftmaxRow[F Float](x, y []F, n, inc int) { softmaxRow(x, y, n, inc) }

// SoftmaxRowLSE is [SoftmaxRow] that also returns [LogSumExp] of the row,
// to the bit, from the same exponentials (cross-entropy needs both).
func SoftmaxRowLSE[F Float](x, y []F, n, inc int) float64 {
	m, su := softmaxRow(x, y, n, inc)
	return float64(m) + math.Log(su)
}

// softmaxRow is SoftmaxRow; it returns the row's maximum m and
// Σⱼ exp(x[j] − m) summed before rounding to F, as logSumExp sums it.
func softmaxRow[F Float](x, y []F, n, inc int) (m F, su float64) {
	m = rowMax(x, n, inc)
	var s float64
	for j := 0; j < n*inc; j += inc {
		e := math.Exp(float64(x[j] - m))
		y[j] = F(e)
		s += float64(F(e))
		su += e
	}
	inv := F(1 / s)
	for j := 0; j < n*inc; j += inc {
		y[j] *= inv
	}
	return m, su
}

// LogSoftmaxRow writes x − log Σ exp(x) of the row to y:
//
//	m := max_j x[j],  s := Σⱼ exp(x[j] − m) (in float64)
//	y[j] = x[j] − (m + F(log s))
func LogSoftmaxRow[F Float](x, y []F, n, inc int) {
	m, l := logSumExp(x, n, inc)
	lse := m + F(l)
	for j := 0; j < n*inc; j += inc {
		y[j] = x[j] - lse
	}
}

// LogSumExp returns log Σⱼ exp(x[j]) of the row in float64, as
// float64(m) + log Σⱼ exp(x[j] − m) with m the row's maximum.
func LogSumExp[F Float](x []F, n, inc int) float64 {
	m, l := logSumExp(x, n, inc)
	return float64(m) + l
}

// logSumExp returns the row's maximum m and log Σⱼ exp(x[j] − m).
func logSumExp[F Float](x []F, n, inc int) (m F, l float64) {
	m = rowMax(x, n, inc)
	var s float64
	for j := 0; j < n*inc; j += inc {
		s += math.Exp(float64(x[j] - m))
	}
	return m, math.Log(s)
}

// rowMax returns the largest element of the row (−Inf for an empty row,
// NaN if the row holds one).
func rowMax[F Float](x []F, n, inc int) F {
	if inc < 1 {
		panic("kernels: softmax row with element distance < 1")
	}
	m := F(math.Inf(-1))
	for j := 0; j < n*inc; j += inc {
		m = max(m, x[j])
	}
	return m
}
