//go:build !noasm && !gccgo && !safe

package kernels

// maxPool2x2 runs the current vector path over the plane: AVX-512 for any
// width (a row's partial last vector masked), AVX2 for rows of at least 4
// outputs (a partial last vector overlaps the one before), and the
// reference loop maxPool2x2Generic otherwise. All give the same bits.
// MaxPool2d has checked the slices' lengths.
func maxPool2x2(g PoolGeom, x, out []float32, arg []int32) {
	switch {
	case g.OutH == 0 || g.OutW == 0:
	case vecUse == isaAVX512:
		tail := uint(g.OutW % 16)     // outputs in the partial last vector of a row
		in := uint32(1)<<(2*tail) - 1 // its inputs in each row
		maxPool2x2AVX512(x, out, arg, g.W, g.OutH, g.OutW, uint16(in), uint16(in>>16), uint16(1)<<tail-1)
	case vecUse == isaAVX2 && g.OutW >= 4:
		maxPool2x2AVX2(x, out, arg, g.W, g.OutH, g.OutW)
	default:
		maxPool2x2Generic(g, x, out, arg)
	}
}

// affineReLUMaxPool2x2 is maxPool2x2 of max(a·x + b, 0) with the current
// path's affineReLUPlanes arithmetic (a fused multiply-add on AVX2 and
// AVX-512): the vector kernels map the inputs in registers; rows too short
// for the AVX2 kernel take affineReLUPlanes into a temporary plane and
// the reference pool, so every path gives the bits of those two calls.
func affineReLUMaxPool2x2(g PoolGeom, a, b float32, x, out []float32, arg []int32) {
	switch {
	case g.OutH == 0 || g.OutW == 0:
	case vecUse == isaAVX512:
		tail := uint(g.OutW % 16)
		in := uint32(1)<<(2*tail) - 1
		affineReLUMaxPool2x2AVX512(x, out, arg, g.W, g.OutH, g.OutW, uint16(in), uint16(in>>16), uint16(1)<<tail-1, a, b)
	case vecUse == isaAVX2 && g.OutW >= 4:
		affineReLUMaxPool2x2AVX2(x, out, arg, g.W, g.OutH, g.OutW, a, b)
	default:
		z := make([]float32, g.H*g.W)
		affineReLUPlanes(1, len(z), z, len(z), a, b, x, len(z))
		maxPool2x2Generic(g, z, out, arg)
	}
}

// unpool2x2Masked runs Unpool2x2Masked's vector kernel over the rows and
// columns the windows cover and reports whether it did: AVX-512 for any
// width, AVX2 for rows of at least 4 outputs.
func unpool2x2Masked(p PoolGeom, g, out []float32, arg []int32, dst []float32) bool {
	switch {
	case p.OutH == 0 || p.OutW == 0:
		return false
	case vecUse == isaAVX512:
		tail := uint(p.OutW % 16)
		in := uint32(1)<<(2*tail) - 1
		unpool2x2MaskedAVX512(g, out, arg, dst, p.W, p.OutH, p.OutW, uint16(in), uint16(in>>16), uint16(1)<<tail-1)
		return true
	case vecUse == isaAVX2 && p.OutW >= 4:
		unpool2x2MaskedAVX2(g, out, arg, dst, p.W, p.OutH, p.OutW)
		return true
	}
	return false
}
