package checkpoint

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// MaxHeaderSize is the largest JSON header Parse accepts (100 MB), the
// limit of the reference implementation. A larger header length is taken as
// corruption and rejected before anything is allocated.
const MaxHeaderSize = 100 << 20

// metadataKey is the header entry that holds the string-to-string metadata
// rather than a tensor.
const metadataKey = "__metadata__"

// File is a parsed safetensors file.
type File struct {
	// Name is the name given to Parse (the path, for ReadFile); errors about
	// the file's contents name it.
	Name string
	// Metadata is the header's "__metadata__" map; nil when absent.
	Metadata map[string]string
	// Tensors are the file's tensors, converted to float32, in the order
	// of their data offsets.
	Tensors []nn.Named[*tensor.Tensor]
}

// Tensor returns the tensor called name and whether there is one.
func (f *File) Tensor(name string) (*tensor.Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t.Value, true
		}
	}
	return nil, false
}

// dtype describes one safetensors element type and its conversion to float32.
type dtype struct {
	size int
	conv func(b []byte) float32 // b holds exactly size bytes, little-endian
}

var le = binary.LittleEndian

var dtypes = map[string]dtype{
	"F32":  {4, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) }},
	"F64":  {8, func(b []byte) float32 { return float32(math.Float64frombits(le.Uint64(b))) }},
	"F16":  {2, func(b []byte) float32 { return halfToFloat(le.Uint16(b)) }},
	"BF16": {2, func(b []byte) float32 { return math.Float32frombits(uint32(le.Uint16(b)) << 16) }},
	"I64":  {8, func(b []byte) float32 { return float32(int64(le.Uint64(b))) }},
	"I32":  {4, func(b []byte) float32 { return float32(int32(le.Uint32(b))) }},
	"I16":  {2, func(b []byte) float32 { return float32(int16(le.Uint16(b))) }},
	"I8":   {1, func(b []byte) float32 { return float32(int8(b[0])) }},
	"U64":  {8, func(b []byte) float32 { return float32(le.Uint64(b)) }},
	"U32":  {4, func(b []byte) float32 { return float32(le.Uint32(b)) }},
	"U16":  {2, func(b []byte) float32 { return float32(le.Uint16(b)) }},
	"U8":   {1, func(b []byte) float32 { return float32(b[0]) }},
	"BOOL": {1, func(b []byte) float32 {
		if b[0] != 0 {
			return 1
		}
		return 0
	}},
}

// halfToFloat converts IEEE 754 binary16 bits to float32 exactly.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
	case frac == 0: // ±0
		return math.Float32frombits(sign)
	}
	// subnormal: frac × 2^-24
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}

// entry is one tensor's header record; pointers detect missing fields.
type entry struct {
	Dtype       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// ReadFile reads and parses the safetensors file at path.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return Parse(data, path)
}

// ReadMetadata reads the metadata of the safetensors file at path from its
// header alone, without reading or checking the tensors: a quick look at
// what a file is. The map is nil when the header has none.
func ReadMetadata(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint: %s: "+format, append([]any{path}, args...)...)
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, fail("reading the 8-byte header length: %v", err)
	}
	n := le.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fail("header length %d exceeds the %d-byte limit (not a safetensors file?)", n, MaxHeaderSize)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil, fail("header length %d: %v (file truncated?)", n, err)
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(header, &h); err != nil {
		return nil, fail("header: %v", err)
	}
	var md map[string]string
	if raw, ok := h[metadataKey]; ok {
		if err := json.Unmarshal(raw, &md); err != nil {
			return nil, fail("header: %s: %v", metadataKey, err)
		}
	}
	return md, nil
}

// Parse parses a safetensors file held in data; name identifies it in
// errors. The tensors are copied out of data, converted to float32.
//
// A file whose metadata has [KeyChecksum] must match it: a damaged or
// truncated data section is reported as a checksum mismatch. Files without
// the key (PyTorch's) are read unchecked.
//
// Parse is strict: the header length must fit the file, the header must be
// one JSON object (trailing spaces allowed) without repeated names, every
// tensor needs a known dtype, a shape without negative dimensions and
// data_offsets whose length equals shape×dtype size, and the tensors must
// tile the data section exactly: no overlaps, no gaps, nothing past the end
// and no trailing bytes.
func Parse(data []byte, name string) (*File, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint: %s: "+format, append([]any{name}, args...)...)
	}
	if len(data) < 8 {
		return nil, fail("%d bytes is too short for the 8-byte header length", len(data))
	}
	n := le.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fail("header length %d exceeds the %d-byte limit (not a safetensors file?)", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fail("header length %d exceeds the %d bytes after the length field (file truncated?)", n, len(data)-8)
	}
	header, body := data[8:8+n], data[8+n:]
	if i := bytes.IndexFunc(header, func(r rune) bool { return r != ' ' && r != '\t' && r != '\n' && r != '\r' }); i < 0 || header[i] != '{' {
		return nil, fail("header is not a JSON object")
	}

	dec := json.NewDecoder(bytes.NewReader(header))
	if _, err := dec.Token(); err != nil { // the '{', checked above
		return nil, fail("header: %v", err)
	}
	f := &File{Name: name}
	type rec struct {
		name       string
		dt         string
		shape      []int
		begin, end int
	}
	var recs []rec
	type raw struct {
		name string
		e    entry
	}
	var entries []raw
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fail("header: %v", err)
		}
		key := tok.(string) // object keys are always strings
		if seen[key] {
			return nil, fail("header names %q twice", key)
		}
		seen[key] = true
		if key == metadataKey {
			if err := dec.Decode(&f.Metadata); err != nil {
				return nil, fail("header: %s: %v", metadataKey, err)
			}
			continue
		}
		var e entry
		if err := dec.Decode(&e); err != nil {
			return nil, fail("header: tensor %q: %v", key, err)
		}
		entries = append(entries, raw{key, e})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, fail("header: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail("header: data after the JSON object")
	}
	// A checksummed file that was cut short or damaged fails here, with
	// one clear message, before the offsets are checked against the data.
	if err := verifyChecksum(f.Metadata, body); err != nil {
		return nil, fail("%v", err)
	}
	for _, en := range entries {
		r, err := checkEntry(en.name, en.e, len(body))
		if err != nil {
			return nil, fail("tensor %q: %v", en.name, err)
		}
		recs = append(recs, rec{en.name, *en.e.Dtype, r.shape, r.begin, r.end})
	}

	slices.SortStableFunc(recs, func(a, b rec) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end))
	})
	pos, prev := 0, ""
	for _, r := range recs {
		switch {
		case r.begin < pos:
			return nil, fail("tensor %q: data_offsets [%d %d] overlap tensor %q, which ends at %d", r.name, r.begin, r.end, prev, pos)
		case r.begin > pos:
			return nil, fail("tensor %q: data_offsets [%d %d] leave bytes [%d %d) of the data unused", r.name, r.begin, r.end, pos, r.begin)
		}
		pos, prev = r.end, r.name
	}
	if pos != len(body) {
		return nil, fail("%d trailing bytes after the last tensor's data (%d bytes of data used)", len(body)-pos, pos)
	}

	f.Tensors = make([]nn.Named[*tensor.Tensor], len(recs))
	for i, r := range recs {
		dt := dtypes[r.dt]
		raw := body[r.begin:r.end]
		vals := make([]float32, len(raw)/dt.size)
		if r.dt == "F32" {
			for j := range vals {
				vals[j] = math.Float32frombits(le.Uint32(raw[4*j:]))
			}
		} else {
			for j := range vals {
				vals[j] = dt.conv(raw[j*dt.size : (j+1)*dt.size])
			}
		}
		f.Tensors[i] = nn.Named[*tensor.Tensor]{Name: r.name, Value: tensor.FromSlice(vals, r.shape...)}
	}
	return f, nil
}

type checked struct {
	shape      []int
	begin, end int
}

// checkEntry validates one header record against a data section of
// dataLen bytes.
func checkEntry(name string, e entry, dataLen int) (checked, error) {
	var c checked
	switch {
	case e.Dtype == nil:
		return c, errors.New("missing dtype")
	case e.Shape == nil:
		return c, errors.New("missing shape")
	case e.DataOffsets == nil:
		return c, errors.New("missing data_offsets")
	}
	dt, ok := dtypes[*e.Dtype]
	if !ok {
		return c, fmt.Errorf("unsupported dtype %q (want one of %s)", *e.Dtype, strings.Join(dtypeNames(), ", "))
	}
	shape := *e.Shape
	c.shape = make([]int, len(shape))
	nelem, zero := 1, false
	for i, d := range shape {
		if d < 0 || int64(int(d)) != d {
			return c, fmt.Errorf("bad dimension %d in shape %v", d, shape)
		}
		c.shape[i] = int(d)
		zero = zero || d == 0
	}
	if zero {
		nelem = 0
	} else {
		for _, d := range c.shape {
			if nelem > math.MaxInt/d {
				return c, fmt.Errorf("shape %v is too large", shape)
			}
			nelem *= d
		}
	}
	off := *e.DataOffsets
	if len(off) != 2 {
		return c, fmt.Errorf("data_offsets %v must be [begin, end]", off)
	}
	if off[0] < 0 || off[1] < off[0] {
		return c, fmt.Errorf("data_offsets %v are not a range [begin, end]", off)
	}
	if nelem > math.MaxInt/dt.size || off[1]-off[0] != int64(nelem*dt.size) {
		return c, fmt.Errorf("data_offsets %v do not match shape %v of %s (%d bytes)", off, shape, *e.Dtype, int64(nelem)*int64(dt.size))
	}
	if off[1] > int64(dataLen) {
		return c, fmt.Errorf("data_offsets %v go past the %d bytes of data (file truncated?)", off, dataLen)
	}
	c.begin, c.end = int(off[0]), int(off[1])
	return c, nil
}

func dtypeNames() []string {
	names := make([]string, 0, len(dtypes))
	for k := range dtypes {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Encode writes tensors and meta to w as a safetensors file of F32 tensors.
// The header lists the tensors sorted by name, and their data follows in
// that order; the header is padded with spaces to a multiple of 8 bytes so
// the data is 8-byte aligned. meta may be nil. Names must be distinct and
// not "__metadata__"; values must be non-nil.
func Encode(w io.Writer, tensors []nn.Named[*tensor.Tensor], meta map[string]string) error {
	sorted := slices.Clone(tensors)
	slices.SortStableFunc(sorted, func(a, b nn.Named[*tensor.Tensor]) int { return strings.Compare(a.Name, b.Name) })
	for i, t := range sorted {
		switch {
		case t.Name == metadataKey:
			return fmt.Errorf("checkpoint: cannot store a tensor named %q", t.Name)
		case t.Value == nil:
			return fmt.Errorf("checkpoint: tensor %q is nil", t.Name)
		case i > 0 && sorted[i-1].Name == t.Name:
			return fmt.Errorf("checkpoint: two tensors named %q", t.Name)
		}
	}

	var h bytes.Buffer
	h.WriteByte('{')
	if len(meta) > 0 {
		m, err := json.Marshal(meta)
		if err != nil {
			return fmt.Errorf("checkpoint: metadata: %w", err)
		}
		fmt.Fprintf(&h, "%q:%s", metadataKey, m)
	}
	off := 0
	for _, t := range sorted {
		if h.Len() > 1 {
			h.WriteByte(',')
		}
		name, _ := json.Marshal(t.Name) // a string always marshals
		shape := t.Value.Shape()
		if shape == nil {
			shape = []int{}
		}
		sh, _ := json.Marshal(shape)
		n := 4 * t.Value.Size()
		fmt.Fprintf(&h, `%s:{"dtype":"F32","shape":%s,"data_offsets":[%d,%d]}`, name, sh, off, off+n)
		off += n
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}

	bw := bufio.NewWriterSize(w, 1<<16)
	var lenBuf [8]byte
	le.PutUint64(lenBuf[:], uint64(h.Len()))
	bw.Write(lenBuf[:])
	bw.Write(h.Bytes())
	var scratch [4096]byte
	for _, t := range sorted {
		vals := t.Value.Contiguous().Data()
		for len(vals) > 0 {
			k := min(len(vals), len(scratch)/4)
			for j, v := range vals[:k] {
				le.PutUint32(scratch[4*j:], math.Float32bits(v))
			}
			if _, err := bw.Write(scratch[:4*k]); err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
			vals = vals[k:]
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// WriteFile writes tensors and meta to path as [Encode] does, adding the
// data's checksum under [KeyChecksum] (which [Parse] verifies), atomically:
// the bytes go to a temporary file in the same directory, which is synced,
// closed and renamed over path, and the directory is synced. If anything
// fails, an existing file at path is left as it was and the temporary file
// is removed.
func WriteFile(path string, tensors []nn.Named[*tensor.Tensor], meta map[string]string) error {
	meta = withChecksum(tensors, meta)
	return writeAtomic(path, func(w io.Writer) error { return Encode(w, tensors, meta) })
}

// writeAtomic creates path with the bytes write produces, atomically.
func writeAtomic(path string, write func(w io.Writer) error) error {
	err := atomicfile.Write(path, func(w io.Writer) error {
		if err := write(w); err != nil {
			return unwrapPrefix(err) // the outer error says "checkpoint: "
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// prefixedError strips this package's "checkpoint: " prefix from an error
// that is wrapped again, so messages do not repeat it.
type prefixedError struct{ err error }

func (e prefixedError) Error() string { return strings.TrimPrefix(e.err.Error(), "checkpoint: ") }
func (e prefixedError) Unwrap() error { return e.err }

func unwrapPrefix(err error) error { return prefixedError{err} }
