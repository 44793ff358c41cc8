package data

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// MNISTMean and MNISTStd are the mean and standard deviation of the MNIST
// training pixels scaled to [0, 1], the values PyTorch examples normalize
// with.
const (
	MNISTMean = 0.1307
	MNISTStd  = 0.3081
)

// The MNIST files, vendored under mnist/ with their license (CC BY-SA 3.0,
// Yann LeCun and Corinna Cortes) and origin (mnist/SOURCE.md).
//
//go:embed mnist/*.gz
var mnistFS embed.FS

// The standard IDX file names of MNIST and Fashion-MNIST.
const (
	trainImagesFile = "train-images-idx3-ubyte"
	trainLabelsFile = "train-labels-idx1-ubyte"
	testImagesFile  = "t10k-images-idx3-ubyte"
	testLabelsFile  = "t10k-labels-idx1-ubyte"
)

// MNIST returns the MNIST training (60,000) and test (10,000) sets from the
// copy embedded in this package: 1×28×28 images with pixels scaled to
// [0, 1] (not normalized; see [Dataset.Normalize] with [MNISTMean] and
// [MNISTStd]) and labels 0 to 9. Each call decodes afresh and returns new
// datasets (about 220 MB of float32).
func MNIST() (train, test *Dataset, err error) {
	train, test, err = loadIDXPair(mnistFS, "mnist", "mnist")
	if err != nil {
		return nil, nil, err
	}
	for _, d := range []*Dataset{train, test} {
		d.NumClasses = 10
		d.ClassNames = digitNames(10)
	}
	return train, test, nil
}

// LoadIDXDir reads a training and a test set from the four standard IDX
// files in dir (train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each raw or with .gz),
// the layout of MNIST and Fashion-MNIST. Pixels are scaled to [0, 1].
// NumClasses is one more than the largest label in either set; ClassNames
// are the label numbers.
func LoadIDXDir(dir string) (train, test *Dataset, err error) {
	return loadIDXPair(os.DirFS(dir), dir, ".")
}

// FashionMNISTClassNames returns the names of the ten Fashion-MNIST
// classes, in label order.
func FashionMNISTClassNames() []string {
	return []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}
}

// Load returns the training and test sets named by spec:
//
//	mnist               the embedded MNIST
//	mnist:DIR           MNIST IDX files in DIR (see LoadIDXDir)
//	fashion-mnist:DIR   Fashion-MNIST IDX files in DIR, with class names
//	idx:DIR             any IDX image/label files in DIR
func Load(spec string) (train, test *Dataset, err error) {
	kind, dir, hasDir := strings.Cut(spec, ":")
	switch {
	case kind == "mnist" && !hasDir:
		return MNIST()
	case (kind == "mnist" || kind == "fashion-mnist" || kind == "idx") && hasDir && dir != "":
		train, test, err = LoadIDXDir(dir)
		if err != nil {
			return nil, nil, err
		}
		if kind == "idx" {
			return train, test, nil
		}
		if train.NumClasses > 10 {
			return nil, nil, fmt.Errorf("data: %s: labels go up to %d, %s has 10 classes", dir, train.NumClasses-1, kind)
		}
		names := digitNames(10)
		if kind == "fashion-mnist" {
			names = FashionMNISTClassNames()
		}
		for _, d := range []*Dataset{train, test} {
			d.Name = kind + "/" + path.Base(d.Name)
			d.NumClasses, d.ClassNames = 10, names
		}
		return train, test, nil
	}
	return nil, nil, fmt.Errorf("data: unknown dataset %q (want mnist, mnist:DIR, fashion-mnist:DIR or idx:DIR)", spec)
}

// loadIDXPair reads the four standard files from fsys under dir; label is
// how errors and dataset names refer to dir.
func loadIDXPair(fsys fs.FS, label, dir string) (train, test *Dataset, err error) {
	read := func(base string) (*IDX, error) {
		for _, name := range []string{base, base + ".gz"} {
			f, err := fsys.Open(path.Join(dir, name))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("data: %w", err)
			}
			defer f.Close()
			return ReadIDX(f, filepath.Join(label, name))
		}
		return nil, fmt.Errorf("data: %s: no %s or %s.gz", label, base, base)
	}
	pair := func(split, images, labels string) (*Dataset, error) {
		im, err := read(images)
		if err != nil {
			return nil, err
		}
		lb, err := read(labels)
		if err != nil {
			return nil, err
		}
		return FromIDX(im, lb, filepath.Join(label, images), filepath.Join(label, labels), label+"/"+split)
	}
	if train, err = pair("train", trainImagesFile, trainLabelsFile); err != nil {
		return nil, nil, err
	}
	if test, err = pair("test", testImagesFile, testLabelsFile); err != nil {
		return nil, nil, err
	}
	if train.H != test.H || train.W != test.W {
		return nil, nil, fmt.Errorf("data: %s: training images are %d×%d, test images %d×%d", label, train.H, train.W, test.H, test.W)
	}
	n := max(train.NumClasses, test.NumClasses)
	for _, d := range []*Dataset{train, test} {
		d.NumClasses, d.ClassNames = n, digitNames(n)
	}
	return train, test, nil
}

// FromIDX builds a one-channel dataset from an IDX image file (N, H, W)
// and an IDX label file (N), scaling pixels from 0..255 to [0, 1].
// imagesName and labelsName name the files in errors; name becomes the
// dataset's Name. NumClasses is one more than the largest label.
func FromIDX(images, labels *IDX, imagesName, labelsName, name string) (*Dataset, error) {
	if len(images.Dims) != 3 {
		return nil, fmt.Errorf("data: %s: images must have 3 dimensions (N×H×W), header says %s", imagesName, dimString(images.Dims))
	}
	if len(labels.Dims) != 1 {
		return nil, fmt.Errorf("data: %s: labels must have 1 dimension (N), header says %s", labelsName, dimString(labels.Dims))
	}
	n, h, w := images.Dims[0], images.Dims[1], images.Dims[2]
	if labels.Dims[0] != n {
		return nil, fmt.Errorf("data: %s has %d images but %s has %d labels", imagesName, n, labelsName, labels.Dims[0])
	}
	if n > 0 && (h == 0 || w == 0) {
		return nil, fmt.Errorf("data: %s: empty images (%s)", imagesName, dimString(images.Dims))
	}
	d := &Dataset{Name: name, X: make([]float32, len(images.Data)), Y: make([]int, n), C: 1, H: h, W: w}
	for i, b := range images.Data {
		d.X[i] = float32(b) / 255
	}
	for i, b := range labels.Data {
		d.Y[i] = int(b)
		d.NumClasses = max(d.NumClasses, int(b)+1)
	}
	return d, nil
}

// digitNames returns "0", "1", …, for n classes.
func digitNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Itoa(i)
	}
	return names
}
