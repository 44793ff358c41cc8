//go:build !noasm && !gccgo && !safe

package kernels

import "strings"

// asmGemmKernels returns the assembly micro-kernels of the paths up to
// isaBest (what the CPU supports, lowered by $FOVEA_CPU), fastest first.
// Their names start with the path ("avx512", "avx2").
func asmGemmKernels() []*gemmKernel {
	var ks []*gemmKernel
	if isaBest >= isaAVX512 {
		ks = append(ks,
			&gemmKernel{name: "avx512_6x64", mr: 6, nr: 64, kc: 256, mc: 4096, nc: 512, fn: func(k int, a, b, c []float32, ldc int, beta float32) {
				_, _, _ = a[6*k-1], b[64*k-1], c[5*ldc+63]
				sgemmKernelAVX512_6x64(k, &a[0], &b[0], &c[0], ldc, beta)
			}, ind: func(k int, a, b []float32, offs []int, c []float32, ldc int) {
				_, _, _, _ = a[6*k-1], b[0], offs[k-1], c[5*ldc+63]
				sgemmIndAVX512_6x64(k, &a[0], &b[0], &offs[0], &c[0], ldc)
			}},
			&gemmKernel{name: "avx512_12x32", mr: 12, nr: 32, kc: 256, mc: 4096, nc: 512, fn: func(k int, a, b, c []float32, ldc int, beta float32) {
				_, _, _ = a[12*k-1], b[32*k-1], c[11*ldc+31]
				sgemmKernelAVX512_12x32(k, &a[0], &b[0], &c[0], ldc, beta)
			}, ind: func(k int, a, b []float32, offs []int, c []float32, ldc int) {
				_, _, _, _ = a[12*k-1], b[0], offs[k-1], c[11*ldc+31]
				sgemmIndAVX512_12x32(k, &a[0], &b[0], &offs[0], &c[0], ldc)
			}},
			&gemmKernel{name: "avx512_8x48", mr: 8, nr: 48, kc: 256, mc: 4096, nc: 480, fn: func(k int, a, b, c []float32, ldc int, beta float32) {
				_, _, _ = a[8*k-1], b[48*k-1], c[7*ldc+47]
				sgemmKernelAVX512_8x48(k, &a[0], &b[0], &c[0], ldc, beta)
			}, ind: func(k int, a, b []float32, offs []int, c []float32, ldc int) {
				_, _, _, _ = a[8*k-1], b[0], offs[k-1], c[7*ldc+47]
				sgemmIndAVX512_8x48(k, &a[0], &b[0], &offs[0], &c[0], ldc)
			}},
			&gemmKernel{name: "avx512_14x32", mr: 14, nr: 32, kc: 256, mc: 4096, nc: 512, fn: func(k int, a, b, c []float32, ldc int, beta float32) {
				_, _, _ = a[14*k-1], b[32*k-1], c[13*ldc+31]
				sgemmKernelAVX512_14x32(k, &a[0], &b[0], &c[0], ldc, beta)
			}},
		)
	}
	if isaBest >= isaAVX2 {
		ks = append(ks, &gemmKernel{name: "avx2_6x16", mr: 6, nr: 16, kc: 256, mc: 4096, nc: 512, fn: func(k int, a, b, c []float32, ldc int, beta float32) {
			_, _, _ = a[6*k-1], b[16*k-1], c[5*ldc+15]
			sgemmKernelAVX2_6x16(k, &a[0], &b[0], &c[0], ldc, beta)
		}, ind: func(k int, a, b []float32, offs []int, c []float32, ldc int) {
			_, _, _, _ = a[6*k-1], b[0], offs[k-1], c[5*ldc+15]
			sgemmIndAVX2_6x16(k, &a[0], &b[0], &offs[0], &c[0], ldc)
		}})
	}
	return ks
}

// asmDotKernels returns the assembly dot kernels of the paths up to
// isaBest, fastest first.
func asmDotKernels() []*dotKernel {
	var ks []*dotKernel
	if isaBest >= isaAVX512 {
		ks = append(ks, &dotKernel{name: "avx512_4x6", mr: 4, nr: 6, lanes: 16, fn: func(k int, a []float32, lda int, b []float32, offs []int, c []float32) {
			_, _, _, _ = a[3*lda+k-1], b[0], offs[5], c[4*6*16-1]
			sdotAVX512_4x6(k, &a[0], lda, &b[0], &offs[0], &c[0])
		}})
	}
	if isaBest >= isaAVX2 {
		ks = append(ks, &dotKernel{name: "avx2_3x4", mr: 3, nr: 4, lanes: 8, fn: func(k int, a []float32, lda int, b []float32, offs []int, c []float32) {
			_, _, _, _ = a[2*lda+k-1], b[0], offs[3], c[3*4*8-1]
			sdotAVX2_3x4(k, &a[0], lda, &b[0], &offs[0], &c[0])
		}})
	}
	return ks
}

// path is the instruction set a kernel needs: its name up to the "_".
func (k *gemmKernel) path() string {
	p, _, _ := strings.Cut(k.name, "_")
	return p
}

// path is the instruction set a dot kernel needs: its name up to the "_".
func (k *dotKernel) path() string {
	p, _, _ := strings.Cut(k.name, "_")
	return p
}
