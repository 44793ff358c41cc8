package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// IDX is the content of an IDX file, the format of MNIST and Fashion-MNIST:
// an unsigned-byte array with its dimensions.
type IDX struct {
	// Dims are the sizes of the dimensions, outermost first; for MNIST
	// images (N, 28, 28), for labels (N).
	Dims []int
	// Data holds the product of Dims bytes in row-major order.
	Data []byte
}

// MaxIDXBytes is the largest data section [ReadIDX] accepts (2 GiB). A header
// asking for more is rejected before anything is allocated.
const MaxIDXBytes = 1 << 31

const (
	idxTypeUint8 = 0x08
	idxMaxDims   = 16 // IDX allows 255; nothing real uses more than 4
	idxFirstRead = 1 << 20
)

// ReadIDX reads an IDX file from r; name is used in error messages. A gzip
// stream (detected by its magic bytes 1f 8b) is decompressed first. Only
// element type 0x08 (unsigned byte) is accepted. The header's dimensions
// must fit in [MaxIDXBytes], and the data must be exactly as long as they
// say: a truncated file or trailing bytes are errors. Memory grows with the
// bytes actually present, so a header that lies about its size costs nothing.
func ReadIDX(r io.Reader, name string) (*IDX, error) {
	br := bufio.NewReader(r)
	src := io.Reader(br)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", name, &gzipError{err})
		}
		defer zr.Close()
		src = gzipErrReader{zr}
	}

	var head [4]byte
	if n, err := io.ReadFull(src, head[:]); err != nil {
		return nil, readErr(name, err, fmt.Sprintf("truncated header: want 4 magic bytes, found %d", n))
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, fmt.Errorf("data: %s: not an IDX file: magic %02x %02x %02x %02x does not start with 00 00", name, head[0], head[1], head[2], head[3])
	}
	if head[2] != idxTypeUint8 {
		return nil, fmt.Errorf("data: %s: unsupported IDX element type 0x%02x (only 0x08, unsigned byte, is supported)", name, head[2])
	}
	nd := int(head[3])
	if nd == 0 || nd > idxMaxDims {
		return nil, fmt.Errorf("data: %s: IDX header has %d dimensions, want 1 to %d", name, nd, idxMaxDims)
	}
	raw := make([]byte, 4*nd)
	if n, err := io.ReadFull(src, raw); err != nil {
		return nil, readErr(name, err, fmt.Sprintf("truncated header: %d dimensions need %d bytes, found %d", nd, 4*nd, n))
	}
	dims := make([]int, nd)
	size := uint64(1)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(raw[4*i:]))
		size = min(size*uint64(dims[i]), MaxIDXBytes+1) // no overflow: both factors < 1<<32
	}
	if size > MaxIDXBytes {
		return nil, fmt.Errorf("data: %s: absurd dimensions: header says %s bytes, more than the limit of %d", name, dimString(dims), MaxIDXBytes)
	}
	n := int(size)

	data, err := readExactly(src, n)
	if err != nil {
		if ge := (*gzipError)(nil); errors.As(err, &ge) {
			return nil, fmt.Errorf("data: %s: %w", name, ge)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("data: %s: truncated: header says %s bytes, found %d", name, dimString(dims), len(data))
		}
		return nil, fmt.Errorf("data: %s: reading %s bytes: %w", name, dimString(dims), err)
	}
	// Anything after the data is an error. Count it (up to a bound) so the
	// message says how much there is.
	extra, err := io.Copy(io.Discard, io.LimitReader(src, idxFirstRead+1))
	if err != nil {
		return nil, readErr(name, err, "after the data")
	}
	if extra > 0 {
		more := ""
		if extra > idxFirstRead {
			extra, more = idxFirstRead, "more than "
		}
		return nil, fmt.Errorf("data: %s: trailing data: header says %s bytes, found %s%d extra", name, dimString(dims), more, extra)
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// readExactly reads n bytes from r. The buffer starts small and doubles as
// data arrives, so a header that overstates the size allocates at most
// twice what is present. On a short read it returns what it got and
// io.ErrUnexpectedEOF.
func readExactly(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, idxFirstRead))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			next := make([]byte, len(buf), min(2*cap(buf), n))
			copy(next, buf)
			buf = next
		}
		m, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return buf, io.ErrUnexpectedEOF
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// gzipErrReader marks errors of the decompressor (other than the clean end
// of the stream) so they are not mistaken for a short IDX file.
type gzipErrReader struct{ r io.Reader }

func (g gzipErrReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	if err != nil && err != io.EOF {
		err = &gzipError{err}
	}
	return n, err
}

// gzipError is an error from the gzip layer.
type gzipError struct{ err error }

func (e *gzipError) Error() string { return "corrupt or truncated gzip stream: " + e.err.Error() }
func (e *gzipError) Unwrap() error { return e.err }

// readErr turns a short read into "data: name: what", keeping other I/O
// errors (gzip corruption, disk errors) visible.
func readErr(name string, err error, what string) error {
	if ge := (*gzipError)(nil); errors.As(err, &ge) {
		return fmt.Errorf("data: %s: %w", name, ge)
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("data: %s: %s", name, what)
	}
	return fmt.Errorf("data: %s: %s: %w", name, what, err)
}

// dimString formats dims as 60000×28×28.
func dimString(dims []int) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, "×")
}

// ReadIDXFile reads the IDX file at path (raw or gzip); errors name path.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return ReadIDX(f, path)
}
