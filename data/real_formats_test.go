package data

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCIFAR10JPEGArchivesFromShared(t *testing.T) {
	dir := sharedDataset(t, "cifar10-jpeg")
	start := time.Now()
	test, err := LoadTest(filepath.Join(dir, "cifar10-test-jpeg.tar.gz"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cifar10 test archive: %d images decoded in %v", test.Len(), time.Since(start))
	if test.Len() != 10000 || test.Shape() != [3]int{3, 32, 32} || test.NumClasses != 10 {
		t.Fatalf("test: %d images of %v, %d classes", test.Len(), test.Shape(), test.NumClasses)
	}
	for i, n := range CIFAR10ClassNames() {
		if test.ClassNames[i] != n {
			t.Fatalf("class names %v", test.ClassNames)
		}
	}
	if testing.Short() {
		return
	}
	start = time.Now()
	train, err := LoadTest(filepath.Join(dir, "cifar10-train-jpeg.tar.gz"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cifar10 train archive: %d images decoded in %v", train.Len(), time.Since(start))
	if train.Len() != 50000 || train.Shape() != [3]int{3, 32, 32} {
		t.Fatalf("train: %d images of %v", train.Len(), train.Shape())
	}
}

func TestGTSRBArchivesFromShared(t *testing.T) {
	dir := sharedDataset(t, "gtsrb-32x32")
	start := time.Now()
	train, err := LoadTest(filepath.Join(dir, "gtsrb32-train-subset.tar.gz"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gtsrb train subset: %d images decoded in %v", train.Len(), time.Since(start))
	start = time.Now()
	test, err := LoadTest(filepath.Join(dir, "gtsrb32-test.tar.gz"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gtsrb test: %d images decoded in %v", test.Len(), time.Since(start))
	if train.Len() != 3920 || test.Len() != 12630 || train.Shape() != [3]int{3, 32, 32} || test.Shape() != train.Shape() {
		t.Fatalf("train %d of %v, test %d of %v", train.Len(), train.Shape(), test.Len(), test.Shape())
	}
	if err := AlignClasses(train, test); err != nil {
		t.Fatal(err)
	}
	if train.NumClasses != 43 || test.NumClasses != 43 {
		t.Fatalf("classes %d / %d, want 43", train.NumClasses, test.NumClasses)
	}
	want := []int{60, 720, 750, 450, 660, 630, 150, 450, 450, 480, 660, 420, 690, 720, 270, 210, 150, 360, 390, 60, 90, 90, 120, 150, 90, 480,
		180, 60, 150, 90, 150, 270, 60, 210, 120, 390, 120, 60, 690, 90, 90, 60, 90}
	got := make([]int, 43)
	for _, y := range test.Y {
		got[y]++
	}
	for c := range want {
		if got[c] != want[c] {
			t.Fatalf("test class %d has %d images, want %d", c, got[c], want[c])
		}
	}
}

func TestHymenopteraFromShared(t *testing.T) {
	dir := sharedDataset(t, "hymenoptera") // 245 train files (one a GIF placeholder), 153 val
	var rep FolderReport
	start := time.Now()
	train, test, err := LoadWith("folder:"+dir, LoadOptions{FolderOptions{Size: [2]int{64, 64}, Report: &rep}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hymenoptera: %d+%d photos decoded in %v; %+v", train.Len(), test.Len(), time.Since(start), rep)
	if train.Len() != 245 || test.Len() != 153 || train.Shape() != [3]int{3, 64, 64} || test.Shape() != train.Shape() {
		t.Fatalf("train %d of %v, test %d of %v", train.Len(), train.Shape(), test.Len(), test.Shape())
	}
	if train.NumClasses != 2 || train.ClassNames[0] != "ants" || train.ClassNames[1] != "bees" || test.ClassNames[1] != "bees" {
		t.Fatalf("classes %v / %v", train.ClassNames, test.ClassNames)
	}
	if len(rep.Splits) != 2 || rep.Splits[0].MaxSize[0] <= 64 || rep.Splits[0].MinSize[0] > rep.Splits[0].MaxSize[0] {
		t.Fatalf("report %+v", rep)
	}
	// Without a size, photos of different sizes are an error naming one.
	_, _, err = LoadImageFolder(dir, FolderOptions{})
	if err == nil || !strings.Contains(err.Error(), ".jpg: image is") {
		t.Fatalf("mixed sizes without --size: %v", err)
	}
}

func TestBreastMNISTFromShared(t *testing.T) {
	file := filepath.Join(sharedDataset(t, "breastmnist"), "breastmnist.npz")
	train, val, test, err := LoadNPZ(file)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 546 || val.Len() != 78 || test.Len() != 156 || train.Shape() != [3]int{1, 28, 28} || train.NumClasses != 2 {
		t.Fatalf("%d/%d/%d of %v, %d classes", train.Len(), val.Len(), test.Len(), train.Shape(), train.NumClasses)
	}
	count := func(d *Dataset) [2]int {
		var c [2]int
		for _, y := range d.Y {
			c[y]++
		}
		return c
	}
	if count(train) != [2]int{147, 399} || count(val) != [2]int{21, 57} || count(test) != [2]int{42, 114} {
		t.Fatalf("class counts %v %v %v", count(train), count(val), count(test))
	}
	tr2, te2, err := Load("npz:" + file)
	if err != nil || tr2.Len() != 546 || te2.Len() != 156 {
		t.Fatalf("Load npz: %v", err)
	}
	lo, hi := float32(1), float32(0)
	for _, v := range train.X {
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo < 0 || hi > 1 || hi < 0.5 {
		t.Fatalf("pixel range [%v, %v]", lo, hi)
	}
}

func TestCIFARBatchFromShared(t *testing.T) {
	file := filepath.Join(sharedDataset(t, "cifar10-test-first112-bin"), "cifar10_test_first112.bin")
	d, err := ReadCIFARBatch(file, 1)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 112 || d.Shape() != [3]int{3, 32, 32} || d.ClassNames[3] != "cat" {
		t.Fatalf("%d images of %v, classes %v", d.Len(), d.Shape(), d.ClassNames)
	}
	wantY := []int{3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6}
	for i, y := range wantY {
		if d.Y[i] != y {
			t.Fatalf("labels %v, want %v", d.Y[:20], wantY)
		}
	}
	x := d.Image(0)
	if got := [3]float32{x[0] * 255, x[1024] * 255, x[2048] * 255}; got != [3]float32{158, 112, 49} {
		t.Fatalf("first pixel %v, want 158,112,49", got)
	}
	// The same file through LoadTest.
	if d2, err := LoadTest(file, LoadOptions{}); err != nil || d2.Len() != 112 {
		t.Fatalf("LoadTest: %v", err)
	}
}
