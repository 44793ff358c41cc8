package models

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// SpecPrefix starts the [Meta.Model] of a model built from a [Spec]:
// "spec:" followed by the spec's name.
const SpecPrefix = "spec:"

// Limits on what a spec may ask for, so that a hostile or mistyped file
// fails with an error instead of exhausting memory.
const (
	maxSpecDim    = 1 << 14 // input height and width
	maxSpecOpt    = 1 << 20 // out, channels, groups, times
	maxSpecWindow = 1 << 10 // kernel, stride, dilation, padding
	maxSpecLayers = 10000   // layers after expanding repeats
	maxSpecParams = 1 << 30 // parameters of the whole model
	maxSpecNodes  = 100000  // YAML nodes visited (aliases included)
)

// Spec is a model architecture read from a YAML text by [ParseSpec]; the
// format is described in docs/spec.md. A Spec is immutable: [Spec.Build]
// makes freshly initialized models from it.
//
// The code is in four files: this one (the API), spec_parse.go (YAML →
// layerSpecs, typed options with their lines), spec_layers.go (the table
// of layer kinds: keys and one build function each) and spec_build.go (the
// shape pass that checks, counts and builds the layers).
type Spec struct {
	file        string // for messages
	name        string
	description string
	input       [3]int
	classes     int
	layers      []*layerSpec
	src         []byte
}

// ParseSpec parses a model spec. name is the file name used in error
// messages, which have the form "name:LINE: layer: what is wrong". Besides
// the syntax and the options it checks the shapes: every layer must fit
// the output of the one before for the spec's input, with the spec's
// classes and input channels.
func ParseSpec(name string, src []byte) (*Spec, error) {
	p := &parser{file: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, p.yamlError(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty spec: want a mapping with input and layers", name)
	}
	s, err := p.spec(doc.Content[0])
	if err != nil {
		return nil, err
	}
	s.src = slices.Clone(src)
	if _, _, err := s.propagate(Options{}, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// ReadSpec reads and parses the spec file at path; see [ParseSpec].
func ReadSpec(path string) (*Spec, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSpec(path, src)
}

// IsSpecPath reports whether name looks like a spec file (.yaml or .yml)
// rather than a registry name.
func IsSpecPath(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// Name returns the spec's name: its "name" key, else the file's base name
// without extension.
func (s *Spec) Name() string { return s.name }

// Description returns the spec's optional "description".
func (s *Spec) Description() string { return s.description }

// Input returns the input shape (C, H, W) the spec declares.
func (s *Spec) Input() [3]int { return s.input }

// Classes returns the spec's number of classes (10 when not given).
func (s *Spec) Classes() int { return s.classes }

// Source returns the YAML text the spec was parsed from.
func (s *Spec) Source() []byte { return slices.Clone(s.src) }

// WithInput returns a copy of s for inputs of shape (C, H, W), checking
// that the layers fit it.
func (s *Spec) WithInput(in [3]int) (*Spec, error) {
	for _, d := range in {
		if d < 1 || d > maxSpecDim {
			return nil, fmt.Errorf("%s: input %dx%dx%d: every size must be in [1, %d]", s.file, in[0], in[1], in[2], maxSpecDim)
		}
	}
	c := *s
	c.input = in
	if _, _, err := c.propagate(Options{}, nil); err != nil {
		return nil, err
	}
	return &c, nil
}

// Options fills opt's zero fields with the spec's defaults: its classes
// and input channels.
func (s *Spec) Options(opt Options) Options {
	if opt.NumClasses == 0 {
		opt.NumClasses = s.classes
	}
	if opt.InChannels == 0 {
		opt.InChannels = s.input[0]
	}
	return opt
}

// Build makes a freshly initialized model of the spec, a [*SpecModel].
// opt.NumClasses overrides the spec's classes, opt.InChannels its input
// channels, and opt.Seed seeds the initialization (PyTorch's defaults for
// convolutions and linear layers). The parameters are named by position,
// following the nesting: layers.0.weight, layers.4.body.0.weight, …
func (s *Spec) Build(opt Options) (nn.Layer, error) {
	opt = s.Options(opt)
	m, in, err := s.propagate(opt, rng(opt))
	if err != nil {
		return nil, err
	}
	return &SpecModel{Name: s.name, Input: in, Layers: m}, nil
}

// SpecModel is a model built from a [Spec]: its layers in a Sequential
// child named "layers".
//
//	x (N, Input…) → the last layer's output
type SpecModel struct {
	Name   string
	Input  [3]int // (C, H, W)
	Layers *nn.Sequential
}

// Forward runs the layers; it panics unless x is (N, C, H, W) of the
// model's input shape.
func (m *SpecModel) Forward(x *autograd.Var) *autograd.Var {
	if s := x.Shape(); len(s) != 4 || s[1] != m.Input[0] || s[2] != m.Input[1] || s[3] != m.Input[2] {
		panic(tensor.ShapeErrorf("models: spec %q takes (N, %d, %d, %d) input, got %v", m.Name, m.Input[0], m.Input[1], m.Input[2], s))
	}
	return m.Layers.Forward(x)
}

// Children names the layer sequence "layers".
func (m *SpecModel) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "layers", Value: m.Layers}}
}

// Build makes a model from a registry name or from a spec file (a path
// ending in .yaml or .yml), so a command's --model takes either. The Meta
// returned has Model (the registry name, or [SpecPrefix] and the spec's
// name), Options with the defaults filled in, InputShape and, for a spec,
// Spec; the caller adds Classes and normalization before [Save].
func Build(nameOrPath string, opt Options) (nn.Layer, Meta, error) {
	if IsSpecPath(nameOrPath) {
		s, err := ReadSpec(nameOrPath)
		if err != nil {
			return nil, Meta{}, err
		}
		return s.buildMeta(opt)
	}
	info, err := Lookup(nameOrPath)
	if err != nil {
		return nil, Meta{}, err
	}
	opt = opt.withDefaults(info.Input[0], info.Classes)
	m, err := New(nameOrPath, opt)
	if err != nil {
		return nil, Meta{}, err
	}
	in := info.Input
	in[0] = opt.InChannels
	return m, Meta{Model: nameOrPath, Options: opt, InputShape: in}, nil
}

// buildMeta builds s with opt and describes the result as [Build] does.
func (s *Spec) buildMeta(opt Options) (nn.Layer, Meta, error) {
	opt = s.Options(opt)
	m, err := s.Build(opt)
	if err != nil {
		return nil, Meta{}, err
	}
	return m, Meta{Model: SpecPrefix + s.name, Options: opt, InputShape: m.(*SpecModel).Input, Spec: string(s.src)}, nil
}
