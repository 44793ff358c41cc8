package models

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Building: the shape pass over parsed layerSpecs. [Spec.propagate] walks
// the layers with the shape of one example, checking each against its
// input and counting parameters; with a random source it also builds them.
// Each kind's check-and-build function is in the layer-kind table,
// layerKinds (spec_layers.go).

// builder walks the layers propagating the shape of one example; with a
// random source it also builds them.
type builder struct {
	file    string
	classes int
	r       *rand.Rand // nil: shapes only
	layers  int
	params  int64
	work    int64 // output elements plus multiply-accumulates, roughly the cost of a forward pass
}

// propagate checks the shapes for opt (zero fields: the spec's defaults)
// and, when r is not nil, builds the layers. It returns them and the input
// shape used.
func (s *Spec) propagate(opt Options, r *rand.Rand) (*nn.Sequential, [3]int, error) {
	opt = s.Options(opt)
	in := s.input
	in[0] = opt.InChannels
	if opt.NumClasses < 1 || opt.InChannels < 1 || opt.NumClasses > maxSpecOpt || opt.InChannels > maxSpecOpt {
		return nil, in, fmt.Errorf("%s: classes %d and input channels %d must be in [1, %d]", s.file, opt.NumClasses, opt.InChannels, maxSpecOpt)
	}
	b := &builder{file: s.file, classes: opt.NumClasses, r: r}
	seq, _, err := b.seq(s.layers, in[:])
	return seq, in, err
}

// errf formats an error at l's line, prefixed by its kind.
func (b *builder) errf(l *layerSpec, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", b.file, l.line, l.kind, fmt.Sprintf(format, args...))
}

// building reports whether b makes layers, not only shapes.
func (b *builder) building() bool { return b.r != nil }

// seq builds a list of layers as a Sequential.
func (b *builder) seq(ls []*layerSpec, shape []int) (*nn.Sequential, []int, error) {
	out := nn.NewSequential()
	for _, l := range ls {
		layer, next, err := b.one(l, shape)
		if err != nil {
			return nil, nil, err
		}
		n := int64(1)
		for _, d := range next {
			n *= int64(d)
		}
		b.work += n
		out.Append(layer)
		shape = next
	}
	return out, shape, nil
}

// one builds one layer for an input of the given shape (one example: C, H,
// W or features) with its kind's function and returns it with its output
// shape.
func (b *builder) one(l *layerSpec, shape []int) (nn.Layer, []int, error) {
	if b.layers++; b.layers > maxSpecLayers {
		return nil, nil, b.errf(l, "more than %d layers once repeats are expanded", maxSpecLayers)
	}
	k, ok := layerKinds[l.kind]
	if !ok {
		return nil, nil, b.errf(l, "unknown layer kind") // unreachable: the parser checks kinds
	}
	return k.build(b, l, shape)
}

// addParams counts n parameters for l, refusing too many.
func (b *builder) addParams(l *layerSpec, factors ...int) error {
	n := int64(1)
	for _, f := range factors {
		if n *= int64(f); n > maxSpecParams {
			break
		}
	}
	if b.params += n; n > maxSpecParams || b.params > maxSpecParams {
		return b.errf(l, "the model would have more than %d parameters", maxSpecParams)
	}
	return nil
}

// need3 checks that shape is (C, H, W).
func (b *builder) need3(l *layerSpec, shape []int) error {
	if len(shape) != 3 {
		return b.errf(l, "needs a (channels, height, width) input, got %d features after flatten or linear", shape[0])
	}
	return nil
}

// sweep returns the output height and width of a window (kernel k,
// stride s, dilation d, padding pad: top, left, bottom, right) swept over
// a (C, H, W) shape, refusing a padded input smaller than the window.
func (b *builder) sweep(l *layerSpec, shape []int, k, s, d [2]int, pad [4]int) (oh, ow int, err error) {
	h, w := shape[1], shape[2]
	if h+pad[0]+pad[2] < d[0]*(k[0]-1)+1 || w+pad[1]+pad[3] < d[1]*(k[1]-1)+1 {
		return 0, 0, b.errf(l, "input %dx%d%s is smaller than kernel %s%s", h, w, padded(pad), kdims(k), dilated(d))
	}
	return tensor.ConvOutSize(h, pad[0], pad[2], k[0], s[0], d[0]), tensor.ConvOutSize(w, pad[1], pad[3], k[1], s[1], d[1]), nil
}

// numel returns the number of elements of a shape.
func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// dims formats a shape as CxHxW.
func dims(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "x")
}

// padded describes non-zero padding for a message.
func padded(p [4]int) string {
	if p == [4]int{} {
		return ""
	}
	return fmt.Sprintf(" padded by %v (top, left, bottom, right)", p)
}

// dilated describes a dilation other than 1 for a message.
func dilated(d [2]int) string {
	if d == [2]int{1, 1} {
		return ""
	}
	return fmt.Sprintf(" dilated by %s", kdims(d))
}

// kdims formats a window size: "3" when square, else "3x5".
func kdims(k [2]int) string {
	if k[0] == k[1] {
		return strconv.Itoa(k[0])
	}
	return fmt.Sprintf("%dx%d", k[0], k[1])
}
