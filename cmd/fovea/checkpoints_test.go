package main

import (
	"bytes"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/train"
)

func TestDefaultOut(t *testing.T) {
	for _, c := range []struct{ model, data, want string }{
		{"mnist-cnn", "mnist", "mnist-cnn-mnist.safetensors"},
		{"lenet5", "mnist:../shared/datasets/mnist", "lenet5-mnist.safetensors"},
		{"lenet5", "fashion-mnist:../shared/datasets/fashion-mnist", "lenet5-fashion-mnist.safetensors"},
		{"resnet20", "cifar10:../data/cifar-10-batches-bin", "resnet20-cifar10.safetensors"},
		{"resnet20", "cifar100:/data/c100/", "resnet20-cifar100.safetensors"},
		{"resnet20", "npz:../shared/datasets/breastmnist/breastmnist.npz", "resnet20-breastmnist.safetensors"},
		{"resnet20", "../shared/datasets/breastmnist/breastmnist.NPZ", "resnet20-breastmnist.safetensors"},
		{"resnet20", "photos/", "resnet20-photos.safetensors"},
		{"resnet20", "folder:ants and bees", "resnet20-ants_and_bees.safetensors"},
		{"resnet20", "../cifar10-jpeg/cifar10-train-jpeg.tar.gz", "resnet20-cifar10-train-jpeg.safetensors"},
		{"resnet20", "shards/signs.tgz", "resnet20-signs.safetensors"},
		{"lenet5", "idx:../data/kmnist", "lenet5-kmnist.safetensors"},
		{"examples/specs/cifar-resnet.yaml", "cifar10:DIR", "cifar-resnet-cifar10.safetensors"},
	} {
		if got := defaultOut(c.model, c.data); got != c.want {
			t.Errorf("defaultOut(%q, %q) = %q, want %q", c.model, c.data, got, c.want)
		}
	}
}

// TestTrainDefaultOut checks that train names its checkpoint after the
// model and data, never overwrites an earlier run's without --force but
// numbers its own (an --out given is overwritten as asked), and that
// predict finds the newest without --model.
func TestTrainDefaultOut(t *testing.T) {
	dir := t.TempDir()
	quick := []string{"train", "--model", "lenet5", "--train-limit", "200", "--test-limit", "100", "--epochs", "1", "--quiet"}
	digit := filepath.Join(dir, "digit.png")
	writeImage(t, digit, image.NewGray(image.Rect(0, 0, 28, 28)))

	// Nothing to predict with yet.
	r := fovea(t, dir, "predict", "digit.png")
	if r.code == 0 || !strings.Contains(r.stderr, "--model") || !strings.Contains(r.stderr, "fovea train") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("predict without a checkpoint: exit %d, stderr %q", r.code, r.stderr)
	}

	r = mustSucceed(t, dir, quick...)
	const out = "lenet5-mnist.safetensors"
	if !strings.Contains(r.stdout, "saved "+out) {
		t.Errorf("train printed %q, want it to name %s", r.stdout, out)
	}
	first, err := os.ReadFile(filepath.Join(dir, out))
	if err != nil {
		t.Fatalf("train wrote no %s: %v", out, err)
	}

	// predict without --model uses the one checkpoint here and says so.
	r = mustSucceed(t, dir, "predict", "digit.png")
	if !strings.Contains(r.stderr, out) || !strings.HasPrefix(r.stdout, "digit.png:") {
		t.Errorf("predict without --model: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	// A second run does not replace the default file: it numbers its own.
	r = mustSucceed(t, dir, append(quick, "--seed", "2")...)
	const second = "lenet5-mnist-2.safetensors"
	if !strings.Contains(r.stdout, "saved "+second) || !strings.Contains(r.stderr, out) || !strings.Contains(r.stderr, "--force") {
		t.Errorf("second train run: stdout %q, stderr %q; want it to write %s and say why", r.stdout, r.stderr, second)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, out)); !bytes.Equal(b, first) {
		t.Error("the second run changed the first checkpoint")
	}
	// predict without --model uses the newest checkpoint and says so.
	r = mustSucceed(t, dir, "predict", "digit.png")
	if !strings.Contains(r.stderr, "using --model "+second) {
		t.Errorf("predict with two checkpoints here: stderr %q; want it to use %s", r.stderr, second)
	}
	mustSucceed(t, dir, append(quick, "--seed", "2", "--force")...)
	if b, _ := os.ReadFile(filepath.Join(dir, out)); bytes.Equal(b, first) {
		t.Error("--force did not replace the checkpoint")
	}

	// An --out given is replaced as asked.
	mustSucceed(t, dir, append(quick, "--out", "mine.safetensors")...)
	mustSucceed(t, dir, append(quick, "--out", "mine.safetensors", "--seed", "3")...)
	if r = mustSucceed(t, dir, "predict", "digit.png"); !strings.Contains(r.stderr, "using --model mine.safetensors") {
		t.Errorf("predict after writing mine.safetensors: stderr %q", r.stderr)
	}

	// Step checkpoints of the default name are an interrupted run's: a new
	// run takes the next name rather than overwrite or prune them.
	fresh := t.TempDir()
	step := filepath.Join(fresh, "lenet5-mnist.step0000001.safetensors")
	if err := os.WriteFile(step, []byte("state"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = mustSucceed(t, fresh, append(quick, "--checkpoint-every", "1", "--batch-size", "50")...)
	if b, err := os.ReadFile(step); err != nil || string(b) != "state" {
		t.Errorf("the earlier run's step checkpoint was changed: %q, %v", b, err)
	}
	steps, err := train.Checkpoints(filepath.Join(fresh, second))
	if err != nil || len(steps) < 2 {
		t.Fatalf("step checkpoints of %s: %v (%v)", second, steps, err)
	}
	// A resumed run writes the checkpoint of its own name.
	if err := os.Remove(filepath.Join(fresh, second)); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, fresh, "train", "--resume", filepath.Base(steps[len(steps)-2]), "--quiet")
	if _, err := os.Stat(filepath.Join(fresh, second)); err != nil {
		t.Errorf("the resumed run wrote no checkpoint: %v", err)
	}

	// A missing folder is reported before any training.
	r = fovea(t, dir, append(quick[:len(quick)-1], "--out", filepath.Join("no-such-folder", "m.safetensors"))...)
	if r.code == 0 || r.stderr != "fovea: --out "+filepath.Join("no-such-folder", "m.safetensors")+": folder no-such-folder does not exist\n" {
		t.Errorf("train --out into a missing folder: exit %d, stderr %q", r.code, r.stderr)
	}
}
