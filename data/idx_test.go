package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// idxBytes encodes an IDX file of unsigned bytes with the given dims.
func idxBytes(dims []int, data []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(data)
	return b.Bytes()
}

func gzipBytes(t testing.TB, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func TestReadIDXValid(t *testing.T) {
	dims := []int{3, 4, 5}
	want := seq(60)
	raw := idxBytes(dims, want)
	for name, file := range map[string][]byte{"raw": raw, "gzip": gzipBytes(t, raw)} {
		t.Run(name, func(t *testing.T) {
			m, err := ReadIDX(bytes.NewReader(file), "x")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(m.Dims, dims) || !bytes.Equal(m.Data, want) {
				t.Fatalf("got dims %v data %v", m.Dims, m.Data[:8])
			}
		})
	}
	// Empty arrays are valid.
	m, err := ReadIDX(bytes.NewReader(idxBytes([]int{0}, nil)), "empty")
	if err != nil || len(m.Data) != 0 || !slices.Equal(m.Dims, []int{0}) {
		t.Fatalf("empty: %v %v", m, err)
	}
}

func TestReadIDXFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a-idx1-ubyte.gz")
	if err := os.WriteFile(p, gzipBytes(t, idxBytes([]int{4}, []byte{1, 2, 3, 4})), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := ReadIDXFile(p)
	if err != nil || !bytes.Equal(m.Data, []byte{1, 2, 3, 4}) {
		t.Fatalf("%v %v", m, err)
	}
	_, err = ReadIDXFile(filepath.Join(dir, "missing"))
	if err == nil || !strings.Contains(err.Error(), "missing") || !strings.HasPrefix(err.Error(), "data: ") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestReadIDXErrors(t *testing.T) {
	good := idxBytes([]int{2, 3}, seq(6))
	withType := slices.Clone(good)
	withType[2] = 0x0D // float
	withMagic := slices.Clone(good)
	withMagic[0] = 1
	big := idxBytes([]int{70000, 70000, 28}, seq(10))
	tests := []struct {
		name string
		file []byte
		want []string
	}{
		{"empty", nil, []string{"truncated header"}},
		{"short magic", good[:3], []string{"truncated header", "found 3"}},
		{"wrong magic", withMagic, []string{"not an IDX file", "01 00 08 02"}},
		{"wrong type", withType, []string{"element type 0x0d"}},
		{"zero dims", []byte{0, 0, 8, 0}, []string{"0 dimensions"}},
		{"truncated dims", good[:9], []string{"truncated header", "2 dimensions need 8 bytes, found 5"}},
		{"truncated data", good[:len(good)-2], []string{"truncated: header says 2×3 bytes, found 4"}},
		{"trailing data", append(slices.Clone(good), 9, 9, 9), []string{"trailing data", "2×3", "3 extra"}},
		{"absurd dims", big, []string{"absurd dimensions", "70000×70000×28"}},
		{"large dims, little data", idxBytes([]int{1 << 15, 1 << 15}, seq(100)), []string{"truncated: header says 32768×32768 bytes, found 100"}},
		{"max uint32 dims", idxBytes([]int{1<<32 - 1, 1<<32 - 1, 1<<32 - 1}, nil), []string{"absurd dimensions"}},
		{"bad gzip", []byte{0x1f, 0x8b, 1, 2, 3}, []string{"gzip"}},
		{"gzip truncated", gzipBytes(t, good)[:20], []string{"truncated gzip stream"}},
		{"gzip truncated data", gzipBytes(t, good[:len(good)-1]), []string{"truncated: header says 2×3 bytes, found 5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReadIDX(bytes.NewReader(tc.file), "f.idx")
			if err == nil {
				t.Fatalf("no error; got dims %v", m.Dims)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "data: f.idx: ") && !strings.HasPrefix(msg, "data: f.idx ") {
				t.Errorf("error %q does not start with data: f.idx", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// A header that claims 1 GiB with a few bytes behind it must not allocate
// the gigabyte.
func TestReadIDXLyingHeaderAllocatesLittle(t *testing.T) {
	file := idxBytes([]int{1 << 15, 1 << 15}, seq(1000))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := ReadIDX(bytes.NewReader(file), "lie"); err == nil {
		t.Fatal("no error")
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Fatalf("allocated %d bytes for a %d-byte file", got, len(file))
	}
}

func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes([]int{2, 3}, seq(6)))
	f.Add(idxBytes([]int{4}, []byte{5, 0, 4, 1}))
	f.Add(idxBytes([]int{2, 2, 2, 2}, seq(16)))
	f.Add(gzipBytes(f, idxBytes([]int{3, 2, 2}, seq(12))))
	f.Add(idxBytes([]int{1 << 20, 1 << 11}, seq(3)))
	f.Add([]byte{0, 0, 8})
	f.Fuzz(func(t *testing.T, file []byte) {
		m, err := ReadIDX(bytes.NewReader(file), "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "data: fuzz") {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		n := 1
		for _, d := range m.Dims {
			n *= d
		}
		if len(m.Data) != n {
			t.Fatalf("dims %v but %d bytes", m.Dims, len(m.Data))
		}
		if len(file) > 0 && file[0] == 0 && len(m.Data) > len(file) {
			t.Fatalf("raw file of %d bytes gave %d bytes of data", len(file), len(m.Data))
		}
	})
}
