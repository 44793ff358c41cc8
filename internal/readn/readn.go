// Package readn reads a stream whose length its sender declares, without
// trusting the declaration: memory grows with the bytes that arrive.
package readn

import "io"

// first is the size of the first buffer.
const first = 64 << 10

// Read reads n bytes from r, or fewer if r ends first (io.EOF is not an
// error). Its buffer starts at 64 KiB and doubles as data arrives, capped
// at n, so a sender that declares n bytes and sends fewer costs at most
// twice what it sent, and the n bytes themselves at most 2n allocated and
// 1.5n held at once.
func Read(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, first))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = append(make([]byte, 0, min(2*cap(buf), n)), buf...)
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}
