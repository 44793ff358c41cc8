package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/internal/version"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/serve"
	"github.com/fovea-ml/fovea/tensor"
)

// foveaBin is the fovea binary built by TestMain; the tests run it as a
// user would.
var foveaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fovea-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	foveaBin = filepath.Join(dir, "fovea")
	if runtime.GOOS == "windows" {
		foveaBin += ".exe"
	}
	build := exec.Command("go", "build", "-o", foveaBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building fovea:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is the outcome of one fovea run.
type result struct {
	stdout, stderr string
	code           int
}

// fovea runs the binary with args in dir and returns what it printed and
// its exit status. A run that cannot start or exceeds its time fails t.
func fovea(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, foveaBin, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("fovea %s: timed out after 5 minutes\nstderr:\n%s", strings.Join(args, " "), r.stderr)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("fovea %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// mustSucceed runs fovea and fails t unless it exits with status 0.
func mustSucceed(t *testing.T, dir string, args ...string) result {
	t.Helper()
	r := fovea(t, dir, args...)
	if r.code != 0 {
		t.Fatalf("fovea %s: exit status %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// skipHeavy skips the slow end-to-end test under -short, except in CI.
func skipHeavy(t *testing.T) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("trains a CNN for about half a minute; skipped with -short")
	}
}

// digitImage returns MNIST image i of ds (pixels in [0, 1]) as an 8-bit
// grayscale image, inverted (dark digit on white) if asked.
func digitImage(ds *data.Dataset, i int, invert bool) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, ds.W, ds.H))
	for k, v := range ds.Image(i) {
		p := uint8(math.Round(float64(v) * 255))
		if invert {
			p = 255 - p
		}
		img.Pix[k] = p
	}
	return img
}

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95})
	} else {
		err = png.Encode(&buf, img)
	}
	if err == nil {
		err = os.WriteFile(path, buf.Bytes(), 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestEndToEnd trains the default CNN through the CLI, then evaluates the
// checkpoint and classifies image files with it.
func TestEndToEnd(t *testing.T) {
	skipHeavy(t)
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.safetensors")

	// Train: 6,000 images, 2 epochs. Measured with seed 1 on 2 cores:
	// test accuracy 0.971 on the first 1,000 test images, about 15-30 s.
	r := mustSucceed(t, dir, "train", "--train-limit", "6000", "--test-limit", "1000", "--epochs", "2",
		"--seed", "1", "--out", ckpt, "--json")
	var trained map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &trained); err != nil {
		t.Fatalf("train --json printed %q: %v", r.stdout, err)
	}
	t.Logf("train: %s", strings.TrimSpace(r.stdout))
	for _, k := range []string{"test_accuracy", "test_loss", "epochs", "elapsed_seconds", "train_images_per_second"} {
		v, ok := trained[k].(float64)
		if !ok {
			t.Errorf("train --json: %q missing or not a number in %s", k, r.stdout)
		} else if k != "test_accuracy" && !(v > 0) {
			t.Errorf("train --json: %s = %v, want positive", k, v)
		}
	}
	acc, _ := trained["test_accuracy"].(float64)
	const minAcc = 0.94 // measured 0.971
	if acc < minAcc {
		t.Errorf("test accuracy %.4f after 2 epochs on 6,000 images, want at least %.2f", acc, minAcc)
	}
	if trained["epochs"] != 2.0 {
		t.Errorf("train --json: epochs = %v, want 2", trained["epochs"])
	}
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatalf("no checkpoint written: %v", err)
	}

	// Eval on the same 1,000 test images gives the accuracy training
	// reported.
	r = mustSucceed(t, dir, "eval", "--model", ckpt, "--limit", "1000", "--json")
	var evaluated struct {
		Acc    *float64 `json:"test_accuracy"`
		Loss   *float64 `json:"test_loss"`
		Images int      `json:"images"`
		Model  string   `json:"model"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &evaluated); err != nil || evaluated.Acc == nil || evaluated.Loss == nil {
		t.Fatalf("eval --json printed %q (%v)", r.stdout, err)
	}
	if math.Abs(*evaluated.Acc-acc) > 1e-9 {
		t.Errorf("eval accuracy %v, training reported %v on the same images", *evaluated.Acc, acc)
	}
	if loss := trained["test_loss"].(float64); math.Abs(*evaluated.Loss-loss) > 1e-6 {
		t.Errorf("eval loss %v, training reported %v on the same images", *evaluated.Loss, loss)
	}
	if evaluated.Images != 1000 || evaluated.Model != models.DefaultMNIST {
		t.Errorf("eval --json: images %d, model %q; want 1000, %q", evaluated.Images, evaluated.Model, models.DefaultMNIST)
	}

	// Predict: the first 20 test digits as PNG, digit 0 again as JPEG, and
	// digit 1 inverted (black on white).
	_, test, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var files []string
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("digit%02d.png", i))
		writeImage(t, p, digitImage(test, i, false))
		files = append(files, p)
	}
	jpg := filepath.Join(dir, "digit00.jpg")
	writeImage(t, jpg, digitImage(test, 0, false))
	inv := filepath.Join(dir, "digit01-inverted.png")
	writeImage(t, inv, digitImage(test, 1, true))
	files = append(files, jpg, inv)

	r = mustSucceed(t, dir, append([]string{"predict", "--model", ckpt, "--json", "--top", "1"}, files...)...)
	var preds []struct {
		Image    string `json:"image"`
		Inverted bool   `json:"inverted"`
		Top      []struct {
			Index       int     `json:"index"`
			Label       string  `json:"label"`
			Probability float64 `json:"probability"`
		} `json:"top"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &preds); err != nil {
		t.Fatalf("predict --json printed %q: %v", r.stdout, err)
	}
	if len(preds) != len(files) {
		t.Fatalf("predict gave %d predictions for %d files", len(preds), len(files))
	}
	label := make([]int, len(files))
	for i, p := range preds {
		if p.Image != files[i] {
			t.Errorf("prediction %d is for %q, want %q", i, p.Image, files[i])
		}
		if len(p.Top) != 1 {
			t.Fatalf("%s: %d classes with --top 1", p.Image, len(p.Top))
		}
		top := p.Top[0]
		if top.Label != fmt.Sprint(top.Index) || !(top.Probability > 0 && top.Probability <= 1) {
			t.Errorf("%s: class %d named %q with probability %v", p.Image, top.Index, top.Label, top.Probability)
		}
		label[i] = top.Index
	}
	correct := 0
	for i := range n {
		if preds[i].Inverted {
			t.Errorf("%s: light digit on dark ground reported as inverted", files[i])
		}
		if label[i] == test.Y[i] {
			correct++
		} else {
			t.Logf("%s: predicted %d, label %d", files[i], label[i], test.Y[i])
		}
	}
	// Measured: 19 of 20 (digit 18, a 3, is read as 8).
	if correct < 18 {
		t.Errorf("predict: %d of %d test digits right, want at least 18", correct, n)
	}
	// The PNGs hold the test pixels exactly, so predict must agree with
	// the checkpoint run in-process on the normalized test images.
	model, meta, err := models.Load(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	head := test.Head(n)
	head.Normalize(meta.Mean, meta.Std)
	logits := model.Forward(autograd.Const(tensor.FromSlice(head.X, n, 1, 28, 28))).Value
	for i, want := range tensor.ArgMax(logits, 1) {
		if label[i] != want {
			t.Errorf("%s: predict says %d, the model in-process %d", files[i], label[i], want)
		}
	}
	if preds[n].Inverted || (label[0] == test.Y[0] && label[n] != test.Y[0]) {
		t.Errorf("JPEG of digit 0 (label %d): predicted %d, inverted %v; the PNG gave %d",
			test.Y[0], label[n], preds[n].Inverted, label[0])
	}
	if !preds[n+1].Inverted {
		t.Errorf("%s: dark digit on white not reported as inverted", inv)
	}
	if label[1] == test.Y[1] && label[n+1] != test.Y[1] {
		t.Errorf("inverted digit 1 (label %d) predicted %d; the plain one was right", test.Y[1], label[n+1])
	}

	// The plain-text form names every file.
	r = mustSucceed(t, dir, "predict", "--model", ckpt, files[0], inv)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], files[0]+":") || !strings.Contains(lines[1], "inverted") {
		t.Errorf("predict without --json printed:\n%s", r.stdout)
	}
}

// idxBytes encodes an unsigned-byte IDX array.
func idxBytes(dims []int, fill byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	size := 1
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
		size *= d
	}
	b.Write(bytes.Repeat([]byte{fill}, size))
	return b.Bytes()
}

func gzipped(raw []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(raw)
	w.Close()
	return b.Bytes()
}

// idxFolder writes a small valid MNIST-layout folder with one file
// replaced by content.
func idxFolder(t *testing.T, dir, bad string, content []byte) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"train-images-idx3-ubyte": idxBytes([]int{10, 28, 28}, 3),
		"train-labels-idx1-ubyte": idxBytes([]int{10}, 1),
		"t10k-images-idx3-ubyte":  idxBytes([]int{10, 28, 28}, 3),
		"t10k-labels-idx1-ubyte":  idxBytes([]int{10}, 1),
	}
	for name, b := range files {
		if name == strings.TrimSuffix(bad, ".gz") {
			name, b = bad, content
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBadInput checks that every user error ends in a non-zero exit and one
// line on stderr that names the culprit, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	// Guard rails for train cases, so that a case that wrongly passes
	// validation trains for a second instead of many minutes.
	never := filepath.Join(dir, "never.safetensors")
	quick := []string{"--train-limit", "100", "--test-limit", "100", "--out", never}

	missing := filepath.Join(dir, "no-such-folder")
	truncated := filepath.Join(dir, "truncated")
	trainImages := idxBytes([]int{10, 28, 28}, 3)
	gz := gzipped(trainImages)
	idxFolder(t, truncated, "train-images-idx3-ubyte.gz", gz[:len(gz)/2])
	badMagic := filepath.Join(dir, "badmagic")
	idxFolder(t, badMagic, "t10k-labels-idx1-ubyte", append([]byte{0x1a, 0x2b, 8, 1, 0, 0, 0, 10}, make([]byte, 10)...))
	wrongCount := filepath.Join(dir, "wrongcount")
	idxFolder(t, wrongCount, "train-labels-idx1-ubyte", idxBytes([]int{9}, 1))
	aFile := filepath.Join(dir, "afile")
	os.WriteFile(aFile, []byte("x"), 0o644)

	textPNG := filepath.Join(dir, "x.png")
	os.WriteFile(textPNG, []byte("this is text, not an image\n"), 0o644)
	digit := filepath.Join(dir, "digit.png")
	writeImage(t, digit, image.NewGray(image.Rect(0, 0, 28, 28)))
	notes := filepath.Join(dir, "notes.safetensors")
	os.WriteFile(notes, []byte("these are notes, not weights\n"), 0o644)

	// LeNet-5 weights under metadata that says mnist-cnn.
	other := filepath.Join(dir, "other.safetensors")
	lenet := models.NewLeNet5(models.Options{Seed: 1})
	if err := checkpoint.WriteFile(other, nn.StateDict(lenet), map[string]string{
		checkpoint.KeyModel: models.DefaultMNIST, checkpoint.KeyInputShape: "1x28x28"}); err != nil {
		t.Fatal(err)
	}
	// A PyTorch-style file: fine tensors, no Fovea metadata.
	plain := filepath.Join(dir, "plain.safetensors")
	if err := checkpoint.WriteFile(plain, nn.StateDict(lenet), nil); err != nil {
		t.Fatal(err)
	}
	// A valid checkpoint whose metadata names a model not in the zoo.
	alien := filepath.Join(dir, "alien.safetensors")
	if err := checkpoint.WriteFile(alien, nn.StateDict(lenet), map[string]string{checkpoint.KeyModel: "resnet-9000"}); err != nil {
		t.Fatal(err)
	}
	// Weights that fit, input shape that does not.
	bigInput := filepath.Join(dir, "big-input.safetensors")
	if err := checkpoint.WriteFile(bigInput, nn.StateDict(lenet), map[string]string{
		checkpoint.KeyModel: "lenet5", checkpoint.KeyInputShape: "1x32x32"}); err != nil {
		t.Fatal(err)
	}
	// A valid model of 2-channel input, which no image file gives.
	twoCh := filepath.Join(dir, "two-channel.safetensors")
	lenet2, _ := models.New("lenet5", models.Options{InChannels: 2})
	if err := models.Save(twoCh, lenet2, models.Meta{Model: "lenet5", Options: models.Options{InChannels: 2}, InputShape: [3]int{2, 28, 28}}); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.safetensors")
	if err := models.Save(good, lenet, models.Meta{Model: "lenet5", InputShape: [3]int{1, 28, 28}}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name    string
		args    []string
		culprit []string // each must appear in the message
	}{
		{"missing data folder", []string{"train", "--data", missing}, []string{"--data", missing}},
		{"data is a file", []string{"train", "--data", aFile}, []string{"--data", aFile}},
		{"truncated gz", []string{"train", "--data", truncated}, []string{"train-images-idx3-ubyte.gz"}},
		{"wrong magic", []string{"train", "--data", badMagic}, []string{"t10k-labels-idx1-ubyte", "magic"}},
		{"label count", []string{"train", "--data", wrongCount}, []string{"train-labels-idx1-ubyte"}},
		{"eval on corrupt data", []string{"eval", "--model", good, "--data", truncated}, []string{"train-images-idx3-ubyte.gz"}},
		{"unknown dataset", []string{"train", "--data", "cifar:" + missing}, []string{"cifar"}},
		{"unknown model", []string{"train", "--model", "unknown-net"}, []string{"--model", "unknown-net", "lenet5"}},
		{"epochs abc", []string{"train", "--epochs", "abc"}, []string{"--epochs", "abc"}},
		{"epochs 0", []string{"train", "--epochs", "0"}, []string{"--epochs"}},
		{"lr -1", []string{"train", "--lr", "-1"}, []string{"--lr", "-1"}},
		{"lr NaN", []string{"train", "--lr", "NaN"}, []string{"--lr"}},
		{"lr Inf", []string{"train", "--lr", "Inf"}, []string{"--lr"}},
		{"weight decay", []string{"train", "--weight-decay", "-1"}, []string{"--weight-decay"}},
		{"label smoothing", []string{"train", "--label-smoothing", "1"}, []string{"--label-smoothing"}},
		{"batch size", []string{"train", "--batch-size", "0"}, []string{"--batch-size"}},
		{"optimizer", []string{"train", "--optimizer", "foo"}, []string{"--optimizer", "foo"}},
		{"schedule", []string{"train", "--schedule", "bar"}, []string{"--schedule", "bar"}},
		{"negative checkpoint-every", []string{"train", "--checkpoint-every", "-1"}, []string{"--checkpoint-every -1"}},
		{"negative keep-last", []string{"train", "--checkpoint-every", "5", "--keep-last", "-1"}, []string{"--keep-last -1"}},
		{"keep-last alone", []string{"train", "--keep-last", "2"}, []string{"--keep-last needs --checkpoint-every"}},
		{"weight decay NaN", []string{"train", "--weight-decay", "NaN"}, []string{"--weight-decay NaN"}},
		{"swa-start negative", []string{"train", "--swa-start", "-1"}, []string{"--swa-start -1"}},
		{"threads train", []string{"train", "--threads", "-2"}, []string{"--threads", "-2"}},
		{"threads eval", []string{"eval", "--model", good, "--threads", "-2"}, []string{"--threads", "-2"}},
		{"unknown flag", []string{"train", "--epoch", "3"}, []string{"--epoch"}},
		{"predict text as png", []string{"predict", "--model", good, textPNG}, []string{textPNG}},
		{"predict missing image", []string{"predict", "--model", good, filepath.Join(dir, "nope.png")}, []string{"nope.png"}},
		{"predict other model's weights", []string{"predict", "--model", other, digit}, []string{other, models.DefaultMNIST}},
		{"predict plain safetensors", []string{"predict", "--model", plain, digit}, []string{plain, checkpoint.KeyModel}},
		{"predict unknown model in metadata", []string{"predict", "--model", alien, digit}, []string{alien, "resnet-9000"}},
		{"predict input shape", []string{"predict", "--model", bigInput, digit}, []string{bigInput, "1x32x32"}},
		{"eval input shape", []string{"eval", "--model", bigInput}, []string{bigInput, "1x32x32"}},
		{"predict 2 channels", []string{"predict", "--model", twoCh, digit}, []string{twoCh, "2-channel"}},
		{"predict without images", []string{"predict", "--model", good}, []string{"arg"}},
		{"predict top 0", []string{"predict", "--model", good, "--top", "0", digit}, []string{"--top"}},
		{"predict invert", []string{"predict", "--model", good, "--invert", "maybe", digit}, []string{"--invert", "maybe"}},
		{"eval not safetensors", []string{"eval", "--model", notes}, []string{notes}},
		{"eval missing checkpoint", []string{"eval", "--model", filepath.Join(dir, "gone.safetensors")}, []string{"gone.safetensors"}},
		{"eval limit", []string{"eval", "--model", good, "--limit", "-1"}, []string{"--limit"}},
		{"bench W9", []string{"bench", "--workload", "W9"}, []string{"--workload", "W9"}},
		{"bench budget", []string{"bench", "--workload", "W4", "--budget", "0"}, []string{"--budget"}},
		{"unknown command", []string{"frobnicate"}, []string{"frobnicate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args[0] == "train" {
				args = append(append([]string{}, args...), quick...)
			}
			r := fovea(t, dir, args...)
			cmdline := "fovea " + strings.Join(args, " ")
			if r.code == 0 {
				t.Errorf("%s: exit status 0, want an error", cmdline)
			}
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasSuffix(r.stderr, "\n") {
				t.Errorf("%s: want exactly one line on stderr, got:\n%s", cmdline, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "fovea: ") {
				t.Errorf("%s: stderr does not start with \"fovea: \": %q", cmdline, r.stderr)
			}
			for _, s := range c.culprit {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("%s: stderr does not name %q: %q", cmdline, s, r.stderr)
				}
			}
			for _, s := range []string{"panic", "goroutine"} {
				if strings.Contains(r.stderr+r.stdout, s) {
					t.Errorf("%s: output contains %q:\n%s%s", cmdline, s, r.stdout, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("%s: printed on stdout: %q", cmdline, r.stdout)
			}
		})
	}
	if _, err := os.Stat(never); err == nil {
		t.Error("a failing train run wrote a checkpoint")
	}
}

func TestHelp(t *testing.T) {
	dir := t.TempDir()
	r := mustSucceed(t, dir, "help")
	for _, c := range []string{"train", "eval", "predict", "bench", "models"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("fovea help does not list %q:\n%s", c, r.stdout)
		}
	}
	r = mustSucceed(t, dir, "train", "--help")
	for _, f := range []string{"--model", "--data", "--epochs", "--batch-size", "--lr", "--optimizer", "--schedule",
		"--weight-decay", "--label-smoothing", "--seed", "--threads", "--out", "--train-limit", "--test-limit", "--json", "--quiet"} {
		if !strings.Contains(r.stdout, f+" ") {
			t.Errorf("fovea train --help does not show %s:\n%s", f, r.stdout)
		}
	}
	for _, cmd := range []string{"eval", "predict", "bench"} {
		r = mustSucceed(t, dir, cmd, "--help")
		if !strings.Contains(r.stdout, "Flags:") {
			t.Errorf("fovea %s --help shows no flags:\n%s", cmd, r.stdout)
		}
	}
	r = mustSucceed(t, dir, "models")
	for _, want := range []string{"lenet5", "61706", models.DefaultMNIST, "54778", "vgg16_bn", "mobilenetv2", "resnet20", "3x32x32 (any size)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("fovea models does not show %q:\n%s", want, r.stdout)
		}
	}
}

func TestBench(t *testing.T) {
	dir := t.TempDir()
	parse := func(args ...string) benchResult {
		t.Helper()
		r := mustSucceed(t, dir, args...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		var line string
		for _, l := range lines {
			if strings.HasPrefix(l, "RESULT {") {
				if line != "" {
					t.Errorf("fovea %s: more than one RESULT line:\n%s", strings.Join(args, " "), r.stdout)
				}
				line = l
			}
		}
		if line == "" {
			t.Fatalf("fovea %s: no line starting \"RESULT {\":\n%s", strings.Join(args, " "), r.stdout)
		}
		var res benchResult
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "RESULT ")), &res); err != nil {
			t.Fatalf("fovea %s: RESULT line %q: %v", strings.Join(args, " "), line, err)
		}
		return res
	}
	res := parse("bench", "--workload", "W4", "--budget", "0.2")
	if res.Status != "ok" || res.Unit != "us" || !(res.Value > 0) || res.Workload != "W4" || res.Peer != "fovea" ||
		res.Batch != 1 || res.Windows < 1 || res.ItersPerW < 1 || !(res.IterMin <= res.IterMedian && res.IterMedian <= res.IterMax) {
		t.Errorf("bench W4: %+v", res)
	}
	if math.Abs(res.Value-res.IterMedian*1e6) > 1e-6*res.Value {
		t.Errorf("bench W4: value %v us but median iteration %v s", res.Value, res.IterMedian)
	}
	if want := "; kernels " + kernels.Path(); !strings.HasSuffix(res.Note, want) {
		t.Errorf("bench W4: note %q does not end in %q", res.Note, want)
	}
	if testing.Short() {
		return
	}
	// W2 trains ResNet-20 at batch 128 (three steps here: two warm-up
	// iterations and one window).
	res = parse("bench", "--workload", "W2", "--budget", "0.01")
	if res.Status != "ok" || res.Unit != "img/s" || res.Workload != "W2" || res.Batch != 128 || res.Metric != "train" ||
		math.Abs(res.Value-128/res.IterMedian) > 1e-6*res.Value || res.Note == "" {
		t.Errorf("bench W2: %+v", res)
	}
}

// TestVersion checks that --version and the version command print the
// release the server reports, with the Go version that built the binary.
func TestVersion(t *testing.T) {
	dir := t.TempDir()
	flag := mustSucceed(t, dir, "--version")
	cmd := mustSucceed(t, dir, "version")
	want := "fovea " + version.Version + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if !strings.HasPrefix(flag.stdout, want) || strings.Count(flag.stdout, "\n") != 1 {
		t.Errorf("fovea --version printed %q, want one line starting %q", flag.stdout, want)
	}
	if cmd.stdout != flag.stdout {
		t.Errorf("fovea version printed %q, fovea --version %q", cmd.stdout, flag.stdout)
	}
	if serve.Version != version.Version {
		t.Errorf("the server reports version %q, the command %q", serve.Version, version.Version)
	}
}

// TestFlagTypes checks the type that --help prints for every flag. pflag
// takes a `backquoted` word of a usage string as the flag's type, so a
// usage that quotes a command shows it as the type ("--model fovea models").
func TestFlagTypes(t *testing.T) {
	typeWord := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`) // string, int, float, strings, stringArray, …
	var visit func(c *cobra.Command)
	visit = func(c *cobra.Command) {
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			if name != "" && !typeWord.MatchString(name) {
				t.Errorf("%s --%s: --help shows the type %q (a backquoted word in the usage?)", c.CommandPath(), f.Name, name)
			}
		})
		for _, sub := range c.Commands() {
			visit(sub)
		}
	}
	visit(newRoot())
}
