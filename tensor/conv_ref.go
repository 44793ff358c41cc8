package tensor

import (
	"sync"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// This file keeps the first convolution implementation, im2col + one GEMM per
// image and group, as the reference every faster path is tested against
// (STYLE.md habit 8). Production calls reach it only through the convPath
// test hook.

// overBatch runs fn for every image index: across threads with serial GEMMs
// when the batch is large enough, else one image at a time with parallel GEMMs.
func overBatch(n int, fn func(lo, hi int, gemm gemmFunc)) {
	if n >= kernels.Threads() && kernels.Threads() > 1 {
		kernels.For(n, 1, func(lo, hi int) { fn(lo, hi, kernels.GemmSerial) })
		return
	}
	fn(0, n, kernels.Gemm)
}

func conv2dRef(a convArgs, xd, wd, bd, out []float32) {
	geo, n, g, o, og, kg, hw, chw := a.geo, a.n, a.g, a.o, a.og, a.kg, a.hw, a.chw
	overBatch(n, func(lo, hi int, gemm gemmFunc) {
		var cols *[]float32
		if !direct(geo) {
			cols = getScratch(kg * hw)
			defer putScratch(cols)
		}
		for i := lo; i < hi; i++ {
			for gi := range g {
				src := xd[(i*g+gi)*chw : (i*g+gi+1)*chw]
				if cols != nil {
					kernels.Im2col(geo, src, *cols)
					src = *cols
				}
				dst := out[(i*o+gi*og)*hw : (i*o+(gi+1)*og)*hw]
				gemm(false, false, og, hw, kg, 1, wd[gi*og*kg:(gi+1)*og*kg], kg, src, hw, 0, dst, hw)
			}
			if bd != nil {
				for c := range o {
					row := out[(i*o+c)*hw : (i*o+c+1)*hw]
					for j := range row {
						row[j] += bd[c]
					}
				}
			}
		}
	})
}

func conv2dBackwardInputRef(a convArgs, dyd, wd, dx []float32) {
	geo, n, g, o, og, kg, hw, chw := a.geo, a.n, a.g, a.o, a.og, a.kg, a.hw, a.chw
	overBatch(n, func(lo, hi int, gemm gemmFunc) {
		var cols *[]float32
		if !direct(geo) {
			cols = getScratch(kg * hw)
			defer putScratch(cols)
		}
		for i := lo; i < hi; i++ {
			for gi := range g {
				d := dyd[(i*o+gi*og)*hw : (i*o+(gi+1)*og)*hw]
				dst := dx[(i*g+gi)*chw : (i*g+gi+1)*chw]
				wg := wd[gi*og*kg : (gi+1)*og*kg]
				if cols == nil {
					gemm(true, false, kg, hw, og, 1, wg, kg, d, hw, 0, dst, hw)
					continue
				}
				gemm(true, false, kg, hw, og, 1, wg, kg, d, hw, 0, *cols, hw)
				kernels.Col2im(geo, *cols, dst)
			}
		}
	})
}

func conv2dBackwardWeightRef(a convArgs, dyd, xd, dw []float32) {
	geo, n, g, o, og, kg, hw, chw := a.geo, a.n, a.g, a.o, a.og, a.kg, a.hw, a.chw
	var mu sync.Mutex
	overBatch(n, func(lo, hi int, gemm gemmFunc) {
		var cols *[]float32
		if !direct(geo) {
			cols = getScratch(kg * hw)
			defer putScratch(cols)
		}
		part := make([]float32, len(dw)) // this chunk's sum over its images
		for i := lo; i < hi; i++ {
			for gi := range g {
				src := xd[(i*g+gi)*chw : (i*g+gi+1)*chw]
				if cols != nil {
					kernels.Im2col(geo, src, *cols)
					src = *cols
				}
				d := dyd[(i*o+gi*og)*hw : (i*o+(gi+1)*og)*hw]
				gemm(false, true, og, kg, hw, 1, d, hw, src, hw, 1, part[gi*og*kg:(gi+1)*og*kg], kg)
			}
		}
		mu.Lock()
		for j, v := range part {
			dw[j] += v
		}
		mu.Unlock()
	})
}
