package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
)

// summaryJSON runs fovea summary ... --json and decodes the result.
func summaryJSON(t *testing.T, dir string, args ...string) (s struct {
	Input       []int `json:"input"`
	TotalParams int64 `json:"total_params"`
	TotalMACs   int64 `json:"total_macs"`
	Layers      []struct {
		Name   string `json:"name"`
		Type   string `json:"type"`
		Params int64  `json:"params"`
	} `json:"layers"`
}) {
	t.Helper()
	r := mustSucceed(t, dir, append([]string{"summary", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("summary --json output %q: %v", r.stdout, err)
	}
	return s
}

func TestSummaryZoo(t *testing.T) {
	s := summaryJSON(t, t.TempDir(), "resnet18", "--classes", "1000")
	if s.TotalParams != 11689512 {
		t.Errorf("resnet18: %d parameters, want 11,689,512", s.TotalParams)
	}
	if s.TotalMACs < 1.80e9 || s.TotalMACs > 1.84e9 {
		t.Errorf("resnet18: %d MACs, want about 1.82e9", s.TotalMACs)
	}
	s = summaryJSON(t, t.TempDir(), "resnet20", "--input", "3x64x64")
	if s.TotalParams != 272474 || len(s.Input) != 4 || s.Input[2] != 64 {
		t.Errorf("resnet20 at 64x64: %d parameters, input %v", s.TotalParams, s.Input)
	}
	r := mustSucceed(t, t.TempDir(), "summary", "resnet20")
	for _, w := range []string{"layers.0.conv1", "fc", "Total params: 272,474", "Total MACs: 41.01 M"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("text summary lacks %q:\n%s", w, r.stdout)
		}
	}
}

func TestSummarySpecAndCheckpoint(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join("..", "..", "examples", "specs", "cifar-resnet.yaml")
	abs, err := filepath.Abs(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := summaryJSON(t, dir, abs, "--classes", "100")
	m, meta, err := models.Build(abs, models.Options{NumClasses: 100})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, l := range s.Layers {
		sum += l.Params
	}
	if want := int64(nn.NumParams(m)); s.TotalParams != want || sum != want {
		t.Errorf("spec: total %d, rows %d, model %d parameters", s.TotalParams, sum, want)
	}
	if s.Layers[0].Name != "layers.0" {
		t.Errorf("spec: first row %q", s.Layers[0].Name)
	}

	ckpt := filepath.Join(dir, "net.safetensors")
	if err := models.Save(ckpt, m, meta); err != nil {
		t.Fatal(err)
	}
	c := summaryJSON(t, dir, "net.safetensors")
	if c.TotalParams != s.TotalParams || c.TotalMACs != s.TotalMACs {
		t.Errorf("checkpoint: %d params %d MACs, spec %d and %d", c.TotalParams, c.TotalMACs, s.TotalParams, s.TotalMACs)
	}
}

func TestSummaryErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("input: [3, 8, 8]\nlayers:\n  - conv: {out: 4, kernal: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"no-such-model"}, `unknown model "no-such-model"`},
		{[]string{"resnet20", "--input", "3x32"}, `--input "3x32": want CxHxW`},
		{[]string{"resnet20", "--input", "3xax32"}, `--input "3xax32"`},
		{[]string{"resnet20", "--classes", "0"}, `--classes 0: must be positive`},
		{[]string{"./missing.safetensors"}, `./missing.safetensors: no such file`},
		{[]string{bad}, `bad.yml:3: conv: unknown key "kernal" (did you mean "kernel"?)`},
		{[]string{"mnist-cnn", "--input", "1x8x8"}, `summary: graph: tracing the model on input [1 1 8 8]: autograd: Linear of input [1 256]`},
		{[]string{}, `accepts 1 arg`},
	}
	for _, c := range cases {
		r := fovea(t, dir, append([]string{"summary"}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "fovea: ") || !strings.Contains(lines[0], c.want) {
			t.Errorf("fovea summary %s: exit %d, stderr %q; want one line with %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

// TestImageNetHeadDefault checks that a zoo ImageNet architecture has
// torchvision's 1000-class head unless told otherwise (--classes, the
// classes of the training data, the classifier of an imported file), and
// a CIFAR one 10 classes.
func TestImageNetHeadDefault(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"resnet18"}, "Total params: 11,689,512"}, // torchvision.models.resnet18()
		{[]string{"resnet18", "--classes", "10"}, "Total params: 11,181,642"},
		{[]string{"mobilenetv2"}, "Total params: 3,504,872"},
		{[]string{"mobilenetv2-cifar"}, "Total params: 2,236,682"},
	} {
		if r := mustSucceed(t, dir, append([]string{"summary"}, c.args...)...); !strings.Contains(r.stdout, c.want) {
			t.Errorf("fovea summary %s: want %q in\n%s", strings.Join(c.args, " "), c.want, r.stdout)
		}
	}
	if r := mustSucceed(t, dir, "models"); !regexp.MustCompile(`(?m)^resnet18 .* 1000 +11689512 `).MatchString(r.stdout) {
		t.Errorf("fovea models does not show resnet18 with 1000 classes and 11689512 parameters:\n%s", r.stdout)
	}

	// A torchvision state_dict with a 10-class head imports as 10 classes.
	tv, err := models.New("mobilenetv2", models.Options{NumClasses: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(filepath.Join(dir, "tv.safetensors"), tv, nil); err != nil {
		t.Fatal(err)
	}
	r := mustSucceed(t, dir, "import", "--from", "tv.safetensors", "--model", "mobilenetv2", "--out", "mnv2.safetensors")
	if !strings.Contains(r.stdout, "mobilenetv2, 10 classes, 2236682 parameters") {
		t.Errorf("import: %s", r.stdout)
	}
	if r := mustSucceed(t, dir, "summary", "mnv2.safetensors"); !strings.Contains(r.stdout, "Total params: 2,236,682") {
		t.Errorf("summary of the imported checkpoint:\n%s", r.stdout)
	}

	// Training on 3 classes makes a 3-class head.
	for _, split := range []string{"train", "test"} {
		for class, base := range map[string]color.RGBA{"dark": {40, 40, 40, 255}, "mid": {128, 128, 128, 255}, "light": {220, 220, 220, 255}} {
			for i := range 2 {
				writePNG(t, filepath.Join(dir, "shades", split, class, fmt.Sprintf("%d.png", i)), 32, 32, base)
			}
		}
	}
	mustSucceed(t, dir, "train", "--model", "mobilenetv2", "--data", "shades", "--size", "32", "--epochs", "1", "--batch-size", "6",
		"--out", "shades.safetensors", "--quiet")
	_, meta, err := models.Load(filepath.Join(dir, "shades.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if meta.Options.NumClasses != 3 || meta.InputShape != [3]int{3, 32, 32} {
		t.Errorf("trained on 3 classes of 32x32 images: options %+v, input %v", meta.Options, meta.InputShape)
	}
}
