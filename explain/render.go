package explain

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// jet holds the control points of the jet colour map (blue, cyan, yellow,
// red), evenly spaced over [0, 1]; Jet interpolates linearly between them.
var jet = [...][3]float64{
	{0, 0, 0.5}, {0, 0, 1}, {0, 0.5, 1}, {0, 1, 1}, {0.5, 1, 0.5}, {1, 1, 0}, {1, 0.5, 0}, {1, 0, 0}, {0.5, 0, 0},
}

// Jet maps v in [0, 1] (clamped) to the jet colour map: dark blue for 0
// through cyan and yellow to dark red for 1.
func Jet(v float32) color.RGBA {
	t := float64(min(max(v, 0), 1)) * float64(len(jet)-1)
	i := min(int(t), len(jet)-2)
	f := t - float64(i)
	var c [3]uint8
	for k := range 3 {
		c[k] = uint8(255*(jet[i][k]*(1-f)+jet[i+1][k]*f) + 0.5)
	}
	return color.RGBA{c[0], c[1], c[2], 255}
}

// ToImage converts a C×H×W image with values in [0, 1] (C = 1 or 3;
// other channel counts show channel 0) to an RGBA image.
func ToImage(x []float32, c, h, w int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	at := func(ch, i int) uint8 { return uint8(min(max(x[ch*h*w+i], 0), 1)*255 + 0.5) }
	for i := range h * w {
		r := at(0, i)
		g, b := r, r
		if c == 3 {
			g, b = at(1, i), at(2, i)
		}
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = r, g, b, 255
	}
	return img
}

// Overlay blends the heat map m, coloured with [Jet], over the C×H×W image
// x (values in [0, 1]) with weight alpha for the heat: out = (1 − alpha)·x
// + alpha·jet(m). The image must have the map's size.
func Overlay(x []float32, c, h, w int, m *Map, alpha float64) (*image.RGBA, error) {
	if m.H != h || m.W != w || len(x) != c*h*w {
		return nil, fmt.Errorf("explain: overlay of a %dx%d map on a %dx%dx%d image", m.H, m.W, c, h, w)
	}
	img := ToImage(x, c, h, w)
	for i, v := range m.Data {
		j := Jet(v)
		for k, jc := range [3]uint8{j.R, j.G, j.B} {
			p := &img.Pix[4*i+k]
			*p = uint8(float64(*p)*(1-alpha) + float64(jc)*alpha + 0.5)
		}
	}
	return img, nil
}

// HeatImage renders m alone with the [Jet] colour map.
func HeatImage(m *Map) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	for i, v := range m.Data {
		j := Jet(v)
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = j.R, j.G, j.B, 255
	}
	return img
}

// FeatureGrid renders the first up to maxChannels channels of f as a grid
// of grayscale tiles (each channel scaled to its own min..max, so a
// constant channel is black), 4 tiles a row, each tile enlarged by an
// integer factor to be at least 64 pixels wide and separated by 2-pixel
// white borders.
func FeatureGrid(f FeatureMap, maxChannels int) *image.RGBA {
	n := min(f.C, maxChannels)
	cols := min(n, 4)
	rows := (n + cols - 1) / cols
	scale := max(1, (64+f.W-1)/f.W)
	tw, th := f.W*scale, f.H*scale
	const gap = 2
	img := image.NewRGBA(image.Rect(0, 0, cols*(tw+gap)+gap, rows*(th+gap)+gap))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for ch := range n {
		p := f.Data[ch*f.H*f.W : (ch+1)*f.H*f.W]
		lo, hi := p[0], p[0]
		for _, v := range p {
			lo, hi = min(lo, v), max(hi, v)
		}
		ox, oy := gap+(ch%cols)*(tw+gap), gap+(ch/cols)*(th+gap)
		for y := range th {
			for x := range tw {
				v := float32(0)
				if hi > lo {
					v = (p[(y/scale)*f.W+x/scale] - lo) / (hi - lo)
				}
				g := uint8(v*255 + 0.5)
				img.SetRGBA(ox+x, oy+y, color.RGBA{g, g, g, 255})
			}
		}
	}
	return img
}

// Enlarge scales img up by an integer factor with nearest-neighbour
// sampling, so small images (28×28) stay readable.
func Enlarge(img image.Image, factor int) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*factor, b.Dy()*factor))
	for y := range out.Bounds().Dy() {
		for x := range out.Bounds().Dx() {
			out.Set(x, y, img.At(b.Min.X+x/factor, b.Min.Y+y/factor))
		}
	}
	return out
}

// WritePNG encodes img as PNG to path atomically: it writes a temporary
// file in the same directory and renames it over path, so readers never
// see a partial image.
func WritePNG(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error { return png.Encode(w, img) })
}
