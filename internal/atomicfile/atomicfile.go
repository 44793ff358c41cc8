// Package atomicfile writes files so that a reader, or a crash at any
// moment, sees either the file's old content or the complete new one: the
// bytes go to a temporary file in the same folder, which is synced to disk,
// given mode 0644 and renamed over the target, and the folder is synced so
// the rename itself survives a crash. Checkpoints, exported models,
// reports, plots and histories are all written this way.
package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates or replaces path with the bytes write produces. A failed
// write leaves path as it was and removes the temporary file. Errors name
// path and wrap the cause (write's own error included).
func Write(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close() // may already be closed; the error is the earlier one
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	for _, step := range []func() error{func() error { return tmp.Chmod(0o644) }, tmp.Sync, tmp.Close,
		func() error { return os.Rename(tmp.Name(), path) }} {
		if err := step(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("writing %s: syncing folder %s: %w", path, dir, err)
	}
	return nil
}

// WriteBytes is [Write] of b.
func WriteBytes(path string, b []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(b))
		return err
	})
}
