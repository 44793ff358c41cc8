package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	if err := WriteBytes(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("half of the new"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the writer's", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("a failed write left %q", b)
	}
	if err := WriteBytes(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Errorf("file holds %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}

// TestWriteErrors checks that errors name the file asked for and its
// folder, never the temporary file.
func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	aFile := filepath.Join(dir, "a-file")
	if err := WriteBytes(aFile, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, want string
		is         error
	}{
		{filepath.Join(missing, "f.npy"), "writing " + filepath.Join(missing, "f.npy") + ": folder " + missing + " does not exist", fs.ErrNotExist},
		{filepath.Join(aFile, "f.npy"), "writing " + filepath.Join(aFile, "f.npy") + ": " + aFile + " is not a folder", nil},
	} {
		err := WriteBytes(c.path, nil)
		if err == nil || err.Error() != c.want || strings.Contains(err.Error(), ".tmp-") {
			t.Errorf("WriteBytes(%s): error %v, want %q", c.path, err, c.want)
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("WriteBytes(%s): error %v is not %v", c.path, err, c.is)
		}
	}
	// A failing write of the temporary file is reported under the target's
	// name too.
	err := Write(filepath.Join(dir, "f"), func(w io.Writer) error {
		w.(tmpWriter).f.Close()
		_, err := w.Write([]byte("y"))
		return err
	})
	if err == nil || strings.Contains(err.Error(), ".tmp-") || !strings.Contains(err.Error(), "writing "+filepath.Join(dir, "f")+": ") {
		t.Errorf("write after close: error %v", err)
	}
}
