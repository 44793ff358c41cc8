package data

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cifarPixels is the size of one CIFAR image: 3 planes (R, G, B) of 32×32.
const cifarPixels = 3 * 32 * 32

// CIFAR10ClassNames returns the names of the ten CIFAR-10 classes, in
// label order.
func CIFAR10ClassNames() []string {
	return []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
}

// ReadCIFARBatch reads one CIFAR binary batch file: records of labelBytes
// label bytes (1 for CIFAR-10; 2, coarse then fine, for CIFAR-100, of
// which the fine label is kept) followed by 3072 bytes, the R, G and B
// planes of a 32×32 image. Pixels are scaled to [0, 1]. With one label
// byte the dataset has the 10 CIFAR-10 classes and their names, with two
// the 100 CIFAR-100 fine classes, named by number.
func ReadCIFARBatch(file string, labelBytes int) (*Dataset, error) {
	if labelBytes != 1 && labelBytes != 2 {
		panic(fmt.Sprintf("data: ReadCIFARBatch with %d label bytes: want 1 or 2", labelBytes))
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	rec := labelBytes + cifarPixels
	n := len(raw) / rec
	if len(raw)%rec != 0 {
		return nil, fmt.Errorf("data: %s: truncated: record %d has %d of %d bytes", file, n, len(raw)%rec, rec)
	}
	if n == 0 {
		return nil, fmt.Errorf("data: %s: empty CIFAR batch", file)
	}
	classes, names := 10, CIFAR10ClassNames()
	if labelBytes == 2 {
		classes, names = 100, digitNames(100)
	}
	d := &Dataset{Name: filepath.Base(file), X: make([]float32, n*cifarPixels), Y: make([]int, n), C: 3, H: 32, W: 32, NumClasses: classes, ClassNames: names}
	for i := range n {
		r := raw[i*rec : (i+1)*rec]
		y := int(r[labelBytes-1])
		if y >= classes {
			return nil, fmt.Errorf("data: %s: record %d has label %d, want 0..%d", file, i, y, classes-1)
		}
		d.Y[i] = y
		x := d.X[i*cifarPixels : (i+1)*cifarPixels]
		for k, b := range r[labelBytes:] {
			x[k] = float32(b) / 255
		}
	}
	return d, nil
}

// cifarDir returns dir, or its sub-folder sub if dir lacks probe and sub
// has it (the layout the official archives unpack to).
func cifarDir(dir, probe, sub string) string {
	if _, err := os.Stat(filepath.Join(dir, probe)); errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, sub, probe)); err == nil {
			return filepath.Join(dir, sub)
		}
	}
	return dir
}

// concatBatches joins batches of the same shape into one dataset.
func concatBatches(name string, batches []*Dataset) *Dataset {
	d := &Dataset{Name: name, C: 3, H: 32, W: 32, NumClasses: batches[0].NumClasses, ClassNames: batches[0].ClassNames}
	for _, b := range batches {
		d.X = append(d.X, b.X...)
		d.Y = append(d.Y, b.Y...)
	}
	return d
}

// LoadCIFAR10 reads CIFAR-10 from the binary version's files in dir (or
// in dir/cifar-10-batches-bin): the training set from data_batch_1.bin to
// data_batch_5.bin (50,000 images) and the test set from test_batch.bin
// (10,000), 3×32×32 with values in [0, 1] and the ten class names.
func LoadCIFAR10(dir string) (train, test *Dataset, err error) {
	dir = cifarDir(dir, "test_batch.bin", "cifar-10-batches-bin")
	var batches []*Dataset
	for i := 1; i <= 5; i++ {
		b, err := ReadCIFARBatch(filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)), 1)
		if err != nil {
			return nil, nil, err
		}
		batches = append(batches, b)
	}
	test, err = ReadCIFARBatch(filepath.Join(dir, "test_batch.bin"), 1)
	if err != nil {
		return nil, nil, err
	}
	train = concatBatches("cifar10/train", batches)
	test.Name = "cifar10/test"
	return train, test, nil
}

// LoadCIFAR100 reads CIFAR-100 from the binary version's train.bin
// (50,000 images) and test.bin (10,000) in dir (or in
// dir/cifar-100-binary), labelled with the 100 fine classes. The class
// names come from fine_label_names.txt (one per line) if it is there, and
// are the label numbers otherwise.
func LoadCIFAR100(dir string) (train, test *Dataset, err error) {
	dir = cifarDir(dir, "test.bin", "cifar-100-binary")
	if train, err = ReadCIFARBatch(filepath.Join(dir, "train.bin"), 2); err != nil {
		return nil, nil, err
	}
	if test, err = ReadCIFARBatch(filepath.Join(dir, "test.bin"), 2); err != nil {
		return nil, nil, err
	}
	train.Name, test.Name = "cifar100/train", "cifar100/test"
	namesFile := filepath.Join(dir, "fine_label_names.txt")
	f, err := os.Open(namesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return train, test, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("data: %s: %w", namesFile, err)
	}
	if len(names) != 100 {
		return nil, nil, fmt.Errorf("data: %s: %d class names, want 100", namesFile, len(names))
	}
	train.ClassNames, test.ClassNames = names, names
	return train, test, nil
}
