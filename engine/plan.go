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
	p.assignBuffers(prog, g.Input, output, size)
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

// assignBuffers gives the input and every op's output a buffer (p.bufOf),
// in execution order, reusing by greedy best fit the buffers of values no
// later op reads; a view shares its input's buffer. size(id) is the
// number of elements of value id.
func (p *Plan) assignBuffers(prog []*op, input, output int, size func(int) int) {
	rootOf := viewRoots(prog)
	last := lastReads(prog, rootOf, input, output)
	var free []int // buffers no longer read
	p.bufOf[input], free = p.takeBuffer(free, size(input))
	for i, o := range prog {
		if o.kind == kindView {
			p.bufOf[o.out] = p.bufOf[rootOf(o.out)]
		} else {
			p.bufOf[o.out], free = p.takeBuffer(free, size(o.out))
		}
		for _, in := range slices.Compact(slices.Sorted(slices.Values(o.inputs))) {
			r := rootOf(in)
			if last[r] == i && p.bufOf[r] >= 0 {
				free = append(free, p.bufOf[r])
				last[r] = -1 // freed once
			}
		}
	}
}

// viewRoots returns the function mapping a value to the one whose storage
// it shares: a view's input (through chains of views), else itself.
func viewRoots(prog []*op) func(id int) int {
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
	return rootOf
}

// lastReads returns, for each root value (see viewRoots), the index in prog
// of the last op reading it; the output lives to the end (math.MaxInt) and
// the input at least to the first op.
func lastReads(prog []*op, rootOf func(int) int, input, output int) map[int]int {
	last := map[int]int{}
	for i, o := range prog {
		for _, in := range o.inputs {
			last[rootOf(in)] = i
		}
	}
	last[rootOf(output)] = math.MaxInt
	last[input] = max(last[input], 0)
	return last
}

// takeBuffer returns the smallest buffer in free holding at least need
// elements and free without it, or else a new buffer of need elements and
// free unchanged.
func (p *Plan) takeBuffer(free []int, need int) (buf int, rest []int) {
	best := -1
	for j, b := range free {
		if len(p.bufs[b]) >= need && (best < 0 || len(p.bufs[b]) < len(p.bufs[free[best]])) {
			best = j
		}
	}
	if best >= 0 {
		buf = free[best] // before Delete shifts free
		return buf, slices.Delete(free, best, best+1)
	}
	p.bufs = append(p.bufs, make([]float32, need))
	return len(p.bufs) - 1, free
}

// binding is an op with the planned buffers it reads and writes, from
// which a step builder makes the op's step. Buffers are fixed once planned,
// so every step binds its slices (and any closure it hands to the worker
// pool) at compile time, and Run allocates nothing.
type binding struct {
	p                 *Plan
	o                 *op
	ins               [][]float32     // the inputs' buffers, in o.inputs order
	y                 []float32       // the output's buffer
	inShape, outShape []int           // of the first input and of the output
	activate          func([]float32) // o's activation epilogue, in place
	name              string          // the step's name (see op.stepName)
	size              func(id int) int
}

// stepBuilders holds, for each kind of op, the method making its step.
var stepBuilders = [...]func(*binding) (step, error){
	kindConv: (*binding).convStep, kindLinear: (*binding).linearStep, kindAffine: (*binding).affineStep,
	kindAdd: (*binding).addStep, kindAct: (*binding).actStep,
	kindMaxPool: (*binding).poolStep, kindAvgPool: (*binding).poolStep, kindGAP: (*binding).gapStep,
	kindView: (*binding).viewStep, kindConcat: (*binding).concatStep,
	kindSoftmax: (*binding).softmaxStep, kindLogSoftmax: (*binding).softmaxStep,
}

// step builds the executable form of o.
func (p *Plan) step(g *graph.Graph, o *op, size func(int) int) (step, error) {
	build := stepBuilders[o.kind]
	if build == nil {
		return step{}, fmt.Errorf("engine: internal: no step for %q", o.kind)
	}
	b := &binding{
		p: p, o: o, ins: make([][]float32, len(o.inputs)), y: p.buf(o.out)[:size(o.out)],
		inShape: g.Values[o.inputs[0]].Shape, outShape: g.Values[o.out].Shape,
		activate: activation(o.act, o.alpha, o.shift), name: o.stepName(), size: size,
	}
	for i, id := range o.inputs {
		b.ins[i] = p.buf(id)[:size(id)]
	}
	return build(b)
}

// stepName names o's step in Plan.Summary: its kind, "+add" for a fused
// residual add and "+" and the fused activation ("conv+add+relu"); an
// activation alone is named by its op ("relu").
func (o *op) stepName() string {
	if o.kind == kindAct {
		return o.act.String()
	}
	name := o.kind.String()
	if o.kind == kindConv && o.add >= 0 {
		name += "+add"
	}
	if o.act != ops.None {
		name += "+" + o.act.String()
	}
	return name
}

// convStep binds a convolution (its algorithm chosen by newConv). A
// Winograd one binds its scratch, shared by every such step, once all the
// steps are built and the scratch has its final size.
func (b *binding) convStep() (step, error) {
	p, o := b.p, b.o
	c := newConv(b.inShape, b.outShape, o)
	var add []float32
	if o.add >= 0 {
		add = p.buf(o.add)[:b.size(o.add)]
	}
	c.bind(b.ins[0], b.y, add, b.activate, o.act == ops.ReLU)
	if c.wino == nil {
		return step{name: b.name, run: c.run}, nil
	}
	if need := c.wino.ScratchSize(); len(p.wino) < need {
		p.wino = make([]float32, need)
	}
	p.bindLater = append(p.bindLater, func() { c.wino.Bind(c.x, c.y, c.add, c.relu, p.wino) })
	return step{name: "winograd-" + b.name, run: c.run}, nil
}

// linearStep binds a linear layer (N, K) → (N, M). Small batches take one
// vector AXPY per (non-zero) input on the pre-transposed, padded weight
// (kernels.Linear); large ones a plain GEMM on the transposed weight.
func (b *binding) linearStep() (step, error) {
	o, x, y, act := b.o, b.ins[0], b.y, b.activate
	n, k, m := b.inShape[0], o.wShape[1], o.wShape[0]
	if len(x) != n*k {
		return step{}, fmt.Errorf("engine: linear layer expects %d inputs per example, got shape %v", k, b.inShape)
	}
	if n <= 4 {
		l := kernels.NewLinear(m, k, o.w, o.b)
		relu := o.act == ops.ReLU
		return step{name: b.name, run: func(*Plan) {
			l.Run(n, x, y, relu)
			if !relu {
				act(y)
			}
		}}, nil
	}
	wt := make([]float32, k*m) // (K, M)
	for j := range m {
		for i := range k {
			wt[i*m+j] = o.w[j*k+i]
		}
	}
	ep := &kernels.Epilogue{ColBias: o.b}
	return step{name: b.name, run: func(*Plan) {
		kernels.GemmEx(n, m, k, 1, x, k, wt, m, 0, y, m, kernels.GemmOpts{Epilogue: ep, Parallel: true})
		act(y)
	}}, nil
}

// addStep binds the sum of two same-shape values and its activation.
func (b *binding) addStep() (step, error) {
	x0, x1, y, act := b.ins[0], b.ins[1], b.y, b.activate
	return step{name: b.name, run: func(*Plan) {
		for i := range y {
			y[i] = x0[i] + x1[i]
		}
		act(y)
	}}, nil
}

// actStep binds an activation alone.
func (b *binding) actStep() (step, error) {
	x, y, act := b.ins[0], b.y, b.activate
	return step{name: b.name, run: func(*Plan) {
		copy(y, x)
		act(y)
	}}, nil
}

// affineStep binds a per-channel x·scale + bias over (N, C, …).
func (b *binding) affineStep() (step, error) {
	x, y, scale, bias := b.ins[0], b.y, b.o.scale, b.o.bias
	hw := len(x) / (b.inShape[0] * b.inShape[1])
	return step{name: b.name, run: func(*Plan) {
		for i := 0; i < len(y); i += hw {
			c := (i / hw) % len(scale)
			s, t := scale[c], bias[c]
			for j := i; j < i+hw; j++ {
				y[j] = x[j]*s + t
			}
		}
	}}, nil
}

// poolStep binds a max or average pooling, one (H, W) plane at a time,
// spread over the threads when the pooling is large enough.
func (b *binding) poolStep() (step, error) {
	o, x, y, in, out := b.o, b.ins[0], b.y, b.inShape, b.outShape
	pg := poolGeom(in, out, o.pool)
	planes := in[0] * in[1]
	ip, opl := in[2]*in[3], out[2]*out[3]
	isMax := o.kind == kindMaxPool
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
		return step{name: b.name, run: func(*Plan) { body(0, planes) }}, nil
	}
	return step{name: b.name, run: func(*Plan) { kernels.For(planes, 8, body) }}, nil
}

// gapStep binds a global average pooling (N, C, H, W) → (N, C, 1, 1).
func (b *binding) gapStep() (step, error) {
	x, y := b.ins[0], b.y
	hw := b.inShape[2] * b.inShape[3]
	return step{name: b.name, run: func(*Plan) {
		for i := range y {
			var s float32
			for _, v := range x[i*hw : (i+1)*hw] {
				s += v
			}
			y[i] = s / float32(hw)
		}
	}}, nil
}

// viewStep binds a reshape, which computes nothing: the output is its
// input's buffer.
func (b *binding) viewStep() (step, error) {
	return step{name: b.name, run: func(*Plan) {}}, nil
}

// concatStep binds a concatenation along o.axis: each input's rows, one
// per index of the axes before it, copied side by side.
func (b *binding) concatStep() (step, error) {
	ins, y := b.ins, b.y
	outer := 1
	for _, d := range b.outShape[:b.o.axis] {
		outer *= d
	}
	return step{name: b.name, run: func(*Plan) {
		row := len(y) / outer
		at := 0
		for _, x := range ins {
			n := len(x) / outer
			for r := range outer {
				copy(y[r*row+at:r*row+at+n], x[r*n:(r+1)*n])
			}
			at += n
		}
	}}, nil
}

// softmaxStep binds a softmax or log-softmax over the last axis, one row
// at a time.
func (b *binding) softmaxStep() (step, error) {
	x, y := b.ins[0], b.y
	n := b.outShape[len(b.outShape)-1]
	row := kernels.SoftmaxRow[float32]
	if b.o.kind == kindLogSoftmax {
		row = kernels.LogSoftmaxRow[float32]
	}
	return step{name: b.name, run: func(*Plan) {
		for r := 0; r < len(y); r += n {
			row(x[r:r+n], y[r:r+n], n, 1)
		}
	}}, nil
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
	case ops.GELU: // the training kernel's values (float32 erf approximation)
		return func(y []float32) { kernels.GELUTo(y, y) }
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
