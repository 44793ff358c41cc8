package checkpoint

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func named(name string, t *tensor.Tensor) nn.Named[*tensor.Tensor] {
	return nn.Named[*tensor.Tensor]{Name: name, Value: t}
}

func seq(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)*0.25 - 1
	}
	return v
}

// build assembles a safetensors file from a raw header and data.
func build(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func sampleTensors() []nn.Named[*tensor.Tensor] {
	return []nn.Named[*tensor.Tensor]{
		named("fc.weight", tensor.FromSlice(seq(12), 3, 4)),
		named("conv.bias", tensor.FromSlice([]float32{float32(math.Inf(1)), -0, 3.5}, 3)),
		named("scalar", tensor.Scalar(7)),
		named("empty", tensor.New(0, 5)),
		// a non-contiguous view is stored in row-major order
		named("t", tensor.FromSlice(seq(6), 2, 3).Transpose(0, 1)),
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	in := sampleTensors()
	meta := map[string]string{KeyModel: "lenet", KeyClasses: `["a","b"]`}
	if err := WriteFile(path, in, meta); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != path {
		t.Errorf("Name = %q, want %q", f.Name, path)
	}
	if len(f.Metadata) != 3 || f.Metadata[KeyModel] != "lenet" || f.Metadata[KeyClasses] != `["a","b"]` || f.Metadata[KeyChecksum] == "" {
		t.Errorf("metadata = %v, want %v", f.Metadata, meta)
	}
	if len(f.Tensors) != len(in) {
		t.Fatalf("read %d tensors, wrote %d", len(f.Tensors), len(in))
	}
	// data is written in name order, and Tensors are in data order
	var names []string
	for _, n := range f.Tensors {
		names = append(names, n.Name)
	}
	if !slices.IsSorted(names) {
		t.Errorf("tensors not in name order: %v", names)
	}
	for _, want := range in {
		got, ok := f.Tensor(want.Name)
		if !ok {
			t.Errorf("tensor %q missing", want.Name)
			continue
		}
		if !tensor.SameShape(got, want.Value) {
			t.Errorf("%s: shape %v, want %v", want.Name, got.Shape(), want.Value.Shape())
			continue
		}
		g, w := got.Data(), want.Value.Contiguous().Data()
		for i := range w {
			if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
				t.Errorf("%s[%d] = %v, want %v", want.Name, i, g[i], w[i])
			}
		}
	}
	if _, ok := f.Tensor("nope"); ok {
		t.Error(`Tensor("nope") found something`)
	}
	// the header is padded to 8 bytes and lists tensors by name
	raw, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(raw)
	if n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	if _, ok := hdr[metadataKey]; !ok {
		t.Error("no __metadata__ in header")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
}

func TestEncodeNoMetadata(t *testing.T) {
	var b bytes.Buffer
	if err := Encode(&b, nil, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(b.Bytes(), "empty")
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata != nil || len(f.Tensors) != 0 {
		t.Errorf("got %+v, want an empty file", f)
	}
	if strings.Contains(b.String(), metadataKey) {
		t.Error("empty metadata written")
	}
}

func TestEncodeRejects(t *testing.T) {
	x := tensor.Ones(2)
	for _, tc := range []struct {
		tensors []nn.Named[*tensor.Tensor]
		want    string
	}{
		{[]nn.Named[*tensor.Tensor]{named("a", x), named("a", x)}, `two tensors named "a"`},
		{[]nn.Named[*tensor.Tensor]{named(metadataKey, x)}, `tensor named "__metadata__"`},
		{[]nn.Named[*tensor.Tensor]{named("a", nil)}, `tensor "a" is nil`},
	} {
		err := Encode(io.Discard, tc.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Encode(%v) = %v, want error containing %q", tc.tensors, err, tc.want)
		}
	}
}

// errWriter fails after n bytes.
type errWriter struct {
	w io.Writer
	n int
}

func (e *errWriter) Write(p []byte) (int, error) {
	if len(p) > e.n {
		k, _ := e.w.Write(p[:e.n])
		e.n = 0
		return k, errors.New("disk full")
	}
	e.n -= len(p)
	return e.w.Write(p)
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	old := []nn.Named[*tensor.Tensor]{named("w", tensor.FromSlice(seq(4), 4))}
	if err := WriteFile(path, old, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	// A write that fails midway (a big tensor so that bytes reach the file).
	big := []nn.Named[*tensor.Tensor]{named("w", tensor.New(1<<16))}
	err := writeAtomic(path, func(w io.Writer) error {
		return Encode(&errWriter{w: w, n: 100_000}, big, nil)
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), path) {
		t.Fatalf("failed write: err = %v, want one naming the path and the cause", err)
	}
	if strings.Count(err.Error(), "checkpoint: ") != 1 {
		t.Errorf("prefix repeated: %v", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("failed write changed the existing file")
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"m.safetensors"}) {
		t.Errorf("directory holds %v after a failed write, want only m.safetensors", got)
	}

	// A rename that fails: the target is a non-empty directory.
	target := filepath.Join(dir, "sub")
	os.Mkdir(target, 0o755)
	os.WriteFile(filepath.Join(target, "keep"), []byte("x"), 0o644)
	if err := WriteFile(target, old, nil); err == nil {
		t.Error("WriteFile over a directory succeeded")
	}
	if got := dirNames(t, dir); !slices.Equal(got, []string{"m.safetensors", "sub"}) {
		t.Errorf("directory holds %v after a failed rename", got)
	}

	// A directory that does not exist.
	if err := WriteFile(filepath.Join(dir, "no", "m.safetensors"), old, nil); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}

	// An unwritable directory (meaningless as root, who may write anyway).
	if os.Geteuid() != 0 {
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o755)
		p := filepath.Join(ro, "m.safetensors")
		if err := WriteFile(p, old, nil); err != nil {
			t.Fatal(err)
		}
		os.Chmod(ro, 0o555)
		defer os.Chmod(ro, 0o755)
		if err := WriteFile(p, big, nil); err == nil {
			t.Error("WriteFile into a read-only directory succeeded")
		}
		if got, _ := os.ReadFile(p); !bytes.Equal(got, before) {
			t.Error("failed write changed the file in the read-only directory")
		}
	}

	// And a successful overwrite replaces the file.
	if err := WriteFile(path, big, nil); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := f.Tensor("w"); w.Size() != 1<<16 {
		t.Errorf("overwrite: w has %d elements", w.Size())
	}
}

func TestParseCorrupt(t *testing.T) {
	f32 := func(n int) []byte { return make([]byte, 4*n) }
	valid := build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32(2))
	if _, err := Parse(valid, "ok"); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, math.MaxUint64)
	over := make([]byte, 16)
	binary.LittleEndian.PutUint64(over, MaxHeaderSize+1)

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"short length", []byte{1, 2, 3}, "too short"},
		{"length beyond file", valid[:40], "exceeds the 32 bytes"},
		{"huge length", huge, "exceeds the 104857600-byte limit"},
		{"length over limit", over, "limit"},
		{"not json", build(`hello wo`, nil), "not a JSON object"},
		{"json array", build(`[1,2,3]`, nil), "not a JSON object"},
		{"bad json", build(`{"a":{"dtype":"F32",`, nil), "header"},
		{"unterminated", build(`{"a":1`, nil), "header"},
		{"trailing json", build(`{} {}`, nil), "data after the JSON object"},
		{"entry not object", build(`{"a":5}`, nil), `tensor "a"`},
		{"missing dtype", build(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, f32(2)), `tensor "a": missing dtype`},
		{"missing shape", build(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, f32(2)), `tensor "a": missing shape`},
		{"missing offsets", build(`{"a":{"dtype":"F32","shape":[2]}}`, f32(2)), `tensor "a": missing data_offsets`},
		{"null entry", build(`{"a":null}`, nil), `tensor "a": missing dtype`},
		{"bad dtype", build(`{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}`, f32(2)), `unsupported dtype "Q7"`},
		{"dtype not string", build(`{"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}}`, f32(2)), `tensor "a"`},
		{"negative dim", build(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, f32(2)), "bad dimension -2"},
		{"fractional dim", build(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, f32(2)), `tensor "a"`},
		{"huge shape", build(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, f32(2)), "too large"},
		{"one offset", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`, f32(2)), "must be [begin, end]"},
		{"reversed offsets", build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, f32(2)), "not a range"},
		{"negative offset", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, f32(2)), "not a range"},
		{"size mismatch", build(`{"fc.weight":{"dtype":"F32","shape":[10,3],"data_offsets":[0,40]}}`, f32(10)),
			`tensor "fc.weight": data_offsets [0 40] do not match shape [10 3] of F32 (120 bytes)`},
		{"out of range", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, f32(2)), "go past the 8 bytes"},
		{"truncated data", valid[:len(valid)-1], "go past the 7 bytes"},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32(3)),
			`tensor "b": data_offsets [4 12] overlap tensor "a"`},
		{"same offsets", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32(2)),
			"overlap"},
		{"gap", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32(2)), "unused"},
		{"trailing data", append(slices.Clone(valid), 0), "1 trailing bytes"},
		{"duplicate name", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32(2)),
			`names "a" twice`},
		{"duplicate metadata", build(`{"__metadata__":{},"__metadata__":{}}`, nil), "twice"},
		{"metadata not strings", build(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
	} {
		_, err := Parse(tc.data, "m.safetensors")
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "checkpoint: m.safetensors: ") || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q, want one starting %q and containing %q", tc.name, msg, "checkpoint: m.safetensors: ", tc.want)
		}
	}
}

func TestParsePaddedAndDtypes(t *testing.T) {
	var data []byte
	le := binary.LittleEndian
	data = le.AppendUint16(data, 0x3c00)               // F16 1
	data = le.AppendUint16(data, 0xc000)               // F16 -2
	data = le.AppendUint16(data, 0x0001)               // F16 smallest subnormal
	data = le.AppendUint16(data, 0x7c00)               // F16 +Inf
	data = le.AppendUint16(data, 0x3fc0)               // BF16 1.5
	data = le.AppendUint64(data, math.Float64bits(-3)) // F64
	data = le.AppendUint64(data, uint64(1<<40))        // I64 (as bits)
	negI64 := int64(-5)
	data = le.AppendUint64(data, uint64(negI64))
	data = append(data, 200, 0xff, 1) // U8 200, I8 -1, BOOL
	negI32 := int32(-7)
	data = le.AppendUint32(data, uint32(negI32)) // I32
	header := `{"h":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},` +
		`"bf":{"dtype":"BF16","shape":[],"data_offsets":[8,10]},` +
		`"d":{"dtype":"F64","shape":[1],"data_offsets":[10,18]},` +
		`"i":{"dtype":"I64","shape":[2],"data_offsets":[18,34]},` +
		`"u":{"dtype":"U8","shape":[1],"data_offsets":[34,35]},` +
		`"s":{"dtype":"I8","shape":[1],"data_offsets":[35,36]},` +
		`"b":{"dtype":"BOOL","shape":[1],"data_offsets":[36,37]},` +
		`"i32":{"dtype":"I32","shape":[1,1],"data_offsets":[37,41]}}` + "      "
	f, err := Parse(build(header, data), "dtypes")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]float32{
		"h":   {1, -2, float32(math.Ldexp(1, -24)), float32(math.Inf(1))},
		"bf":  {1.5},
		"d":   {-3},
		"i":   {1 << 40, -5},
		"u":   {200},
		"s":   {-1},
		"b":   {1},
		"i32": {-7},
	}
	var order []string
	for _, n := range f.Tensors {
		order = append(order, n.Name)
		if !slices.Equal(n.Value.Data(), want[n.Name]) {
			t.Errorf("%s = %v, want %v", n.Name, n.Value.Data(), want[n.Name])
		}
	}
	if want := []string{"h", "bf", "d", "i", "u", "s", "b", "i32"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want data-offset order %v", order, want)
	}
	if bf, _ := f.Tensor("bf"); bf.Dims() != 0 {
		t.Errorf("bf shape %v, want scalar", bf.Shape())
	}
}

func TestHalfToFloat(t *testing.T) {
	// every finite half converts exactly: compare with the definition
	for h := range uint32(1 << 16) {
		got := halfToFloat(uint16(h))
		exp := int(h>>10) & 0x1f
		frac := float64(h & 0x3ff)
		var want float64
		switch exp {
		case 0x1f:
			if frac == 0 {
				want = math.Inf(1)
			} else {
				want = math.NaN()
			}
		case 0:
			want = math.Ldexp(frac, -24)
		default:
			want = math.Ldexp(1+frac/1024, exp-15)
		}
		if h>>15 != 0 {
			want = -want
		}
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("half %#04x = %v, want NaN", h, got)
			}
		} else if float64(got) != want {
			t.Fatalf("half %#04x = %v, want %v", h, got, want)
		}
	}
}

// TestReadPyTorch reads a file written from a PyTorch 1.13 state_dict by
// tools/refgen/checkpoint_fixture.py, with F32, F16, BF16 and I64 tensors.
func TestReadPyTorch(t *testing.T) {
	f, err := ReadFile("testdata/torch_small.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/torch_small.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]struct {
		Dtype  string
		Shape  []int
		Values []float64
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", f.Metadata)
	}
	if len(f.Tensors) != len(want) {
		t.Errorf("%d tensors, want %d", len(f.Tensors), len(want))
	}
	dtypesSeen := map[string]bool{}
	for name, w := range want {
		dtypesSeen[w.Dtype] = true
		got, ok := f.Tensor(name)
		if !ok {
			t.Errorf("tensor %q missing", name)
			continue
		}
		if !slices.Equal(got.Shape(), w.Shape) {
			t.Errorf("%s: shape %v, want %v", name, got.Shape(), w.Shape)
			continue
		}
		for i, v := range got.Data() {
			if float64(v) != w.Values[i] { // conversions to float32 are exact here
				t.Errorf("%s[%d] = %v, want %v", name, i, v, w.Values[i])
			}
		}
	}
	for _, d := range []string{"F32", "F16", "BF16", "I64"} {
		if !dtypesSeen[d] {
			t.Errorf("fixture has no %s tensor", d)
		}
	}
	if n, _ := f.Tensor("1.num_batches_tracked"); n == nil || n.Item() != 3 {
		t.Errorf("num_batches_tracked = %v, want 3", n)
	}
}

func FuzzParse(f *testing.F) {
	var b bytes.Buffer
	Encode(&b, sampleTensors(), map[string]string{"k": "v"})
	f.Add(b.Bytes())
	if torch, err := os.ReadFile("testdata/torch_small.safetensors"); err == nil {
		f.Add(torch)
	}
	f.Add(build(`{"a":{"dtype":"U8","shape":[2,0],"data_offsets":[0,0]}}`, nil))
	f.Add(build(`{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]}}  `, make([]byte, 6)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data, "fuzz")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "checkpoint: fuzz: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		// bounded allocation: at most 4 float32 bytes per data byte
		total := 0
		for _, n := range file.Tensors {
			total += n.Value.Size()
		}
		if total > len(data) {
			t.Fatalf("%d elements from %d bytes", total, len(data))
		}
		// what parses re-encodes and parses to the same values
		var out bytes.Buffer
		if err := Encode(&out, file.Tensors, file.Metadata); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out.Bytes(), "again")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range file.Tensors {
			g, ok := again.Tensor(n.Name)
			if !ok || !tensor.SameShape(g, n.Value) {
				t.Fatalf("tensor %q lost in re-encoding", n.Name)
			}
			for i, v := range n.Value.Data() {
				if math.Float32bits(v) != math.Float32bits(g.Data()[i]) {
					t.Fatalf("tensor %q[%d] changed in re-encoding", n.Name, i)
				}
			}
		}
	})
}

func TestReadMetadata(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	meta := map[string]string{KeyModel: "lenet", KeyClasses: `["a","b"]`}
	if err := WriteFile(path, sampleTensors(), meta); err != nil {
		t.Fatal(err)
	}
	// The tensors are not read: a cut file still shows its metadata.
	b, _ := os.ReadFile(path)
	cut := filepath.Join(dir, "cut.safetensors")
	os.WriteFile(cut, b[:len(b)-10], 0o644)
	for _, p := range []string{path, cut} {
		md, err := ReadMetadata(p)
		if err != nil || md[KeyModel] != "lenet" || md[KeyClasses] != meta[KeyClasses] {
			t.Errorf("ReadMetadata(%s) = %v, %v", p, md, err)
		}
	}
	if md, err := ReadMetadata("testdata/torch_small.safetensors"); err != nil || md["format"] != "pt" {
		t.Errorf("PyTorch file: %v, %v", md, err)
	}
	for name, content := range map[string][]byte{
		"short":     []byte("abc"),
		"text":      []byte("these are notes, not weights\n"),
		"truncated": b[:20],
		"badjson":   build(`{"__metadata__": [1]}`, nil),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		if _, err := ReadMetadata(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadMetadata(%s): error %v, want one naming the file", name, err)
		}
	}
	if _, err := ReadMetadata(filepath.Join(dir, "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
