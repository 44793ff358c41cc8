// Package imgbomb writes decompression bombs for tests: small, valid image
// files whose headers declare far more pixels than their bytes suggest,
// the input a server must refuse (or decode within a memory budget)
// without trusting the file size.
package imgbomb

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
)

// PNG returns a valid w×h PNG of 16-bit RGBA pixels, all zero, which
// decodes to 8·w·h bytes: 8192×8192 is a 650 KB file that decodes to
// 512 MiB.
func PNG(w, h int) []byte {
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	row := make([]byte, 1+8*w) // filter byte 0, then w zero pixels
	for range h {
		zw.Write(row)
	}
	zw.Close()
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(w)), uint32(h))
	ihdr = append(ihdr, 16, 6, 0, 0, 0) // 16-bit RGBA, deflate, no filter method, not interlaced
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, chunk("IHDR", ihdr)...)
	out = append(out, chunk("IDAT", z.Bytes())...)
	return append(out, chunk("IEND", nil)...)
}

// chunk encodes one PNG chunk: length, type, data, CRC.
func chunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(append(c, typ...), data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}
