package readn

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestRead(t *testing.T) {
	src := make([]byte, 300_000)
	for i := range src {
		src[i] = byte(i * 7)
	}
	for _, c := range []struct {
		have, n int
	}{{0, 0}, {0, 10}, {10, 10}, {10, 5}, {300_000, 300_000}, {300_000, 1 << 30}, {1000, 300_000}} {
		got, err := Read(iotest.HalfReader(bytes.NewReader(src[:c.have])), c.n)
		if err != nil || !bytes.Equal(got, src[:min(c.have, c.n)]) {
			t.Errorf("have %d, n %d: got %d bytes, %v", c.have, c.n, len(got), err)
		}
	}
	boom := errors.New("boom")
	if _, err := Read(io.MultiReader(bytes.NewReader(src[:5]), iotest.ErrReader(boom)), 100); err != boom {
		t.Errorf("error from the reader: %v", err)
	}
}

// TestReadGrowsWithData: a sender that declares 1 GiB and sends 1000
// bytes costs kilobytes, and a whole 32 MiB read allocates at most twice
// that.
func TestReadGrowsWithData(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Read(bytes.NewReader(make([]byte, 1000)), 1<<30); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if a := after.TotalAlloc - before.TotalAlloc; a > 1<<20 {
		t.Errorf("1000 bytes of a declared 1 GiB allocated %d bytes", a)
	}
	body := make([]byte, 32<<20)
	runtime.ReadMemStats(&before)
	if _, err := Read(bytes.NewReader(body), len(body)); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if a := after.TotalAlloc - before.TotalAlloc; a > 2*uint64(len(body)) {
		t.Errorf("a 32 MiB read allocated %d bytes", a)
	}
}
