package kernels

import (
	"fmt"
	"testing"
)

// BenchmarkVec times every kernel of vec.go on each path at an L1-sized
// (4 Ki elements), an L2-sized (64 Ki) and a memory-sized (4 Mi) length,
// reporting GB/s of slice traffic (bytes read plus bytes written). The
// "generic" path is the reference Go loop.
func BenchmarkVec(b *testing.B) {
	type kern struct {
		name    string
		streams int // slices read or written, 4 bytes each per element
		run     func(d, x, y []float32)
	}
	var sink float64
	kerns := []kern{
		{"AddTo", 3, func(d, x, y []float32) { AddTo(d, x, y) }},
		{"MulTo", 3, func(d, x, y []float32) { MulTo(d, x, y) }},
		{"Axpy", 3, func(d, x, _ []float32) { Axpy(0.5, x, d) }}, // y read and written
		{"ScalTo", 2, func(d, x, _ []float32) { ScalTo(d, 0.5, x) }},
		{"AffineTo", 2, func(d, x, _ []float32) { AffineTo(d, 0.5, 0.25, x) }},
		{"AxpbyDev", 3, func(d, x, y []float32) { AxpbyDev(d, 0.5, x, 0.25, y, 0.1, 1) }},
		{"ReLUTo", 2, func(d, x, _ []float32) { ReLUTo(d, x) }},
		{"ReLUBackward", 3, func(d, x, y []float32) { ReLUBackward(d, x, y) }},
		{"Sum64", 1, func(_, x, _ []float32) { sink += Sum64(x) }},
		{"SqDevSum64", 1, func(_, x, _ []float32) { sink += SqDevSum64(x, 0.1) }},
		{"DotDev64", 2, func(_, x, y []float32) { sink += DotDev64(x, y, 0.1) }},
	}
	for _, k := range kerns {
		for _, n := range []int{4 << 10, 64 << 10, 4 << 20} {
			for _, p := range vecPaths() {
				b.Run(fmt.Sprintf("%s/n=%d/%v", k.name, n, p), func(b *testing.B) {
					defer setVecPath(p)()
					r := newRand(1)
					d, x, y := randSlice(r, n), randSlice(r, n), randSlice(r, n)
					b.SetBytes(int64(4 * k.streams * n))
					for b.Loop() {
						k.run(d, x, y)
					}
				})
			}
		}
	}
	_ = sink
}
