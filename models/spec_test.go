package models

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// countParams propagates shapes through s with its defaults and returns
// the parameter count the parser predicts.
func countParams(t testing.TB, s *Spec, opt Options) int64 {
	t.Helper()
	opt = s.Options(opt)
	b := &builder{file: s.file, classes: opt.NumClasses}
	in := s.input
	in[0] = opt.InChannels
	if _, _, err := b.seq(s.layers, in[:]); err != nil {
		t.Fatal(err)
	}
	return b.params
}

// forward runs m in evaluation mode on a deterministic input of n examples.
func forward(m nn.Layer, n int, in [3]int) *tensor.Tensor {
	nn.SetTraining(m, false)
	x := tensor.Uniform(tensor.NewRNG(7), -1, 1, n, in[0], in[1], in[2])
	return m.Forward(autograd.Const(x)).Value
}

func TestSpecExamples(t *testing.T) {
	paths, err := filepath.Glob("../examples/specs/*.yaml")
	if err != nil || len(paths) < 3 {
		t.Fatalf("example specs: %v %v", paths, err)
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			s, err := ReadSpec(p)
			if err != nil {
				t.Fatal(err)
			}
			m, err := s.Build(Options{NumClasses: 7})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := int64(nn.NumParams(m)), countParams(t, s, Options{NumClasses: 7}); got != want {
				t.Errorf("model has %d parameters, the shape pass predicted %d", got, want)
			}
			if y := forward(m, 2, s.Input()); !slices.Equal(y.Shape(), []int{2, 7}) {
				t.Errorf("output %v, want [2 7]", y.Shape())
			}
		})
	}
}

const namesSpec = `
name: names
input: [2, 8, 8]
layers:
  - conv: {out: 4, kernel: 3, pad: 1, bias: false}
  - batchnorm
  - relu
  - residual:
      body: [conv: {out: 6, kernel: 3, stride: 2, pad: 1}, batchnorm]
      shortcut: [conv: {out: 6, kernel: 1, stride: 2}]
      activation: {leakyrelu: {slope: 0.2}}
  - repeat: {times: 2, layers: [residual: {body: [conv: {out: 6, kernel: 3, pad: same}]}]}
  - repeat: {times: 2, layers: [conv: {out: 6, kernel: 1}, relu]}
  - concat:
      branches:
        - [conv: {out: 2, kernel: 1}]
        - []
        - [conv: {out: 6, kernel: 3, pad: 1, groups: in}]
  - globalavgpool
  - flatten
  - linear: {out: classes}
`

func TestSpecStateDictNames(t *testing.T) {
	s, err := ParseSpec("names.yaml", []byte(namesSpec))
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Build(Options{NumClasses: 3})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range nn.StateDict(m) {
		names = append(names, p.Name)
	}
	for _, want := range []string{
		"layers.0.weight", "layers.1.weight", "layers.1.running_mean",
		"layers.3.body.0.weight", "layers.3.body.0.bias", "layers.3.body.1.weight", "layers.3.shortcut.0.weight",
		"layers.4.0.body.0.weight", "layers.4.1.body.0.weight",
		"layers.5.0.0.weight", "layers.5.1.0.weight",
		"layers.6.0.0.weight", "layers.6.2.0.weight",
		"layers.9.weight", "layers.9.bias",
	} {
		if !slices.Contains(names, want) {
			t.Errorf("state dict lacks %q; has %v", want, names)
		}
	}
	if slices.Contains(names, "layers.0.bias") {
		t.Error("bias: false still made layers.0.bias")
	}
	if y := forward(m, 2, s.Input()); !slices.Equal(y.Shape(), []int{2, 3}) {
		t.Errorf("output %v, want [2 3]", y.Shape())
	}
	// The depthwise branch: groups = 6 input channels, weight (6, 1, 3, 3).
	for _, p := range nn.Params(m) {
		if p.Name == "layers.6.2.0.weight" && !slices.Equal(p.Value.Shape(), []int{6, 1, 3, 3}) {
			t.Errorf("depthwise weight %v, want [6 1 3 3]", p.Value.Shape())
		}
	}
}

func TestSpecOptions(t *testing.T) {
	s, err := ParseSpec("names.yaml", []byte(namesSpec))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "names" || s.Input() != [3]int{2, 8, 8} || s.Classes() != 10 {
		t.Fatalf("name %q input %v classes %d", s.Name(), s.Input(), s.Classes())
	}
	a, _ := s.Build(Options{Seed: 1, InChannels: 5})
	b, _ := s.Build(Options{Seed: 1, InChannels: 5})
	c, _ := s.Build(Options{Seed: 2, InChannels: 5})
	ya, yb, yc := forward(a, 1, [3]int{5, 8, 8}), forward(b, 1, [3]int{5, 8, 8}), forward(c, 1, [3]int{5, 8, 8})
	if !slices.Equal(ya.Data(), yb.Data()) || slices.Equal(ya.Data(), yc.Data()) {
		t.Error("the seed does not determine the initialization")
	}
	if !slices.Equal(ya.Shape(), []int{1, 10}) {
		t.Errorf("default classes: output %v, want [1 10]", ya.Shape())
	}
	// An input that breaks a layer is reported by WithInput.
	pool, err := ParseSpec("pool.yaml", []byte("input: [1, 4, 4]\nlayers: [maxpool: {kernel: 2}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.WithInput([3]int{1, 1, 1}); err == nil || err.Error() != "pool.yaml:2: maxpool: input 1x1 is smaller than kernel 2" {
		t.Errorf("WithInput 1x1x1: %v", err)
	}
	w, err := s.WithInput([3]int{2, 16, 12})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := w.Build(Options{})
	if y := forward(m, 1, w.Input()); !slices.Equal(y.Shape(), []int{1, 10}) {
		t.Errorf("16x12 input: output %v", y.Shape())
	}
}

func TestSpecErrors(t *testing.T) {
	head := "input: [3, 8, 8]\nlayers:\n"
	cases := []struct{ src, want string }{
		{head + "  - conv: {out: 4, kernal: 3}\n", `s.yaml:3: conv: unknown key "kernal" (did you mean "kernel"?)`},
		{head + "  - conv: {out: 4, kernel: 3}\n  - linear: {out: -1}\n", `s.yaml:4: linear: "out" must be a positive integer`},
		{head + "  - linear: {out: 2.5}\n", `s.yaml:3: linear: "out" must be a positive integer`},
		{head + "  - maxpool: {kernel: 8}\n  - maxpool: {kernel: 2}\n", `s.yaml:4: maxpool: input 1x1 is smaller than kernel 2`},
		{head + "  - conv: {out: 4, kernel: 9}\n", `s.yaml:3: conv: input 8x8 is smaller than kernel 9`},
		{head + "  - convv: {out: 4}\n", `s.yaml:3: unknown layer "convv" (did you mean "conv"?)`},
		{head + "  - conv: {kernel: 3}\n", `s.yaml:3: conv: missing key "out"`},
		{head + "  - conv\n", `s.yaml:3: conv: missing key "out"`},
		{head + "  - relu: {slope: 1}\n", `s.yaml:3: relu: unknown key "slope" (relu takes no options)`},
		{head + "  - conv: {out: 4, kernel: 3, groups: 2}\n", `s.yaml:3: conv: groups 2 must divide the input channels 3 and out 4`},
		{head + "  - conv: {out: 4, kernel: 3, bias: 1}\n", `s.yaml:3: conv: "bias" must be true or false`},
		{head + "  - dropout: {p: 1}\n", `s.yaml:3: dropout: "p" 1 must be in [0, 1)`},
		{head + "  - flatten\n  - conv: {out: 4, kernel: 1}\n", `s.yaml:4: conv: needs a (channels, height, width) input`},
		{head + "  - residual: {body: [conv: {out: 4, kernel: 1}]}\n", `s.yaml:3: residual: body gives 4x8x8 but the input (identity shortcut) gives 3x8x8`},
		{head + "  - concat: {branches: [[maxpool: {kernel: 2}], []]}\n", `s.yaml:3: concat: branch 1 gives 3x8x8 but branch 0 gives 3x4x4`},
		{head + "  - residual: {body: [relu], activation: conv}\n", `s.yaml:3: conv: missing key "out"`},
		{head + "  - residual: {body: [relu], activation: flatten}\n", `s.yaml:3: residual: "activation" must be one of`},
		{head + "  - {relu: {}, tanh: {}}\n", `s.yaml:3: a layer is a mapping with one key`},
		{head + "  - conv: {out: 4, kernel: 3, out: 5}\n", `s.yaml:3: conv: key "out" given twice`},
		{head + "  - conv: {out: 4, kernel: 3, pad: [1, 2, 3]}\n", `s.yaml:3: conv: "pad" must be`},
		{head + "  - conv: {out: 4, kernel: 3, stride: 2, pad: same}\n", `s.yaml:3: conv: pad: same needs stride 1`},
		{head + "  - repeat: {times: 0, layers: [relu]}\n", `s.yaml:3: repeat: "times" must be a positive integer`},
		{head + "  - linear: {out: 100000000}\n", `s.yaml:3: linear: "out" 100000000 is too large`},
		{head + "  - repeat: {times: 1000000, layers: [relu]}\n", `more than 10000 layers`},
		{"input: [3, 8]\nlayers: [relu]\n", `s.yaml:1: spec: "input" must be [channels, height, width]`},
		{"input: [3, 8, 8]\n", `s.yaml:1: spec: missing key "layers"`},
		{"input: [3, 8, 8]\nlayers: []\n", `s.yaml:2: spec: "layers" must not be empty`},
		{"input: [3, 8, 8]\nlayer: [relu]\n", `s.yaml:2: spec: unknown key "layer" (did you mean "layers"?)`},
		{"input: [3, 8, 8]\nlayers: [relu\n", `s.yaml:`},
		{"", `s.yaml: empty spec`},
		{"- relu\n", `s.yaml:1: spec: want a mapping`},
	}
	for _, c := range cases {
		_, err := ParseSpec("s.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("spec\n%s\nerror %v\nwant %q", c.src, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("error spans lines: %q", err)
		}
	}
}

func TestSpecCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "net.yaml")
	if err := os.WriteFile(path, []byte(namesSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	m, meta, err := Build(path, Options{NumClasses: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Model != "spec:names" || meta.InputShape != [3]int{2, 8, 8} || meta.Options.NumClasses != 4 || meta.Spec != namesSpec {
		t.Fatalf("meta %+v", meta)
	}
	// Train one step's worth of batch-norm statistics so buffers matter.
	m.Forward(autograd.Const(tensor.Uniform(tensor.NewRNG(1), 0, 2, 4, 2, 8, 8)))
	want := forward(m, 3, meta.InputShape)

	ckpt := filepath.Join(dir, "net.safetensors")
	meta.Classes = []string{"a", "b", "c", "d"}
	if err := Save(ckpt, m, meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if gotMeta.Model != "spec:names" || gotMeta.Spec != namesSpec || gotMeta.InputShape != meta.InputShape {
		t.Fatalf("loaded meta %+v", gotMeta)
	}
	if y := forward(got, 3, meta.InputShape); !slices.Equal(y.Data(), want.Data()) {
		t.Fatal("the reloaded model computes other outputs")
	}

	// A checkpoint whose input shape does not fit its spec is refused.
	meta.InputShape = [3]int{2, 9, 9}
	if err := Save(ckpt, m, meta); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(ckpt); err == nil || !strings.Contains(err.Error(), "2x9x9") {
		t.Fatalf("mismatched input shape: %v", err)
	}
}

func TestBuildRegistryName(t *testing.T) {
	m, meta, err := Build("resnet20", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if meta.Model != "resnet20" || meta.InputShape != [3]int{3, 32, 32} || meta.Options.NumClasses != 10 || meta.Spec != "" {
		t.Fatalf("meta %+v", meta)
	}
	if n := nn.NumParams(m); n != 272474 {
		t.Fatalf("resnet20 has %d parameters", n)
	}
	if _, _, err := Build("no-such-model", Options{}); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Fatalf("unknown name: %v", err)
	}
	if _, _, err := Build(filepath.Join(t.TempDir(), "missing.yml"), Options{}); err == nil {
		t.Fatal("missing spec file: no error")
	}
}

func FuzzParseSpec(f *testing.F) {
	paths, _ := filepath.Glob("../examples/specs/*.yaml")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(namesSpec))
	f.Add([]byte("input: [1, 4, 4]\nlayers: [relu, flatten, {linear: {out: classes}}]\n"))
	f.Add([]byte("input: [1, 4, 4]\nlayers: &a [relu, {repeat: {times: 3, layers: *a}}]\n"))
	f.Add([]byte("a: &a [x, *a]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := ParseSpec("fuzz.yaml", src)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		// Specs small enough to run must build and compute the shapes the
		// parser predicted.
		in := s.Input()
		if countParams(t, s, Options{}) > 1e5 || in[0]*in[1]*in[2] > 4096 {
			return
		}
		b := &builder{file: s.file, classes: s.classes}
		_, outShape, err := b.seq(s.layers, in[:])
		if err != nil || b.layers > 50 || b.work > 1e7 {
			return
		}
		m, err := s.Build(Options{})
		if err != nil {
			t.Fatalf("parsed but does not build: %v", err)
		}
		if got, want := int64(nn.NumParams(m)), b.params; got != want {
			t.Fatalf("%d parameters, predicted %d", got, want)
		}
		y := forward(m, 1, in)
		if !slices.Equal(y.Shape()[1:], outShape) {
			t.Fatalf("output %v, predicted %v", y.Shape(), outShape)
		}
	})
}

// TestSpecDocsListEveryKind checks that docs/spec.md's table of layers
// names exactly the kinds of the layer-kind table, and the residual
// activations the parser accepts.
func TestSpecDocsListEveryKind(t *testing.T) {
	doc, err := os.ReadFile("../docs/spec.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "| kind ")
	if !ok {
		t.Fatal("docs/spec.md has no table of layer kinds (a header row starting with \"| kind\")")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	var documented []string
	for _, row := range strings.Split(table, "\n")[2:] {
		cells := strings.Split(row, "|")
		if len(cells) < 3 {
			t.Fatalf("table row %q", row)
		}
		for _, name := range strings.Split(cells[1], ",") {
			documented = append(documented, strings.Trim(name, " `"))
		}
	}
	slices.Sort(documented)
	if kinds := sortedKinds(); !slices.Equal(documented, kinds) {
		t.Errorf("docs/spec.md lists the layer kinds %v; the parser knows %v", documented, kinds)
	}
	text := strings.Join(strings.Fields(string(doc)), " ")
	if acts := strings.Join(activationKinds(), ", "); !strings.Contains(text, "names one of "+acts+" ") {
		t.Errorf("docs/spec.md does not say that a residual's activation names one of %s", acts)
	}
}

// TestSpecBareKindDefaults checks that a kind written alone (- batchnorm)
// gets the documented defaults of its options, as - batchnorm: and
// - batchnorm: {} do.
func TestSpecBareKindDefaults(t *testing.T) {
	for _, form := range []string{"%s", "%s:", "%s: {}"} {
		src := "input: [2, 4, 4]\nlayers:\n"
		for _, kind := range []string{"batchnorm", "leakyrelu", "elu", "flatten", "dropout", "batchnorm"} {
			src += "  - " + fmt.Sprintf(form, kind) + "\n"
		}
		s, err := ParseSpec("bare.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.Build(Options{})
		if err != nil {
			t.Fatal(err)
		}
		layers := m.(*SpecModel).Layers.Layers
		for _, i := range []int{0, 5} {
			if bn := layers[i].(*nn.BatchNorm); bn.Eps != 1e-5 || bn.Momentum != 0.1 {
				t.Errorf("%q: batchnorm eps %g momentum %g, want 1e-5 and 0.1", form, bn.Eps, bn.Momentum)
			}
		}
		if l, ok := layers[1].(nn.LeakyReLU); !ok || l.Slope != 0.01 {
			t.Errorf("%q: leakyrelu is %#v, want slope 0.01", form, layers[1])
		}
		if l := layers[2].(nn.ELU); l.Alpha != 1 {
			t.Errorf("%q: elu alpha %g, want 1", form, l.Alpha)
		}
		if d := layers[4].(*nn.Dropout); d.P != 0.5 {
			t.Errorf("%q: dropout p %g, want 0.5", form, d.P)
		}
	}
}
