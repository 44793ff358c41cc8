package data

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/image/bmp"

	"github.com/fovea-ml/fovea/internal/imgbomb"
)

// costImages returns encoded test images of every kind the registered
// decoders read, by name: made here at 320×240 where a Go encoder (or a few
// lines) can write them, and from testdata/ for progressive and CMYK JPEG
// and WebP.
func costImages(t testing.TB) map[string][]byte {
	t.Helper()
	const W, H = 320, 240
	r := image.Rect(0, 0, W, H)
	fill := func(set func(x, y int, v uint8)) {
		for y := range H {
			for x := range W {
				set(x, y, uint8(x*7+y*13))
			}
		}
	}
	gray := image.NewGray(r)
	fill(func(x, y int, v uint8) { gray.SetGray(x, y, color.Gray{v}) })
	gray16 := image.NewGray16(r)
	fill(func(x, y int, v uint8) { gray16.SetGray16(x, y, color.Gray16{uint16(v) * 257}) })
	rgba := image.NewRGBA(r)
	fill(func(x, y int, v uint8) { rgba.SetRGBA(x, y, color.RGBA{v, 255 - v, v / 2, 255}) })
	nrgba := image.NewNRGBA(r)
	fill(func(x, y int, v uint8) { nrgba.SetNRGBA(x, y, color.NRGBA{v, 255 - v, v / 2, v}) })
	rgba64 := image.NewRGBA64(r)
	fill(func(x, y int, v uint8) { rgba64.SetRGBA64(x, y, color.RGBA64{uint16(v) * 257, 1000, 2000, 0xffff}) })
	nrgba64 := image.NewNRGBA64(r)
	fill(func(x, y int, v uint8) {
		nrgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(v) * 257, 1000, 2000, uint16(v) * 200})
	})
	pal := image.NewPaletted(r, palette.Plan9)
	fill(func(x, y int, v uint8) { pal.SetColorIndex(x, y, v) })

	enc := func(f func(*bytes.Buffer) error) []byte {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	pngOf := func(m image.Image) []byte { return enc(func(b *bytes.Buffer) error { return png.Encode(b, m) }) }
	out := map[string][]byte{
		"png gray8":      pngOf(gray),
		"png gray16":     pngOf(gray16),
		"png rgb8":       pngOf(rgba),
		"png rgba8":      pngOf(nrgba),
		"png rgb16":      pngOf(rgba64),
		"png rgba16":     pngOf(nrgba64),
		"png palette":    pngOf(pal),
		"png gray8 tRNS": withPNGChunk(pngOf(gray), "tRNS", []byte{0, 7}),
		"png gray16 interlaced": adam7PNG(W, H, 16, func(x, y int) []byte {
			v := uint16(x*7+y*13) * 257
			return []byte{byte(v >> 8), byte(v)}
		}),
		"png gray8 interlaced": adam7PNG(W, H, 8, func(x, y int) []byte { return []byte{uint8(x*7 + y*13)} }),
		"jpeg gray":            enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, gray, nil) }),
		"jpeg 4:2:0":           enc(func(b *bytes.Buffer) error { return jpeg.Encode(b, rgba, nil) }),
		"gif":                  enc(func(b *bytes.Buffer) error { return gif.Encode(b, pal, nil) }),
		"bmp rgb":              enc(func(b *bytes.Buffer) error { return bmp.Encode(b, rgba) }),
		"bmp rgba":             enc(func(b *bytes.Buffer) error { return bmp.Encode(b, nrgba) }),
		"bmp palette":          enc(func(b *bytes.Buffer) error { return bmp.Encode(b, pal) }),
		"pgm 8":                pnm("P5", W, H, 255, 1),
		"pgm 16":               pnm("P5", W, H, 65535, 1),
		"ppm 8":                pnm("P6", W, H, 255, 3),
		"ppm 16":               pnm("P6", W, H, 65535, 3),
	}
	for _, f := range []string{"video-001.progressive.jpeg", "video-001.q50.444.progressive.jpeg", "video-001.cmyk.jpeg",
		"yellow_rose.lossless.webp", "yellow_rose.lossy.webp", "yellow_rose.lossy-with-alpha.webp"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

// withPNGChunk inserts a chunk of type typ after the IHDR chunk of a PNG.
func withPNGChunk(p []byte, typ string, data []byte) []byte {
	const afterIHDR = 8 + 8 + 13 + 4
	return append(append(append([]byte{}, p[:afterIHDR]...), pngChunk(typ, data)...), p[afterIHDR:]...)
}

// pngChunk encodes one PNG chunk.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(append(c, typ...), data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// adam7PNG writes a W×H Adam7-interlaced grayscale PNG of the given bit
// depth (8 or 16) whose pixel (x, y) has the big-endian sample px(x, y).
func adam7PNG(W, H, depth int, px func(x, y int) []byte) []byte {
	passes := [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}
	var raw bytes.Buffer
	for _, p := range passes {
		for y := p[1]; y < H; y += p[3] {
			if p[0] >= W {
				break
			}
			raw.WriteByte(0) // filter: none
			for x := p[0]; x < W; x += p[2] {
				raw.Write(px(x, y))
			}
		}
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(raw.Bytes())
	zw.Close()
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(W)), uint32(H))
	ihdr = append(ihdr, byte(depth), 0, 0, 0, 1)
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// pnm writes a binary PGM (P5) or PPM (P6) of ch channels with the given
// maxval.
func pnm(magic string, W, H, maxval, ch int) []byte {
	b := []byte(fmt.Sprintf("%s\n%d %d\n%d\n", magic, W, H, maxval))
	bytesPer := 1
	if maxval > 255 {
		bytesPer = 2
	}
	for i := range W * H * ch {
		if bytesPer == 2 {
			b = append(b, byte(i>>3), byte(i))
		} else {
			b = append(b, byte(i))
		}
	}
	return b
}

// allocated returns the bytes f allocates.
func allocated(f func()) int64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// TestDecodeCostBoundsAllocation checks, for every kind of image and for
// small, large and same-size targets, that decoding and converting an
// image allocates no more than DecodeCost estimates, and that the estimate
// is not so loose as to refuse ordinary images (at most 3× plus 64 KiB).
func TestDecodeCostBoundsAllocation(t *testing.T) {
	for name, raw := range costImages(t) {
		cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, target := range [][3]int{{1, 28, 28}, {3, 224, 224}, {3, cfg.Height, cfg.Width}} {
			c, h, w := target[0], target[1], target[2]
			_, format, est, err := DecodeCost(raw, h, w)
			if err != nil {
				t.Fatalf("%s: DecodeCost: %v", name, err)
			}
			dst := make([]float32, c*h*w)
			var derr error
			got := allocated(func() { _, derr = decodeInto(raw, name, c, h, w, ResizeCrop, dst) })
			if derr != nil {
				t.Fatalf("%s: %v", name, derr)
			}
			t.Logf("%-36s %-4s %4dx%-4d -> %dx%dx%d: allocated %8d, estimate %8d (%.2f×)", name, format, cfg.Width, cfg.Height, c, h, w, got, est, float64(est)/float64(got))
			if got > est {
				t.Errorf("%s (%dx%d) to %dx%dx%d: decoding allocated %d bytes, over the estimate of %d", name, cfg.Width, cfg.Height, c, h, w, got, est)
			}
			if est > 3*got+64<<10 {
				t.Errorf("%s (%dx%d) to %dx%dx%d: estimate %d bytes is more than 3× the %d allocated", name, cfg.Width, cfg.Height, c, h, w, est, got)
			}
		}
	}
}

// TestDecodeCostBomb: a 650 KB PNG of 8192×8192 16-bit RGBA decodes to
// 512 MiB; DecodeCost says so from the header alone.
func TestDecodeCostBomb(t *testing.T) {
	raw := imgbomb.PNG(8192, 8192)
	if len(raw) > 1<<20 {
		t.Fatalf("bomb is %d bytes", len(raw))
	}
	var est int64
	got := allocated(func() {
		var err error
		if _, _, est, err = DecodeCost(raw, 28, 28); err != nil {
			t.Fatal(err)
		}
	})
	if est < 512<<20 {
		t.Errorf("estimate %d bytes, want at least the 512 MiB of pixels", est)
	}
	if got > 1<<20 {
		t.Errorf("DecodeCost allocated %d bytes; it must read only the header", got)
	}
}

// FuzzDecodeCost: DecodeCost never panics on any bytes, and whatever
// header it accepts, image.DecodeConfig accepts too, with a cost of at least
// the decoder's fixed state.
func FuzzDecodeCost(f *testing.F) {
	for _, raw := range costImages(f) {
		f.Add(raw[:min(len(raw), 600)])
	}
	f.Add(imgbomb.PNG(64, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, _, cost, err := DecodeCost(b, 8, 8)
		if err != nil {
			return
		}
		if _, _, err := image.DecodeConfig(bytes.NewReader(b)); err != nil {
			t.Fatalf("DecodeCost accepted a header image.DecodeConfig refuses: %v", err)
		}
		if cost < decoderState || cfg.Width > 0 && cfg.Height > 0 && cost < int64(cfg.Width)*int64(cfg.Height) {
			t.Fatalf("cost %d for a %dx%d image", cost, cfg.Width, cfg.Height)
		}
	})
}
