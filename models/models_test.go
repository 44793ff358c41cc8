package models_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// stateShapes returns the state dict of m as name → shape, in order.
func stateShapes(m nn.Layer) ([]string, map[string][]int) {
	var names []string
	shapes := map[string][]int{}
	for _, s := range nn.StateDict(m) {
		names = append(names, s.Name)
		shapes[s.Name] = slices.Clone(s.Value.Shape())
	}
	return names, shapes
}

func TestLeNet5ParamsMatchPyTorch(t *testing.T) {
	m := models.NewLeNet5(models.Options{})
	if got := nn.NumParams(m); got != 61706 {
		t.Errorf("LeNet-5 has %d parameters, want 61,706", got)
	}
	// torchvision-style LeNet-5 of bench/peers/models.py: state_dict keys in
	// registration order with these shapes.
	want := []struct {
		name  string
		shape []int
	}{
		{"conv1.weight", []int{6, 1, 5, 5}},
		{"conv1.bias", []int{6}},
		{"conv2.weight", []int{16, 6, 5, 5}},
		{"conv2.bias", []int{16}},
		{"fc1.weight", []int{120, 400}},
		{"fc1.bias", []int{120}},
		{"fc2.weight", []int{84, 120}},
		{"fc2.bias", []int{84}},
		{"fc3.weight", []int{10, 84}},
		{"fc3.bias", []int{10}},
	}
	names, shapes := stateShapes(m)
	var wantNames []string
	for _, w := range want {
		wantNames = append(wantNames, w.name)
		if !slices.Equal(shapes[w.name], w.shape) {
			t.Errorf("%s has shape %v, want %v", w.name, shapes[w.name], w.shape)
		}
	}
	if !slices.Equal(names, wantNames) {
		t.Errorf("state dict names %v, want %v", names, wantNames)
	}

	// Through the registry with other options.
	m2, err := models.New("lenet5", models.Options{NumClasses: 7, InChannels: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, s2 := stateShapes(m2)
	if !slices.Equal(s2["conv1.weight"], []int{6, 3, 5, 5}) || !slices.Equal(s2["fc3.weight"], []int{7, 84}) {
		t.Errorf("lenet5 with 3 channels, 7 classes: conv1.weight %v, fc3.weight %v", s2["conv1.weight"], s2["fc3.weight"])
	}
	out := m2.Forward(autograd.Const(tensor.Zeros(2, 3, 28, 28)))
	if !slices.Equal(out.Shape(), []int{2, 7}) {
		t.Errorf("lenet5 output shape %v, want [2 7]", out.Shape())
	}
}

func TestMNISTCNNSequentialNames(t *testing.T) {
	m, err := models.New(models.DefaultMNIST, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	names, shapes := stateShapes(m)
	// Parameters in PyTorch's order, then buffers (nn.StateDict lists all
	// parameters before all buffers; names are what matter to a checkpoint).
	want := []string{"0.weight", "1.weight", "1.bias", "4.weight", "5.weight", "5.bias",
		"8.weight", "9.weight", "9.bias", "12.weight", "12.bias"}
	for _, i := range []string{"1", "5", "9"} {
		want = append(want, i+".running_mean", i+".running_var", i+".num_batches_tracked")
	}
	if !slices.Equal(names, want) {
		t.Fatalf("mnist-cnn state dict names\n got %v\nwant %v", names, want)
	}
	var params []string
	for _, p := range nn.Params(m) {
		params = append(params, p.Name)
	}
	if !slices.Equal(params, want[:11]) {
		t.Errorf("mnist-cnn parameter names %v, want %v", params, want[:11])
	}
	for name, shape := range map[string][]int{
		"0.weight":  {16, 1, 3, 3},
		"1.weight":  {16},
		"4.weight":  {32, 16, 3, 3},
		"8.weight":  {64, 32, 3, 3},
		"9.bias":    {64},
		"12.weight": {10, 3136},
		"12.bias":   {10},
	} {
		if !slices.Equal(shapes[name], shape) {
			t.Errorf("%s has shape %v, want %v", name, shapes[name], shape)
		}
	}
	// Parameters (not buffers) only.
	const wantParams = 16*9 + 2*16 + 32*16*9 + 2*32 + 64*32*9 + 2*64 + 3136*10 + 10 // 54,778
	if got := nn.NumParams(m); got != wantParams {
		t.Errorf("mnist-cnn has %d parameters, want %d", got, wantParams)
	}
	out := m.Forward(autograd.Const(tensor.Zeros(3, 1, 28, 28)))
	if !slices.Equal(out.Shape(), []int{3, 10}) {
		t.Errorf("mnist-cnn output shape %v, want [3 10]", out.Shape())
	}
}

func TestRegistry(t *testing.T) {
	names := models.Names()
	for _, n := range []string{"lenet5", models.DefaultMNIST} {
		if !slices.Contains(names, n) {
			t.Errorf("Names() = %v lacks %q", names, n)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Names() = %v is not sorted", names)
	}
	all := models.All()
	if len(all) != len(names) {
		t.Fatalf("All() has %d entries, Names() %d", len(all), len(names))
	}
	for i, info := range all {
		if info.Name != names[i] || info.Build == nil || info.Description == "" || info.Input[0] < 1 || info.Input[1] < 1 || info.Input[2] < 1 {
			t.Errorf("All()[%d] = {%q, input %v, build nil %v, %q}", i, info.Name, info.Input, info.Build == nil, info.Description)
		}
	}

	for _, name := range []string{"unknown-net", "", "LeNet5"} {
		_, err := models.New(name, models.Options{})
		if err == nil {
			t.Errorf("New(%q) did not fail", name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "\""+name+"\"") {
			t.Errorf("New(%q) error %q does not name the model", name, msg)
		}
		for _, n := range names {
			if !strings.Contains(msg, n) {
				t.Errorf("New(%q) error %q does not list known model %q", name, msg, n)
			}
		}
		if _, err := models.Lookup(name); err == nil || err.Error() != msg {
			t.Errorf("Lookup(%q) error %v, want the same as New's", name, err)
		}
	}

	if _, err := models.New("lenet5", models.Options{NumClasses: -1}); err == nil {
		t.Error("New with NumClasses -1 did not fail")
	}
	if _, err := models.New("lenet5", models.Options{InChannels: -3}); err == nil {
		t.Error("New with InChannels -3 did not fail")
	}

	defer func() {
		if recover() == nil {
			t.Error("registering lenet5 twice did not panic")
		}
	}()
	models.Register(models.Info{Name: "lenet5"})
}

// imageNetModels are the zoo's ImageNet architectures, whose head has
// torchvision's 1000 classes by default.
var imageNetModels = []string{"resnet18", "resnet34", "resnet50", "vgg11", "vgg13", "vgg16", "vgg11_bn", "vgg13_bn", "vgg16_bn",
	"googlenet", "mobilenetv2"}

func TestOptionsDefaults(t *testing.T) {
	for _, info := range models.All() {
		want := 10
		if slices.Contains(imageNetModels, info.Name) {
			want = 1000
		}
		if info.Classes != want {
			t.Errorf("%s: Info.Classes %d, want %d", info.Name, info.Classes, want)
		}
		if testing.Short() && info.Input[1]*info.Input[2] > 64*64 {
			continue // ImageNet-size models: a forward takes seconds
		}
		m, err := models.New(info.Name, models.Options{})
		if err != nil {
			t.Fatal(err)
		}
		in := info.Input
		out := m.Forward(autograd.Const(tensor.Zeros(1, in[0], in[1], in[2])))
		if !slices.Equal(out.Shape(), []int{1, want}) {
			t.Errorf("%s with zero Options: output %v, want [1 %d] (default NumClasses %d, InChannels %d)", info.Name, out.Shape(), want, want, in[0])
		}
		// The constructor on its own has the same default.
		if direct, err := info.Build(models.Options{}); err != nil || nn.NumParams(direct) != nn.NumParams(m) {
			t.Errorf("%s: Info.Build with zero Options: %v, %d parameters; New: %d", info.Name, err, nn.NumParams(direct), nn.NumParams(m))
		}
	}
	m, err := models.New(models.DefaultMNIST, models.Options{NumClasses: 3, InChannels: 2})
	if err != nil {
		t.Fatal(err)
	}
	if out := m.Forward(autograd.Const(tensor.Zeros(1, 2, 28, 28))); !slices.Equal(out.Shape(), []int{1, 3}) {
		t.Errorf("mnist-cnn with 3 classes, 2 channels: output %v, want [1 3]", out.Shape())
	}
}

// stateData returns copies of all of m's tensors.
func stateData(m nn.Layer) map[string][]float32 {
	out := map[string][]float32{}
	for _, s := range nn.StateDict(m) {
		out[s.Name] = slices.Clone(s.Value.Contiguous().Data())
	}
	return out
}

func TestSeeds(t *testing.T) {
	for _, info := range models.All() {
		name := info.Name
		// The ImageNet-size models are built narrow where they have a
		// width option (VGG-16 has 138M parameters): seeding does not
		// depend on the width.
		width := 0.0
		if info.Input[1] > 64 {
			width = 0.25
		}
		build := func(seed uint64) map[string][]float32 {
			m, err := models.New(name, models.Options{Seed: seed, Width: width})
			if err != nil {
				t.Fatal(err)
			}
			return stateData(m)
		}
		a, b, c := build(7), build(7), build(8)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: two builds with seed 7 differ", name)
		}
		same := 0
		for k, v := range a {
			if slices.Equal(v, c[k]) {
				same++
			}
		}
		// Only constant-initialized tensors (BN weight/bias/buffers) and
		// identity (Dirac) initializations, all 0s and 1s, may agree.
		for k, v := range a {
			constant := !slices.ContainsFunc(v, func(x float32) bool { return x != v[0] })
			identity := !slices.ContainsFunc(v, func(x float32) bool { return x != 0 && x != 1 })
			if strings.HasSuffix(k, "weight") && len(v) > 100 && !constant && !identity && slices.Equal(v, c[k]) {
				t.Errorf("%s: %s is the same with seeds 7 and 8", name, k)
			}
		}
		if same == len(a) {
			t.Errorf("%s: seeds 7 and 8 give identical models", name)
		}
	}
	if !reflect.DeepEqual(stateData(models.NewLeNet5(models.Options{Seed: 3})), stateData(models.NewLeNet5(models.Options{Seed: 3}))) {
		t.Error("NewLeNet5 with the same seed differs")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	opt := models.Options{NumClasses: 10, InChannels: 1, Seed: 42}
	m, err := models.New(models.DefaultMNIST, opt)
	if err != nil {
		t.Fatal(err)
	}
	// A few training-mode passes move the batch-norm running statistics
	// away from their initial 0 and 1.
	rng := tensor.NewRNG(5)
	nn.SetTraining(m, true)
	for range 3 {
		m.Forward(autograd.Const(tensor.Normal(rng, 0.5, 2, 8, 1, 28, 28)))
	}
	nn.SetTraining(m, false)
	x := autograd.Const(tensor.Normal(rng, 0, 1, 4, 1, 28, 28))
	want := slices.Clone(m.Forward(x).Value.Data())
	before := stateData(m)
	if rm := before["1.running_mean"]; slices.Equal(rm, make([]float32, len(rm))) {
		t.Fatal("running mean did not move; the test would prove nothing")
	}
	if nb := before["1.num_batches_tracked"]; nb[0] != 3 {
		t.Fatalf("num_batches_tracked = %v, want 3", nb)
	}

	meta := models.Meta{
		Model:      models.DefaultMNIST,
		Options:    opt,
		Classes:    []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"},
		InputShape: [3]int{1, 28, 28},
		Mean:       []float32{0.1307},
		Std:        []float32{0.3081},
	}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := models.Save(path, m, meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := models.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("metadata after round trip\n got %+v\nwant %+v", gotMeta, meta)
	}
	if after := stateData(got); !reflect.DeepEqual(after, before) {
		for k, v := range before {
			if !slices.Equal(v, after[k]) {
				t.Errorf("%s differs after round trip", k)
			}
		}
	}
	// Load returns the model in evaluation mode: same logits bit for bit.
	logits := got.Forward(x).Value.Data()
	if !slices.Equal(logits, want) {
		t.Errorf("logits after round trip differ:\n got %v\nwant %v", logits, want)
	}
	// And evaluation mode does not touch the running statistics.
	if after := stateData(got); !slices.Equal(after["5.running_var"], before["5.running_var"]) {
		t.Error("a forward pass of the loaded model changed running_var: not in evaluation mode")
	}

	// The file records the metadata under the documented keys.
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		checkpoint.KeyModel:         models.DefaultMNIST,
		checkpoint.KeyInputShape:    "1x28x28",
		checkpoint.KeyFormatVersion: checkpoint.FormatVersion,
	} {
		if f.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, f.Metadata[k], v)
		}
	}
}

func TestSaveLoadLeNet5(t *testing.T) {
	opt := models.Options{NumClasses: 4, InChannels: 3, Seed: 9}
	m, err := models.New("lenet5", opt)
	if err != nil {
		t.Fatal(err)
	}
	x := autograd.Const(tensor.Normal(tensor.NewRNG(1), 0, 1, 2, 3, 28, 28))
	want := slices.Clone(m.Forward(x).Value.Data())
	meta := models.Meta{Model: "lenet5", Options: opt, Classes: []string{"a", "b", "c", "d"}, InputShape: [3]int{3, 28, 28},
		Mean: []float32{0.1, 0.2, 0.3}, Std: []float32{1, 2, 3},
		Data: &models.DataSpec{Data: "photos", DataAbs: "/data/photos", ValSplit: 0.25, Seed: 7, Size: [2]int{28, 28}, Channels: 3}}
	path := filepath.Join(t.TempDir(), "lenet.safetensors")
	if err := models.Save(path, m, meta); err != nil {
		t.Fatal(err)
	}
	got, gotMeta, err := models.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("metadata after round trip\n got %+v\nwant %+v", gotMeta, meta)
	}
	if logits := got.Forward(x).Value.Data(); !slices.Equal(logits, want) {
		t.Errorf("logits after round trip differ:\n got %v\nwant %v", logits, want)
	}
}

// mustContain fails unless err is non-nil and its message has every part.
func mustContain(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not mention %q", what, err, p)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	lenet := models.NewLeNet5(models.Options{Seed: 1})
	state := nn.StateDict(lenet)

	// A plain safetensors file without Fovea metadata (as PyTorch writes).
	plain := filepath.Join(dir, "plain.safetensors")
	if err := checkpoint.WriteFile(plain, state, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := models.Load(plain)
	mustContain(t, "checkpoint without metadata", err, "plain.safetensors", "not a Fovea", checkpoint.KeyModel)

	// An unknown model name.
	unknown := filepath.Join(dir, "unknown.safetensors")
	if err := checkpoint.WriteFile(unknown, state, map[string]string{checkpoint.KeyModel: "resnet-9000"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = models.Load(unknown)
	mustContain(t, "unknown model", err, "unknown.safetensors", "resnet-9000", "unknown model", "lenet5", models.DefaultMNIST)

	// LeNet-5 weights labelled as the MNIST CNN.
	other := filepath.Join(dir, "other.safetensors")
	if err := checkpoint.WriteFile(other, state, map[string]string{checkpoint.KeyModel: models.DefaultMNIST}); err != nil {
		t.Fatal(err)
	}
	_, _, err = models.Load(other)
	mustContain(t, "weights of another model", err, "other.safetensors", models.DefaultMNIST, "do not fit", "conv1.weight", "0.weight")

	// Same tensor names, wrong shapes: LeNet-5 for 10 classes labelled as
	// a LeNet-5 for 5 classes.
	shapes := filepath.Join(dir, "shapes.safetensors")
	if err := checkpoint.WriteFile(shapes, state, map[string]string{
		checkpoint.KeyModel: "lenet5", checkpoint.KeyModelOptions: `{"num_classes":5}`}); err != nil {
		t.Fatal(err)
	}
	_, _, err = models.Load(shapes)
	mustContain(t, "wrong shapes", err, "shapes.safetensors", "fc3.weight", "[10 84]", "[5 84]")

	// Broken metadata values.
	for _, c := range []struct {
		name string
		md   map[string]string
		want string
	}{
		{"options", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyModelOptions: "{not json"}, checkpoint.KeyModelOptions},
		{"classes", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyClasses: `"zero"`}, checkpoint.KeyClasses},
		{"shape", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyInputShape: "28x28"}, checkpoint.KeyInputShape},
		{"shape0", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyInputShape: "0x28x28"}, checkpoint.KeyInputShape},
		{"norm", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyInputShape: "1x28x28",
			checkpoint.KeyNormalize: `{"mean":[0.1,0.2],"std":[1,1]}`}, checkpoint.KeyNormalize},
		{"version", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyFormatVersion: "99"}, checkpoint.KeyFormatVersion},
		{"data json", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyData: `{"data":`}, checkpoint.KeyData},
		{"data empty", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyData: `{"size":[28,28]}`}, checkpoint.KeyData},
		{"data split", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyData: `{"data":"x","val_split":1}`}, "val_split"},
		// Metadata that the weights fit but the model cannot take: these
		// used to load and then panic in Forward or Normalize.
		{"std0", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyNormalize: `{"mean":[0.1],"std":[0]}`}, checkpoint.KeyNormalize},
		{"stdneg", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyNormalize: `{"mean":[0.1],"std":[-1]}`}, checkpoint.KeyNormalize},
		{"size", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyInputShape: "1x32x32"}, "1x32x32"},
		{"channels", map[string]string{checkpoint.KeyModel: "lenet5", checkpoint.KeyInputShape: "3x28x28"}, "3x28x28"},
	} {
		p := filepath.Join(dir, "meta-"+c.name+".safetensors")
		if err := checkpoint.WriteFile(p, state, c.md); err != nil {
			t.Fatal(err)
		}
		_, _, err := models.Load(p)
		mustContain(t, "metadata "+c.name, err, "meta-"+c.name+".safetensors", c.want)
	}

	// Without an input shape, the architecture's default with the
	// checkpoint's channel count.
	lenet3 := models.NewLeNet5(models.Options{InChannels: 3})
	noShape := filepath.Join(dir, "noshape.safetensors")
	if err := checkpoint.WriteFile(noShape, nn.StateDict(lenet3), map[string]string{
		checkpoint.KeyModel: "lenet5", checkpoint.KeyModelOptions: `{"in_channels":3}`}); err != nil {
		t.Fatal(err)
	}
	if _, meta, err := models.Load(noShape); err != nil || meta.InputShape != [3]int{3, 28, 28} {
		t.Errorf("checkpoint without input shape: input %v, error %v; want [3 28 28]", meta.InputShape, err)
	}

	// Not a safetensors file at all, and a missing file.
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("these are not the weights you are looking for\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = models.Load(text)
	mustContain(t, "text file", err, "notes.txt")
	_, _, err = models.Load(filepath.Join(dir, "missing.safetensors"))
	mustContain(t, "missing file", err, "missing.safetensors")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v does not wrap os.ErrNotExist", err)
	}
}

// TestLoadImageNetHeadWithoutClasses loads checkpoints of ImageNet
// architectures whose options leave the classes out (0, the default, which
// was 10 before it became 1000): the classifier's shape says how many.
func TestLoadImageNetHeadWithoutClasses(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		model   string
		classes int
	}{{"mobilenetv2", 10}, {"mobilenetv2", 1000}, {"googlenet", 10}} {
		opt := models.Options{Width: 0.25}
		m, err := models.New(c.model, models.Options{NumClasses: c.classes, Width: opt.Width, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.safetensors", c.model, c.classes))
		if err := models.Save(path, m, models.Meta{Model: c.model, Options: opt, InputShape: [3]int{3, 224, 224}}); err != nil {
			t.Fatal(err)
		}
		got, meta, err := models.Load(path)
		if err != nil {
			t.Errorf("%s with %d classes saved without num_classes: %v", c.model, c.classes, err)
			continue
		}
		if meta.Options.NumClasses != c.classes || nn.NumParams(got) != nn.NumParams(m) {
			t.Errorf("%s with %d classes: loaded with options %+v, %d parameters", c.model, c.classes, meta.Options, nn.NumParams(got))
		}
	}
}
