package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/models"
)

// fovea runs the fovea binary bin in dir and returns its standard output;
// a failure fails t.
func fovea(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("fovea %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// TestMatchesPredict is the acceptance check of the embedding API: the
// example classifies MNIST digits (light and dark ground, grayscale PNG
// and resized colour JPEG) from 10 goroutines, finds every result equal
// to a single goroutine's, and prints exactly what fovea predict --json
// prints for the same files, for a checkpoint trained by fovea train and
// for its ONNX export.
func TestMatchesPredict(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fovea")
	build := exec.Command("go", "build", "-o", bin, "github.com/fovea-ml/fovea/cmd/fovea")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building fovea: %v\n%s", err, out)
	}
	// About 1 s of training: 88% test accuracy, confident on most digits
	// and unsure on some, so the probabilities vary.
	fovea(t, bin, dir, "train", "--train-limit", "3000", "--test-limit", "500", "--epochs", "1", "--seed", "1", "--out", "m.safetensors")
	fovea(t, bin, dir, "export", "--model", "m.safetensors", "--out", "m.onnx")
	paths, err := writeDigits(dir, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range []string{"m.safetensors", "m.onnx"} {
		model = filepath.Join(dir, model)
		want := fovea(t, bin, dir, append([]string{"predict", "--model", model, "--json", "--top", "3"}, paths...)...)
		var got bytes.Buffer
		if err := run(append([]string{"-model", model, "-goroutines", "10", "-json"}, paths...), &got); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if got.String() != want {
			t.Errorf("%s: the example printed\n%s\nfovea predict --json printed\n%s", model, got.String(), want)
		}
		var preds []result
		if err := json.Unmarshal([]byte(want), &preds); err != nil || len(preds) != len(paths) {
			t.Fatalf("%s: predict --json printed %q (%v)", model, want, err)
		}
		inverted := 0
		for _, p := range preds {
			if len(p.Top) != 3 {
				t.Errorf("%s: %s has %d classes, want 3", model, p.Image, len(p.Top))
			}
			if p.Inverted {
				inverted++
			}
		}
		if inverted != 6 { // digits 2, 5, 8, 11, 14, 17
			t.Errorf("%s: %d images inverted, want the 6 dark on light", model, inverted)
		}
	}
}

// TestCheckConcurrentFails checks that the example's check can fail: a
// reference result that differs in one probability's last bits is
// reported, naming the image.
func TestCheckConcurrentFails(t *testing.T) {
	dir := t.TempDir()
	paths, err := writeDigits(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	opt := models.Options{NumClasses: 10, Seed: 1}
	m, err := models.New(models.DefaultMNIST, opt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := classify.New(m, models.Meta{Model: models.DefaultMNIST, Options: opt, InputShape: [3]int{1, 28, 28}}, classify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	imgs := make([]image.Image, len(paths))
	for i, p := range paths {
		if imgs[i], err = readImage(p); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	want, err := classifyAll(ctx, c, paths, imgs, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkConcurrent(ctx, c, paths, imgs, 2, 4, want); err != nil {
		t.Fatalf("untouched reference: %v", err)
	}
	p := &want[1].Top[1].Probability
	*p = math.Nextafter(*p, 1)
	if err := checkConcurrent(ctx, c, paths, imgs, 2, 4, want); err == nil || !strings.Contains(err.Error(), paths[1]) {
		t.Errorf("reference changed in the last bit: %v, want an error naming %s", err, paths[1])
	}
	for _, bad := range [][]string{{"-goroutines", "2"}, {"-model", "x.safetensors", "-top", "0"}, {"-model", filepath.Join(dir, "none.safetensors")}} {
		if err := run(bad, &bytes.Buffer{}); err == nil {
			t.Errorf("classify %s: no error", strings.Join(bad, " "))
		}
	}
}
