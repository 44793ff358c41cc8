// Package data holds Fovea's datasets and the batch loader that feeds them to
// training: a [Dataset] of float32 images in NCHW order with integer labels,
// a [Loader] that shuffles, batches and prefetches it on a background
// goroutine, and readers for dataset formats. MNIST itself is embedded in
// the package; see [MNIST].
//
// # Formats
//
//   - IDX (MNIST, Fashion-MNIST): [LoadIDXDir], [ReadIDX].
//   - CIFAR-10 and CIFAR-100 binary batches: [LoadCIFAR10], [LoadCIFAR100],
//     [ReadCIFARBatch] for one batch file.
//   - NumPy .npz archives in the MedMNIST layout (train_images,
//     train_labels, val_..., test_...): [LoadNPZ], with [ReadNPZ] and
//     [ReadNPY] for the arrays themselves.
//   - Image folders, on disk or in a .tar, .tar.gz or .tgz archive: one
//     sub-folder per class, optionally under train/ and test/ (or val/), or
//     images listed in a labels CSV (GTSRB's test set); PNG, JPEG, GIF, BMP,
//     WebP, PPM and PGM files, decoded in parallel and resized to one size:
//     [LoadImageFolder] with [FolderOptions]. [AlignClasses] relabels a test
//     set to follow a training set's class list.
//   - Single image files become model inputs through [ReadImageFile].
//
// [Load] and [LoadWith] name any of these with a spec string ("mnist",
// "cifar10:DIR", "npz:FILE", "folder:PATH", or a plain path), [LoadTest]
// names a separate evaluation set, and [StratifiedSplit] carves a
// validation set out of a training set that has none.
//
// Every image file's header is checked before its pixels are decoded:
// images declaring more than [MaxImagePixels] pixels are rejected. PPM and
// PGM (P2, P3, P5, P6) are decoded by this package and registered with
// package image, so image.Decode reads them once package data is imported.
//
// Images are float32, channels first: example i of a dataset with shape
// (C, H, W) is X[i*C*H*W : (i+1)*C*H*W]. A batch is a (B, C, H, W)
// [tensor.Tensor], the layout PyTorch and ONNX use.
//
// # Error handling
//
// Anything read from outside (files, folders, dataset specs) returns an
// error whose message starts with "data: ", names the file (or spec) at
// fault and says what is wrong with it, for example
//
//	data: train-images-idx3-ubyte.gz: truncated: header says 60000×28×28 bytes, found 1234
//
// Programmer errors (an index out of range, a negative batch size, a
// mean/std slice of the wrong length) panic with a message starting with
// "data: ", as in package tensor.
package data
