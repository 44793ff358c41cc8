package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"strings"
	"testing"
)

func encodePNG(t testing.TB, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeImageGrayExact(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 3))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 20)
	}
	x, err := DecodeImage(bytes.NewReader(encodePNG(t, img)), "g.png", 1, 3, 4, ResizeStretch)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range x {
		if want := float32(i*20) / 255; math.Abs(float64(v-want)) > 1e-6 {
			t.Fatalf("pixel %d = %g, want %g (same size must not change values)", i, v, want)
		}
	}
}

func TestDecodeImageRGBChannelsAndResize(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := range 8 {
		for x := range 8 {
			img.Set(x, y, color.RGBA{R: 255, G: 0, B: 128, A: 255})
		}
	}
	x, err := DecodeImage(bytes.NewReader(encodePNG(t, img)), "c.png", 3, 2, 3, ResizeStretch)
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != 3*2*3 {
		t.Fatalf("len %d, want 18", len(x))
	}
	for i := range 6 {
		if x[i] != 1 || x[6+i] != 0 || math.Abs(float64(x[12+i])-128.0/255) > 1e-6 {
			t.Fatalf("CHW planes wrong at %d: R %g G %g B %g", i, x[i], x[6+i], x[12+i])
		}
	}
	// Grayscale conversion of the same colour uses the luminance weights.
	g, err := DecodeImage(bytes.NewReader(encodePNG(t, img)), "c.png", 1, 4, 4, ResizeStretch)
	if err != nil {
		t.Fatal(err)
	}
	want := float32(color.GrayModel.Convert(color.RGBA{R: 255, B: 128, A: 255}).(color.Gray).Y) / 255
	if g[5] != want {
		t.Fatalf("gray %g, want %g", g[5], want)
	}
}

func TestDecodeImageJPEG(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	x, err := DecodeImage(&b, "d.jpg", 1, 28, 28, ResizeStretch)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(float64(x[100])-200.0/255) > 0.02 {
		t.Fatalf("JPEG pixel %g, want about %g", x[100], 200.0/255)
	}
	if m := BorderMean(x, 1, 28, 28); math.Abs(float64(m)-200.0/255) > 0.02 {
		t.Fatalf("BorderMean %g", m)
	}
}

func TestDecodeImageErrors(t *testing.T) {
	if _, err := DecodeImage(strings.NewReader("hello, not an image"), "x.png", 1, 28, 28, ResizeStretch); err == nil ||
		!strings.Contains(err.Error(), "x.png") || !strings.Contains(err.Error(), "not a PNG") {
		t.Fatalf("text file: err = %v", err)
	}
	full := encodePNG(t, image.NewGray(image.Rect(0, 0, 30, 30)))
	if _, err := DecodeImage(bytes.NewReader(full[:len(full)/2]), "cut.png", 1, 28, 28, ResizeStretch); err == nil ||
		!strings.Contains(err.Error(), "cut.png") {
		t.Fatalf("truncated PNG: err = %v", err)
	}
	if _, err := DecodeImage(bytes.NewReader(hugePNGHeader(50000, 50000)), "huge.png", 1, 28, 28, ResizeStretch); err == nil ||
		!strings.Contains(err.Error(), "50000x50000") {
		t.Fatalf("50000x50000 header: err = %v", err)
	}
}

// hugePNGHeader returns the signature and IHDR chunk of a w×h grayscale PNG
// with no pixel data: only a header that declares a huge image.
func hugePNGHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 0 // 8-bit grayscale
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func FuzzDecodeImage(f *testing.F) {
	f.Add(encodePNG(f, image.NewGray(image.Rect(0, 0, 5, 7))))
	f.Add(hugePNGHeader(50000, 50000))
	var j bytes.Buffer
	_ = jpeg.Encode(&j, image.NewRGBA(image.Rect(0, 0, 9, 4)), nil)
	f.Add(j.Bytes())
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := DecodeImage(bytes.NewReader(b), "fuzz", 3, 8, 8, ResizeStretch)
		if err == nil && len(x) != 3*8*8 {
			t.Fatalf("decoded %d values, want 192", len(x))
		}
		if err != nil && !strings.HasPrefix(err.Error(), "data: fuzz: ") {
			t.Fatalf("error without the file name: %v", err)
		}
		for _, v := range x {
			if v < 0 || v > 1 || v != v {
				t.Fatalf("value %g outside [0, 1]", v)
			}
		}
	})
}
