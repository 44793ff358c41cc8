package models

import (
	"maps"
	"slices"

	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// The layer kinds of the spec format: one table entry per kind, with the
// option keys the parser accepts and the function that checks and builds
// the layer. A kind that runs one traced op is named by that op's spec
// kind (graph/ops, where each op is declared once); residual and repeat
// are containers of no op of their own. docs/spec.md lists the same kinds
// (TestSpecDocsListEveryKind).

// layerKind is one kind of layer a spec may use: the option keys it takes
// (those in required must be given), whether it may be a residual's
// activation, and the function that checks and builds it.
type layerKind struct {
	allowed, required []string
	activation        bool
	build             buildFunc
}

// buildFunc checks layer l against the shape of its input (one example:
// (C, H, W) or (features)), counts its parameters and work, and returns
// its output shape and, when b is building, the layer.
type buildFunc func(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error)

// layerKinds maps each kind name to its description. It is filled by init
// because the containers' build functions refer back to it (through
// builder.one).
var layerKinds map[string]layerKind

func init() {
	pool := []string{"kernel", "stride", "pad"}
	layerKinds = map[string]layerKind{
		ops.Conv2d.SpecKind():          {allowed: []string{"out", "kernel", "stride", "pad", "dilation", "groups", "bias"}, required: []string{"out", "kernel"}, build: buildConv},
		ops.Linear.SpecKind():          {allowed: []string{"out", "bias"}, required: []string{"out"}, build: buildLinear},
		ops.BatchNorm.SpecKind():       {allowed: []string{"eps", "momentum"}, build: buildBatchNorm},
		ops.MaxPool2d.SpecKind():       {allowed: pool, required: []string{"kernel"}, build: buildPool(newMaxPool)},
		ops.AvgPool2d.SpecKind():       {allowed: pool, required: []string{"kernel"}, build: buildPool(newAvgPool)},
		ops.GlobalAvgPool2d.SpecKind(): {build: buildGlobalAvgPool},
		ops.Reshape.SpecKind():         {build: buildFlatten},
		ops.Dropout.SpecKind():         {allowed: []string{"p"}, build: buildDropout},
		ops.ReLU.SpecKind():            {activation: true, build: keepShape(func(*layerSpec) nn.Layer { return nn.ReLU{} })},
		ops.LeakyReLU.SpecKind():       {allowed: []string{"slope"}, activation: true, build: keepShape(leakyReLU)},
		ops.ELU.SpecKind():             {allowed: []string{"alpha"}, activation: true, build: keepShape(func(l *layerSpec) nn.Layer { return nn.ELU{Alpha: float32(l.alpha)} })},
		ops.GELU.SpecKind():            {activation: true, build: keepShape(func(*layerSpec) nn.Layer { return nn.GELU{} })},
		ops.SiLU.SpecKind():            {activation: true, build: keepShape(func(*layerSpec) nn.Layer { return nn.SiLU{} })},
		ops.Sigmoid.SpecKind():         {activation: true, build: keepShape(func(*layerSpec) nn.Layer { return nn.Sigmoid{} })},
		ops.Tanh.SpecKind():            {activation: true, build: keepShape(func(*layerSpec) nn.Layer { return nn.Tanh{} })},
		"residual":                     {allowed: []string{"body", "shortcut", "activation"}, required: []string{"body"}, build: buildResidual},
		ops.Concat.SpecKind():          {allowed: []string{"branches"}, required: []string{"branches"}, build: buildConcat},
		"repeat":                       {allowed: []string{"times", "layers"}, required: []string{"times", "layers"}, build: buildRepeat},
	}
}

// sortedKinds lists the layer kinds.
func sortedKinds() []string { return slices.Sorted(maps.Keys(layerKinds)) }

// activationKinds lists the kinds a residual's activation may name.
func activationKinds() []string {
	var ks []string
	for _, k := range sortedKinds() {
		if layerKinds[k].activation {
			ks = append(ks, k)
		}
	}
	return ks
}

// keepShape returns the build function of a parameterless layer that
// keeps its input's shape.
func keepShape(newLayer func(l *layerSpec) nn.Layer) buildFunc {
	return func(_ *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
		return newLayer(l), slices.Clone(shape), nil
	}
}

// leakyReLU makes a leakyrelu layer; slope 0 is a plain ReLU (nn.LeakyReLU
// reads slope 0 as 0.01).
func leakyReLU(l *layerSpec) nn.Layer {
	if l.slope == 0 {
		return nn.ReLU{}
	}
	return nn.LeakyReLU{Slope: float32(l.slope)}
}

// out returns l's out option: a number, or the classes.
func (b *builder) out(l *layerSpec) int {
	if l.outClasses {
		return b.classes
	}
	return l.out
}

// addWeights counts the parameters of a layer with out outputs: a weight
// of out × fanIn… and, with l.bias, a bias of out.
func (b *builder) addWeights(l *layerSpec, out int, fanIn ...int) error {
	if err := b.addParams(l, append([]int{out}, fanIn...)...); err != nil {
		return err
	}
	if l.bias {
		return b.addParams(l, out)
	}
	return nil
}

// buildConv builds a conv: (C, H, W) → (out, H', W').
func buildConv(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
	if err := b.need3(l, shape); err != nil {
		return nil, nil, err
	}
	cin, out, groups := shape[0], b.out(l), l.groups
	if l.groupsIn {
		groups = cin
	}
	groups = max(groups, 1)
	if cin%groups != 0 || out%groups != 0 {
		return nil, nil, b.errf(l, "groups %d must divide the input channels %d and out %d", groups, cin, out)
	}
	p, err := b.convParams(l, groups)
	if err != nil {
		return nil, nil, err
	}
	oh, ow, err := b.sweep(l, shape, l.kernel, p.Stride, p.Dilation, p.Pad)
	if err != nil {
		return nil, nil, err
	}
	if err := b.addWeights(l, out, cin/groups, l.kernel[0], l.kernel[1]); err != nil {
		return nil, nil, err
	}
	next := []int{out, oh, ow}
	b.work += int64(out) * int64(oh) * int64(ow) * int64(cin/groups) * int64(l.kernel[0]*l.kernel[1])
	if !b.building() {
		return nil, next, nil
	}
	c := nn.NewConv2d(b.r, nn.Conv2dConfig{In: cin, Out: out, KernelHW: l.kernel, Groups: groups, NoBias: !l.bias})
	c.Params = p
	return c, next, nil
}

// convParams resolves a conv's stride and dilation (0 is 1) and its
// padding, "same" included.
func (b *builder) convParams(l *layerSpec, groups int) (tensor.ConvParams, error) {
	p := tensor.ConvParams{Stride: l.stride, Dilation: l.dilation, Pad: l.pad, Groups: groups}
	for i := range 2 {
		p.Stride[i], p.Dilation[i] = max(p.Stride[i], 1), max(p.Dilation[i], 1)
	}
	if l.padSame {
		if p.Stride != [2]int{1, 1} {
			return p, b.errf(l, "pad: same needs stride 1")
		}
		p.Pad = tensor.SamePadding(l.kernel, p.Dilation)
	}
	return p, nil
}

// buildLinear builds a linear layer: any shape → (out), flattening it.
func buildLinear(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
	in, out := numel(shape), b.out(l)
	if err := b.addWeights(l, out, in); err != nil {
		return nil, nil, err
	}
	b.work += int64(in) * int64(out)
	if !b.building() {
		return nil, []int{out}, nil
	}
	return nn.NewLinear(b.r, in, out, l.bias), []int{out}, nil
}

// buildBatchNorm builds a batchnorm: BatchNorm2d on (C, H, W), BatchNorm1d
// on (F); the shape is unchanged.
func buildBatchNorm(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
	if err := b.addParams(l, 2, shape[0]); err != nil {
		return nil, nil, err
	}
	same := slices.Clone(shape)
	if !b.building() {
		return nil, same, nil
	}
	var bn *nn.BatchNorm
	if len(shape) == 3 {
		bn = nn.NewBatchNorm2d(shape[0])
	} else {
		bn = nn.NewBatchNorm1d(shape[0])
	}
	bn.Eps, bn.Momentum = float32(l.eps), float32(l.momentum)
	return bn, same, nil
}

// newMaxPool and newAvgPool make a pooling layer and return it with its
// parameters to fill in.
func newMaxPool() (nn.Layer, *tensor.PoolParams) { p := nn.NewMaxPool2d(1, 1, 0); return p, &p.Params }
func newAvgPool() (nn.Layer, *tensor.PoolParams) { p := nn.NewAvgPool2d(1, 1, 0); return p, &p.Params }

// buildPool returns the build function of a pooling kind, maxpool or
// avgpool: (C, H, W) → (C, H', W').
func buildPool(newPool func() (nn.Layer, *tensor.PoolParams)) buildFunc {
	return func(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
		if err := b.need3(l, shape); err != nil {
			return nil, nil, err
		}
		k, s, pad := l.kernel, l.stride, [2]int{l.pad[0], l.pad[1]}
		if l.pad[2] != l.pad[0] || l.pad[3] != l.pad[1] {
			return nil, nil, b.errf(l, "pad must be the same on both sides")
		}
		for i := range 2 {
			if s[i] == 0 {
				s[i] = k[i]
			}
			if 2*pad[i] > k[i] {
				return nil, nil, b.errf(l, "pad %d is more than half of kernel %d", pad[i], k[i])
			}
		}
		oh, ow, err := b.sweep(l, shape, k, s, [2]int{1, 1}, [4]int{pad[0], pad[1], pad[0], pad[1]})
		if err != nil {
			return nil, nil, err
		}
		next := []int{shape[0], oh, ow}
		if !b.building() {
			return nil, next, nil
		}
		layer, p := newPool()
		p.Kernel, p.Stride, p.Pad = k, s, pad
		return layer, next, nil
	}
}

// buildGlobalAvgPool builds a globalavgpool: (C, H, W) → (C, 1, 1).
func buildGlobalAvgPool(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
	if err := b.need3(l, shape); err != nil {
		return nil, nil, err
	}
	return nn.GlobalAvgPool2d{}, []int{shape[0], 1, 1}, nil
}

// buildFlatten builds a flatten: (C, H, W) → (C·H·W).
func buildFlatten(_ *builder, _ *layerSpec, shape []int) (nn.Layer, []int, error) {
	return nn.Flatten{}, []int{numel(shape)}, nil
}

// buildDropout builds a dropout, seeded from b's random source; the shape
// is unchanged.
func buildDropout(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
	if !b.building() {
		return nil, slices.Clone(shape), nil
	}
	return nn.NewDropout(float32(l.p), b.r.Uint64()), slices.Clone(shape), nil
}

// buildResidual builds a residual, activation(body(x) + shortcut(x)):
// body and shortcut must give the same shape.
func buildResidual(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
	body, bs, err := b.seq(l.body, shape)
	if err != nil {
		return nil, nil, err
	}
	ss := slices.Clone(shape)
	var short *nn.Sequential
	if len(l.shortcut) > 0 {
		if short, ss, err = b.seq(l.shortcut, shape); err != nil {
			return nil, nil, err
		}
	}
	if !slices.Equal(bs, ss) {
		what := "the input (identity shortcut)"
		if len(l.shortcut) > 0 {
			what = "the shortcut"
		}
		return nil, nil, b.errf(l, "body gives %s but %s gives %s; they must match to be added", dims(bs), what, dims(ss))
	}
	var post nn.Layer
	if l.post != nil {
		if post, _, err = b.one(l.post, bs); err != nil {
			return nil, nil, err
		}
	}
	if !b.building() {
		return nil, bs, nil
	}
	r := &nn.Residual{Body: body, Post: post}
	if short != nil {
		r.Shortcut = short // not a nil *Sequential in the interface
	}
	return r, bs, nil
}

// buildConcat builds a concat: the branches run on the same (C, H, W)
// input and give (Cᵢ, H', W') with the same H' and W'; the output is
// (ΣCᵢ, H', W').
func buildConcat(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
	if err := b.need3(l, shape); err != nil {
		return nil, nil, err
	}
	cat := &nn.Concat{}
	var out []int
	for i, br := range l.branches {
		seq, bs, err := b.seq(br, shape)
		if err != nil {
			return nil, nil, err
		}
		if len(bs) != 3 {
			return nil, nil, b.errf(l, "branch %d gives %s, not (channels, height, width)", i, dims(bs))
		}
		if out == nil {
			out = slices.Clone(bs)
		} else if bs[1] != out[1] || bs[2] != out[2] {
			return nil, nil, b.errf(l, "branch %d gives %s but branch 0 gives %s; heights and widths must match", i, dims(bs), dims(out))
		} else {
			out[0] += bs[0]
		}
		cat.Branches = append(cat.Branches, seq)
	}
	return cat, out, nil
}

// buildRepeat builds a repeat: its layers times in a row, each repetition
// built for the shape it receives; a repetition is the layer itself when
// there is one, else a Sequential.
func buildRepeat(b *builder, l *layerSpec, shape []int) (nn.Layer, []int, error) {
	rep := nn.NewSequential()
	for range l.times {
		var layer nn.Layer
		var err error
		if len(l.layers) == 1 {
			layer, shape, err = b.one(l.layers[0], shape)
		} else {
			layer, shape, err = b.seq(l.layers, shape)
		}
		if err != nil {
			return nil, nil, err
		}
		rep.Append(layer)
	}
	return rep, shape, nil
}
