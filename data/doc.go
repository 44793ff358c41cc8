// Package data holds Fovea's datasets and the batch loader that feeds them to
// training: a [Dataset] of float32 images in NCHW order with integer labels,
// a [Loader] that shuffles, batches and prefetches it on a background
// goroutine, and readers for dataset formats, starting with IDX
// (MNIST, Fashion-MNIST). MNIST itself is embedded in the package; see [MNIST].
// Single PNG, JPEG or GIF files become model inputs through [ReadImageFile],
// which rejects images whose header declares more than [MaxImagePixels]
// before decoding any pixel.
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
