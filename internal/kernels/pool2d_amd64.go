//go:build !noasm && !gccgo && !safe

package kernels

// maxPool2x2 runs the current vector path over the plane: AVX-512 for any
// width (a row's partial last vector masked), AVX2 for rows of at least 4
// outputs (a partial last vector overlaps the one before), and the
// reference loop maxPool2x2Generic otherwise. All give the same bits.
func maxPool2x2(g PoolGeom, x, out []float32, arg []int32) {
	switch {
	case g.OutH == 0 || g.OutW == 0:
	case vecUse == isaAVX512:
		x, out, arg = pool2x2Slices(g, x, out, arg)
		tail := uint(g.OutW % 16)     // outputs in the partial last vector of a row
		in := uint32(1)<<(2*tail) - 1 // its inputs in each row
		maxPool2x2AVX512(x, out, arg, g.W, g.OutH, g.OutW, uint16(in), uint16(in>>16), uint16(1)<<tail-1)
	case vecUse == isaAVX2 && g.OutW >= 4:
		x, out, arg = pool2x2Slices(g, x, out, arg)
		maxPool2x2AVX2(x, out, arg, g.W, g.OutH, g.OutW)
	default:
		maxPool2x2Generic(g, x, out, arg)
	}
}

// pool2x2Slices cuts x, out and arg to the elements the 2×2 kernels read
// and write (OutH, OutW > 0), panicking as the reference loop would when
// one is too short.
func pool2x2Slices(g PoolGeom, x, out []float32, arg []int32) ([]float32, []float32, []int32) {
	n := g.OutH * g.OutW
	return x[:(2*g.OutH-1)*g.W+2*g.OutW], out[:n], arg[:n]
}
