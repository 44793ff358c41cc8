package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/graph"
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/tensor"
)

// kind is what an engine op computes. Its name starts the op's step name
// in Plan.Summary ("conv+relu").
type kind uint8

// The kinds.
const (
	kindConv       kind = iota // convolution, with optional residual add and activation
	kindLinear                 // linear layer, with optional activation
	kindAffine                 // per-channel scale and shift (a batch norm not folded)
	kindAdd                    // elementwise sum of two same-shape values
	kindAct                    // activation alone
	kindMaxPool                // max pooling
	kindAvgPool                // average pooling
	kindGAP                    // global average pooling
	kindView                   // reshape: the input's buffer
	kindConcat                 // concatenation along axis
	kindSoftmax                // softmax over the last axis
	kindLogSoftmax             // log-softmax over the last axis
)

var kindNames = [...]string{
	kindConv: "conv", kindLinear: "linear", kindAffine: "affine", kindAdd: "add", kindAct: "act",
	kindMaxPool: "maxpool", kindAvgPool: "avgpool", kindGAP: "gap", kindView: "view",
	kindConcat: "concat", kindSoftmax: "softmax", kindLogSoftmax: "logsoftmax",
}

func (k kind) String() string { return kindNames[k] }

// epilogue reports whether an op of kind k may take an activation
// epilogue.
func (k kind) epilogue() bool { return k == kindConv || k == kindLinear || k == kindAdd }

// op is an executable operation after rewriting. Fields beyond kind are
// used by the kinds that need them.
type op struct {
	kind   kind
	inputs []int // activation value IDs read
	out    int   // value ID written

	w, b   []float32 // conv/linear weights (folded copy) and bias (never nil)
	wShape []int
	conv   tensor.ConvParams
	pool   tensor.PoolParams
	add    int     // conv: value added before the activation, or -1
	act    ops.Op  // activation applied last: ops.None, ops.ReLU, ops.LeakyReLU, …, ops.Scale
	alpha  float32 // activation parameter (slope, alpha, scale)
	shift  float32 // ops.Scale: added after the product (AddScalar's scalar)
	scale  []float32
	bias   []float32 // affine per channel
	axis   int
}

func compileGraph(g *graph.Graph) (*Plan, error) {
	uses := g.Uses()
	prog := make([]*op, 0, len(g.Nodes))
	producer := map[int]*op{} // value ID → op writing it
	opIndex := map[*op]int{}
	// rename maps a traced value to the value that now holds it after a
	// fusion (the BN output is the conv output, and so on).
	rename := map[int]int{}
	resolve := func(id int) int {
		for {
			r, ok := rename[id]
			if !ok {
				return id
			}
			id = r
		}
	}
	data := func(id int) []float32 {
		if id < 0 {
			return nil
		}
		return slices.Clone(g.Values[id].Data.Contiguous().Data())
	}
	singleUse := func(id int) bool { return len(uses[id]) == 1 }
	emit := func(o *op) {
		opIndex[o] = len(prog)
		prog = append(prog, o)
		producer[o.out] = o
	}
	// fuse points the traced output out at the output of o, which now
	// computes it.
	fuse := func(o *op, out int) {
		delete(producer, o.out)
		rename[out] = o.out
		producer[o.out] = o
	}

	for i, n := range g.Nodes {
		// Captured constants (not parameters or buffers) have no buffer
		// in a plan: refuse them here so callers fall back to eager
		// execution instead of failing at run time.
		for _, id := range n.Inputs {
			if id >= 0 && g.Values[id].Data != nil && g.Values[id].Param == "" {
				return nil, fmt.Errorf("engine: node %d (%s) reads a constant tensor of shape %v; not supported by the inference engine", i, n.Op, g.Values[id].Shape)
			}
		}
		in := func(i int) int { return resolve(n.Inputs[i]) }
		switch n.Op {
		case ops.Conv2d:
			w := g.Values[n.Inputs[1]]
			o := &op{kind: kindConv, inputs: []int{in(0)}, out: n.Output, w: data(n.Inputs[1]),
				wShape: slices.Clone(w.Shape), conv: n.Attrs.(tensor.ConvParams), add: -1}
			o.b = data(n.Inputs[2])
			if o.b == nil {
				o.b = make([]float32, w.Shape[0])
			}
			emit(o)
		case ops.Linear:
			w := g.Values[n.Inputs[1]]
			o := &op{kind: kindLinear, inputs: []int{in(0)}, out: n.Output, w: data(n.Inputs[1]), wShape: slices.Clone(w.Shape), add: -1}
			o.b = data(n.Inputs[2])
			if o.b == nil {
				o.b = make([]float32, w.Shape[0])
			}
			emit(o)
		case ops.BatchNorm:
			a := n.Attrs.(autograd.BatchNormAttrs)
			if a.Training || a.RunMean == nil {
				return nil, fmt.Errorf("engine: batch norm in training mode or without running statistics cannot be compiled")
			}
			c := a.RunMean.Size()
			gamma, beta := data(n.Inputs[1]), data(n.Inputs[2])
			scale, shift := make([]float32, c), make([]float32, c)
			mean, vr := a.RunMean.Contiguous().Data(), a.RunVar.Contiguous().Data()
			for i := range c {
				gm, bt := float32(1), float32(0)
				if gamma != nil {
					gm = gamma[i]
				}
				if beta != nil {
					bt = beta[i]
				}
				scale[i] = gm / float32(math.Sqrt(float64(vr[i])+float64(a.Eps)))
				shift[i] = bt - mean[i]*scale[i]
			}
			x := in(0)
			if p := producer[x]; p != nil && p.kind == kindConv && p.add < 0 && p.act == ops.None && singleUse(n.Inputs[0]) {
				per := len(p.w) / len(p.b)
				for oc := range p.b {
					for j := range per {
						p.w[oc*per+j] *= scale[oc]
					}
					p.b[oc] = p.b[oc]*scale[oc] + shift[oc]
				}
				fuse(p, n.Output)
				continue
			}
			emit(&op{kind: kindAffine, inputs: []int{x}, out: n.Output, scale: scale, bias: shift})
		case ops.Add:
			a, b := in(0), in(1)
			if !slices.Equal(g.Values[n.Inputs[0]].Shape, g.Values[n.Inputs[1]].Shape) {
				return nil, fmt.Errorf("engine: broadcasting add of %v and %v is not supported", g.Values[n.Inputs[0]].Shape, g.Values[n.Inputs[1]].Shape)
			}
			// Fuse into the conv producing the operand computed last, if the
			// other operand already exists when that conv runs.
			pa, pb := producer[a], producer[b]
			if pa != nil && pb != nil && opIndex[pb] > opIndex[pa] {
				a, b, pa, pb = b, a, pb, pa
				n.Inputs[0], n.Inputs[1] = n.Inputs[1], n.Inputs[0]
			}
			if pa != nil && pa.kind == kindConv && pa.add < 0 && pa.act == ops.None && singleUse(n.Inputs[0]) && (pb == nil || opIndex[pb] < opIndex[pa]) {
				pa.add = b
				pa.inputs = append(pa.inputs, b)
				fuse(pa, n.Output)
				continue
			}
			emit(&op{kind: kindAdd, inputs: []int{a, b}, out: n.Output})
		case ops.ReLU, ops.ReLU6, ops.LeakyReLU, ops.ELU, ops.GELU, ops.SiLU, ops.Sigmoid, ops.Tanh, ops.Scale, ops.AddScalar:
			x := in(0)
			alpha, _ := n.Attrs.(float32)
			act, shift := n.Op, float32(0)
			if act == ops.AddScalar {
				act, alpha, shift = ops.Scale, 1, alpha // x·1 + s
			}
			if p := producer[x]; p != nil && p.kind.epilogue() && p.act == ops.None && singleUse(n.Inputs[0]) {
				p.act, p.alpha, p.shift = act, alpha, shift
				fuse(p, n.Output)
				continue
			}
			emit(&op{kind: kindAct, inputs: []int{x}, out: n.Output, act: act, alpha: alpha, shift: shift})
		case ops.MaxPool2d, ops.AvgPool2d:
			k := kindMaxPool
			if n.Op == ops.AvgPool2d {
				k = kindAvgPool
			}
			emit(&op{kind: k, inputs: []int{in(0)}, out: n.Output, pool: n.Attrs.(tensor.PoolParams)})
		case ops.GlobalAvgPool2d:
			emit(&op{kind: kindGAP, inputs: []int{in(0)}, out: n.Output})
		case ops.Mean:
			axes, _ := n.Attrs.([]int)
			if len(g.Values[n.Inputs[0]].Shape) != 4 || !sameAxes(axes, 2, 3) {
				return nil, fmt.Errorf("engine: mean over axes %v is not supported (only the spatial mean of NCHW)", axes)
			}
			emit(&op{kind: kindGAP, inputs: []int{in(0)}, out: n.Output})
		case ops.Reshape:
			emit(&op{kind: kindView, inputs: []int{in(0)}, out: n.Output})
		case ops.Concat:
			axis, _ := n.Attrs.(int)
			if axis < 0 {
				axis += len(g.Values[n.Output].Shape)
			}
			ins := make([]int, len(n.Inputs))
			for i := range n.Inputs {
				ins[i] = in(i)
			}
			emit(&op{kind: kindConcat, inputs: ins, out: n.Output, axis: axis})
		case ops.Softmax, ops.LogSoftmax:
			axis, _ := n.Attrs.(int)
			shape := g.Values[n.Inputs[0]].Shape
			if axis < 0 {
				axis += len(shape)
			}
			if axis != len(shape)-1 {
				return nil, fmt.Errorf("engine: %s over axis %d of %v is not supported (only the last axis)", n.Op, axis, shape)
			}
			k := kindSoftmax
			if n.Op == ops.LogSoftmax {
				k = kindLogSoftmax
			}
			emit(&op{kind: k, inputs: []int{in(0)}, out: n.Output})
		default:
			return nil, fmt.Errorf("engine: operation %q is not supported by the inference engine", n.Op)
		}
	}
	return plan(g, prog, resolve(g.Output))
}

func sameAxes(axes []int, want ...int) bool {
	a := slices.Clone(axes)
	for i, v := range a {
		if v < 0 {
			a[i] = v + 4
		}
	}
	slices.Sort(a)
	return slices.Equal(a, want)
}
