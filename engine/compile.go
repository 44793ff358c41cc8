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

// compiler rewrites the nodes of a traced graph, in order, into the ops of
// prog: it folds batch norms into the convolutions before them, fuses
// residual adds and activations into the ops before them, and remembers
// which op now computes each traced value.
type compiler struct {
	g        *graph.Graph
	uses     [][]int // value ID → nodes reading it
	prog     []*op
	producer map[int]*op // value ID → op writing it
	opIndex  map[*op]int // op → its index in prog
	// rename maps a traced value to the value that now holds it after a
	// fusion (the BN output is the conv output, and so on).
	rename map[int]int
}

// compilers maps each op the engine runs to the compiler method that
// rewrites its node; an op not listed is refused.
var compilers = map[ops.Op]func(*compiler, *graph.Node) error{
	ops.Conv2d:          (*compiler).conv2d,
	ops.Linear:          (*compiler).linear,
	ops.BatchNorm:       (*compiler).batchNorm,
	ops.Add:             (*compiler).add,
	ops.ReLU:            (*compiler).act,
	ops.ReLU6:           (*compiler).act,
	ops.LeakyReLU:       (*compiler).act,
	ops.ELU:             (*compiler).act,
	ops.GELU:            (*compiler).act,
	ops.SiLU:            (*compiler).act,
	ops.Sigmoid:         (*compiler).act,
	ops.Tanh:            (*compiler).act,
	ops.Scale:           (*compiler).act,
	ops.AddScalar:       (*compiler).act,
	ops.MaxPool2d:       (*compiler).pool,
	ops.AvgPool2d:       (*compiler).pool,
	ops.GlobalAvgPool2d: (*compiler).globalAvgPool,
	ops.Mean:            (*compiler).mean,
	ops.Reshape:         (*compiler).reshape,
	ops.Concat:          (*compiler).concat,
	ops.Softmax:         (*compiler).softmax,
	ops.LogSoftmax:      (*compiler).softmax,
}

// compileGraph rewrites the nodes of g into ops, node by node through
// compilers, and plans them.
func compileGraph(g *graph.Graph) (*Plan, error) {
	c := &compiler{g: g, uses: g.Uses(), prog: make([]*op, 0, len(g.Nodes)),
		producer: map[int]*op{}, opIndex: map[*op]int{}, rename: map[int]int{}}
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if err := c.refuseConstants(i, n); err != nil {
			return nil, err
		}
		compile, ok := compilers[n.Op]
		if !ok {
			return nil, fmt.Errorf("engine: operation %q is not supported by the inference engine", n.Op)
		}
		if err := compile(c, n); err != nil {
			return nil, err
		}
	}
	return plan(g, c.prog, c.resolve(g.Output))
}

// refuseConstants refuses node i when it reads a captured constant (not a
// parameter or buffer): constants have no buffer in a plan, and callers
// then fall back to eager execution instead of failing at run time.
func (c *compiler) refuseConstants(i int, n *graph.Node) error {
	for _, id := range n.Inputs {
		if id >= 0 && c.g.Values[id].Data != nil && c.g.Values[id].Param == "" {
			return fmt.Errorf("engine: node %d (%s) reads a constant tensor of shape %v; not supported by the inference engine", i, n.Op, c.g.Values[id].Shape)
		}
	}
	return nil
}

// resolve returns the value that holds traced value id after the fusions
// so far.
func (c *compiler) resolve(id int) int {
	for {
		r, ok := c.rename[id]
		if !ok {
			return id
		}
		id = r
	}
}

// input returns the value holding input i of n.
func (c *compiler) input(n *graph.Node, i int) int { return c.resolve(n.Inputs[i]) }

// data returns a copy of the parameter data of value id, nil for an absent
// input (-1).
func (c *compiler) data(id int) []float32 {
	if id < 0 {
		return nil
	}
	return slices.Clone(c.g.Values[id].Data.Contiguous().Data())
}

// singleUse reports whether one node alone reads traced value id, so that
// the op computing it may be rewritten to compute its reader instead.
func (c *compiler) singleUse(id int) bool { return len(c.uses[id]) == 1 }

func (c *compiler) emit(o *op) {
	c.opIndex[o] = len(c.prog)
	c.prog = append(c.prog, o)
	c.producer[o.out] = o
}

// fuse points the traced output out at the output of o, which now computes
// it.
func (c *compiler) fuse(o *op, out int) {
	delete(c.producer, o.out)
	c.rename[out] = o.out
	c.producer[o.out] = o
}

// bareConv reports whether o is a convolution with nothing fused after it
// yet (no residual add, no activation), which a batch norm can fold into
// and an add can fuse into.
func bareConv(o *op) bool { return o != nil && o.kind == kindConv && o.add < 0 && o.act == ops.None }

// weighted returns the op of kind k for a node (x, w, b or absent): a copy
// of the weights and the bias, zeros when absent.
func (c *compiler) weighted(k kind, n *graph.Node) *op {
	w := c.g.Values[n.Inputs[1]]
	o := &op{kind: k, inputs: []int{c.input(n, 0)}, out: n.Output, w: c.data(n.Inputs[1]), wShape: slices.Clone(w.Shape), add: -1}
	o.b = c.data(n.Inputs[2])
	if o.b == nil {
		o.b = make([]float32, w.Shape[0])
	}
	return o
}

func (c *compiler) conv2d(n *graph.Node) error {
	o := c.weighted(kindConv, n)
	o.conv = n.Attrs.(tensor.ConvParams)
	c.emit(o)
	return nil
}

func (c *compiler) linear(n *graph.Node) error {
	c.emit(c.weighted(kindLinear, n))
	return nil
}

// batchNorm folds an evaluation-mode batch norm into the convolution
// before it when it alone reads that convolution, else emits it as a
// per-channel affine op.
func (c *compiler) batchNorm(n *graph.Node) error {
	a := n.Attrs.(autograd.BatchNormAttrs)
	if a.Training || a.RunMean == nil {
		return fmt.Errorf("engine: batch norm in training mode or without running statistics cannot be compiled")
	}
	scale, shift := bnAffine(a, c.data(n.Inputs[1]), c.data(n.Inputs[2]))
	x := c.input(n, 0)
	if p := c.producer[x]; bareConv(p) && c.singleUse(n.Inputs[0]) {
		p.foldAffine(scale, shift)
		c.fuse(p, n.Output)
		return nil
	}
	c.emit(&op{kind: kindAffine, inputs: []int{x}, out: n.Output, scale: scale, bias: shift})
	return nil
}

// bnAffine returns the per-channel map x·scale + shift of an
// evaluation-mode batch norm with running statistics a and affine
// parameters gamma and beta (1 and 0 when nil).
func bnAffine(a autograd.BatchNormAttrs, gamma, beta []float32) (scale, shift []float32) {
	c := a.RunMean.Size()
	scale, shift = make([]float32, c), make([]float32, c)
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
	return scale, shift
}

// foldAffine makes convolution o compute its output mapped by the
// per-output-channel x·scale + shift, by scaling its weights and bias.
func (o *op) foldAffine(scale, shift []float32) {
	per := len(o.w) / len(o.b)
	for oc := range o.b {
		for j := range per {
			o.w[oc*per+j] *= scale[oc]
		}
		o.b[oc] = o.b[oc]*scale[oc] + shift[oc]
	}
}

// add fuses a same-shape addition into the convolution producing the
// operand computed last, if the other operand already exists when that
// convolution runs; else it emits an add op.
func (c *compiler) add(n *graph.Node) error {
	a, b := c.input(n, 0), c.input(n, 1)
	if sa, sb := c.g.Values[n.Inputs[0]].Shape, c.g.Values[n.Inputs[1]].Shape; !slices.Equal(sa, sb) {
		return fmt.Errorf("engine: broadcasting add of %v and %v is not supported", sa, sb)
	}
	pa, pb := c.producer[a], c.producer[b]
	if pa != nil && pb != nil && c.opIndex[pb] > c.opIndex[pa] {
		a, b, pa, pb = b, a, pb, pa
		n.Inputs[0], n.Inputs[1] = n.Inputs[1], n.Inputs[0]
	}
	if bareConv(pa) && c.singleUse(n.Inputs[0]) && (pb == nil || c.opIndex[pb] < c.opIndex[pa]) {
		pa.add = b
		pa.inputs = append(pa.inputs, b)
		c.fuse(pa, n.Output)
		return nil
	}
	c.emit(&op{kind: kindAdd, inputs: []int{a, b}, out: n.Output})
	return nil
}

// act fuses an activation (or a scalar scale or shift, as ops.Scale) into
// the op before it when that op takes an epilogue and has none yet, else
// emits it alone.
func (c *compiler) act(n *graph.Node) error {
	x := c.input(n, 0)
	alpha, _ := n.Attrs.(float32)
	act, shift := n.Op, float32(0)
	if act == ops.AddScalar {
		act, alpha, shift = ops.Scale, 1, alpha // x·1 + s
	}
	if p := c.producer[x]; p != nil && p.kind.epilogue() && p.act == ops.None && c.singleUse(n.Inputs[0]) {
		p.act, p.alpha, p.shift = act, alpha, shift
		c.fuse(p, n.Output)
		return nil
	}
	c.emit(&op{kind: kindAct, inputs: []int{x}, out: n.Output, act: act, alpha: alpha, shift: shift})
	return nil
}

func (c *compiler) pool(n *graph.Node) error {
	k := kindMaxPool
	if n.Op == ops.AvgPool2d {
		k = kindAvgPool
	}
	c.emit(&op{kind: k, inputs: []int{c.input(n, 0)}, out: n.Output, pool: n.Attrs.(tensor.PoolParams)})
	return nil
}

// unary emits an op of kind k with no parameters reading input 0 of n.
func (c *compiler) unary(k kind, n *graph.Node) {
	c.emit(&op{kind: k, inputs: []int{c.input(n, 0)}, out: n.Output})
}

func (c *compiler) globalAvgPool(n *graph.Node) error {
	c.unary(kindGAP, n)
	return nil
}

// mean compiles the spatial mean of NCHW (axes 2 and 3) as a global
// average pooling; it refuses other means.
func (c *compiler) mean(n *graph.Node) error {
	axes, _ := n.Attrs.([]int)
	if len(c.g.Values[n.Inputs[0]].Shape) != 4 || !sameAxes(axes, 2, 3) {
		return fmt.Errorf("engine: mean over axes %v is not supported (only the spatial mean of NCHW)", axes)
	}
	c.unary(kindGAP, n)
	return nil
}

// reshape compiles to a view: the input's buffer.
func (c *compiler) reshape(n *graph.Node) error {
	c.unary(kindView, n)
	return nil
}

func (c *compiler) concat(n *graph.Node) error {
	axis, _ := n.Attrs.(int)
	if axis < 0 {
		axis += len(c.g.Values[n.Output].Shape)
	}
	ins := make([]int, len(n.Inputs))
	for i := range n.Inputs {
		ins[i] = c.input(n, i)
	}
	c.emit(&op{kind: kindConcat, inputs: ins, out: n.Output, axis: axis})
	return nil
}

// softmax compiles a softmax or log-softmax over the last axis; it refuses
// other axes.
func (c *compiler) softmax(n *graph.Node) error {
	axis, _ := n.Attrs.(int)
	shape := c.g.Values[n.Inputs[0]].Shape
	if axis < 0 {
		axis += len(shape)
	}
	if axis != len(shape)-1 {
		return fmt.Errorf("engine: %s over axis %d of %v is not supported (only the last axis)", n.Op, axis, shape)
	}
	k := kindSoftmax
	if n.Op == ops.LogSoftmax {
		k = kindLogSoftmax
	}
	c.unary(k, n)
	return nil
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
