package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/fovea-ml/fovea/graph"
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/tensor"
)

// plan assigns buffers to values and turns the ops of prog into steps.
func plan(g *graph.Graph, prog []*op, output int) (*Plan, error) {
	p := &Plan{
		inShape: slices.Clone(g.Values[g.Input].Shape), outShape: slices.Clone(g.Values[output].Shape),
		input: g.Input, output: output, bufOf: make([]int, len(g.Values)),
	}
	for i := range p.bufOf {
		p.bufOf[i] = -1
	}
	size := func(id int) int {
		n := 1
		for _, d := range g.Values[id].Shape {
			n *= d
		}
		return n
	}
	// Views share their input's storage: find each value's root.
	root := map[int]int{}
	rootOf := func(id int) int {
		if r, ok := root[id]; ok {
			return r
		}
		return id
	}
	for _, o := range prog {
		if o.kind == kindView {
			root[o.out] = rootOf(o.inputs[0])
		}
	}
	// Last op index reading each root; the output lives to the end.
	last := map[int]int{}
	for i, o := range prog {
		for _, in := range o.inputs {
			last[rootOf(in)] = i
		}
	}
	last[rootOf(output)] = math.MaxInt
	last[g.Input] = max(last[g.Input], 0)

	// Greedy best-fit reuse of freed buffers, in execution order.
	var free []int
	take := func(id int) {
		need := size(id)
		best := -1
		for j, b := range free {
			if len(p.bufs[b]) >= need && (best < 0 || len(p.bufs[b]) < len(p.bufs[free[best]])) {
				best = j
			}
		}
		if best >= 0 {
			p.bufOf[id] = free[best]
			free = slices.Delete(free, best, best+1)
			return
		}
		p.bufOf[id] = len(p.bufs)
		p.bufs = append(p.bufs, make([]float32, need))
	}
	take(g.Input)
	for i, o := range prog {
		if o.kind == kindView {
			p.bufOf[o.out] = p.bufOf[rootOf(o.out)]
		} else {
			take(o.out)
		}
		for _, in := range slices.Compact(slices.Sorted(slices.Values(o.inputs))) {
			r := rootOf(in)
			if last[r] == i && p.bufOf[r] >= 0 {
				free = append(free, p.bufOf[r])
				last[r] = -1 // freed once
			}
		}
	}
	p.in = tensor.FromSlice(p.buf(g.Input)[:size(g.Input)], p.inShape...)
	p.out = tensor.FromSlice(p.buf(output)[:size(output)], p.outShape...)
	for _, o := range prog {
		st, err := p.step(g, o, size)
		if err != nil {
			return nil, err
		}
		p.steps = append(p.steps, st)
		p.Summary = append(p.Summary, st.name)
	}
	for _, bind := range p.bindLater {
		bind()
	}
	p.bindLater = nil
	return p, nil
}

// step builds the executable form of o.
func (p *Plan) step(g *graph.Graph, o *op, size func(int) int) (step, error) {
	// Buffers are fixed once planned, so every step binds its slices (and
	// any closure it hands to the worker pool) now, and Run allocates
	// nothing.
	ins := make([][]float32, len(o.inputs))
	for i, id := range o.inputs {
		ins[i] = p.buf(id)[:size(id)]
	}
	in := func(i int) []float32 { return ins[i] }
	y := p.buf(o.out)[:size(o.out)]
	out := func() []float32 { return y }
	inShape := g.Values[o.inputs[0]].Shape
	outShape := g.Values[o.out].Shape
	act := activation(o.act, o.alpha, o.shift)
	name := o.kind.String()
	if o.act != ops.None {
		name += "+" + o.act.String()
	}
	switch o.kind {
	case kindConv:
		c := newConv(inShape, outShape, o)
		if o.add >= 0 {
			name = "conv+add"
			if o.act != ops.None {
				name += "+" + o.act.String()
			}
		}
		var add []float32
		if o.add >= 0 {
			add = p.buf(o.add)[:size(o.add)]
		}
		c.bind(in(0), out(), add, act, o.act == ops.ReLU)
		if c.wino != nil {
			name = "winograd-" + name
			if need := c.wino.ScratchSize(); len(p.wino) < need {
				p.wino = make([]float32, need)
			}
			// The shared scratch is final once every step is built.
			p.bindLater = append(p.bindLater, func() { c.wino.Bind(c.x, c.y, c.add, c.relu, p.wino) })
		}
		return step{name: name, run: c.run}, nil
	case kindLinear:
		n, k, m := inShape[0], o.wShape[1], o.wShape[0]
		if size(o.inputs[0]) != n*k {
			return step{}, fmt.Errorf("engine: linear layer expects %d inputs per example, got shape %v", k, inShape)
		}
		x, y := in(0), out()
		// Small batches: one vector AXPY per (non-zero) input on the
		// pre-transposed, padded weight (kernels.Linear); large ones: a
		// plain GEMM on the transposed weight.
		if n <= 4 {
			l := kernels.NewLinear(m, k, o.w, o.b)
			relu := o.act == ops.ReLU
			return step{name: name, run: func(*Plan) {
				l.Run(n, x, y, relu)
				if !relu {
					act(y)
				}
			}}, nil
		}
		wt := make([]float32, k*m)
		for j := range m {
			for i := range k {
				wt[i*m+j] = o.w[j*k+i]
			}
		}
		ep := &kernels.Epilogue{ColBias: o.b}
		return step{name: name, run: func(*Plan) {
			kernels.GemmEx(n, m, k, 1, x, k, wt, m, 0, y, m, kernels.GemmOpts{Epilogue: ep, Parallel: true})
			act(y)
		}}, nil
	case kindAdd:
		return step{name: name, run: func(p *Plan) {
			a, b, y := in(0), in(1), out()
			for i := range y {
				y[i] = a[i] + b[i]
			}
			act(y)
		}}, nil
	case kindAct:
		return step{name: o.act.String(), run: func(p *Plan) {
			y := out()
			copy(y, in(0))
			act(y)
		}}, nil
	case kindAffine:
		hw := size(o.inputs[0]) / (inShape[0] * inShape[1])
		return step{name: name, run: func(p *Plan) {
			x, y := in(0), out()
			for i := 0; i < len(y); i += hw {
				c := (i / hw) % len(o.scale)
				s, t := o.scale[c], o.bias[c]
				for j := i; j < i+hw; j++ {
					y[j] = x[j]*s + t
				}
			}
		}}, nil
	case kindMaxPool, kindAvgPool:
		pg := poolGeom(inShape, outShape, o.pool)
		planes := inShape[0] * inShape[1]
		ip, opl := inShape[2]*inShape[3], outShape[2]*outShape[3]
		isMax := o.kind == kindMaxPool
		x, y := in(0), out()
		body := func(lo, hi int) {
			for i := lo; i < hi; i++ {
				if isMax {
					kernels.MaxPool2dInfer(pg, x[i*ip:(i+1)*ip], y[i*opl:(i+1)*opl])
				} else {
					kernels.AvgPool2d(pg, x[i*ip:(i+1)*ip], y[i*opl:(i+1)*opl], o.pool.CountPad)
				}
			}
		}
		// Waking a worker costs more than a small pooling (LeNet's) takes.
		if planes*opl*pg.KH*pg.KW < 1<<16 {
			return step{name: name, run: func(*Plan) { body(0, planes) }}, nil
		}
		return step{name: name, run: func(*Plan) { kernels.For(planes, 8, body) }}, nil
	case kindGAP:
		hw := inShape[2] * inShape[3]
		return step{name: name, run: func(p *Plan) {
			x, y := in(0), out()
			for i := range y {
				var s float32
				for _, v := range x[i*hw : (i+1)*hw] {
					s += v
				}
				y[i] = s / float32(hw)
			}
		}}, nil
	case kindView:
		return step{name: name, run: func(*Plan) {}}, nil
	case kindConcat:
		outer := 1
		for _, d := range outShape[:o.axis] {
			outer *= d
		}
		return step{name: name, run: func(p *Plan) {
			y := out()
			row := len(y) / outer
			at := 0
			for i := range o.inputs {
				x := in(i)
				n := len(x) / outer
				for r := range outer {
					copy(y[r*row+at:r*row+at+n], x[r*n:(r+1)*n])
				}
				at += n
			}
		}}, nil
	case kindSoftmax, kindLogSoftmax:
		n := outShape[len(outShape)-1]
		row := kernels.SoftmaxRow[float32]
		if o.kind == kindLogSoftmax {
			row = kernels.LogSoftmaxRow[float32]
		}
		return step{name: name, run: func(p *Plan) {
			x, y := in(0), out()
			for r := 0; r < len(y); r += n {
				row(x[r:r+n], y[r:r+n], n, 1)
			}
		}}, nil
	}
	return step{}, fmt.Errorf("engine: internal: no step for %q", o.kind)
}

func poolGeom(in, out []int, p tensor.PoolParams) kernels.PoolGeom {
	s := p.WithDefaults().Stride
	return kernels.PoolGeom{H: in[2], W: in[3], KH: p.Kernel[0], KW: p.Kernel[1], StrideH: s[0], StrideW: s[1],
		PadH: p.Pad[0], PadW: p.Pad[1], OutH: out[2], OutW: out[3]}
}

// activation returns the in-place function applying a traced activation
// (ops.Scale computes alpha·x + shift).
func activation(act ops.Op, alpha, shift float32) func([]float32) {
	apply := func(fn func(float32) float32) func([]float32) {
		return func(y []float32) {
			for i, v := range y {
				y[i] = fn(v)
			}
		}
	}
	switch act {
	case ops.None:
		return func([]float32) {}
	case ops.ReLU:
		return func(y []float32) {
			for i, v := range y {
				if !(v > 0) && v == v {
					y[i] = 0
				}
			}
		}
	case ops.ReLU6:
		return apply(func(v float32) float32 {
			if v != v {
				return v
			}
			return min(max(v, 0), 6)
		})
	case ops.LeakyReLU:
		return apply(func(v float32) float32 {
			if v < 0 {
				return alpha * v
			}
			return v
		})
	case ops.ELU:
		return apply(func(v float32) float32 {
			if v < 0 {
				return alpha * float32(math.Expm1(float64(v)))
			}
			return v
		})
	case ops.GELU:
		return apply(func(v float32) float32 {
			return float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
		})
	case ops.SiLU:
		return apply(func(v float32) float32 { return v / (1 + float32(math.Exp(-float64(v)))) })
	case ops.Sigmoid:
		return apply(func(v float32) float32 { return float32(1 / (1 + math.Exp(-float64(v)))) })
	case ops.Tanh:
		return apply(func(v float32) float32 { return float32(math.Tanh(float64(v))) })
	case ops.Scale:
		return apply(func(v float32) float32 { return alpha*v + shift })
	}
	panic("engine: unknown activation " + act.String())
}
