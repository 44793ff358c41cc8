package data

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedDataset returns the path of a data set in the workspace's shared
// folder (../shared/datasets beside the repository). Outside CI a missing
// folder skips the test; under CI=true it fails, so a broken checkout
// cannot pass by skipping.
func sharedDataset(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared", "datasets", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data set missing under CI: %v", err)
		}
		t.Skipf("shared data set not present: %v", err)
	}
	return dir
}

func TestLoadFashionMNISTFromShared(t *testing.T) {
	dir := sharedDataset(t, "fashion-mnist")
	train, test, err := Load("fashion-mnist:" + dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 || train.Shape() != [3]int{1, 28, 28} {
		t.Fatalf("fashion-mnist: %d/%d images of %v, want 60000/10000 of 1x28x28", train.Len(), test.Len(), train.Shape())
	}
	if train.NumClasses != 10 || train.ClassNames[0] != "T-shirt/top" || train.ClassNames[9] != "Ankle boot" {
		t.Fatalf("class names %v", train.ClassNames)
	}
	counts := make([]int, 10)
	for _, y := range test.Y {
		counts[y]++
	}
	for c, n := range counts {
		if n != 1000 {
			t.Fatalf("test class %d has %d images, want 1000", c, n)
		}
	}
}
