// Package report draws the pictures of a training run or an evaluation as
// PNG images (with gonum.org/v1/plot) and assembles them, with tables,
// into one self-contained HTML page ([HTML]): the images are embedded as
// base64 data URIs and the page has no scripts and no external resources,
// so it can be mailed or archived as a single file.
//
// The plot functions return PNG bytes: [TrainingCurves] (loss and accuracy
// per epoch, training against test), [LRSchedule], [ConfusionHeatmap],
// [ROCCurves] and [ReliabilityDiagram]. [TrainingSections] and
// [EvaluationSections] lay them out with their tables, and [WriteDir]
// writes the images and index.html into a folder, each file atomically.
package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/train"
)

// Size of the plots: 6 by 4 inches at 96 dots per inch (576 × 384 pixels).
const (
	width  = 6 * vg.Inch
	height = 4 * vg.Inch
)

// Line colours: a colour-blind-safe pair (Okabe–Ito) and a palette for
// more curves.
var (
	blue   = color.RGBA{0, 114, 178, 255}
	orange = color.RGBA{230, 159, 0, 255}
	grey   = color.RGBA{128, 128, 128, 255}
	series = []color.Color{
		blue, orange, color.RGBA{0, 158, 115, 255}, color.RGBA{213, 94, 0, 255},
		color.RGBA{204, 121, 167, 255}, color.RGBA{86, 180, 233, 255}, color.RGBA{240, 228, 66, 255},
		color.RGBA{0, 0, 0, 255}, color.RGBA{153, 153, 153, 255}, color.RGBA{117, 112, 179, 255},
	}
)

// newPlot returns a plot with a title, axis labels and a grid.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	return p
}

// encode renders p as PNG.
func encode(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// addLine adds a line with points through xys in colour c, with a legend
// entry name ("" for none).
func addLine(p *plot.Plot, name string, xys plotter.XYs, c color.Color, dashed bool) error {
	l, pts, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	l.Color, pts.Color = c, c
	l.Width = vg.Points(1.5)
	pts.Radius = vg.Points(2)
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l, pts)
	if name != "" {
		p.Legend.Add(name, l, pts)
	}
	return nil
}

// finite drops the points whose Y is not a finite number.
func finite(xys plotter.XYs) plotter.XYs {
	var out plotter.XYs
	for _, v := range xys {
		if !math.IsNaN(v.Y) && !math.IsInf(v.Y, 0) {
			out = append(out, v)
		}
	}
	return out
}

// TrainingCurves draws the loss and the accuracy of each epoch, training
// (solid) against test (dashed); the test curves are left out when no
// epoch has a test measurement. It returns two PNG images, loss then
// accuracy, and an error for no epochs.
func TrainingCurves(epochs []train.EpochStats) (loss, accuracy []byte, err error) {
	if len(epochs) == 0 {
		return nil, nil, fmt.Errorf("report: no epochs to plot")
	}
	hasTest := false
	for _, e := range epochs {
		hasTest = hasTest || e.TestLoss != 0 || e.TestAcc != 0
	}
	get := func(f func(train.EpochStats) float64) plotter.XYs {
		xys := make(plotter.XYs, len(epochs))
		for i, e := range epochs {
			xys[i] = plotter.XY{X: float64(e.Epoch), Y: f(e)}
		}
		return finite(xys)
	}
	draw := func(title, y string, tr, te func(train.EpochStats) float64) ([]byte, error) {
		p := newPlot(title, "epoch", y)
		if err := addLine(p, "train", get(tr), blue, false); err != nil {
			return nil, err
		}
		if hasTest {
			if err := addLine(p, "test", get(te), orange, true); err != nil {
				return nil, err
			}
		}
		p.Legend.Top = y != "accuracy" // where the curves are not: loss falls, accuracy rises
		p.X.Tick.Marker = epochTicks(len(epochs))
		return encode(p, width, height)
	}
	if loss, err = draw("Loss per epoch", "cross-entropy loss",
		func(e train.EpochStats) float64 { return e.TrainLoss }, func(e train.EpochStats) float64 { return e.TestLoss }); err != nil {
		return nil, nil, err
	}
	accuracy, err = draw("Accuracy per epoch", "accuracy",
		func(e train.EpochStats) float64 { return e.TrainAcc }, func(e train.EpochStats) float64 { return e.TestAcc })
	return loss, accuracy, err
}

// epochTicks marks whole epochs (every one up to 10, then the default).
func epochTicks(n int) plot.Ticker {
	if n > 10 {
		return plot.DefaultTicks{}
	}
	var t plot.ConstantTicks
	for i := 1; i <= n; i++ {
		t = append(t, plot.Tick{Value: float64(i), Label: fmt.Sprint(i)})
	}
	return t
}

// LRSchedule draws the learning rate at the end of each epoch as a PNG.
func LRSchedule(epochs []train.EpochStats) ([]byte, error) {
	if len(epochs) == 0 {
		return nil, fmt.Errorf("report: no epochs to plot")
	}
	p := newPlot("Learning rate (end of each epoch)", "epoch", "learning rate")
	xys := make(plotter.XYs, len(epochs))
	for i, e := range epochs {
		xys[i] = plotter.XY{X: float64(e.Epoch), Y: e.LR}
	}
	if err := addLine(p, "", xys, blue, false); err != nil {
		return nil, err
	}
	p.X.Tick.Marker = epochTicks(len(epochs))
	p.Y.Min = 0
	return encode(p, width, height)
}

// confusionGrid is a confusion matrix as a heat map grid, true class 0 in
// the top row.
type confusionGrid struct {
	counts [][]int
	norm   []float64 // per-row totals
}

func (g confusionGrid) Dims() (c, r int)   { return len(g.counts), len(g.counts) }
func (g confusionGrid) X(c int) float64    { return float64(c) }
func (g confusionGrid) Y(r int) float64    { return float64(r) }
func (g confusionGrid) row(r int) int      { return len(g.counts) - 1 - r }
func (g confusionGrid) Z(c, r int) float64 { return g.frac(g.row(r), c) }

// frac is the fraction of true class t predicted as p (0 for an empty row).
func (g confusionGrid) frac(t, p int) float64 {
	if g.norm[t] == 0 {
		return 0
	}
	return float64(g.counts[t][p]) / g.norm[t]
}

// blues is a white-to-dark-blue palette.
type blues int

func (n blues) Colors() []color.Color {
	out := make([]color.Color, n)
	for i := range out {
		f := float64(i) / float64(n-1)
		out[i] = color.RGBA{uint8(247 - f*(247-8)), uint8(251 - f*(251-48)), uint8(255 - f*(255-107)), 255}
	}
	return out
}

// ConfusionHeatmap draws a confusion matrix as a PNG heat map: rows are
// the true classes (the first at the top), columns the predicted ones,
// each cell coloured by the fraction of its row and labelled with its
// count (for up to 30 classes; larger matrices are colour only). The
// image grows with the number of classes.
func ConfusionHeatmap(c metrics.Confusion) ([]byte, error) {
	k := len(c.Counts)
	if k == 0 {
		return nil, fmt.Errorf("report: empty confusion matrix")
	}
	g := confusionGrid{counts: c.Counts, norm: make([]float64, k)}
	for t, row := range c.Counts {
		for _, v := range row {
			g.norm[t] += float64(v)
		}
	}
	p := plot.New()
	p.Title.Text = "Confusion matrix (colour: fraction of the true class)"
	p.X.Label.Text = "predicted class"
	p.Y.Label.Text = "true class"
	h := plotter.NewHeatMap(g, blues(256))
	h.Min, h.Max = 0, 1
	p.Add(h)
	var xt, yt plot.ConstantTicks
	for i, name := range c.Classes {
		xt = append(xt, plot.Tick{Value: float64(i), Label: name})
		yt = append(yt, plot.Tick{Value: float64(k - 1 - i), Label: name})
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = xt, yt
	if k > 6 {
		p.X.Tick.Label.Rotation = math.Pi / 4
		p.X.Tick.Label.XAlign = draw.XRight
		p.X.Tick.Label.YAlign = draw.YCenter
	}
	if k <= 30 {
		var cells plotter.XYLabels
		for r := range k {
			for col := range k {
				cells.XYs = append(cells.XYs, plotter.XY{X: float64(col), Y: float64(r)})
				cells.Labels = append(cells.Labels, fmt.Sprint(c.Counts[g.row(r)][col]))
			}
		}
		l, err := plotter.NewLabels(cells)
		if err != nil {
			return nil, err
		}
		for i := range l.TextStyle {
			r, col := i/k, i%k
			l.TextStyle[i].XAlign, l.TextStyle[i].YAlign = draw.XCenter, draw.YCenter
			if g.Z(col, r) > 0.5 {
				l.TextStyle[i].Color = color.White
			}
			if k > 12 {
				l.TextStyle[i].Font.Size = vg.Points(7)
			}
		}
		p.Add(l)
	}
	side := vg.Length(max(5, min(0.45*float64(k)+2, 14))) * vg.Inch
	return encode(p, side, side)
}

// ROCCurves draws ROC curves as a PNG, with the chance diagonal: one curve
// for a binary task, one per class (one-vs-rest) otherwise. A legend
// names the curves and their AUC when there are at most 10.
func ROCCurves(curves []metrics.ClassROC) ([]byte, error) {
	p := newPlot("ROC curves", "false positive rate", "true positive rate")
	if len(curves) > 1 {
		p.Title.Text = "ROC curves (one class against the rest)"
	}
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, err
	}
	diag.Color, diag.Dashes = grey, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(diag)
	for i, c := range curves {
		if len(c.Points) == 0 {
			continue
		}
		xys := make(plotter.XYs, len(c.Points))
		for j, pt := range c.Points {
			xys[j] = plotter.XY{X: pt.FPR, Y: pt.TPR}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = series[i%len(series)], vg.Points(1.5)
		p.Add(l)
		if len(curves) <= 10 {
			name := c.Class
			if c.AUC != nil {
				name = fmt.Sprintf("%s (AUC %.4f)", c.Class, *c.AUC)
			}
			p.Legend.Add(name, l)
		}
	}
	p.Legend.Left, p.Legend.Top = false, false
	return encode(p, width, 1.25*height)
}

// ReliabilityDiagram draws the bins of [metrics.Reliability] as a PNG
// (Guo et al. 2017): a blue bar per non-empty bin up to its accuracy, a
// black point at its mean confidence, the gap of an over-confident bin
// (confidence above accuracy) shaded red, and the diagonal of perfect
// calibration. ece goes into the title.
func ReliabilityDiagram(bins []metrics.Bin, ece float64) ([]byte, error) {
	p := newPlot(fmt.Sprintf("Reliability diagram (ECE %.4f)", ece), "confidence (largest probability)", "accuracy")
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	rect := func(x0, x1, y0, y1 float64, c color.Color) (*plotter.Polygon, error) {
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
		if err != nil {
			return nil, err
		}
		poly.Color = c
		poly.LineStyle.Color = color.RGBA{40, 40, 40, 255}
		poly.LineStyle.Width = vg.Points(0.5)
		p.Add(poly)
		return poly, nil
	}
	var accBar, gapBar *plotter.Polygon
	var conf plotter.XYs
	var err error
	for _, b := range bins {
		if b.Count == 0 {
			continue
		}
		if accBar, err = rect(b.Lo, b.Hi, 0, b.Accuracy, blue); err != nil {
			return nil, err
		}
		if b.Confidence > b.Accuracy {
			if gapBar, err = rect(b.Lo, b.Hi, b.Accuracy, b.Confidence, color.NRGBA{213, 94, 0, 120}); err != nil {
				return nil, err
			}
		}
		conf = append(conf, plotter.XY{X: (b.Lo + b.Hi) / 2, Y: b.Confidence})
	}
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}})
	if err != nil {
		return nil, err
	}
	diag.Color, diag.Dashes = grey, []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(diag)
	if accBar != nil {
		p.Legend.Add("accuracy", accBar)
		pts, err := plotter.NewScatter(conf)
		if err != nil {
			return nil, err
		}
		pts.GlyphStyle.Radius = vg.Points(2.5)
		pts.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(pts)
		p.Legend.Add("mean confidence", pts)
	}
	if gapBar != nil {
		p.Legend.Add("over-confidence gap", gapBar)
	}
	p.Legend.Add("perfect calibration", diag)
	p.Legend.Top, p.Legend.Left = true, true
	return encode(p, width, width)
}
