package models

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fovea-ml/fovea/internal/suggest"
)

// Parsing: YAML text → a [Spec] whose layers are layerSpecs, typed and
// range-checked option values that remember their line for the errors of
// the shape pass (spec_build.go). Which keys a kind takes comes from the
// layer-kind table, layerKinds (spec_layers.go).

// layerSpec is one parsed layer: its kind, the line it starts on and the
// options of that kind (the others keep their defaults).
type layerSpec struct {
	kind string
	line int

	out        int  // conv, linear; 0 with outClasses
	outClasses bool // out: classes
	bias       bool // conv, linear
	kernel     [2]int
	stride     [2]int // 0: the kernel (pools) or 1 (conv)
	dilation   [2]int // 0: 1
	pad        [4]int // top, left, bottom, right
	padSame    bool
	groups     int // 0 with groupsIn
	groupsIn   bool

	p, slope, alpha float64 // dropout, leakyrelu, elu
	eps, momentum   float64 // batchnorm

	body, shortcut []*layerSpec // residual
	post           *layerSpec   // residual activation, or nil
	times          int          // repeat
	layers         []*layerSpec // repeat
	branches       [][]*layerSpec
}

// newLayerSpec returns a layer of the kind with every option at its
// default (docs/spec.md), for the options given to replace.
func newLayerSpec(kind string, line int) *layerSpec {
	return &layerSpec{kind: kind, line: line, bias: true, p: 0.5, slope: 0.01, alpha: 1, eps: 1e-5, momentum: 0.1}
}

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

// isNull reports whether n is a null scalar (an empty value).
func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// isWord reports whether n is the string scalar word.
func isWord(n *yaml.Node, word string) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == word
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
	case isNull(n):
	case n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := p.resolve(n.Content[i])
			if err != nil {
				return nil, err
			}
			if err := p.checkKey(k, what, allowed, vals); err != nil {
				return nil, err
			}
			if vals[k.Value], err = p.resolve(n.Content[i+1]); err != nil {
				return nil, err
			}
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

// checkKey checks one key of a mapping: a plain name, allowed, and not in
// seen yet.
func (p *parser) checkKey(k *yaml.Node, what string, allowed []string, seen map[string]*yaml.Node) error {
	if k.Kind != yaml.ScalarNode {
		return p.errf(k, "%s: keys must be plain names", what)
	}
	if k.Value == "<<" {
		return p.errf(k, "%s: merge keys (<<) are not supported", what)
	}
	if !slices.Contains(allowed, k.Value) {
		if len(allowed) == 0 {
			return p.errf(k, "%s: unknown key %q (%s takes no options)", what, k.Value, what)
		}
		return p.errf(k, "%s: unknown key %q%s", what, k.Value, suggest.Hint(k.Value, allowed))
	}
	if _, dup := seen[k.Value]; dup {
		return p.errf(k, "%s: key %q given twice", what, k.Value)
	}
	return nil
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
	if s.input, err = p.input(vals["input"]); err != nil {
		return nil, err
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

// input parses the spec's input shape [channels, height, width].
func (p *parser) input(n *yaml.Node) ([3]int, error) {
	var in [3]int
	if n.Kind != yaml.SequenceNode || len(n.Content) != 3 {
		return in, p.errf(n, "spec: \"input\" must be [channels, height, width]")
	}
	for i, e := range n.Content {
		e, err := p.resolve(e)
		if err != nil {
			return in, err
		}
		limit := maxSpecDim
		if i == 0 {
			limit = maxSpecOpt
		}
		if in[i], err = p.intIn(e, "spec", "input", 1, limit); err != nil {
			return in, err
		}
	}
	return in, nil
}

// list parses a sequence of layers; a null value is an empty list.
func (p *parser) list(n *yaml.Node, kind, key string, emptyOK bool) ([]*layerSpec, error) {
	var out []*layerSpec
	switch {
	case isNull(n):
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
	kn, val, err := p.layerKey(n)
	if err != nil {
		return nil, err
	}
	kind := kn.Value
	lk, ok := layerKinds[kind]
	if !ok {
		return nil, p.errf(kn, "unknown layer %q%s", kind, suggest.Hint(kind, sortedKinds()))
	}
	l := newLayerSpec(kind, kn.Line)
	if val == nil {
		if len(lk.required) > 0 {
			return nil, p.errf(kn, "%s: missing key %q", kind, lk.required[0])
		}
		return l, nil
	}
	vals, err := p.mapping(val, kind, lk.allowed, lk.required)
	if err != nil {
		return nil, err
	}
	return l, p.options(l, vals)
}

// layerKey splits a layer item into the node naming its kind and the node
// of its options (nil for a bare kind name).
func (p *parser) layerKey(n *yaml.Node) (kind, options *yaml.Node, err error) {
	if n, err = p.resolve(n); err != nil {
		return nil, nil, err
	}
	switch n.Kind {
	case yaml.ScalarNode:
		kind = n
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			return nil, nil, p.errf(n, "a layer is a mapping with one key, its kind, like {conv: {out: 16, kernel: 3}}; got %d keys", len(n.Content)/2)
		}
		if kind, err = p.resolve(n.Content[0]); err != nil {
			return nil, nil, err
		}
		options = n.Content[1]
	default:
		return nil, nil, p.errf(n, "a layer is a mapping with one key, its kind, like {conv: {out: 16, kernel: 3}}, or a kind alone, like relu")
	}
	if kind.Kind != yaml.ScalarNode || kind.Tag == "!!null" {
		return nil, nil, p.errf(kind, "a layer's kind must be a name like conv or relu")
	}
	return kind, options, nil
}

// options reads a layer's checked option values into l, in a fixed order:
// when several are wrong, the first in it is reported.
func (p *parser) options(l *layerSpec, vals map[string]*yaml.Node) error {
	for _, read := range []func(*layerSpec, map[string]*yaml.Node) error{p.geometry, p.numbers, p.containers} {
		if err := read(l, vals); err != nil {
			return err
		}
	}
	return nil
}

// geometry reads the options of convolutions, linear layers and pools:
// out, bias, kernel, stride, dilation, pad and groups.
func (p *parser) geometry(l *layerSpec, vals map[string]*yaml.Node) error {
	k := l.kind
	var err error
	if v, ok := vals["out"]; ok {
		if l.out, l.outClasses, err = p.countOr(v, k, "out", "classes"); err != nil {
			return err
		}
	}
	if v, ok := vals["bias"]; ok {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Decode(&l.bias) != nil {
			return p.errf(v, "%s: %q must be true or false", k, "bias")
		}
	}
	for _, f := range []struct {
		key string
		dst *[2]int
	}{{"kernel", &l.kernel}, {"stride", &l.stride}, {"dilation", &l.dilation}} {
		if v, ok := vals[f.key]; ok {
			if *f.dst, err = p.pair(v, k, f.key, 1); err != nil {
				return err
			}
		}
	}
	if v, ok := vals["pad"]; ok {
		if err := p.padding(l, v); err != nil {
			return err
		}
	}
	if v, ok := vals["groups"]; ok {
		if l.groups, l.groupsIn, err = p.countOr(v, k, "groups", "in"); err != nil {
			return err
		}
	}
	return nil
}

// numbers reads the real-valued options, each checked against its range:
// p, slope, alpha, eps and momentum.
func (p *parser) numbers(l *layerSpec, vals map[string]*yaml.Node) error {
	floats := []struct {
		key    string
		dst    *float64
		lo, hi float64
		hiOpen bool
	}{
		{"p", &l.p, 0, 1, true},
		{"slope", &l.slope, -1e6, 1e6, false},
		{"alpha", &l.alpha, 0, 1e6, false},
		{"eps", &l.eps, 1e-30, 1, false},
		{"momentum", &l.momentum, 0, 1, false},
	}
	var err error
	for _, f := range floats {
		v, ok := vals[f.key]
		if !ok {
			continue
		}
		if *f.dst, err = p.float(v, l.kind, f.key); err != nil {
			return err
		}
		if *f.dst < f.lo || *f.dst > f.hi || (f.hiOpen && *f.dst == f.hi) {
			closing := "]"
			if f.hiOpen {
				closing = ")"
			}
			return p.errf(v, "%s: %q %v must be in [%v, %v%s", l.kind, f.key, *f.dst, f.lo, f.hi, closing)
		}
	}
	if v, ok := vals["alpha"]; ok && l.alpha == 0 {
		return p.errf(v, "%s: \"alpha\" must be positive", l.kind)
	}
	return nil
}

// containers reads the options that hold layers: body, shortcut and
// activation (residual), times and layers (repeat), branches (concat).
func (p *parser) containers(l *layerSpec, vals map[string]*yaml.Node) error {
	k := l.kind
	var err error
	if v, ok := vals["body"]; ok {
		if l.body, err = p.list(v, k, "body", false); err != nil {
			return err
		}
	}
	if v, ok := vals["shortcut"]; ok {
		if l.shortcut, err = p.list(v, k, "shortcut", true); err != nil {
			return err
		}
	}
	if v, ok := vals["activation"]; ok && !isNull(v) {
		if l.post, err = p.activation(k, v); err != nil {
			return err
		}
	}
	if v, ok := vals["times"]; ok {
		if l.times, err = p.intIn(v, k, "times", 1, maxSpecOpt); err != nil {
			return err
		}
	}
	if v, ok := vals["layers"]; ok {
		if l.layers, err = p.list(v, k, "layers", false); err != nil {
			return err
		}
	}
	if v, ok := vals["branches"]; ok {
		if l.branches, err = p.branches(k, v); err != nil {
			return err
		}
	}
	return nil
}

// activation parses a residual's activation: a layer of one of the
// activation kinds.
func (p *parser) activation(kind string, n *yaml.Node) (*layerSpec, error) {
	l, err := p.layer(n)
	if err != nil {
		return nil, err
	}
	if acts := activationKinds(); !slices.Contains(acts, l.kind) {
		return nil, p.errf(n, "%s: \"activation\" must be one of %s, got %s", kind, strings.Join(acts, ", "), l.kind)
	}
	return l, nil
}

// branches parses a concat's list of layer lists.
func (p *parser) branches(kind string, n *yaml.Node) ([][]*layerSpec, error) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, p.errf(n, "%s: \"branches\" must be a non-empty list of layer lists", kind)
	}
	var out [][]*layerSpec
	for _, b := range n.Content {
		b, err := p.resolve(b)
		if err != nil {
			return nil, err
		}
		br, err := p.list(b, kind, "branches", true)
		if err != nil {
			return nil, err
		}
		out = append(out, br)
	}
	return out, nil
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

// countOr reads a positive integer, or word (reported as true).
func (p *parser) countOr(n *yaml.Node, kind, key, word string) (int, bool, error) {
	if isWord(n, word) {
		return 0, true, nil
	}
	v, err := p.intIn(n, kind, key, 1, maxSpecOpt)
	return v, false, err
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
	if l.kind == "conv" && isWord(n, "same") {
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
