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

// Load returns the training and test sets named by spec, with default
// [LoadOptions]; see [LoadWith] for the specs it understands.
func Load(spec string) (train, test *Dataset, err error) {
	return LoadWith(spec, LoadOptions{})
}

// LoadOptions say how [LoadWith] and [LoadTest] decode image folders;
// they do not change the other formats.
type LoadOptions struct {
	FolderOptions
}

// LoadWith returns the training and test sets named by spec:
//
//	mnist               the embedded MNIST
//	mnist:DIR           MNIST IDX files in DIR (see LoadIDXDir)
//	fashion-mnist:DIR   Fashion-MNIST IDX files in DIR, with class names
//	idx:DIR             any IDX image/label files in DIR
//	cifar10:DIR         CIFAR-10 binary batches (see LoadCIFAR10)
//	cifar100:DIR        CIFAR-100 binary files (see LoadCIFAR100)
//	npz:FILE            a MedMNIST-style .npz; its val arrays, if any, are
//	                    left out (LoadNPZ returns them)
//	folder:PATH         an image folder or .tar/.tar.gz/.tgz archive of one
//	                    (see LoadImageFolder), decoded as opt says
//	PATH                an existing path: a folder of IDX files, of CIFAR
//	                    batches, or of images; a .npz file; an archive
//
// An image folder without a train/test split returns a nil test set: the
// caller splits the training set (see [StratifiedSplit]) or loads a test
// set with [LoadTest].
func LoadWith(spec string, opt LoadOptions) (train, test *Dataset, err error) {
	kind, arg, hasArg := strings.Cut(spec, ":")
	switch {
	case kind == "mnist" && !hasArg:
		return MNIST()
	case (kind == "mnist" || kind == "fashion-mnist" || kind == "idx") && hasArg && arg != "":
		return loadIDXSpec(kind, arg)
	case kind == "cifar10" && hasArg && arg != "":
		return LoadCIFAR10(arg)
	case kind == "cifar100" && hasArg && arg != "":
		return LoadCIFAR100(arg)
	case kind == "npz" && hasArg && arg != "":
		train, _, test, err = LoadNPZ(arg)
		return train, test, err
	case kind == "folder" && hasArg && arg != "":
		return LoadImageFolder(arg, opt.FolderOptions)
	}
	if st, err := os.Stat(spec); err == nil {
		switch {
		case st.IsDir() && (exists(spec, trainImagesFile) || exists(spec, trainImagesFile+".gz")):
			return LoadIDXDir(spec)
		case st.IsDir() && (exists(spec, "data_batch_1.bin") || exists(spec, "cifar-10-batches-bin")):
			return LoadCIFAR10(spec)
		case st.IsDir() && (exists(spec, "train.bin") && exists(spec, "test.bin") || exists(spec, "cifar-100-binary")):
			return LoadCIFAR100(spec)
		case !st.IsDir() && strings.EqualFold(filepath.Ext(spec), ".npz"):
			train, _, test, err = LoadNPZ(spec)
			return train, test, err
		case st.IsDir() || isArchiveName(spec):
			return LoadImageFolder(spec, opt.FolderOptions)
		}
		return nil, nil, fmt.Errorf("data: %s: not a dataset folder, .npz file nor .tar/.tar.gz/.tgz archive", spec)
	}
	return nil, nil, fmt.Errorf("data: unknown dataset %q: not a spec (mnist, mnist:DIR, fashion-mnist:DIR, idx:DIR, cifar10:DIR, cifar100:DIR, npz:FILE, folder:PATH) nor an existing file or folder", spec)
}

// LoadTest returns one evaluation set named by spec, as [LoadWith] reads
// it: the test set of a two-split spec, or, for an image folder or
// archive without a train/test split, its only split. A CIFAR batch file
// (PATH ending in .bin) is read with [ReadCIFARBatch]. To evaluate a
// model trained on other data, pass the training images' size and
// channels in opt and relabel the result with [AlignClasses].
func LoadTest(spec string, opt LoadOptions) (*Dataset, error) {
	if st, err := os.Stat(spec); err == nil && !st.IsDir() && strings.EqualFold(filepath.Ext(spec), ".bin") {
		labelBytes := 1
		if st.Size()%(1+cifarPixels) != 0 && st.Size()%(2+cifarPixels) == 0 {
			labelBytes = 2
		}
		return ReadCIFARBatch(spec, labelBytes)
	}
	train, test, err := LoadWith(spec, opt)
	if err != nil {
		return nil, err
	}
	if test == nil {
		return train, nil
	}
	return test, nil
}

// exists reports whether dir/name exists.
func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// loadIDXSpec loads mnist:DIR, fashion-mnist:DIR or idx:DIR.
func loadIDXSpec(kind, dir string) (train, test *Dataset, err error) {
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
