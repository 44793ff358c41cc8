package robust

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// PlotCurves writes a PNG of r to path: accuracy (percent) against
// severity, one line per corruption, with the clean accuracy as a dashed
// horizontal line. The file is replaced atomically.
func (r Report) PlotCurves(path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Accuracy under corruption (clean %.1f%%, mCA %.1f%%)", 100*r.Clean, 100*r.MCA)
	p.X.Label.Text = "severity"
	p.Y.Label.Text = "accuracy (%)"
	p.Y.Min, p.Y.Max = 0, 100
	p.Add(plotter.NewGrid())
	p.Legend.Top = false
	p.Legend.Left = true
	ticks := make([]plot.Tick, len(r.Severities))
	for i, s := range r.Severities {
		ticks[i] = plot.Tick{Value: float64(s), Label: fmt.Sprint(s)}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	for i, res := range r.Results {
		xys := make(plotter.XYs, len(res.Accuracy))
		for j, a := range res.Accuracy {
			xys[j] = plotter.XY{X: float64(r.Severities[j]), Y: 100 * a}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		points.Color = line.Color
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(res.Corruption, line, points)
	}
	if len(r.Severities) > 0 {
		lo, hi := float64(r.Severities[0]), float64(r.Severities[len(r.Severities)-1])
		clean, err := plotter.NewLine(plotter.XYs{{X: lo, Y: 100 * r.Clean}, {X: hi, Y: 100 * r.Clean}})
		if err != nil {
			return err
		}
		clean.Color = color.Black
		clean.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(clean)
		p.Legend.Add("clean", clean)
	}
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

// Samples renders image x (C×H×W in [0, 1]) clean and under each
// corruption at the given severity as a labelled grid, each tile enlarged
// to about 128 pixels; image i of a run uses [ImageRNG](seed, index).
func Samples(x []float32, c, h, w int, corruptions []Corruption, severity int, seed uint64, index int) *image.RGBA {
	const cols, label = 4, 16
	f := max(1, 128/max(h, w))
	tw, th := w*f, h*f+label
	n := len(corruptions) + 1
	rows := (n + cols - 1) / cols
	img := image.NewRGBA(image.Rect(0, 0, cols*(tw+4)+4, rows*(th+4)+4))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for k := range n {
		name, y := "clean", append([]float32(nil), x...)
		if k > 0 {
			cr := corruptions[k-1]
			name = fmt.Sprintf("%s %d", cr.Name, severity)
			cr.Apply(y, c, h, w, severity, ImageRNG(seed, index))
		}
		ox, oy := 4+(k%cols)*(tw+4), 4+(k/cols)*(th+4)
		for py := range h * f {
			for px := range w * f {
				i := (py/f)*w + px/f
				g := func(ch int) uint8 { return uint8(min(max(y[min(ch, c-1)*h*w+i], 0), 1)*255 + 0.5) }
				if c == 3 {
					img.SetRGBA(ox+px, oy+label+py, color.RGBA{g(0), g(1), g(2), 255})
				} else {
					img.SetRGBA(ox+px, oy+label+py, color.RGBA{g(0), g(0), g(0), 255})
				}
			}
		}
		d := font.Drawer{Dst: img, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(ox, oy+12)}
		if len(name)*7 > tw {
			name = name[:max(1, tw/7)]
		}
		d.DrawString(name)
	}
	return img
}

// WritePNG encodes img as PNG to path atomically.
func WritePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	return writeAtomic(path, buf.Bytes())
}

// writeAtomic writes b to a temporary file beside path and renames it
// over path.
func writeAtomic(path string, b []byte) error { return atomicfile.WriteBytes(path, b) }
