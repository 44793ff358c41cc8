package models_test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// torchvisionTol is the agreement asked of imported models' logits with
// torchvision's: |a−b| ≤ torchvisionTol·max(1, |b|).
const torchvisionTol = 1e-5

// torchvisionState runs tools/refgen/torchvision_state.py for the
// torchvision function fn and returns the state_dict and reference files.
// Without torch and torchvision in /usr/bin/python3 the test is skipped,
// or fails under CI=true.
func torchvisionState(t *testing.T, fn string, size int) (state, ref *checkpoint.File) {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, torchvision").Run(); err != nil {
		msg := py + " lacks torch and torchvision (apt-get install python3-torch python3-torchvision): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	script := filepath.Join("..", "tools", "refgen", "torchvision_state.py")
	cmd := exec.Command(py, script, fn, dir, "--classes", "10", "--size", strconv.Itoa(size), "--seed", "3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	state, err := checkpoint.ReadFile(filepath.Join(dir, "state_dict.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if ref, err = checkpoint.ReadFile(filepath.Join(dir, "ref.safetensors")); err != nil {
		t.Fatal(err)
	}
	return state, ref
}

// TestFromTorchvisionLogits imports randomly initialized torchvision
// models and compares the logits with torchvision's on the same input.
func TestFromTorchvisionLogits(t *testing.T) {
	for _, c := range []struct {
		model string
		size  int
	}{
		{"resnet18", 32}, {"mobilenetv2", 32}, {"googlenet", 64}, {"vgg11", 32},
	} {
		t.Run(c.model, func(t *testing.T) {
			if testing.Short() && c.model == "vgg11" {
				t.Skip("VGG-11 has 129M parameters: half a gigabyte to write and read")
			}
			a, err := models.LookupTorchvision(c.model)
			if err != nil {
				t.Fatal(err)
			}
			state, ref := torchvisionState(t, a.Torchvision, c.size)
			model, meta, err := models.FromTorchvision(state, c.model, 0)
			if err != nil {
				t.Fatal(err)
			}
			if meta.Options.NumClasses != 10 || len(meta.Classes) != 10 || meta.InputShape != [3]int{3, 224, 224} || meta.Model != c.model {
				t.Fatalf("meta %+v", meta)
			}
			x, _ := ref.Tensor("x")
			want, _ := ref.Tensor("logits")
			got := model.Forward(autograd.EvalConst(x))
			worst := 0.0
			for i, b := range want.Data() {
				d := math.Abs(float64(got.Value.Data()[i]-b)) / math.Max(1, math.Abs(float64(b)))
				worst = math.Max(worst, d)
			}
			t.Logf("%s (torchvision %s) at %dx%d: max relative error %.2g", c.model, a.Torchvision, c.size, c.size, worst)
			if worst > torchvisionTol || math.IsNaN(worst) {
				t.Fatalf("max relative error %.3g > %g", worst, torchvisionTol)
			}
			if c.model != "resnet18" {
				return
			}
			// Save and load as a Fovea checkpoint.
			path := filepath.Join(t.TempDir(), "r18.safetensors")
			if err := models.Save(path, model, meta); err != nil {
				t.Fatal(err)
			}
			back, meta2, err := models.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if meta2.Model != "resnet18" || meta2.Mean[0] != 0.485 || meta2.Std[2] != 0.225 || meta2.Classes[9] != "9" {
				t.Fatalf("loaded meta %+v", meta2)
			}
			again := back.Forward(autograd.EvalConst(x))
			for i, v := range again.Value.Data() {
				if v != got.Value.Data()[i] {
					t.Fatalf("logit %d after save and load: %v, want %v", i, v, got.Value.Data()[i])
				}
			}

			// Errors: wrong class count, missing and unknown tensors.
			if _, _, err := models.FromTorchvision(state, "resnet18", 1000); err == nil || !strings.Contains(err.Error(), "10 classes") {
				t.Errorf("--classes 1000 for a 10-class file: err = %v", err)
			}
			bad := &checkpoint.File{Name: "bad.safetensors"}
			for _, p := range state.Tensors {
				if p.Name != "layer1.0.conv1.weight" {
					bad.Tensors = append(bad.Tensors, p)
				}
			}
			bad.Tensors = append(bad.Tensors, nn.Named[*tensor.Tensor]{Name: "extra.weight", Value: state.Tensors[0].Value})
			_, _, err = models.FromTorchvision(bad, "resnet18", 0)
			if err == nil || !strings.Contains(err.Error(), `"layer1.0.conv1.weight"`) || !strings.Contains(err.Error(), `"extra.weight"`) {
				t.Errorf("missing and unknown tensors: err = %v", err)
			}
			if _, _, err := models.FromTorchvision(state, "vgg11", 0); err == nil {
				t.Error("a resnet18 file imported as vgg11")
			}
			if _, _, err := models.FromTorchvision(state, "lenet5", 0); err == nil || !strings.Contains(err.Error(), "known:") {
				t.Errorf("lenet5: err = %v", err)
			}
		})
	}
}
