package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
)

// colourImage returns a w×h image of noise around a base colour: the three
// classes of the synthetic data set below differ by colour only.
func colourImage(r *rand.Rand, w, h int, base color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	jitter := func(v uint8) uint8 { return uint8(min(max(int(v)+r.IntN(81)-40, 0), 255)) }
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{jitter(base.R), jitter(base.G), jitter(base.B), 255})
		}
	}
	return img
}

// pngBytes encodes img as PNG.
func pngBytes(t *testing.T, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeTarGz writes files (name → bytes, in sorted order of the given
// names) as a .tar.gz.
func writeTarGz(t *testing.T, path string, names []string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		b := files[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

var colours = map[string]color.RGBA{
	"red":   {200, 40, 40, 255},
	"green": {40, 200, 40, 255},
	"blue":  {40, 40, 200, 255},
}

// TestTrainFromFoldersAndFineTune trains a CIFAR ResNet on an image archive
// without a test split (held-out stratified part, augmentation, resizing),
// evaluates and predicts with the checkpoint, then fine-tunes it on a
// folder of two other classes with --init and --freeze.
func TestTrainFromFoldersAndFineTune(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	var names []string
	files := map[string][]byte{}
	for _, class := range []string{"blue", "green", "red"} {
		for i := range 30 {
			n := fmt.Sprintf("colours/%s/%02d.png", class, i)
			names = append(names, n)
			files[n] = pngBytes(t, colourImage(r, 20, 24, colours[class]))
		}
	}
	writeTarGz(t, filepath.Join(dir, "colours.tar.gz"), names, files)

	res := mustSucceed(t, dir, "train", "--model", "resnet20", "--data", "colours.tar.gz", "--size", "16",
		"--augment", "crop:2,hflip", "--val-split", "0.2", "--epochs", "4", "--batch-size", "16",
		"--optimizer", "sgd", "--lr", "0.05", "--out", "colours.safetensors", "--json")
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(res.stdout)), &m); err != nil {
		t.Fatalf("train --json printed %q: %v", res.stdout, err)
	}
	if acc := m["test_accuracy"].(float64); acc < 0.8 {
		t.Errorf("held-out accuracy %.2f on colour classes, want ≥ 0.8\n%s", acc, res.stderr)
	}
	if !strings.Contains(res.stderr, "72 train / 18 test images of 3x16x16 in 3 classes") || !strings.Contains(res.stderr, "augment crop:2,hflip:0.5") {
		t.Errorf("training banner:\n%s", res.stderr)
	}

	res = mustSucceed(t, dir, "eval", "--model", "colours.safetensors", "--data", "colours.tar.gz")
	if !strings.Contains(res.stdout, "(90 images)") || !strings.Contains(res.stdout, "ROC-AUC") {
		t.Errorf("eval: %s", res.stdout)
	}

	writeImage(t, filepath.Join(dir, "probe.png"), colourImage(r, 40, 30, colours["green"]))
	res = mustSucceed(t, dir, "predict", "--model", "colours.safetensors", "--top", "1", "probe.png")
	if !strings.Contains(res.stdout, "green") {
		t.Errorf("predict on a green image: %s", res.stdout)
	}

	// Fine-tune on two new classes from a plain folder with train/ and
	// test/ splits: the trunk comes from the checkpoint, the head is new.
	for split, n := range map[string]int{"train": 16, "test": 6} {
		for _, class := range []string{"dark", "light"} {
			base := color.RGBA{50, 50, 50, 255}
			if class == "light" {
				base = color.RGBA{210, 210, 210, 255}
			}
			for i := range n {
				writePNG(t, filepath.Join(dir, "shades", split, class, fmt.Sprintf("%d.png", i)), 16, 16, base)
			}
		}
	}
	res = mustSucceed(t, dir, "train", "--model", "resnet20", "--data", "shades", "--size", "16",
		"--init", "colours.safetensors", "--freeze", "conv,bn,layers.0", "--epochs", "2", "--batch-size", "8",
		"--out", "shades.safetensors")
	ref, err := models.New("resnet20", models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// All but the head; frozen: the stem conv and BN (3 tensors) and the
	// first block's two convs and BNs (6).
	loaded := fmt.Sprintf("initialized %d tensors from colours.safetensors", len(nn.StateDict(ref))-2)
	for _, want := range []string{loaded, "newly initialized: fc.weight, fc.bias", "frozen: 9 parameters"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("fine-tuning output lacks %q:\n%s", want, res.stderr)
		}
	}
	// The same with discriminative rates instead of freezing.
	res = mustSucceed(t, dir, "train", "--model", "resnet20", "--data", "shades", "--size", "16",
		"--init", "colours.safetensors", "--lr-mult", "fc=1,*=0.1", "--epochs", "1", "--batch-size", "8",
		"--out", "shades-lrmult.safetensors")
	if want := "learning-rate multipliers (first match wins): fc=1, *=0.1"; !strings.Contains(res.stderr, want) {
		t.Errorf("fine-tuning output lacks %q:\n%s", want, res.stderr)
	}
}

// TestTrainSpecFile trains a YAML-spec network; eval and summary rebuild
// it from the checkpoint alone.
func TestTrainSpecFile(t *testing.T) {
	dir := t.TempDir()
	spec := `name: tiny
input: [1, 28, 28]
layers:
  - conv: {out: 8, kernel: 3, pad: 1}
  - relu
  - maxpool: {kernel: 2}
  - flatten
  - linear: {out: classes}
`
	if err := os.WriteFile(filepath.Join(dir, "tiny.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, dir, "train", "--model", "tiny.yaml", "--train-limit", "2000", "--test-limit", "200", "--epochs", "1", "--out", "tiny.safetensors", "--quiet")
	if err := os.Remove(filepath.Join(dir, "tiny.yaml")); err != nil {
		t.Fatal(err)
	}
	res := mustSucceed(t, dir, "eval", "--model", "tiny.safetensors", "--limit", "500")
	if !strings.Contains(res.stdout, "accuracy") {
		t.Errorf("eval: %s", res.stdout)
	}
	// Exported to ONNX, the model keeps its normalization and classes:
	// evaluating the file gives the checkpoint's figures.
	mustSucceed(t, dir, "export", "--model", "tiny.safetensors", "--out", "tiny.onnx")
	onnxRes := mustSucceed(t, dir, "eval", "--model", "tiny.onnx", "--limit", "500")
	figures := func(s string) string { _, after, _ := strings.Cut(strings.SplitN(s, "\n", 2)[0], ": "); return after }
	if figures(onnxRes.stdout) != figures(res.stdout) {
		t.Errorf("eval of the exported ONNX file:\n%s\nof the checkpoint:\n%s", onnxRes.stdout, res.stdout)
	}
	res = mustSucceed(t, dir, "summary", "tiny.safetensors")
	if !strings.Contains(res.stdout, "Total params: 15,770") {
		t.Errorf("summary:\n%s", res.stdout)
	}
}

// TestBadDataInput checks that broken datasets, specs and fine-tuning
// flags each end in one clear error line.
func TestBadDataInput(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	good := pngBytes(t, colourImage(r, 8, 8, colours["red"]))
	mk := func(path string, b []byte) {
		t.Helper()
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A folder with a corrupt JPEG.
	mk("corrupt/a/1.png", good)
	mk("corrupt/b/1.png", good)
	mk("corrupt/b/2.jpg", []byte("\xff\xd8\xff\xe0 this is not really a JPEG"))
	// A folder with an empty class.
	mk("empty/a/1.png", good)
	if err := os.MkdirAll(filepath.Join(dir, "empty", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A truncated archive.
	writeTarGz(t, filepath.Join(dir, "full.tar.gz"), []string{"x/a/1.png", "x/b/1.png"}, map[string][]byte{"x/a/1.png": good, "x/b/1.png": good})
	full, err := os.ReadFile(filepath.Join(dir, "full.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	mk("cut.tar.gz", full[:len(full)/2])
	// An npz without MedMNIST's arrays.
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("weights.npy")
	h := "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }"
	h += strings.Repeat(" ", 63-(10+len(h))%64) + "\n" // header padded to 64 bytes
	w.Write(append(append([]byte{0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, byte(len(h)), 0}, h...), 1, 2))
	zw.Close()
	mk("wrong.npz", zb.Bytes())
	// A spec with a typo.
	mk("typo.yaml", []byte("name: t\ninput: [1, 28, 28]\nlayers:\n  - conv: {out: 4, kernal: 3}\n  - flatten\n  - linear: {out: classes}\n"))

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"corrupt jpeg", []string{"train", "--data", "corrupt", "--model", "resnet20"}, []string{"2.jpg"}},
		{"empty class folder", []string{"train", "--data", "empty", "--model", "resnet20"}, []string{"empty", "b"}},
		{"truncated tar", []string{"train", "--data", "cut.tar.gz", "--model", "resnet20"}, []string{"cut.tar.gz"}},
		{"npz without arrays", []string{"train", "--data", "npz:wrong.npz"}, []string{"wrong.npz", "weights"}},
		{"spec typo", []string{"train", "--model", "typo.yaml"}, []string{"typo.yaml:4", `"kernal"`, `"kernel"`}},
		{"augment typo", []string{"train", "--augment", "crop:4,flipp"}, []string{"--augment", `"flipp"`}},
		{"freeze without init", []string{"train", "--freeze", "conv"}, []string{"--freeze needs --init"}},
		{"lr-mult without factor", []string{"train", "--lr-mult", "fc"}, []string{"--lr-mult: ", `"fc": want PREFIX=FACTOR`}},
		{"lr-mult on nothing", []string{"train", "--lr-mult", "nope=0.1", "--train-limit", "64"}, []string{"nope=0.1 covers no trainable parameter"}},
		{"swa-start past the end", []string{"train", "--epochs", "3", "--swa-start", "4"}, []string{"--swa-start 4", "--epochs"}},
		{"swa-lr alone", []string{"train", "--swa-lr", "0.01"}, []string{"--swa-lr needs --swa-start"}},
		{"negative swa-lr", []string{"train", "--swa-start", "1", "--swa-lr", "-1"}, []string{"--swa-lr -1"}},
		{"init missing", []string{"train", "--init", "nope.safetensors"}, []string{"--init", "nope.safetensors"}},
		{"size of a fixed model", []string{"train", "--model", "lenet5", "--size", "32"}, []string{"--size 32", "28x28"}},
		{"bad size", []string{"train", "--size", "3x"}, []string{"--size", "HxW"}},
		{"bad val split", []string{"train", "--val-split", "1"}, []string{"--val-split"}},
		{"bad channels", []string{"train", "--channels", "2"}, []string{"--channels 2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := fovea(t, dir, append(c.args, "--epochs", "1", "--out", "never.safetensors")...)
			if res.code == 0 {
				t.Fatalf("exit status 0, want an error")
			}
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "fovea: ") {
				t.Fatalf("want one \"fovea: …\" line on stderr, got:\n%s", res.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(lines[0], w) {
					t.Errorf("error %q does not name %q", lines[0], w)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "never.safetensors")); err == nil {
				t.Error("a checkpoint was written")
			}
		})
	}
}

// TestTrainAirbenchWhitening checks that `fovea train --model airbench94`
// initializes the whitening layer from the training images: the saved
// layer's filters come in ± pairs and whiten the images' 2×2 patches,
// which its random initialization does not, and the frozen weight stays
// what the initialization made it through training.
func TestTrainAirbenchWhitening(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	var names []string
	files := map[string][]byte{}
	for _, class := range []string{"blue", "green", "red"} {
		for i := range 6 {
			n := fmt.Sprintf("colours/%s/%02d.png", class, i)
			names = append(names, n)
			files[n] = pngBytes(t, colourImage(r, 32, 32, colours[class]))
		}
	}
	writeTarGz(t, filepath.Join(dir, "colours.tar.gz"), names, files)
	args := []string{"train", "--model", "airbench94", "--data", "colours.tar.gz", "--val-split", "0.2", "--epochs", "1",
		"--batch-size", "8", "--optimizer", "sgd", "--lr", "0.01", "--quiet", "--threads", "1"}
	mustSucceed(t, dir, append(args, "--out", "a.safetensors")...)
	mustSucceed(t, dir, append(args, "--out", "b.safetensors", "--augment", "hflip")...) // normalized by the pipeline
	for _, ckpt := range []string{"a.safetensors", "b.safetensors"} {
		m, meta, err := models.Load(filepath.Join(dir, ckpt))
		if err != nil {
			t.Fatal(err)
		}
		w := nn.Params(m)[0]
		if w.Name != "0.weight" || w.Value.RequiresGrad() {
			t.Fatalf("%s: first parameter %s (trainable %v), want the frozen 0.weight", ckpt, w.Name, w.Value.RequiresGrad())
		}
		wd := w.Value.Value.Data()
		for i := range 144 {
			if wd[144+i] != -wd[i] {
				t.Fatalf("%s: whitening filter %d is not the negative of filter %d", ckpt, 12+i/12, i/12)
			}
		}
		// The patches of the training images, normalized with the saved
		// statistics, come out of the first 12 filters with unit variance.
		all, _, err := data.LoadImageFolder(filepath.Join(dir, "colours.tar.gz"), data.FolderOptions{Size: [2]int{32, 32}})
		if err != nil {
			t.Fatal(err)
		}
		all.Normalize(meta.Mean, meta.Std)
		var sum, n float64
		for i := range all.Len() {
			img := all.Image(i)
			for y := range 31 {
				for x := range 31 {
					var v float64
					for c := range 3 {
						for k := range 4 {
							v += float64(wd[(c*2+k/2)*2+k%2]) * float64(img[(c*32+y+k/2)*32+x+k%2])
						}
					}
					sum += v * v
					n++
				}
			}
		}
		if mean := sum / n; mean < 0.5 || mean > 1.5 {
			t.Errorf("%s: first whitening filter's mean square response %.3f over the training patches, want ≈ 1", ckpt, mean)
		}
	}
}
