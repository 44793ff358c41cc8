package data

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMNISTEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes 70,000 images")
	}
	train, test, err := MNIST()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d *Dataset
		n int
	}{{train, 60000}, {test, 10000}} {
		d := c.d
		if d.Len() != c.n || len(d.X) != c.n*28*28 {
			t.Errorf("%s: %d examples, %d values; want %d", d.Name, d.Len(), len(d.X), c.n)
		}
		if d.Shape() != [3]int{1, 28, 28} {
			t.Errorf("%s: shape %v", d.Name, d.Shape())
		}
		if d.NumClasses != 10 || len(d.ClassNames) != 10 {
			t.Errorf("%s: %d classes, names %v", d.Name, d.NumClasses, d.ClassNames)
		}
		seen := make([]int, 10)
		for _, y := range d.Y {
			if y < 0 || y >= 10 {
				t.Fatalf("%s: label %d", d.Name, y)
			}
			seen[y]++
		}
		for k, n := range seen {
			if n < c.n/20 {
				t.Errorf("%s: only %d examples of class %d", d.Name, n, k)
			}
		}
		for _, v := range d.X {
			if v < 0 || v > 1 {
				t.Fatalf("%s: pixel %v outside [0, 1]", d.Name, v)
			}
		}
	}
	// The canonical first labels.
	if got := train.Y[:5]; got[0] != 5 || got[1] != 0 || got[2] != 4 || got[3] != 1 || got[4] != 9 {
		t.Errorf("first train labels %v, want [5 0 4 1 9]", got)
	}
	if test.Y[0] != 7 {
		t.Errorf("first test label %d, want 7", test.Y[0])
	}
	mean, std := train.MeanStd()
	if math.Abs(float64(mean[0])-MNISTMean) > 1e-4 || math.Abs(float64(std[0])-MNISTStd) > 1e-4 {
		t.Errorf("train mean/std %v %v, want %v %v", mean, std, MNISTMean, MNISTStd)
	}
	train.Normalize([]float32{MNISTMean}, []float32{MNISTStd})
	mean, std = train.MeanStd()
	if math.Abs(float64(mean[0])) > 1e-3 || math.Abs(float64(std[0])-1) > 1e-3 {
		t.Errorf("normalized mean/std %v %v, want 0 1", mean, std)
	}
}

// writeIDXDir writes a tiny MNIST-style folder; gz selects compression.
func writeIDXDir(t *testing.T, nTrain, nTrainLabels int, gz bool) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, dims []int, data []byte) {
		b := idxBytes(dims, data)
		if gz {
			name += ".gz"
			b = gzipBytes(t, b)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	labels := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i % 3)
		}
		return b
	}
	write(trainImagesFile, []int{nTrain, 2, 3}, seq(nTrain*6))
	write(trainLabelsFile, []int{nTrainLabels}, labels(nTrainLabels))
	write(testImagesFile, []int{2, 2, 3}, seq(12))
	write(testLabelsFile, []int{2}, []byte{0, 1})
	return dir
}

func TestLoadIDXDir(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := writeIDXDir(t, 5, 5, gz)
		train, test, err := LoadIDXDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != 5 || test.Len() != 2 || train.Shape() != [3]int{1, 2, 3} {
			t.Fatalf("got %d/%d examples of shape %v", train.Len(), test.Len(), train.Shape())
		}
		if train.NumClasses != 3 || test.NumClasses != 3 {
			t.Errorf("classes %d %d, want 3", train.NumClasses, test.NumClasses)
		}
		if want := float32(seq(7)[6]) / 255; train.X[6] != want {
			t.Errorf("X[6] = %v, want %v", train.X[6], want)
		}
		train, _, err = Load("fashion-mnist:" + dir)
		if err != nil {
			t.Fatal(err)
		}
		if train.NumClasses != 10 || train.ClassNames[9] != "Ankle boot" || train.Name != "fashion-mnist/train" {
			t.Errorf("fashion-mnist: %d classes %v, name %q", train.NumClasses, train.ClassNames, train.Name)
		}
	}
}

func TestLoadIDXDirErrors(t *testing.T) {
	dir := writeIDXDir(t, 5, 4, true)
	_, _, err := LoadIDXDir(dir)
	if err == nil || !strings.Contains(err.Error(), "5 images") || !strings.Contains(err.Error(), "4 labels") {
		t.Errorf("count mismatch: %v", err)
	}
	empty := t.TempDir()
	_, _, err = LoadIDXDir(empty)
	if err == nil || !strings.Contains(err.Error(), "no train-images-idx3-ubyte") || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty dir: %v", err)
	}
	// Labels stored as images.
	dir = writeIDXDir(t, 5, 5, false)
	if err := os.WriteFile(filepath.Join(dir, trainLabelsFile), idxBytes([]int{5, 1}, seq(5)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadIDXDir(dir)
	if err == nil || !strings.Contains(err.Error(), "labels must have 1 dimension") {
		t.Errorf("2-D labels: %v", err)
	}
	for _, spec := range []string{"cifar", "mnist:", "fashion:x"} {
		if _, _, err := Load(spec); err == nil || !strings.Contains(err.Error(), "unknown dataset") {
			t.Errorf("Load(%q): %v", spec, err)
		}
	}
}

func TestDatasetSubsetHeadNormalize(t *testing.T) {
	d := &Dataset{Name: "t", C: 2, H: 1, W: 2, NumClasses: 3, Y: []int{0, 1, 2},
		X: []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}
	s := d.Subset([]int{2, 0, 2})
	if s.Len() != 3 || s.Y[0] != 2 || s.Y[1] != 0 || s.X[0] != 8 || s.X[4] != 0 || s.NumClasses != 3 {
		t.Errorf("Subset: %+v", s)
	}
	s.X[0] = -1
	if d.X[8] != 8 {
		t.Error("Subset shares storage")
	}
	h := d.Head(2)
	if h.Len() != 2 || len(h.X) != 8 || d.Head(10).Len() != 3 {
		t.Errorf("Head: %+v", h)
	}
	dst := make([]float32, 4)
	if y := d.Example(1, dst); y != 1 || dst[0] != 4 || dst[3] != 7 {
		t.Errorf("Example: %d %v", y, dst)
	}
	mean, std := d.MeanStd()
	// channel 0: 0,1,4,5,8,9 ; channel 1: 2,3,6,7,10,11
	if mean[0] != 4.5 || mean[1] != 6.5 {
		t.Errorf("mean %v", mean)
	}
	d.Normalize(mean, std)
	mean, std = d.MeanStd()
	for c := range 2 {
		if math.Abs(float64(mean[c])) > 1e-6 || math.Abs(float64(std[c])-1) > 1e-6 {
			t.Errorf("after Normalize: mean %v std %v", mean, std)
		}
	}
	mustPanic(t, "data: t: Normalize", func() { d.Normalize([]float32{0, 0, 0}, []float32{1}) })
	mustPanic(t, "out of range", func() { d.Subset([]int{3}) })
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if s, _ := r.(string); !strings.Contains(s, want) {
			t.Errorf("panic %v, want one containing %q", r, want)
		}
	}()
	f()
}
