package data

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
)

// npyBytes returns a .npy file (version 1) of the given type and shape;
// data holds its elements' little-endian bytes.
func npyBytes(descr string, shape []int, data []byte) []byte {
	dims := ""
	for _, d := range shape {
		dims += fmt.Sprintf("%d, ", d)
	}
	if len(shape) > 1 {
		dims = strings.TrimSuffix(dims, ", ")
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(append(b, h...), data...)
}

// npzBytes zips arrays (name → .npy bytes) into a .npz.
func npzBytes(t testing.TB, arrays map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range arrays {
		w, err := zw.Create(name + ".npy")
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func seqBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func int64Bytes(v ...int64) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, uint64(x))
	}
	return b
}

func TestLoadNPZ(t *testing.T) {
	// RGB NHWC uint8 images: 2 train, 1 test, 1 val; labels (N,1) int64 and (N,) uint8.
	arrays := map[string][]byte{
		"train_images": npyBytes("|u1", []int{2, 2, 2, 3}, seqBytes(24)),
		"train_labels": npyBytes("<i8", []int{2, 1}, int64Bytes(0, 4)),
		"val_images":   npyBytes("|u1", []int{1, 2, 2, 3}, seqBytes(12)),
		"val_labels":   npyBytes("|u1", []int{1}, []byte{1}),
		"test_images":  npyBytes("|u1", []int{1, 2, 2, 3}, seqBytes(12)),
		"test_labels":  npyBytes("<f8", []int{1}, binary.LittleEndian.AppendUint64(nil, math.Float64bits(2))),
	}
	file := writeFile(t, "m.npz", npzBytes(t, arrays))
	train, val, test, err := LoadNPZ(file)
	if err != nil {
		t.Fatal(err)
	}
	if train.Shape() != [3]int{3, 2, 2} || train.Len() != 2 || val.Len() != 1 || test.Y[0] != 2 || train.Y[1] != 4 || train.NumClasses != 5 || test.NumClasses != 5 {
		t.Fatalf("train %v %v, val %v, test %v", train.Shape(), train.Y, val.Y, test.Y)
	}
	// NHWC → NCHW: channel 1 of image 0 is elements 1, 4, 7, 10.
	x := train.Image(0)
	for i, want := range []float32{1, 4, 7, 10} {
		if x[4+i]*255 != want {
			t.Fatalf("image 0: %v", x)
		}
	}
	if x := train.Image(1); x[0]*255 != 12 {
		t.Fatalf("image 1: %v", x)
	}
	if tr, te, err := Load("npz:" + file); err != nil || tr.Len() != 2 || te.Len() != 1 {
		t.Fatalf("Load: %v", err)
	}
	// Gray float32 images (N,H,W) stay unscaled.
	f32 := binary.LittleEndian.AppendUint32(nil, math.Float32bits(0.5))
	gray := map[string][]byte{
		"train_images": npyBytes("<f4", []int{1, 1, 1}, f32),
		"train_labels": npyBytes("|u1", []int{1}, []byte{0}),
		"test_images":  npyBytes("<f4", []int{1, 1, 1}, f32),
		"test_labels":  npyBytes("|u1", []int{1}, []byte{1}),
	}
	tr, val, _, err := LoadNPZ(writeFile(t, "g.npz", npzBytes(t, gray)))
	if err != nil || val != nil || tr.Shape() != [3]int{1, 1, 1} || tr.X[0] != 0.5 {
		t.Fatalf("gray: %v %+v", err, tr)
	}
	// Wrong arrays: the error lists what the file has.
	wrong := map[string][]byte{"x_train": arrays["train_images"], "y_train": arrays["train_labels"]}
	_, _, _, err = LoadNPZ(writeFile(t, "w.npz", npzBytes(t, wrong)))
	if err == nil || !strings.Contains(err.Error(), "w.npz: want arrays train_images and train_labels") || !strings.Contains(err.Error(), "it has x_train, y_train") {
		t.Fatalf("wrong arrays: %v", err)
	}
	bad := []struct {
		name  string
		patch map[string][]byte
		want  string
	}{
		{"multi-label", map[string][]byte{"train_labels": npyBytes("|u1", []int{2, 3}, seqBytes(6))}, "multi-label"},
		{"count", map[string][]byte{"train_labels": npyBytes("|u1", []int{3}, seqBytes(3))}, "2 images but 3 labels"},
		{"fraction", map[string][]byte{"test_labels": npyBytes("<f4", []int{1}, f32)}, "not an integer label"},
		{"channels", map[string][]byte{"train_images": npyBytes("|u1", []int{2, 1, 1, 2}, seqBytes(4))}, "C 1 or 3"},
		{"dtype", map[string][]byte{"train_images": npyBytes("<i2", []int{2}, seqBytes(4))}, `type "<i2" is not supported`},
		{"shape mismatch", map[string][]byte{"test_images": npyBytes("|u1", []int{1, 2, 2}, seqBytes(4))}, "test images are"},
		{"truncated", map[string][]byte{"train_images": npyBytes("|u1", []int{2, 2, 2, 3}, seqBytes(20))}, "truncated: shape [2 2 2 3] of |u1 needs 24 bytes, found 20"},
	}
	for _, c := range bad {
		m := map[string][]byte{}
		for k, v := range arrays {
			m[k] = v
		}
		for k, v := range c.patch {
			m[k] = v
		}
		_, _, _, err := LoadNPZ(writeFile(t, "b.npz", npzBytes(t, m)))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "data: ") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, _, _, err := LoadNPZ(writeFile(t, "n.npz", []byte("not a zip"))); err == nil || !strings.Contains(err.Error(), "n.npz: not a .npz") {
		t.Errorf("not a zip: %v", err)
	}
}

func TestReadNPYHeaders(t *testing.T) {
	v2 := func(h string, data []byte) []byte {
		b := binary.LittleEndian.AppendUint32([]byte("\x93NUMPY\x02\x00"), uint32(len(h)))
		return append(append(b, h...), data...)
	}
	good := map[string][]byte{
		"v2":     v2("{'descr': '|u1', 'fortran_order': False, 'shape': (3,)}\n", []byte{1, 2, 3}),
		"scalar": v2(`{"shape": (), "fortran_order": False, "descr": "<f8"}`, int64Bytes(7)),
		"long":   v2("{'descr': '|u1', 'fortran_order': False, 'shape': (1L, 2L), }", []byte{1, 2}),
	}
	for name, b := range good {
		if _, err := ReadNPY(bytes.NewReader(b), name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"Fortran-order":      v2("{'descr': '|u1', 'fortran_order': True, 'shape': (3,)}", []byte{1, 2, 3}),
		"not a .npy file":    []byte("\x93NUMPX\x01\x00"),
		"format version 4.0": []byte("\x93NUMPY\x04\x00"),
		"missing descr":      v2("{'fortran_order': False, 'shape': (3,)}", nil),
		"too long":           binary.LittleEndian.AppendUint32([]byte("\x93NUMPY\x02\x00"), 1<<30),
		"unknown key":        v2("{'descr': '|u1', 'x': 1}", nil),
		"] is too large":     v2("{'descr': '<f8', 'fortran_order': False, 'shape': (2000000000, 2000000000)}", nil),
	}
	for want, b := range bad {
		if _, err := ReadNPY(bytes.NewReader(b), "x.npy"); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "x.npy") {
			t.Errorf("%q: %v", want, err)
		}
	}
}

func FuzzNPY(f *testing.F) {
	f.Add(npyBytes("|u1", []int{2, 3}, seqBytes(6)))
	f.Add(npyBytes("<f4", []int{1}, []byte{0, 0, 0x80, 0x3f}))
	f.Add(npyBytes("<i8", []int{1, 1}, int64Bytes(5)))
	f.Add(npyBytes("<f8", []int{}, int64Bytes(5)))
	f.Add([]byte("\x93NUMPY\x03\x00\x10\x00\x00\x00{'descr': '|u1'}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ReadNPY(bytes.NewReader(b), "fuzz.npy")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "data: fuzz.npy: ") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		n := 1
		for _, d := range a.Shape {
			n *= d
		}
		if a.Len() != n || len(a.Float32s()) != n {
			t.Fatalf("shape %v but %d elements", a.Shape, a.Len())
		}
		if ints, err := a.Ints(); err == nil && len(ints) != n {
			t.Fatalf("%d ints for %d elements", len(ints), n)
		}
	})
}
