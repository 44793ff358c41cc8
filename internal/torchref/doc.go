// Package torchref holds golden tests that check Fovea's ops, losses,
// optimizers and LeNet-5 against PyTorch, forward and backward.
//
// It has no non-test code. The references live in testdata/*.safetensors and
// are written by tools/refgen/refgen.py (see tools/refgen/README.md); each
// test reads one file through the checkpoint package, runs the Fovea op on the
// stored inputs, back-propagates the stored upstream gradient grad_y and
// compares every output and gradient within the tolerance written next to it.
package torchref
