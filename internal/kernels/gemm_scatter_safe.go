//go:build safe

package kernels

// scatter sets dst[off+p·stride] = alpha·src[p] for every p: one row of a
// transposing pack (the safe build's indexed loop).
func scatter(dst []float32, off, stride int, src []float32, alpha float32) {
	for p, v := range src {
		dst[off+p*stride] = alpha * v
	}
}
