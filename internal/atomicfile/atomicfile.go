// Package atomicfile writes files so that a reader, or a crash at any
// moment, sees either the file's old content or the complete new one: the
// bytes go to a temporary file in the same folder, which is synced to disk,
// given mode 0644 and renamed over the target, and the folder is synced so
// the rename itself survives a crash. Checkpoints, exported models,
// reports, plots and histories are all written this way.
//
// Errors name the file asked for (and its folder when that is at fault),
// never the temporary file. The folder must exist: a mistyped folder is
// reported, not created.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write creates or replaces path with the bytes write produces. A failed
// write leaves path as it was and removes the temporary file. Errors name
// path and wrap the cause (write's own error included).
func Write(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, folderError(dir, err))
	}
	defer func() {
		if err != nil {
			tmp.Close() // may already be closed; the error is the earlier one
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmpWriter{tmp}); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	for _, step := range []func() error{func() error { return tmp.Chmod(0o644) }, tmp.Sync, tmp.Close,
		func() error { return os.Rename(tmp.Name(), path) }} {
		if err := step(); err != nil {
			return fmt.Errorf("writing %s: %w", path, bare(err))
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("writing %s: syncing folder %s: %w", path, dir, bare(err))
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

// tmpWriter is the temporary file as the write function sees it: its
// errors leave out the temporary name, which Write's message replaces by
// the target's.
type tmpWriter struct{ f *os.File }

// Write writes b to the temporary file.
func (w tmpWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	return n, bare(err)
}

// bare strips the file names (the temporary file's) from an *os.PathError
// or *os.LinkError, keeping the cause.
func bare(err error) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// folderError explains why no file could be created in dir: it does not
// exist, is not a folder, or the cause of err (permission denied).
func folderError(dir string, err error) error {
	st, serr := os.Stat(dir)
	switch {
	case errors.Is(serr, fs.ErrNotExist):
		return &causeError{fmt.Sprintf("folder %s does not exist", dir), fs.ErrNotExist}
	case serr == nil && !st.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	}
	return fmt.Errorf("folder %s: %w", dir, bare(err))
}

// causeError is a message of its own that unwraps to its cause.
type causeError struct {
	msg   string
	cause error
}

func (e *causeError) Error() string { return e.msg }
func (e *causeError) Unwrap() error { return e.cause }
