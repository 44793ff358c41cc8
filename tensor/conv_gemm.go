package tensor

import (
	"sync"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// gemmColsTarget is the GEMM width (columns of the unfolded input) the
// batched path aims for: images whose output plane is smaller are unfolded
// side by side until their planes add up to about this many columns.
// gemmColsMax bounds the unfolded matrix (floats) of one GEMM.
const (
	gemmColsTarget = 1024
	gemmColsMax    = 1 << 22
)

// imageBatch returns how many images each GEMM covers (nb) and how many such
// groups of images there are (ng).
func (a convArgs) imageBatch() (nb, ng int) {
	nb = max(1, min(a.n, (gemmColsTarget+a.hw-1)/a.hw, gemmColsMax/max(a.kg*a.hw, 1)))
	if t := kernels.Threads(); a.n >= t && t > 1 {
		nb = min(nb, (a.n+t-1)/t) // at least one group per thread
	}
	ng = (a.n + nb - 1) / nb
	nb = (a.n + ng - 1) / ng // even out the groups
	return nb, ng
}

// overGroups runs fn over the ng image groups: spread over the workers with
// serial GEMMs when there are at least as many groups as threads, else on the
// calling goroutine with parallel GEMMs.
func overGroups(ng int, fn func(lo, hi int, gemm gemmFunc, par bool)) {
	if t := kernels.Threads(); t > 1 && ng >= t {
		kernels.For(ng, 1, func(lo, hi int) { fn(lo, hi, kernels.GemmSerial, false) })
		return
	}
	fn(0, ng, kernels.Gemm, true)
}

// gatherPlanes copies, for images i0…i0+m-1, the og planes of hw values
// starting at channel ch of a (N, chans, hw) tensor into a og × (m·hw)
// matrix: row r holds channel ch+r of every image side by side.
func gatherPlanes(src []float32, chans, ch, og, hw, i0, m int, dst []float32) {
	ld := m * hw
	for j := range m {
		base := ((i0+j)*chans + ch) * hw
		for r := range og {
			copy(dst[r*ld+j*hw:r*ld+(j+1)*hw], src[base+r*hw:base+(r+1)*hw])
		}
	}
}

// gemmForward: out = W·im2col(x) (+ bias), several images per GEMM when the
// output planes are small.
func gemmForward(a convArgs, xd, wd, bd, out []float32) {
	geo, g, o, og, kg, hw, chw := a.geo, a.g, a.o, a.og, a.kg, a.hw, a.chw
	nb, ng := a.imageBatch()
	overGroups(ng, func(lo, hi int, gemm gemmFunc, par bool) {
		var cols, tmp *[]float32
		if nb > 1 || !direct(geo) {
			cols = getScratch(kg * nb * hw)
			defer putScratch(cols)
		}
		if nb > 1 {
			tmp = getScratch(og * nb * hw)
			defer putScratch(tmp)
		}
		for bi := lo; bi < hi; bi++ {
			i0 := bi * nb
			m := min(nb, a.n-i0)
			ld := m * hw
			for gi := range g {
				wg := wd[gi*og*kg : (gi+1)*og*kg]
				if m == 1 {
					src := xd[(i0*g+gi)*chw : (i0*g+gi+1)*chw]
					if cols != nil {
						kernels.Im2colLd(geo, src, *cols, hw)
						src = *cols
					}
					dst := out[(i0*o+gi*og)*hw : (i0*o+(gi+1)*og)*hw]
					var ep *kernels.Epilogue
					if bd != nil {
						ep = &kernels.Epilogue{RowBias: bd[gi*og : (gi+1)*og]}
					}
					kernels.GemmEx(false, false, og, hw, kg, 1, wg, kg, src, hw, 0, dst, hw, ep, par)
					continue
				}
				for j := range m {
					i := i0 + j
					kernels.Im2colLd(geo, xd[(i*g+gi)*chw:(i*g+gi+1)*chw], (*cols)[j*hw:], ld)
				}
				t := *tmp
				gemm(false, false, og, ld, kg, 1, wg, kg, *cols, ld, 0, t, ld)
				for j := range m {
					base := ((i0+j)*o + gi*og) * hw
					for r := range og {
						d, s := out[base+r*hw:base+(r+1)*hw], t[r*ld+j*hw:r*ld+(j+1)*hw]
						if bd == nil {
							copy(d, s)
							continue
						}
						bv := bd[gi*og+r]
						for k := range d {
							d[k] = s[k] + bv
						}
					}
				}
			}
		}
	})
}

// gemmBackwardInput: dx = col2im(Wᵀ·dy), several images per GEMM when the
// output planes are small.
func gemmBackwardInput(a convArgs, dyd, wd, dx []float32) {
	geo, g, o, og, kg, hw, chw := a.geo, a.g, a.o, a.og, a.kg, a.hw, a.chw
	nb, ng := a.imageBatch()
	overGroups(ng, func(lo, hi int, gemm gemmFunc, par bool) {
		var cols, dyc *[]float32
		if nb > 1 || !direct(geo) {
			cols = getScratch(kg * nb * hw)
			defer putScratch(cols)
		}
		if nb > 1 {
			dyc = getScratch(og * nb * hw)
			defer putScratch(dyc)
		}
		for bi := lo; bi < hi; bi++ {
			i0 := bi * nb
			m := min(nb, a.n-i0)
			ld := m * hw
			for gi := range g {
				wg := wd[gi*og*kg : (gi+1)*og*kg]
				if m == 1 {
					d := dyd[(i0*o+gi*og)*hw : (i0*o+(gi+1)*og)*hw]
					dst := dx[(i0*g+gi)*chw : (i0*g+gi+1)*chw]
					if cols == nil {
						gemm(true, false, kg, hw, og, 1, wg, kg, d, hw, 0, dst, hw)
						continue
					}
					gemm(true, false, kg, hw, og, 1, wg, kg, d, hw, 0, *cols, hw)
					kernels.Col2imLd(geo, *cols, dst, hw)
					continue
				}
				gatherPlanes(dyd, o, gi*og, og, hw, i0, m, *dyc)
				gemm(true, false, kg, ld, og, 1, wg, kg, *dyc, ld, 0, *cols, ld)
				for j := range m {
					i := i0 + j
					kernels.Col2imLd(geo, (*cols)[j*hw:], dx[(i*g+gi)*chw:(i*g+gi+1)*chw], ld)
				}
			}
		}
	})
}

// gemmBackwardWeight: dW = Σ dy·im2col(x)ᵀ, several images per GEMM when the
// output planes are small, so the GEMM's inner dimension is long. Workers sum
// into pooled partial buffers that are added up at the end.
func gemmBackwardWeight(a convArgs, dyd, xd, dw []float32) {
	geo, g, o, og, kg, hw, chw := a.geo, a.g, a.o, a.og, a.kg, a.hw, a.chw
	nb, ng := a.imageBatch()
	var mu sync.Mutex
	overGroups(ng, func(lo, hi int, gemm gemmFunc, par bool) {
		var cols, dyc *[]float32
		if nb > 1 || !direct(geo) {
			cols = getScratch(kg * nb * hw)
			defer putScratch(cols)
		}
		if nb > 1 {
			dyc = getScratch(og * nb * hw)
			defer putScratch(dyc)
		}
		// A chunk that covers every group writes dw itself; others sum
		// into a partial buffer.
		acc := dw
		if lo > 0 || hi < ng {
			part := getScratch(len(dw))
			defer putScratch(part)
			acc = *part
			clear(acc)
		}
		for bi := lo; bi < hi; bi++ {
			i0 := bi * nb
			m := min(nb, a.n-i0)
			ld := m * hw
			for gi := range g {
				dst := acc[gi*og*kg : (gi+1)*og*kg]
				if m == 1 {
					src := xd[(i0*g+gi)*chw : (i0*g+gi+1)*chw]
					if cols != nil {
						kernels.Im2colLd(geo, src, *cols, hw)
						src = *cols
					}
					d := dyd[(i0*o+gi*og)*hw : (i0*o+(gi+1)*og)*hw]
					gemm(false, true, og, kg, hw, 1, d, hw, src, hw, 1, dst, kg)
					continue
				}
				for j := range m {
					i := i0 + j
					kernels.Im2colLd(geo, xd[(i*g+gi)*chw:(i*g+gi+1)*chw], (*cols)[j*hw:], ld)
				}
				gatherPlanes(dyd, o, gi*og, og, hw, i0, m, *dyc)
				gemm(false, true, og, kg, ld, 1, *dyc, ld, *cols, ld, 1, dst, kg)
			}
		}
		if &acc[0] != &dw[0] {
			mu.Lock()
			for j, v := range acc {
				dw[j] += v
			}
			mu.Unlock()
		}
	})
}

// packedPool recycles the packed weights of implicitForward.
var packedPool = sync.Pool{New: func() any { return new(kernels.PackedA) }}

// implicitWins reports whether the forward pass runs as an implicit GEMM.
// Measured with BenchmarkConvAlgos on the 2-core AVX-512 machine: it beats
// im2col + GEMM whenever each GEMM covers one image (its output plane is
// wide enough, or there is one image) and there are at least
// implicitMinCols output columns in all (fewer, and packing the weights
// each call dominates: ResNet-18's 7×7 layers at batch 1), and it beats
// Winograd F(2,3) forward on every shape where that was chosen (by
// 1.1–2×), so it is tried first.
func implicitWins(a convArgs) bool {
	nb, _ := a.imageBatch()
	return a.n*a.hw >= implicitMinCols && (nb == 1 || (winogradFits(a) && winogradWins(a, opForward)))
}

const implicitMinCols = 128

// implicitForward: out = W·im2col(x) (+ bias) with the weights packed once
// per call and the unfolded input packed straight from each image
// (kernels.GemmConv); images spread over the threads when there are enough,
// else each product is split over them.
func implicitForward(a convArgs, xd, wd, bd, out []float32) {
	geo, g, o, og, kg, hw, chw := a.geo, a.g, a.o, a.og, a.kg, a.hw, a.chw
	t := kernels.Threads()
	perImage := a.n >= t && t > 1
	nh := hw
	if !perImage {
		nh = (hw + t - 1) / t
	}
	pws := make([]*kernels.PackedA, g)
	for gi := range g {
		pws[gi] = packedPool.Get().(*kernels.PackedA)
		pws[gi].Pack(og, nh, kg, wd[gi*og*kg:(gi+1)*og*kg], kg)
	}
	defer func() {
		for _, pw := range pws {
			packedPool.Put(pw)
		}
	}()
	run := func(lo, hi int, par bool) {
		pad := getScratch(kernels.ConvPadSize(geo))
		defer putScratch(pad)
		var ep kernels.Epilogue
		for i := lo; i < hi; i++ {
			for gi := range g {
				if bd != nil {
					ep.RowBias = bd[gi*og : (gi+1)*og]
				}
				dst := out[(i*o+gi*og)*hw : (i*o+(gi+1)*og)*hw]
				kernels.GemmConv(pws[gi], geo, xd[(i*g+gi)*chw:(i*g+gi+1)*chw], *pad, dst, hw, &ep, par)
			}
		}
	}
	if perImage {
		kernels.For(a.n, 1, func(lo, hi int) { run(lo, hi, false) })
		return
	}
	run(0, a.n, true)
}
