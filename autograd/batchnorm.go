package autograd

import (
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/tensor"
)

// BatchNorm normalizes x per channel, y = γ·(x−μ)/√(σ²+eps) + β, for x of
// shape (N,C), (N,C,L) or (N,C,H,W); gamma and beta are (C), or nil for no
// affine transform (PyTorch's affine=False).
//
// In training mode μ and σ² are the batch statistics over every axis but
// the channel axis (σ² biased), and runMean and runVar (C) are updated in
// place as PyTorch does:
//
//	running = (1−momentum)·running + momentum·batch
//
// with the unbiased variance σ²·M/(M−1), M the number of values per channel.
// In evaluation mode runMean and runVar are used as μ and σ² and left alone.
// When runMean and runVar are nil (track_running_stats=False) the batch
// statistics are used in both modes.
//
// Forward and backward are fused per-channel loops, each pass over a
// channel one kernel call over its N planes (kernels.DevSums64Planes and
// the like); no intermediate graph is built. Training takes two passes
// over a channel each way: the batch statistics, then the output; the
// gradient sums Σg and Σg·(x−μ), then the input gradient. The gradients
// with respect to x, gamma and beta are exact in both modes (in evaluation
// mode μ and σ² are constants).
//
// The batch statistics come from one pass of float64 sums of the
// deviations d = x − K from K, the channel's first value: μ = K + Σd/M
// and σ² = Σd²/M − (Σd/M)². The shift keeps a mean far from zero from
// cancelling: σ² is off by at most about (L+3)·2⁻⁵³·(2σ² + 3(μ−K)²), L
// the longest chain of float64 additions (M/16 or M/32 on the AVX2 and
// AVX-512 paths, M on the plain-Go one), where the two-pass Σ(x−μ)²/M is
// off by about L·2⁻⁵³·σ². (μ−K)² is σ² times the squared z-score of the
// first value, small in practice; unshifted, the term would be μ², 10¹⁰·σ²
// for a mean of 10³ and a standard deviation of 10⁻² (TestBatchNormLargeMean).
func BatchNorm(x, gamma, beta *Var, runMean, runVar *tensor.Tensor, training bool, momentum, eps float32) (res *Var) {
	defer func() {
		emit(ops.BatchNorm, BatchNormAttrs{RunMean: runMean, RunVar: runVar, Training: training, Momentum: momentum, Eps: eps}, res, x, gamma, beta)
	}()
	return batchNorm(x, gamma, beta, runMean, runVar, training, momentum, eps, false)
}

// BatchNormReLU is ReLU(BatchNorm(x, …)), the same values and gradients to
// the bit, in one operation: the ReLU runs on the normalized values in
// registers, its output is the only tensor kept (no separate normalized
// tensor), and the backward masks the incoming gradient by y > 0 in
// registers inside the batch-norm backward's two passes instead of writing
// a masked copy of it. On a tape that traces (Tape.Trace) it records the two
// operations, BatchNorm then ReLU, so the traced graph is unchanged.
func BatchNormReLU(x, gamma, beta *Var, runMean, runVar *tensor.Tensor, training bool, momentum, eps float32) *Var {
	if t := x.tape; t != nil && t.Trace != nil {
		return ReLU(BatchNorm(x, gamma, beta, runMean, runVar, training, momentum, eps))
	}
	return batchNorm(x, gamma, beta, runMean, runVar, training, momentum, eps, true)
}

// BatchNormReLUMaxPool2d is MaxPool2d(BatchNormReLU(x, …), p) in one
// operation when p is a 2×2 window of stride 2 without padding (a fused
// kernel pools the normalized values in registers: neither the normalized
// nor the rectified tensor is stored, the saved state is x, the pooled
// output and its winners); otherwise, and on a tape that traces, it is
// those operations. Forward values are the bits of the separate
// operations; so are the gradients, whose backward builds each channel's
// masked gradient from the pooled one (the ReLU's mask at a winner is its
// pooled value > 0) where the separate operations scatter it into a
// full-size tensor first.
func BatchNormReLUMaxPool2d(x, gamma, beta *Var, runMean, runVar *tensor.Tensor, training bool, momentum, eps float32, p tensor.PoolParams) *Var {
	if !fusedPoolOK(x, p) {
		return MaxPool2d(BatchNormReLU(x, gamma, beta, runMean, runVar, training, momentum, eps), p)
	}
	return batchNormFused(x, gamma, beta, runMean, runVar, training, momentum, eps, bnFusion{relu: true, pool: &p})
}

// fusedPoolOK reports whether BatchNormReLUMaxPool2d fuses: 2×2 windows of
// stride 2 without padding on a 4-D input, not traced.
func fusedPoolOK(x *Var, p tensor.PoolParams) bool {
	if t := x.tape; (t != nil && t.Trace != nil) || x.Value.Dims() != 4 {
		return false
	}
	p = p.WithDefaults()
	return p.Kernel == [2]int{2, 2} && p.Stride == [2]int{2, 2} && p.Pad == [2]int{} && !p.CeilMode &&
		x.Value.Dim(2) >= 2 && x.Value.Dim(3) >= 2
}

// batchNorm is BatchNorm, followed by a ReLU when relu is set (see
// BatchNormReLU), without the trace.
func batchNorm(x, gamma, beta *Var, runMean, runVar *tensor.Tensor, training bool, momentum, eps float32, relu bool) *Var {
	return batchNormFused(x, gamma, beta, runMean, runVar, training, momentum, eps, bnFusion{relu: relu})
}

// BatchNormAddReLU is AddReLU(BatchNorm(x, …), add), a residual block's
// end, in one operation: the normalized values are summed with add and
// rectified in registers (kernels.AffineAddReLUPlanes), so only the result
// is stored. Values and gradients are the bits of the two operations; on a
// tape that traces, or when add's shape differs from x's, it is those
// operations.
func BatchNormAddReLU(x, gamma, beta *Var, runMean, runVar *tensor.Tensor, training bool, momentum, eps float32, add *Var) *Var {
	if !slices.Equal(x.Value.Shape(), add.Value.Shape()) || x.Value.Dims() < 2 ||
		(x.tape != nil && x.tape.Trace != nil) || (add.tape != nil && add.tape.Trace != nil) {
		return AddReLU(BatchNorm(x, gamma, beta, runMean, runVar, training, momentum, eps), add)
	}
	return batchNormFused(x, gamma, beta, runMean, runVar, training, momentum, eps, bnFusion{relu: true, add: add})
}

// bnFusion names what batchNormFused fuses after the normalization: a
// ReLU; with pool (2×2, stride 2, no padding: see fusedPoolOK; relu set)
// then the max pool; with add (relu set) first the sum with add.
type bnFusion struct {
	relu bool
	pool *tensor.PoolParams
	add  *Var
}

// batchNormFused is batchNorm followed by the operations f names.
func batchNormFused(x, gamma, beta *Var, runMean, runVar *tensor.Tensor, training bool, momentum, eps float32, f bnFusion) *Var {
	relu, pool, add := f.relu, f.pool, f.add
	shape := slices.Clone(x.Value.Shape()) // kept by the closures: not the header's, which the arena recycles
	if len(shape) < 2 {
		panic(tensor.ShapeErrorf("autograd: BatchNorm of shape %v: want (N,C), (N,C,L) or (N,C,H,W)", shape))
	}
	n, c := shape[0], shape[1]
	s := 1 // elements per (sample, channel): L or H·W
	for _, d := range shape[2:] {
		s *= d
	}
	m := n * s // values per channel
	if n == 0 {
		s = 0 // an empty batch: each channel's (no) planes start at 0
	}
	for _, p := range []struct {
		name string
		t    *tensor.Tensor
	}{{"gamma", varValue(gamma)}, {"beta", varValue(beta)}, {"running mean", runMean}, {"running variance", runVar}} {
		if p.t != nil && (p.t.Dims() != 1 || p.t.Dim(0) != c) {
			panic(tensor.ShapeErrorf("autograd: BatchNorm %s of shape %v for input %v: want (%d)", p.name, p.t.Shape(), shape, c))
		}
	}
	if (runMean == nil) != (runVar == nil) {
		panic(tensor.ShapeErrorf("autograd: BatchNorm needs both running statistics or neither"))
	}
	batchStats := training || runMean == nil
	if batchStats && m < 2 {
		panic(tensor.ShapeErrorf("autograd: BatchNorm of shape %v in training mode: need more than one value per channel", shape))
	}

	grain := max(1, poolGrain/max(m, 1))
	cs := c * s // the stride of a channel's planes in (N, C, S)
	var pg kernels.PoolGeom
	ps := s
	if pool != nil {
		pg = pool.Geom("BatchNormReLUMaxPool2d", shape)
		ps = pg.OutH * pg.OutW
	}
	// Set by the forward computation, read by the backward closure; set
	// by each computation, read by the loops over channels, which are made
	// once, so that a replayed program allocates none.
	var (
		xd, gd, od   []float32 // x (N, C, S), γ, the result
		mean, invStd []float32 // μ and 1/√(σ²+eps) per channel
		arg          []int32   // with the pool: the winners
		bd, addd     []float32 // β, the residual
		rmd, rvd     []float32 // the running statistics
		gt, gmd      []float32 // the incoming gradient; with add, the masked one
		dxd, dgd     []float32 // the gradients of x, γ
		dbd          []float32 // and β
	)
	fwdBody := func(lo, hi int) {
		for ch := lo; ch < hi; ch++ {
			o := ch * s // the channel's first plane
			var mu, variance float64
			if batchStats {
				k := float64(xd[o]) // the shift: the channel's first value
				dev, sqDev := kernels.DevSums64Planes(n, s, xd[o:], cs, k)
				d := dev / float64(m) // μ − K
				mu = k + d
				variance = max(sqDev/float64(m)-d*d, 0) // biased, for normalizing; NaN stays NaN
				if training && rmd != nil {
					mom := float64(momentum)
					rmd[ch] = float32((1-mom)*float64(rmd[ch]) + mom*mu)
					rvd[ch] = float32((1-mom)*float64(rvd[ch]) + mom*variance*float64(m)/float64(m-1))
				}
			} else {
				mu, variance = float64(rmd[ch]), float64(rvd[ch])
			}
			inv := 1 / math.Sqrt(variance+float64(eps))
			mean[ch], invStd[ch] = float32(mu), float32(inv)

			// y = a·x + b with a = γ/σ, b = β − a·μ
			a, b := float32(inv), -float32(mu*inv)
			if gd != nil {
				a, b = gd[ch]*a, gd[ch]*b
			}
			if bd != nil {
				b += bd[ch]
			}
			switch {
			case add != nil:
				kernels.AffineAddReLUPlanes(n, s, od[o:], cs, a, b, xd[o:], cs, addd[o:], cs)
			case pool != nil:
				kernels.AffineReLUMaxPool2x2Planes(n, pg, a, b, xd[o:], cs, od[ch*ps:], arg[ch*ps:], c*ps)
			case relu:
				kernels.AffineReLUPlanes(n, s, od[o:], cs, a, b, xd[o:], cs) // the ReLU in registers
			default:
				kernels.AffinePlanes(n, s, od[o:], cs, a, b, xd[o:], cs)
			}
		}
	}
	maskBody := func(lo, hi int) { kernels.ReLUBackward(gmd[lo:hi], gt[lo:hi], od[lo:hi]) }
	bwdBody := func(lo, hi int) {
		var masked *[]float32 // with the pool: a channel's unpooled gradient
		if pool != nil {
			masked = getFloats(n * s)
			defer putFloats(masked)
		}
		for ch := lo; ch < hi; ch++ {
			mu, inv := mean[ch], invStd[ch]
			o := ch * s // the channel's first plane
			// The channel's gradient: n planes of s, cs apart; with the
			// ReLU masked by y > 0 inside the kernels. With the pool,
			// the masked gradient unpooled into the worker's planes.
			var sumG, sumGX float64
			switch {
			case add != nil: // gt is the masked gradient
				sumG, sumGX = kernels.SumDotDev64Planes(n, s, gt[o:], cs, xd[o:], cs, float64(mu))
			case pool != nil: // gt is (N, C, OH, OW)
				unpoolMasked(pg, n, s, ps, *masked, gt[ch*ps:], od[ch*ps:], arg[ch*ps:], c*ps)
				sumG, sumGX = kernels.SumDotDev64Planes(n, s, *masked, s, xd[o:], cs, float64(mu))
			case relu:
				sumG, sumGX = kernels.SumDotDev64ReLUPlanes(n, s, gt[o:], cs, od[o:], cs, xd[o:], cs, float64(mu))
			default:
				sumG, sumGX = kernels.SumDotDev64Planes(n, s, gt[o:], cs, xd[o:], cs, float64(mu))
			}
			sumGX *= float64(inv)
			if dgd != nil {
				dgd[ch] = float32(sumGX)
			}
			if dbd != nil {
				dbd[ch] = float32(sumG)
			}
			if dxd == nil {
				continue
			}
			scale := inv
			if gd != nil {
				scale *= gd[ch]
			}
			var meanG, meanGX float32
			if batchStats {
				meanG, meanGX = float32(sumG/float64(m)), float32(sumGX/float64(m))
			}
			// dx = scale·g − scale·inv·meanGX·(x − μ) − scale·meanG
			devCoef, offset := -scale*inv*meanGX, -scale*meanG
			switch {
			case add != nil:
				kernels.AxpbyDevPlanes(n, s, dxd[o:], cs, scale, gt[o:], cs, devCoef, xd[o:], cs, mu, offset)
			case pool != nil:
				kernels.AxpbyDevPlanes(n, s, dxd[o:], cs, scale, *masked, s, devCoef, xd[o:], cs, mu, offset)
			case relu:
				kernels.AxpbyDevReLUPlanes(n, s, dxd[o:], cs, scale, gt[o:], cs, od[o:], cs, devCoef, xd[o:], cs, mu, offset)
			default:
				kernels.AxpbyDevPlanes(n, s, dxd[o:], cs, scale, gt[o:], cs, devCoef, xd[o:], cs, mu, offset)
			}
		}
	}
	return record(func() *tensor.Tensor {
		xd = x.Value.Contiguous().Data()
		gd = optData(gamma)
		bd = optData(beta)
		out := x.Value.Arena().Empty(shape...)
		if pool != nil { // out (N, C, OH, OW); arg: flat indices in the H×W planes
			out = x.Value.Arena().Empty(n, c, pg.OutH, pg.OutW)
			arg = int32s(x.Value.Arena().Empty(n * c * ps).Data()) // the step's memory
		}
		od = out.Data()
		if add != nil {
			addd = add.Value.Contiguous().Data()
		}
		st := x.Value.Arena().Empty(2 * c).Data() // the step's memory, as the activations
		mean, invStd = st[:c:c], st[c:]
		if runMean != nil {
			rmd, rvd = runMean.Contiguous().Data(), runVar.Contiguous().Data()
		}
		kernels.For(c, grain, fwdBody)
		if runMean != nil && !runMean.IsContiguous() {
			runMean.CopyFrom(tensor.FromSlice(rmd, c))
			runVar.CopyFrom(tensor.FromSlice(rvd, c))
		}
		return out
	}, func(g *tensor.Tensor) {
		// With x̂ = (x−μ)/σ, per channel:
		//   dβ = Σ g,  dγ = Σ g·x̂
		//   training: dx = γ/σ · (g − Σg/M − x̂·Σ(g·x̂)/M)
		//   eval:     dx = γ/σ · g
		gt = g.Contiguous().Data() // (N, C, S)
		if add != nil {
			// The sum's gradient, masked by the ReLU, goes to add as it is
			// and is the normalization's incoming gradient.
			gm := x.Value.Arena().Empty(shape...)
			gmd = gm.Data()
			kernels.For(len(gmd), pointwiseGrain, maskBody)
			gt = gmd
			defer add.addGrad(gm)
		}
		var dx, dgamma, dbeta *tensor.Tensor
		dxd, dgd, dbd = nil, nil, nil
		if x.requiresGrad {
			dx = x.Value.Arena().Empty(shape...) // every plane is written
			dxd = dx.Data()
		}
		if gamma != nil && gamma.requiresGrad {
			dgamma = x.Value.Arena().New(c)
			dgd = dgamma.Data()
		}
		if beta != nil && beta.requiresGrad {
			dbeta = x.Value.Arena().New(c)
			dbd = dbeta.Data()
		}
		kernels.For(c, grain, bwdBody)
		if dx != nil {
			x.addGrad(dx)
		}
		if dgamma != nil {
			gamma.addGrad(dgamma)
		}
		if dbeta != nil {
			beta.addGrad(dbeta)
		}
	}, x, gamma, beta, add)
}

// unpoolMasked writes n planes of s floats to dst (s apart), planes of pg:
// each pooled gradient g[o] at its window's winner arg[o] where the pooled
// value out[o] > 0, zero elsewhere (kernels.Unpool2x2Masked). g, out and
// arg hold n planes of ps, stride apart. These are the bits of the
// separate operations: MaxPool2d's backward adds g[o] to a cleared plane
// (0 + g[o], so −0 becomes 0), and the ReLU's backward keeps it where the
// rectified value at the winner, the pooled value, is positive.
func unpoolMasked(pg kernels.PoolGeom, n, s, ps int, dst, g, out []float32, arg []int32, stride int) {
	kernels.Unpool2x2MaskedPlanes(n, pg, g, out, arg, stride, dst, s)
}

// int32s reinterprets f's memory as int32s (argmax indices kept in arena
// memory).
func int32s(f []float32) []int32 {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*int32)(unsafe.Pointer(&f[0])), len(f))
}

// varValue is v.Value, or nil for a nil v.
func varValue(v *Var) *tensor.Tensor {
	if v == nil {
		return nil
	}
	return v.Value
}

// optData is the contiguous data of v's value, or nil for a nil v.
func optData(v *Var) []float32 {
	if v == nil {
		return nil
	}
	return v.Value.Contiguous().Data()
}

// floatsPool recycles the per-worker planes of the fused pool's backward.
var floatsPool = sync.Pool{New: func() any { return new([]float32) }}

// getFloats returns a pooled buffer of n floats with arbitrary contents.
func getFloats(n int) *[]float32 {
	b := floatsPool.Get().(*[]float32)
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return b
}

func putFloats(b *[]float32) { floatsPool.Put(b) }
