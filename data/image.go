package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif"  // register GIF
	_ "image/jpeg" // register JPEG
	_ "image/png"  // register PNG
	"io"
	"os"

	_ "golang.org/x/image/bmp" // register BMP
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // register WebP
)

// MaxImagePixels bounds the width×height an image header may declare; larger
// images are rejected before any pixel is decoded.
const MaxImagePixels = 64 << 20

// ReadImageFile decodes the PNG, JPEG, GIF, BMP, WebP, PPM or PGM file at
// path into a model input of c channels (1: luminance, 3: RGB) and h×w
// pixels, values in [0, 1], CHW order, resized as mode says: [ResizeCrop]
// (keep the aspect ratio, cut the centre — what image folders are loaded
// with) or [ResizeStretch]. Headers declaring more than [MaxImagePixels]
// are rejected before decoding.
func ReadImageFile(path string, c, h, w int, mode string) ([]float32, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return DecodeImage(f, path, c, h, w, mode)
}

// DecodeImage is [ReadImageFile] on a stream; name is used in errors.
func DecodeImage(r io.Reader, name string, c, h, w int, mode string) ([]float32, error) {
	if c != 1 && c != 3 {
		panic(fmt.Sprintf("data: DecodeImage to %d channels: want 1 or 3", c))
	}
	raw, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	out := make([]float32, c*h*w)
	if _, err := decodeInto(raw, name, c, h, w, mode, out); err != nil {
		return nil, err
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

// The resize modes of [FolderOptions].
const (
	// ResizeCrop scales an image, keeping its aspect ratio, until its short
	// side fits, then cuts the centre: nothing is distorted, the edges of
	// the long side are lost.
	ResizeCrop = "crop"
	// ResizeStretch scales each axis independently to the target size.
	ResizeStretch = "stretch"
)

// imageConfig reads an encoded image's header and rejects it if it is not
// an image of a registered format or declares more than MaxImagePixels.
func imageConfig(raw []byte, name string) (image.Config, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil && !errors.Is(err, image.ErrFormat) {
		return cfg, format, fmt.Errorf("data: %s: corrupt image header: %v", name, err)
	}
	if err != nil {
		return cfg, format, fmt.Errorf("data: %s: not a PNG, JPEG, GIF, BMP, WebP, PPM or PGM image: %v", name, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return cfg, format, fmt.Errorf("data: %s: %s image of %dx%d pixels is outside the accepted size (at most %d pixels)", name, format, cfg.Width, cfg.Height, MaxImagePixels)
	}
	return cfg, format, nil
}

// isGrayModel reports whether m is a one-channel colour model.
func isGrayModel(m color.Model) bool { return m == color.GrayModel || m == color.Gray16Model }

// decodeInto decodes raw, checking its header first, and writes it into dst
// as c×h×w values in [0, 1], CHW order, resized as mode says. It returns
// the image's original header.
func decodeInto(raw []byte, name string, c, h, w int, mode string, dst []float32) (image.Config, error) {
	cfg, format, err := imageConfig(raw, name)
	if err != nil {
		return cfg, err
	}
	img, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return cfg, fmt.Errorf("data: %s: corrupt %s image: %v", name, format, err)
	}
	ImageInto(img, c, h, w, mode, dst)
	return cfg, nil
}

// ImageInto writes the decoded image img into dst as a model input of c
// channels (1: luminance, 3: RGB) and h×w pixels, values in [0, 1], CHW
// order, resized as mode says ([ResizeCrop] or [ResizeStretch]), exactly as
// [DecodeImage] does after decoding. dst holds c·h·w values.
func ImageInto(img image.Image, c, h, w int, mode string, dst []float32) {
	if c != 1 && c != 3 {
		panic(fmt.Sprintf("data: ImageInto %d channels: want 1 or 3", c))
	}
	dst = dst[:c*h*w]
	b := img.Bounds()
	if b.Dx() == w && b.Dy() == h {
		if g, ok := img.(*image.Gray); ok && c == 1 {
			for y := range h {
				row := g.Pix[g.PixOffset(b.Min.X, b.Min.Y+y):][:w]
				for x, v := range row {
					dst[y*w+x] = float32(v) / 255
				}
			}
			return
		}
	}
	rgba, ok := img.(*image.RGBA)
	if !ok || b.Dx() != w || b.Dy() != h || b.Min != (image.Point{}) {
		rgba = image.NewRGBA(image.Rect(0, 0, w, h))
		if b.Dx() == w && b.Dy() == h {
			draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
		} else {
			src := b
			if mode != ResizeStretch {
				src = cropRect(b, h, w)
			}
			var k draw.Scaler = draw.BiLinear
			if src.Dx() > w || src.Dy() > h {
				k = draw.CatmullRom
			}
			k.Scale(rgba, rgba.Bounds(), img, src, draw.Src, nil)
		}
	}
	hw := h * w
	for y := range h {
		row := rgba.Pix[y*rgba.Stride : y*rgba.Stride+4*w]
		for x := range w {
			p := row[4*x : 4*x+3 : 4*x+3]
			if c == 1 {
				dst[y*w+x] = float32((19595*uint32(p[0])+38470*uint32(p[1])+7471*uint32(p[2])+1<<15)>>16) / 255
				continue
			}
			dst[y*w+x] = float32(p[0]) / 255
			dst[hw+y*w+x] = float32(p[1]) / 255
			dst[2*hw+y*w+x] = float32(p[2]) / 255
		}
	}
}

// cropRect returns the centred part of b with the aspect ratio of an h×w
// target.
func cropRect(b image.Rectangle, h, w int) image.Rectangle {
	sw, sh := b.Dx(), b.Dy()
	// Keep the full width if the source is relatively taller than the target.
	if int64(sw)*int64(h) <= int64(sh)*int64(w) {
		ch := max(1, int((int64(sw)*int64(h)+int64(w)/2)/int64(w)))
		y0 := b.Min.Y + (sh-ch)/2
		return image.Rect(b.Min.X, y0, b.Max.X, y0+ch)
	}
	cw := max(1, int((int64(sh)*int64(w)+int64(h)/2)/int64(h)))
	x0 := b.Min.X + (sw-cw)/2
	return image.Rect(x0, b.Min.Y, x0+cw, b.Max.Y)
}
