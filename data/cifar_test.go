package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarRecords returns n CIFAR records; record i has label bytes labels(i)
// and every pixel byte i.
func cifarRecords(n int, labels func(i int) []byte) []byte {
	var b []byte
	for i := range n {
		b = append(b, labels(i)...)
		for range cifarPixels {
			b = append(b, byte(i))
		}
	}
	return b
}

func TestLoadCIFAR10And100(t *testing.T) {
	dir := t.TempDir()
	one := func(i int) []byte { return []byte{byte(i % 10)} }
	for k := 1; k <= 5; k++ {
		if err := os.WriteFile(filepath.Join(dir, "data_batch_"+string(rune('0'+k))+".bin"), cifarRecords(3, one), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "test_batch.bin"), cifarRecords(2, one), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{"cifar10:" + dir, dir} {
		train, test, err := Load(spec)
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != 15 || test.Len() != 2 || train.Shape() != [3]int{3, 32, 32} || train.ClassNames[9] != "truck" || train.Y[4] != 1 || train.X[4*cifarPixels]*255 != 1 {
			t.Fatalf("%s: train %d %v, test %d", spec, train.Len(), train.Y, test.Len())
		}
	}
	// The official archive's sub-folder is found.
	parent := t.TempDir()
	if err := os.Rename(dir, filepath.Join(parent, "cifar-10-batches-bin")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadCIFAR10(parent); err != nil {
		t.Fatal(err)
	}

	dir = t.TempDir()
	two := func(i int) []byte { return []byte{byte(i), byte(99 - i)} }
	os.WriteFile(filepath.Join(dir, "train.bin"), cifarRecords(4, two), 0o644)
	os.WriteFile(filepath.Join(dir, "test.bin"), cifarRecords(1, two), 0o644)
	train, test, err := Load("cifar100:" + dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 4 || test.Len() != 1 || train.Y[1] != 98 || train.NumClasses != 100 || train.ClassNames[98] != "98" {
		t.Fatalf("cifar100: %v %v", train.Y, train.NumClasses)
	}
	names := strings.Repeat("apple\n", 99) + "zebra\n"
	os.WriteFile(filepath.Join(dir, "fine_label_names.txt"), []byte(names), 0o644)
	if train, _, err = LoadCIFAR100(dir); err != nil || train.ClassNames[99] != "zebra" {
		t.Fatalf("names: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "fine_label_names.txt"), []byte("a\nb\n"), 0o644)
	if _, _, err = LoadCIFAR100(dir); err == nil || !strings.Contains(err.Error(), "2 class names, want 100") {
		t.Fatalf("short names: %v", err)
	}
}

func TestReadCIFARBatchErrors(t *testing.T) {
	one := func(i int) []byte { return []byte{byte(i)} }
	full := cifarRecords(3, one)
	p := writeFile(t, "cut.bin", full[:len(full)-100])
	if _, err := ReadCIFARBatch(p, 1); err == nil || !strings.Contains(err.Error(), "cut.bin: truncated: record 2 has 2973 of 3073 bytes") {
		t.Errorf("truncated: %v", err)
	}
	p = writeFile(t, "label.bin", cifarRecords(12, one))
	if _, err := ReadCIFARBatch(p, 1); err == nil || !strings.Contains(err.Error(), "label.bin: record 10 has label 10") {
		t.Errorf("label: %v", err)
	}
	if _, err := ReadCIFARBatch(writeFile(t, "empty.bin", nil), 2); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	if _, _, err := LoadCIFAR10(t.TempDir()); err == nil || !strings.Contains(err.Error(), "data_batch_1.bin") {
		t.Errorf("missing: %v", err)
	}
}
