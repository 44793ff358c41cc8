package main

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/data"
)

// tinySpec is a small network (15,770 parameters for 10 classes at
// 1x28x28) that trains in a fraction of a second on a few hundred images.
func tinySpec(c, h, w int) string {
	return fmt.Sprintf(`name: tiny
input: [%d, %d, %d]
layers:
  - conv: {out: 4, kernel: 3, pad: 1}
  - relu
  - maxpool: {kernel: 2}
  - flatten
  - linear: {out: classes}
`, c, h, w)
}

// newDigitPicker returns a digitPicker over the embedded MNIST training
// set.
func newDigitPicker(t *testing.T) *digitPicker {
	t.Helper()
	train, _, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	return &digitPicker{ds: train}
}

// digitPicker hands out MNIST training images of chosen digits, each image
// at most once, so the splits of a synthetic data set do not overlap.
type digitPicker struct {
	ds   *data.Dataset
	next int
}

// pick returns n images of each digit (pixels in [0, 1]) and their labels:
// the index of the digit in digits.
func (p *digitPicker) pick(digits []int, n int) (images [][]float32, labels []int) {
	want := make(map[int]int, len(digits))
	for i, d := range digits {
		want[d] = i
	}
	count := make([]int, len(digits))
	for ; p.next < p.ds.Len() && len(labels) < n*len(digits); p.next++ {
		k, ok := want[p.ds.Y[p.next]]
		if !ok || count[k] == n {
			continue
		}
		count[k]++
		images = append(images, p.ds.Image(p.next))
		labels = append(labels, k)
	}
	return images, labels
}

// bytesOf converts [0, 1] pixels to bytes, all images concatenated.
func bytesOf(images [][]float32) []byte {
	var b []byte
	for _, im := range images {
		for _, v := range im {
			b = append(b, uint8(math.Round(float64(v)*255)))
		}
	}
	return b
}

// labelBytes converts labels to bytes.
func labelBytes(labels []int) []byte {
	b := make([]byte, len(labels))
	for i, y := range labels {
		b[i] = byte(y)
	}
	return b
}

// idxFile encodes an unsigned-byte IDX array holding data.
func idxFile(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

// npyU8 returns a .npy file (version 1) of unsigned bytes.
func npyU8(shape []int, data []byte) []byte {
	dims := ""
	for _, d := range shape {
		dims += fmt.Sprintf("%d, ", d)
	}
	if len(shape) > 1 {
		dims = strings.TrimSuffix(dims, ", ")
	}
	h := fmt.Sprintf("{'descr': '|u1', 'fortran_order': False, 'shape': (%s), }", dims)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(append(b, h...), data...)
}

// writeFile writes b to dir/name, creating folders.
func writeFile(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeDigitNPZ writes a MedMNIST-style .npz of MNIST digits: n images of
// each digit in train, and nEval in val (if nEval > 0) and test.
func writeDigitNPZ(t *testing.T, file string, p *digitPicker, digits []int, n, nEval int, withVal bool) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	splits := []string{"train", "test"}
	if withVal {
		splits = append(splits, "val")
	}
	for _, s := range splits {
		k := nEval
		if s == "train" {
			k = n
		}
		ims, ys := p.pick(digits, k)
		for name, b := range map[string][]byte{
			s + "_images": npyU8([]int{len(ys), 28, 28}, bytesOf(ims)),
			s + "_labels": npyU8([]int{len(ys), 1}, labelBytes(ys)),
		} {
			w, err := zw.Create(name + ".npy")
			if err != nil {
				t.Fatal(err)
			}
			w.Write(b)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(file), filepath.Base(file), buf.Bytes())
}

// writeDigitIDX writes the four MNIST IDX files of digits into dir.
func writeDigitIDX(t *testing.T, dir string, p *digitPicker, digits []int, n, nTest int) {
	t.Helper()
	for _, s := range []struct {
		images, labels string
		n              int
	}{{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", n}, {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", nTest}} {
		ims, ys := p.pick(digits, s.n)
		writeFile(t, dir, s.images, idxFile([]int{len(ys), 28, 28}, bytesOf(ims)))
		writeFile(t, dir, s.labels, idxFile([]int{len(ys)}, labelBytes(ys)))
	}
}

// writeDigitFolder writes n PNG digits per class into dir/CLASS/, the
// classes named by names (one per digit).
func writeDigitFolder(t *testing.T, dir string, p *digitPicker, digits []int, names []string, n int) {
	t.Helper()
	ims, ys := p.pick(digits, n)
	ds := &data.Dataset{C: 1, H: 28, W: 28}
	for i, im := range ims {
		ds.X, ds.Y = im, []int{ys[i]}
		file := filepath.Join(dir, names[ys[i]], fmt.Sprintf("%03d.png", i))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		writeImage(t, file, digitImage(ds, 0, false))
	}
}

// writeCIFARBatch writes a CIFAR binary batch of n random 3x32x32 images
// with labels cycling through classes; labelBytes is 1 (CIFAR-10) or 2
// (CIFAR-100: coarse label 0, then the fine label).
func writeCIFARBatch(t *testing.T, file string, n, classes, labelBytes int, seed byte) {
	t.Helper()
	var b []byte
	for i := range n {
		if labelBytes == 2 {
			b = append(b, 0)
		}
		y := i % classes
		b = append(b, byte(y))
		for k := range 3 * 32 * 32 {
			// Brightness depends on the class, plus a little texture.
			b = append(b, byte(40+y*150/max(classes-1, 1)+int(seed)+k%7))
		}
	}
	writeFile(t, filepath.Dir(file), filepath.Base(file), b)
}

// trained is what train --json and eval --json report.
type trained struct {
	Acc  float64 `json:"test_accuracy"`
	Loss float64 `json:"test_loss"`
}

// evaluated is what eval --json reports.
type evaluated struct {
	trained
	Images int    `json:"images"`
	Data   string `json:"data"`
}

// trainJSON trains with args (plus --json --quiet) in dir and returns
// the test figures training reported.
func trainJSON(t *testing.T, dir string, args ...string) trained {
	t.Helper()
	r := mustSucceed(t, dir, append(append([]string{"train"}, args...), "--json", "--quiet")...)
	var out trained
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("train --json printed %q: %v", r.stdout, err)
	}
	return out
}

// evalJSON runs eval --json with args in dir and returns its figures and
// what it printed on stderr.
func evalJSON(t *testing.T, dir string, args ...string) (evaluated, string) {
	t.Helper()
	r := mustSucceed(t, dir, append(append([]string{"eval"}, args...), "--json")...)
	var out evaluated
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("eval --json printed %q: %v", r.stdout, err)
	}
	return out, r.stderr
}

// TestEvalUsesRecordedData trains tiny checkpoints on every kind of data
// --data accepts and evaluates each with `eval --model CKPT` alone: eval
// must rebuild the split training tested on (its accuracy and loss are
// training's), say which split it uses, and need no other flag.
func TestEvalUsesRecordedData(t *testing.T) {
	dir := t.TempDir()
	p := newDigitPicker(t)
	writeFile(t, dir, "tiny.yaml", []byte(tinySpec(1, 28, 28)))
	writeFile(t, dir, "tiny3.yaml", []byte(tinySpec(3, 32, 32)))

	writeDigitNPZ(t, filepath.Join(dir, "two.npz"), p, []int{0, 1}, 60, 20, true)
	writeDigitIDX(t, filepath.Join(dir, "idx"), p, []int{3, 5, 8}, 40, 15)
	for _, split := range []struct {
		name string
		n    int
	}{{"train", 40}, {"val", 12}} {
		writeDigitFolder(t, filepath.Join(dir, "hymenoptera", split.name), p, []int{4, 9}, []string{"ants", "bees"}, split.n)
	}
	writeDigitFolder(t, filepath.Join(dir, "flat"), p, []int{2, 7, 6}, []string{"two", "seven", "six"}, 30)
	writeDigitFolder(t, filepath.Join(dir, "flat-test"), p, []int{2, 7, 6}, []string{"two", "seven", "six"}, 8)
	for i := 1; i <= 5; i++ {
		writeCIFARBatch(t, filepath.Join(dir, "cifar10", fmt.Sprintf("data_batch_%d.bin", i)), 8, 10, 1, byte(i))
	}
	writeCIFARBatch(t, filepath.Join(dir, "cifar10", "test_batch.bin"), 20, 10, 1, 9)
	writeCIFARBatch(t, filepath.Join(dir, "cifar100", "train.bin"), 40, 100, 2, 1)
	writeCIFARBatch(t, filepath.Join(dir, "cifar100", "test.bin"), 20, 100, 2, 7)

	// The flat folder as an archive, with its own class layout.
	var names []string
	files := map[string][]byte{}
	filepath.Walk(filepath.Join(dir, "flat"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			b, _ := os.ReadFile(path)
			names = append(names, filepath.ToSlash(rel))
			files[filepath.ToSlash(rel)] = b
		}
		return err
	})
	writeTarGz(t, filepath.Join(dir, "flat.tar.gz"), names, files)

	cases := []struct {
		name   string
		args   []string
		images int
		split  string // what eval's data line must say
	}{
		{"npz with val and test", []string{"--data", "npz:two.npz"}, 40, "test split"},
		{"idx", []string{"--data", "idx:idx"}, 45, "test split"},
		{"mnist dir", []string{"--data", "mnist:idx"}, 45, "test split"},
		{"fashion-mnist dir", []string{"--data", "fashion-mnist:idx"}, 45, "test split"},
		{"folder with train and val", []string{"--data", "hymenoptera"}, 24, "validation split"},
		{"folder without splits", []string{"--data", "flat", "--val-split", "0.25", "--seed", "3"}, 24, "held out"},
		{"archive without splits", []string{"--data", "flat.tar.gz", "--val-split", "0.3"}, 27, "held out"},
		{"folder with test data", []string{"--data", "flat", "--test-data", "flat-test"}, 24, "--test-data"},
		{"cifar10", []string{"--data", "cifar10:cifar10", "--model", "tiny3.yaml"}, 20, "test split"},
		{"cifar100", []string{"--data", "cifar100:cifar100", "--model", "tiny3.yaml"}, 20, "test split"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ckpt := fmt.Sprintf("m%d.safetensors", i)
			// A --model in c.args comes last and wins.
			args := append([]string{"--model", "tiny.yaml", "--epochs", "1", "--batch-size", "16", "--out", ckpt}, c.args...)
			tr := trainJSON(t, dir, args...)
			ev, stderr := evalJSON(t, dir, "--model", ckpt)
			if ev.Images != c.images {
				t.Errorf("eval used %d images (%s), want the %d training tested on", ev.Images, ev.Data, c.images)
			}
			if math.Abs(ev.Acc-tr.Acc) > 1e-9 || math.Abs(ev.Loss-tr.Loss) > 1e-5 {
				t.Errorf("eval: accuracy %v, loss %v; training reported %v, %v on the same split", ev.Acc, ev.Loss, tr.Acc, tr.Loss)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(stderr, c.split) || !strings.Contains(stderr, ckpt) {
				t.Errorf("eval's stderr should be one line naming the %s and %s:\n%s", c.split, ckpt, stderr)
			}
		})
	}
}

// TestCalibrateRobustnessUseRecordedData runs calibrate and robustness
// with --model alone on a checkpoint trained on an .npz with validation
// and test splits: calibrate fits on the validation split and holds out
// the test split, robustness uses the test split.
func TestCalibrateRobustnessUseRecordedData(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "tiny.yaml", []byte(tinySpec(1, 28, 28)))
	writeDigitNPZ(t, filepath.Join(dir, "two.npz"), newDigitPicker(t), []int{0, 1}, 60, 20, true)
	trainJSON(t, dir, "--model", "tiny.yaml", "--data", "npz:two.npz", "--epochs", "1", "--batch-size", "16", "--out", "m.safetensors")

	r := mustSucceed(t, dir, "calibrate", "--model", "m.safetensors", "--out", "cal.safetensors", "--json")
	var cal calibrateOutput
	if err := json.Unmarshal([]byte(r.stdout), &cal); err != nil {
		t.Fatalf("calibrate --json: %v\n%s", err, r.stdout)
	}
	if cal.Validation.Images != 40 || !strings.HasSuffix(cal.Validation.Name, "/val") || cal.Held == nil ||
		cal.Held.Images != 40 || !strings.HasSuffix(cal.Held.Name, "/test") {
		t.Errorf("calibrate fitted on %+v, held out %+v; want the 40 val and the 40 test images", cal.Validation, cal.Held)
	}
	if !strings.Contains(r.stderr, "validation split") {
		t.Errorf("calibrate's stderr does not say which split it fits on:\n%s", r.stderr)
	}
	// An explicit --val-split divides the test split as before.
	r = mustSucceed(t, dir, "calibrate", "--model", "m.safetensors", "--out", "cal2.safetensors", "--val-split", "0.5", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &cal); err != nil {
		t.Fatal(err)
	}
	if cal.Validation.Images != 20 || cal.Held == nil || cal.Held.Images != 20 {
		t.Errorf("calibrate --val-split 0.5: fitted on %+v, held out %+v; want 20 and 20 test images", cal.Validation, cal.Held)
	}

	r = mustSucceed(t, dir, "robustness", "--model", "m.safetensors", "--corruptions", "contrast", "--severities", "1", "--json")
	var rep struct{ Images int }
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Images != 40 {
		t.Errorf("robustness: %v, %d images, want the 40 test images\n%s", err, rep.Images, r.stdout)
	}
	if !strings.Contains(r.stderr, "test split") {
		t.Errorf("robustness's stderr does not say which split it uses:\n%s", r.stderr)
	}
}

// TestEvalRecordedPaths checks that a relative --data path recorded at
// training works from another folder (through the absolute path), after
// the checkpoint and data moved together (through the path as given), and
// fails clearly when neither exists.
func TestEvalRecordedPaths(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	writeFile(t, run, "tiny.yaml", []byte(tinySpec(1, 28, 28)))
	writeDigitNPZ(t, filepath.Join(run, "data", "two.npz"), newDigitPicker(t), []int{0, 1}, 40, 10, false)
	tr := trainJSON(t, run, "--model", "tiny.yaml", "--data", "npz:data/two.npz", "--epochs", "1", "--out", "m.safetensors")

	elsewhere := filepath.Join(dir, "elsewhere")
	if err := os.MkdirAll(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	ev, _ := evalJSON(t, elsewhere, "--model", filepath.Join(run, "m.safetensors"))
	if ev.Images != 20 || math.Abs(ev.Acc-tr.Acc) > 1e-9 {
		t.Errorf("eval from another folder: %d images, accuracy %v; want 20, %v", ev.Images, ev.Acc, tr.Acc)
	}

	moved := filepath.Join(dir, "moved")
	if err := os.Rename(run, moved); err != nil {
		t.Fatal(err)
	}
	ev, _ = evalJSON(t, moved, "--model", "m.safetensors")
	if ev.Images != 20 || math.Abs(ev.Acc-tr.Acc) > 1e-9 {
		t.Errorf("eval after moving: %d images, accuracy %v; want 20, %v", ev.Images, ev.Acc, tr.Acc)
	}

	r := fovea(t, elsewhere, "eval", "--model", filepath.Join(moved, "m.safetensors"))
	if r.code == 0 || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("eval with the data gone: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"npz:data/two.npz", filepath.Join(run, "data", "two.npz"), "--data"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error %q does not name %q", r.stderr, want)
		}
	}
}

// TestEvalRefusesOtherClasses checks that a model is never evaluated on
// data with other classes: a 10-class MNIST model on 2-class digit data
// (which used to report about 71%), a 2-class model on MNIST, and a
// checkpoint without recorded data that is not an MNIST model.
func TestEvalRefusesOtherClasses(t *testing.T) {
	dir := t.TempDir()
	p := newDigitPicker(t)
	writeFile(t, dir, "tiny.yaml", []byte(tinySpec(1, 28, 28)))
	writeDigitNPZ(t, filepath.Join(dir, "two.npz"), p, []int{0, 1}, 60, 20, false)
	for _, split := range []string{"train", "val"} {
		writeDigitFolder(t, filepath.Join(dir, "hymenoptera", split), p, []int{4, 9}, []string{"ants", "bees"}, 20)
	}
	trainJSON(t, dir, "--model", "tiny.yaml", "--train-limit", "1000", "--test-limit", "200", "--epochs", "1", "--out", "mnist.safetensors")
	trainJSON(t, dir, "--model", "tiny.yaml", "--data", "hymenoptera", "--epochs", "1", "--out", "ants.safetensors")

	// The 2-class model alone evaluates on its own validation split.
	if ev, _ := evalJSON(t, dir, "--model", "ants.safetensors"); ev.Images != 40 {
		t.Errorf("eval of the ants/bees model: %d images, want its 40 validation images", ev.Images)
	}

	// A checkpoint of the same model without the recorded data, as older
	// versions wrote it.
	f, err := checkpoint.ReadFile(filepath.Join(dir, "ants.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Metadata["fovea.data"]; !ok {
		t.Fatalf("train did not record fovea.data: %v", f.Metadata)
	}
	delete(f.Metadata, "fovea.data")
	if err := checkpoint.WriteFile(filepath.Join(dir, "old.safetensors"), f.Tensors, f.Metadata); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"10-class model on 2-class data", []string{"--model", "mnist.safetensors", "--data", "npz:two.npz"},
			[]string{"two.npz", "mnist.safetensors", "2 classes", "10 classes", "0, 1", "9"}},
		{"2-class model on MNIST", []string{"--model", "ants.safetensors", "--data", "mnist"},
			[]string{"mnist", "ants.safetensors", "ants, bees", "10 classes"}},
		{"old checkpoint without data", []string{"--model", "old.safetensors"}, []string{"old.safetensors", "--data"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, cmd := range []string{"eval", "robustness"} {
				r := fovea(t, dir, append([]string{cmd}, c.args...)...)
				if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
					t.Fatalf("%s %v: exit %d, want one error line; stdout:\n%s\nstderr:\n%s", cmd, c.args, r.code, r.stdout, r.stderr)
				}
				for _, w := range c.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("%s: error %q does not name %q", cmd, r.stderr, w)
					}
				}
				if strings.Contains(r.stderr, `class "0" is not one of`) {
					t.Errorf("%s: %s", cmd, r.stderr)
				}
			}
		})
	}
	// Named data with some of the model's classes and no other is fine: a
	// test set need not hold every class.
	for _, split := range []string{"train", "val"} {
		writeDigitFolder(t, filepath.Join(dir, "insects", split), p, []int{4, 9, 7}, []string{"ants", "bees", "wasps"}, 10)
	}
	trainJSON(t, dir, "--model", "tiny.yaml", "--data", "insects", "--epochs", "1", "--out", "insects.safetensors")
	if ev, _ := evalJSON(t, dir, "--model", "insects.safetensors", "--data", "hymenoptera/val"); ev.Images != 40 {
		t.Errorf("eval of the ants/bees/wasps model on ants and bees: %d images, want 40", ev.Images)
	}
	// With --data the old checkpoint works as before.
	if ev, _ := evalJSON(t, dir, "--model", "old.safetensors", "--data", "hymenoptera"); ev.Images != 40 {
		t.Errorf("eval --data of the old checkpoint: %d images, want 40", ev.Images)
	}
}
