// Package asm is a placeholder so the module has a package at its root; the
// generators live in the subdirectories (one main package per kernel family),
// each run by `go generate ./internal/kernels` from the repository root.
package asm
