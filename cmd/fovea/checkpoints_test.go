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
// model and data, never overwrites that default without --force (an --out
// given is overwritten as asked), and that predict finds it without
// --model.
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

	// A second run refuses to replace the default file.
	r = fovea(t, dir, append(quick, "--seed", "2")...)
	if r.code == 0 || !strings.Contains(r.stderr, out) || !strings.Contains(r.stderr, "--force") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("second train run: exit %d, stderr %q; want one line naming %s and --force", r.code, r.stderr, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, out)); !bytes.Equal(b, first) {
		t.Error("the refused run changed the checkpoint")
	}
	mustSucceed(t, dir, append(quick, "--seed", "2", "--force")...)
	if b, _ := os.ReadFile(filepath.Join(dir, out)); bytes.Equal(b, first) {
		t.Error("--force did not replace the checkpoint")
	}

	// An --out given is replaced as asked.
	mustSucceed(t, dir, append(quick, "--out", "mine.safetensors")...)
	mustSucceed(t, dir, append(quick, "--out", "mine.safetensors", "--seed", "3")...)

	// With two checkpoints here, predict asks which.
	r = fovea(t, dir, "predict", "digit.png")
	if r.code == 0 || !strings.Contains(r.stderr, out) || !strings.Contains(r.stderr, "mine.safetensors") || !strings.Contains(r.stderr, "--model") {
		t.Errorf("predict with two checkpoints here: exit %d, stderr %q", r.code, r.stderr)
	}

	// Step checkpoints of the default name are an interrupted run's: a new
	// run with --checkpoint-every would overwrite or prune them.
	fresh := t.TempDir()
	step := filepath.Join(fresh, "lenet5-mnist.step0000001.safetensors")
	if err := os.WriteFile(step, []byte("state"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = fovea(t, fresh, append(quick, "--checkpoint-every", "1")...)
	if r.code == 0 || !strings.Contains(r.stderr, "lenet5-mnist.step0000001.safetensors") || !strings.Contains(r.stderr, "--resume") {
		t.Errorf("train over step checkpoints: exit %d, stderr %q", r.code, r.stderr)
	}

	// --force starts over; the step checkpoints carry the default name,
	// and a resumed run writes the checkpoint of that name.
	mustSucceed(t, fresh, append(quick, "--checkpoint-every", "1", "--batch-size", "50", "--force")...)
	steps, err := train.Checkpoints(filepath.Join(fresh, "lenet5-mnist.safetensors"))
	if err != nil || len(steps) < 2 {
		t.Fatalf("step checkpoints %v (%v)", steps, err)
	}
	if err := os.Remove(filepath.Join(fresh, "lenet5-mnist.safetensors")); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, fresh, "train", "--resume", filepath.Base(steps[len(steps)-2]), "--quiet")
	if _, err := os.Stat(filepath.Join(fresh, "lenet5-mnist.safetensors")); err != nil {
		t.Errorf("the resumed run wrote no checkpoint: %v", err)
	}

	// A missing folder is reported before any training.
	r = fovea(t, dir, append(quick[:len(quick)-1], "--out", filepath.Join("no-such-folder", "m.safetensors"))...)
	if r.code == 0 || r.stderr != "fovea: --out "+filepath.Join("no-such-folder", "m.safetensors")+": folder no-such-folder does not exist\n" {
		t.Errorf("train --out into a missing folder: exit %d, stderr %q", r.code, r.stderr)
	}
}
