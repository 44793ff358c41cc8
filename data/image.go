package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // register GIF
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG
	"io"
	"os"

	"golang.org/x/image/draw"
)

// MaxImagePixels bounds the width×height an image header may declare; larger
// images are rejected before any pixel is decoded.
const MaxImagePixels = 64 << 20

// ReadImageFile decodes the PNG, JPEG or GIF file at path into a model input
// of c channels (1: luminance, 3: RGB) and h×w pixels, values in [0, 1],
// CHW order. The image is resized with bilinear interpolation to exactly
// h×w (aspect ratio is not kept: digits and small crops are usually square).
func ReadImageFile(path string, c, h, w int) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return DecodeImage(f, path, c, h, w)
}

// DecodeImage is [ReadImageFile] on a stream; name is used in errors.
func DecodeImage(r io.Reader, name string, c, h, w int) ([]float32, error) {
	if c != 1 && c != 3 {
		panic(fmt.Sprintf("data: DecodeImage to %d channels: want 1 or 3", c))
	}
	raw, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("data: %s: not a PNG, JPEG or GIF image: %v", name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("data: %s: %s image of %dx%d pixels is outside the accepted size (at most %d pixels)", name, format, cfg.Width, cfg.Height, MaxImagePixels)
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("data: %s: corrupt %s image: %v", name, format, err)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	out := make([]float32, c*h*w)
	for y := range h {
		for x := range w {
			p := dst.RGBAAt(x, y)
			if c == 1 {
				out[y*w+x] = float32(color.GrayModel.Convert(p).(color.Gray).Y) / 255
				continue
			}
			out[y*w+x] = float32(p.R) / 255
			out[h*w+y*w+x] = float32(p.G) / 255
			out[2*h*w+y*w+x] = float32(p.B) / 255
		}
	}
	return out, nil
}

// BorderMean returns the mean value of the outermost pixels of a c×h×w
// image, a cue for whether it is a dark figure on a light ground (mean near
// 1) or, like MNIST, light on dark (near 0).
func BorderMean(x []float32, c, h, w int) float32 {
	var s float32
	n := 0
	for ch := range c {
		p := x[ch*h*w : (ch+1)*h*w]
		for i := range w {
			s += p[i] + p[(h-1)*w+i]
			n += 2
		}
		for j := 1; j < h-1; j++ {
			s += p[j*w] + p[j*w+w-1]
			n += 2
		}
	}
	return s / float32(max(n, 1))
}
