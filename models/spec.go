package models

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
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
type Spec struct {
	file        string // for messages
	name        string
	description string
	input       [3]int
	inputLine   int
	classes     int
	layers      []*layerSpec
	src         []byte
}

// layerSpec is one parsed layer: its kind and the options of that kind.
type layerSpec struct {
	kind string
	line int

	out        int  // conv, linear; 0 with outClasses
	outClasses bool // out: classes
	bias       bool
	kernel     [2]int
	stride     [2]int // 0: the kernel (pools) or 1 (conv)
	dilation   [2]int
	pad        [4]int // top, left, bottom, right
	padSame    bool
	groups     int // 0 with groupsIn
	groupsIn   bool

	p, slope, alpha float64
	eps, momentum   float64

	body, shortcut []*layerSpec // residual
	post           *layerSpec   // residual activation, or nil
	times          int          // repeat
	layers         []*layerSpec // repeat
	branches       [][]*layerSpec
}

// layerKeys lists, for every layer kind, the option keys it accepts; the
// keys in required must be given.
var layerKeys = map[string]struct{ allowed, required []string }{
	"conv":          {[]string{"out", "kernel", "stride", "pad", "dilation", "groups", "bias"}, []string{"out", "kernel"}},
	"linear":        {[]string{"out", "bias"}, []string{"out"}},
	"batchnorm":     {[]string{"eps", "momentum"}, nil},
	"maxpool":       {[]string{"kernel", "stride", "pad"}, []string{"kernel"}},
	"avgpool":       {[]string{"kernel", "stride", "pad"}, []string{"kernel"}},
	"globalavgpool": {nil, nil},
	"flatten":       {nil, nil},
	"dropout":       {[]string{"p"}, nil},
	"relu":          {nil, nil},
	"leakyrelu":     {[]string{"slope"}, nil},
	"elu":           {[]string{"alpha"}, nil},
	"gelu":          {nil, nil},
	"silu":          {nil, nil},
	"sigmoid":       {nil, nil},
	"tanh":          {nil, nil},
	"residual":      {[]string{"body", "shortcut", "activation"}, []string{"body"}},
	"concat":        {[]string{"branches"}, []string{"branches"}},
	"repeat":        {[]string{"times", "layers"}, []string{"times", "layers"}},
}

// activationKinds are the layer kinds a residual's activation may name.
var activationKinds = []string{"relu", "leakyrelu", "elu", "gelu", "silu", "sigmoid", "tanh"}

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
		panic(fmt.Sprintf("models: spec %q takes (N, %d, %d, %d) input, got %v", m.Name, m.Input[0], m.Input[1], m.Input[2], s))
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
	opt = opt.withDefaults(info.Input[0])
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

// ---- parsing ----

// parser turns YAML nodes into layerSpecs, naming the file in errors.
type parser struct {
	file   string
	visits int
}

// errf formats an error at n's line.
func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.file, n.Line, fmt.Sprintf(format, args...))
}

// yamlError rewrites the yaml package's "yaml: line N: msg" as "file:N: msg".
func (p *parser) yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				return fmt.Errorf("%s:%d: %s", p.file, n, rest[i+2:])
			}
		}
	}
	return fmt.Errorf("%s: %s", p.file, msg)
}

// resolve follows aliases and counts the nodes visited, refusing specs
// that expand to too many.
func (p *parser) resolve(n *yaml.Node) (*yaml.Node, error) {
	for depth := 0; n.Kind == yaml.AliasNode; depth++ {
		if n.Alias == nil || depth > 100 {
			return nil, p.errf(n, "bad alias")
		}
		n = n.Alias
	}
	if p.visits++; p.visits > maxSpecNodes {
		return nil, p.errf(n, "spec too large: more than %d YAML nodes once aliases are expanded", maxSpecNodes)
	}
	return n, nil
}

// mapping returns the key and value nodes of the mapping n (an empty list
// for a null scalar) and checks the keys: each allowed, none twice, all of
// required present. what names the mapping in messages.
func (p *parser) mapping(n *yaml.Node, what string, allowed, required []string) (map[string]*yaml.Node, error) {
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	vals := map[string]*yaml.Node{}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := p.resolve(n.Content[i])
			if err != nil {
				return nil, err
			}
			if k.Kind != yaml.ScalarNode {
				return nil, p.errf(k, "%s: keys must be plain names", what)
			}
			if k.Value == "<<" {
				return nil, p.errf(k, "%s: merge keys (<<) are not supported", what)
			}
			if !slices.Contains(allowed, k.Value) {
				if len(allowed) == 0 {
					return nil, p.errf(k, "%s: unknown key %q (%s takes no options)", what, k.Value, what)
				}
				return nil, p.errf(k, "%s: unknown key %q%s", what, k.Value, suggest(k.Value, allowed))
			}
			if _, dup := vals[k.Value]; dup {
				return nil, p.errf(k, "%s: key %q given twice", what, k.Value)
			}
			v, err := p.resolve(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			vals[k.Value] = v
		}
	default:
		return nil, p.errf(n, "%s: want a mapping of options like {key: value}", what)
	}
	for _, k := range required {
		if _, ok := vals[k]; !ok {
			return nil, p.errf(n, "%s: missing key %q", what, k)
		}
	}
	return vals, nil
}

// spec parses the top-level mapping.
func (p *parser) spec(n *yaml.Node) (*Spec, error) {
	vals, err := p.mapping(n, "spec", []string{"name", "description", "input", "classes", "layers"}, []string{"input", "layers"})
	if err != nil {
		return nil, err
	}
	s := &Spec{file: p.file, classes: 10}
	base := filepath.Base(p.file)
	s.name = strings.TrimSuffix(base, filepath.Ext(base))
	if s.name == "" || s.name == "." || s.name == string(filepath.Separator) {
		s.name = "spec"
	}
	if v, ok := vals["name"]; ok {
		if s.name, err = p.str(v, "spec", "name"); err != nil {
			return nil, err
		}
	}
	if v, ok := vals["description"]; ok {
		if s.description, err = p.str(v, "spec", "description"); err != nil {
			return nil, err
		}
	}
	if strings.ContainsAny(s.name, "\n\r") || s.name == "" {
		return nil, p.errf(n, "spec: \"name\" must be a non-empty single line")
	}
	in := vals["input"]
	s.inputLine = in.Line
	if in.Kind != yaml.SequenceNode || len(in.Content) != 3 {
		return nil, p.errf(in, "spec: \"input\" must be [channels, height, width]")
	}
	for i, e := range in.Content {
		e, err := p.resolve(e)
		if err != nil {
			return nil, err
		}
		limit := maxSpecDim
		if i == 0 {
			limit = maxSpecOpt
		}
		if s.input[i], err = p.intIn(e, "spec", "input", 1, limit); err != nil {
			return nil, err
		}
	}
	if v, ok := vals["classes"]; ok {
		if s.classes, err = p.intIn(v, "spec", "classes", 1, maxSpecOpt); err != nil {
			return nil, err
		}
	}
	if s.layers, err = p.list(vals["layers"], "spec", "layers", false); err != nil {
		return nil, err
	}
	return s, nil
}

// list parses a sequence of layers; a null value is an empty list.
func (p *parser) list(n *yaml.Node, kind, key string, emptyOK bool) ([]*layerSpec, error) {
	var out []*layerSpec
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
	case n.Kind == yaml.SequenceNode:
		for _, e := range n.Content {
			l, err := p.layer(e)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
	default:
		return nil, p.errf(n, "%s: %q must be a list of layers", kind, key)
	}
	if len(out) == 0 && !emptyOK {
		return nil, p.errf(n, "%s: %q must not be empty", kind, key)
	}
	return out, nil
}

// layer parses one list item: {kind: {options}} or a bare kind name.
func (p *parser) layer(n *yaml.Node) (*layerSpec, error) {
	n, err := p.resolve(n)
	if err != nil {
		return nil, err
	}
	var kn, val *yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		kn = n
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			return nil, p.errf(n, "a layer is a mapping with one key, its kind, like {conv: {out: 16, kernel: 3}}; got %d keys", len(n.Content)/2)
		}
		if kn, err = p.resolve(n.Content[0]); err != nil {
			return nil, err
		}
		val = n.Content[1]
	default:
		return nil, p.errf(n, "a layer is a mapping with one key, its kind, like {conv: {out: 16, kernel: 3}}, or a kind alone, like relu")
	}
	if kn.Kind != yaml.ScalarNode || kn.Tag == "!!null" {
		return nil, p.errf(kn, "a layer's kind must be a name like conv or relu")
	}
	kind := kn.Value
	keys, ok := layerKeys[kind]
	if !ok {
		return nil, p.errf(kn, "unknown layer %q%s", kind, suggest(kind, sortedKinds()))
	}
	l := &layerSpec{kind: kind, line: kn.Line, bias: true}
	if val == nil {
		if len(keys.required) > 0 {
			return nil, p.errf(kn, "%s: missing key %q", kind, keys.required[0])
		}
		return l, nil
	}
	vals, err := p.mapping(val, kind, keys.allowed, keys.required)
	if err != nil {
		return nil, err
	}
	return l, p.options(l, vals)
}

// options reads a layer's checked option values into l.
func (p *parser) options(l *layerSpec, vals map[string]*yaml.Node) error {
	k := l.kind
	var err error
	get := func(key string) (*yaml.Node, bool) { v, ok := vals[key]; return v, ok }
	if v, ok := get("out"); ok {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == "classes" {
			l.outClasses = true
		} else if l.out, err = p.intIn(v, k, "out", 1, maxSpecOpt); err != nil {
			return err
		}
	}
	if v, ok := get("bias"); ok {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&l.bias) != nil {
			return p.errf(v, "%s: %q must be true or false", k, "bias")
		}
	}
	if v, ok := get("kernel"); ok {
		if l.kernel, err = p.pair(v, k, "kernel", 1); err != nil {
			return err
		}
	}
	if v, ok := get("stride"); ok {
		if l.stride, err = p.pair(v, k, "stride", 1); err != nil {
			return err
		}
	}
	if v, ok := get("dilation"); ok {
		if l.dilation, err = p.pair(v, k, "dilation", 1); err != nil {
			return err
		}
	}
	if v, ok := get("pad"); ok {
		if err := p.padding(l, v); err != nil {
			return err
		}
	}
	if v, ok := get("groups"); ok {
		if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == "in" {
			l.groupsIn = true
		} else if l.groups, err = p.intIn(v, k, "groups", 1, maxSpecOpt); err != nil {
			return err
		}
	}
	floats := []struct {
		key    string
		dst    *float64
		def    float64
		lo, hi float64
		hiOpen bool
	}{
		{"p", &l.p, 0.5, 0, 1, true},
		{"slope", &l.slope, 0.01, -1e6, 1e6, false},
		{"alpha", &l.alpha, 1, 0, 1e6, false},
		{"eps", &l.eps, 1e-5, 1e-30, 1, false},
		{"momentum", &l.momentum, 0.1, 0, 1, false},
	}
	for _, f := range floats {
		*f.dst = f.def
		v, ok := get(f.key)
		if !ok {
			continue
		}
		if *f.dst, err = p.float(v, k, f.key); err != nil {
			return err
		}
		if *f.dst < f.lo || *f.dst > f.hi || (f.hiOpen && *f.dst == f.hi) {
			closing := "]"
			if f.hiOpen {
				closing = ")"
			}
			return p.errf(v, "%s: %q %v must be in [%v, %v%s", k, f.key, *f.dst, f.lo, f.hi, closing)
		}
	}
	if v, ok := get("alpha"); ok && l.alpha == 0 {
		return p.errf(v, "%s: \"alpha\" must be positive", k)
	}
	if v, ok := get("body"); ok {
		if l.body, err = p.list(v, k, "body", false); err != nil {
			return err
		}
	}
	if v, ok := get("shortcut"); ok {
		if l.shortcut, err = p.list(v, k, "shortcut", true); err != nil {
			return err
		}
	}
	if v, ok := get("activation"); ok && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
		if l.post, err = p.layer(v); err != nil {
			return err
		}
		if !slices.Contains(activationKinds, l.post.kind) {
			return p.errf(v, "%s: \"activation\" must be one of %s, got %s", k, strings.Join(activationKinds, ", "), l.post.kind)
		}
	}
	if v, ok := get("times"); ok {
		if l.times, err = p.intIn(v, k, "times", 1, maxSpecOpt); err != nil {
			return err
		}
	}
	if v, ok := get("layers"); ok {
		if l.layers, err = p.list(v, k, "layers", false); err != nil {
			return err
		}
	}
	if v, ok := get("branches"); ok {
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			return p.errf(v, "%s: \"branches\" must be a non-empty list of layer lists", k)
		}
		for _, b := range v.Content {
			b, err := p.resolve(b)
			if err != nil {
				return err
			}
			br, err := p.list(b, k, "branches", true)
			if err != nil {
				return err
			}
			l.branches = append(l.branches, br)
		}
	}
	return nil
}

// str reads a string scalar.
func (p *parser) str(n *yaml.Node, kind, key string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", p.errf(n, "%s: %q must be a string", kind, key)
	}
	return n.Value, nil
}

// intIn reads an integer scalar in [lo, hi].
func (p *parser) intIn(n *yaml.Node, kind, key string, lo, hi int) (int, error) {
	var v int
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil || v < lo || v > hi {
		what := "a positive integer"
		if lo == 0 {
			what = "a non-negative integer"
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!int" && n.Decode(&v) == nil && v > hi {
			return 0, p.errf(n, "%s: %q %d is too large (at most %d)", kind, key, v, hi)
		}
		return 0, p.errf(n, "%s: %q must be %s", kind, key, what)
	}
	return v, nil
}

// float reads a number.
func (p *parser) float(n *yaml.Node, kind, key string) (float64, error) {
	var v float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&v) != nil || v != v {
		return 0, p.errf(n, "%s: %q must be a number", kind, key)
	}
	return v, nil
}

// pair reads an integer or [height, width], each in [lo, maxSpecWindow].
func (p *parser) pair(n *yaml.Node, kind, key string, lo int) ([2]int, error) {
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) != 2 {
			return [2]int{}, p.errf(n, "%s: %q must be an integer or [height, width]", kind, key)
		}
		var out [2]int
		for i, e := range n.Content {
			e, err := p.resolve(e)
			if err != nil {
				return out, err
			}
			if out[i], err = p.intIn(e, kind, key, lo, maxSpecWindow); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	v, err := p.intIn(n, kind, key, lo, maxSpecWindow)
	return [2]int{v, v}, err
}

// padding reads pad: an integer, [height, width], [top, left, bottom,
// right] or "same" (conv only).
func (p *parser) padding(l *layerSpec, n *yaml.Node) error {
	const msg = "%s: \"pad\" must be a non-negative integer, [height, width]%s"
	extra := ""
	if l.kind == "conv" {
		extra = ", [top, left, bottom, right] or same"
	}
	if l.kind == "conv" && n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == "same" {
		l.padSame = true
		return nil
	}
	var vals []int
	switch {
	case n.Kind == yaml.ScalarNode:
		v, err := p.intIn(n, l.kind, "pad", 0, maxSpecWindow)
		if err != nil {
			return p.errf(n, msg, l.kind, extra)
		}
		vals = []int{v, v}
	case n.Kind == yaml.SequenceNode && (len(n.Content) == 2 || (len(n.Content) == 4 && l.kind == "conv")):
		for _, e := range n.Content {
			e, err := p.resolve(e)
			if err != nil {
				return err
			}
			v, err := p.intIn(e, l.kind, "pad", 0, maxSpecWindow)
			if err != nil {
				return p.errf(e, msg, l.kind, extra)
			}
			vals = append(vals, v)
		}
	default:
		return p.errf(n, msg, l.kind, extra)
	}
	if len(vals) == 2 {
		vals = []int{vals[0], vals[1], vals[0], vals[1]}
	}
	copy(l.pad[:], vals)
	return nil
}

// sortedKinds lists the layer kinds.
func sortedKinds() []string {
	ks := make([]string, 0, len(layerKeys))
	for k := range layerKeys {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// suggest returns ` (did you mean "x"?)` for the known word closest to
// word, if it is close enough, else a list of the known words.
func suggest(word string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(word), k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && (bestD <= 2 || bestD*3 <= len(best)) && bestD < len(word) {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known: " + strings.Join(known, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ---- shapes and building ----

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

// dims formats a shape as CxHxW.
func dims(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return strings.Join(parts, "x")
}

// need3 checks that shape is (C, H, W).
func (b *builder) need3(l *layerSpec, shape []int) error {
	if len(shape) != 3 {
		return b.errf(l, "needs a (channels, height, width) input, got %d features after flatten or linear", shape[0])
	}
	return nil
}

// window computes one output size of a convolution or pooling window.
func window(size, padBefore, padAfter, kernel, stride, dilation int) int {
	return (size+padBefore+padAfter-dilation*(kernel-1)-1)/stride + 1
}

// one builds one layer for an input of the given shape (one example: C, H,
// W or features) and returns it with its output shape.
func (b *builder) one(l *layerSpec, shape []int) (nn.Layer, []int, error) {
	if b.layers++; b.layers > maxSpecLayers {
		return nil, nil, b.errf(l, "more than %d layers once repeats are expanded", maxSpecLayers)
	}
	build := b.r != nil
	same := slices.Clone(shape)
	switch l.kind {
	case "conv":
		if err := b.need3(l, shape); err != nil {
			return nil, nil, err
		}
		cin, out, groups := shape[0], l.out, l.groups
		if l.outClasses {
			out = b.classes
		}
		if l.groupsIn {
			groups = cin
		}
		groups = max(groups, 1)
		if cin%groups != 0 || out%groups != 0 {
			return nil, nil, b.errf(l, "groups %d must divide the input channels %d and out %d", groups, cin, out)
		}
		stride, dil := l.stride, l.dilation
		for i := range 2 {
			stride[i], dil[i] = max(stride[i], 1), max(dil[i], 1)
		}
		pad := l.pad // top, left, bottom, right
		if l.padSame {
			if stride != [2]int{1, 1} {
				return nil, nil, b.errf(l, "pad: same needs stride 1")
			}
			th, tw := dil[0]*(l.kernel[0]-1), dil[1]*(l.kernel[1]-1)
			pad = [4]int{th / 2, tw / 2, th - th/2, tw - tw/2}
		}
		h, w := shape[1], shape[2]
		ekh, ekw := dil[0]*(l.kernel[0]-1)+1, dil[1]*(l.kernel[1]-1)+1
		if h+pad[0]+pad[2] < ekh || w+pad[1]+pad[3] < ekw {
			return nil, nil, b.errf(l, "input %dx%d%s is smaller than kernel %s%s", h, w, padded(pad), kdims(l.kernel), dilated(dil))
		}
		oh := window(h, pad[0], pad[2], l.kernel[0], stride[0], dil[0])
		ow := window(w, pad[1], pad[3], l.kernel[1], stride[1], dil[1])
		if err := b.addParams(l, out, cin/groups, l.kernel[0], l.kernel[1]); err != nil {
			return nil, nil, err
		}
		if l.bias {
			if err := b.addParams(l, out); err != nil {
				return nil, nil, err
			}
		}
		next := []int{out, oh, ow}
		b.work += int64(out) * int64(oh) * int64(ow) * int64(cin/groups) * int64(l.kernel[0]*l.kernel[1])
		if !build {
			return nil, next, nil
		}
		c := nn.NewConv2d(b.r, nn.Conv2dConfig{In: cin, Out: out, KernelHW: l.kernel, Groups: groups, NoBias: !l.bias})
		c.Params.Stride, c.Params.Dilation, c.Params.Pad = stride, dil, pad
		return c, next, nil

	case "linear":
		in := 1
		for _, d := range shape {
			in *= d
		}
		out := l.out
		if l.outClasses {
			out = b.classes
		}
		if err := b.addParams(l, in, out); err != nil {
			return nil, nil, err
		}
		if l.bias {
			if err := b.addParams(l, out); err != nil {
				return nil, nil, err
			}
		}
		b.work += int64(in) * int64(out)
		if !build {
			return nil, []int{out}, nil
		}
		return nn.NewLinear(b.r, in, out, l.bias), []int{out}, nil

	case "batchnorm":
		if err := b.addParams(l, 2, shape[0]); err != nil {
			return nil, nil, err
		}
		if !build {
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

	case "maxpool", "avgpool":
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
		h, w := shape[1], shape[2]
		if h+2*pad[0] < k[0] || w+2*pad[1] < k[1] {
			return nil, nil, b.errf(l, "input %dx%d%s is smaller than kernel %s", h, w, padded([4]int{pad[0], pad[1], pad[0], pad[1]}), kdims(k))
		}
		next := []int{shape[0], window(h, pad[0], pad[0], k[0], s[0], 1), window(w, pad[1], pad[1], k[1], s[1], 1)}
		if !build {
			return nil, next, nil
		}
		if l.kind == "maxpool" {
			mp := nn.NewMaxPool2d(1, 1, 0)
			mp.Params.Kernel, mp.Params.Stride, mp.Params.Pad = k, s, pad
			return mp, next, nil
		}
		ap := nn.NewAvgPool2d(1, 1, 0)
		ap.Params.Kernel, ap.Params.Stride, ap.Params.Pad = k, s, pad
		return ap, next, nil

	case "globalavgpool":
		if err := b.need3(l, shape); err != nil {
			return nil, nil, err
		}
		return nn.GlobalAvgPool2d{}, []int{shape[0], 1, 1}, nil

	case "flatten":
		n := 1
		for _, d := range shape {
			n *= d
		}
		return nn.Flatten{}, []int{n}, nil

	case "dropout":
		if !build {
			return nil, same, nil
		}
		return nn.NewDropout(float32(l.p), b.r.Uint64()), same, nil

	case "relu":
		return nn.ReLU{}, same, nil
	case "leakyrelu":
		if l.slope == 0 {
			return nn.ReLU{}, same, nil // nn.LeakyReLU reads slope 0 as 0.01
		}
		return nn.LeakyReLU{Slope: float32(l.slope)}, same, nil
	case "elu":
		return nn.ELU{Alpha: float32(l.alpha)}, same, nil
	case "gelu":
		return nn.GELU{}, same, nil
	case "silu":
		return nn.SiLU{}, same, nil
	case "sigmoid":
		return nn.Sigmoid{}, same, nil
	case "tanh":
		return nn.Tanh{}, same, nil

	case "residual":
		body, bs, err := b.seq(l.body, shape)
		if err != nil {
			return nil, nil, err
		}
		ss := same
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
		if !build {
			return nil, bs, nil
		}
		r := &nn.Residual{Body: body, Post: post}
		if short != nil {
			r.Shortcut = short
		}
		return r, bs, nil

	case "concat":
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

	case "repeat":
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
	return nil, nil, b.errf(l, "unknown layer kind") // unreachable: the parser checks kinds
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
