package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/train"
)

// epochs is a small made-up training history.
var epochs = []train.EpochStats{
	{Epoch: 1, TrainLoss: 1.2, TrainAcc: 0.6, TestLoss: 0.8, TestAcc: 0.75, LR: 0.01, ImagesPerSec: 900, Seconds: 3, Elapsed: 3},
	{Epoch: 2, TrainLoss: 0.7, TrainAcc: 0.8, TestLoss: 0.6, TestAcc: 0.82, LR: 0.005, ImagesPerSec: 950, Seconds: 3, Elapsed: 6},
	{Epoch: 3, TrainLoss: 0.5, TrainAcc: 0.88, TestLoss: 0.55, TestAcc: 0.85, LR: 0.001, ImagesPerSec: 940, Seconds: 3, Elapsed: 9},
}

// evaluation returns the evaluation of a small three-class prediction.
func evaluation() metrics.Evaluation {
	probs := [][]float32{
		{0.8, 0.1, 0.1}, {0.6, 0.3, 0.1}, {0.2, 0.7, 0.1}, {0.3, 0.3, 0.4},
		{0.1, 0.8, 0.1}, {0.5, 0.4, 0.1}, {0.1, 0.2, 0.7}, {0.2, 0.2, 0.6}, {0.3, 0.4, 0.3},
	}
	labels := []int{0, 0, 0, 0, 1, 1, 2, 2, 2}
	return metrics.Evaluate(probs, labels, []string{"cat", "dog", "bird"}, 1, 0.5)
}

// checkPNG decodes b and fails unless at least 1% of its pixels differ
// from the top-left (background) pixel.
func checkPNG(t *testing.T, name string, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	r := img.Bounds()
	if r.Dx() < 200 || r.Dy() < 200 {
		t.Errorf("%s: %dx%d pixels, want a real plot", name, r.Dx(), r.Dy())
	}
	if frac := inkFraction(img); frac < 0.01 {
		t.Errorf("%s: only %.4f of the pixels differ from the background", name, frac)
	}
}

// inkFraction returns the fraction of pixels that differ from the
// top-left one.
func inkFraction(img image.Image) float64 {
	r := img.Bounds()
	br, bg, bb, _ := img.At(r.Min.X, r.Min.Y).RGBA()
	ink := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if cr != br || cg != bg || cb != bb {
				ink++
			}
		}
	}
	return float64(ink) / float64(r.Dx()*r.Dy())
}

func TestPlots(t *testing.T) {
	loss, acc, err := TrainingCurves(epochs)
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "loss", loss)
	checkPNG(t, "accuracy", acc)
	lr, err := LRSchedule(epochs)
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "lr", lr)

	e := evaluation()
	cm, err := ConfusionHeatmap(e.Confusion)
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "confusion", cm)
	roc, err := ROCCurves(e.ROC)
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "roc", roc)
	rel, err := ReliabilityDiagram(e.Reliability, e.ECE)
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, "reliability", rel)

	if _, _, err := TrainingCurves(nil); err == nil {
		t.Error("TrainingCurves of no epochs: no error")
	}
}

// writeReport writes the evaluation and training sections of the test
// data into dir and returns the path of index.html.
func writeReport(t *testing.T, dir string) string {
	t.Helper()
	ev, err := EvaluationSections(evaluation())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := TrainingSections(epochs)
	if err != nil {
		t.Fatal(err)
	}
	index, err := WriteDir(dir, "Test <report> & co", append(ev, tr...)...)
	if err != nil {
		t.Fatal(err)
	}
	return index
}

func TestWriteDir(t *testing.T) {
	dir := t.TempDir()
	index := writeReport(t, dir)
	for _, name := range []string{"confusion.png", "roc.png", "reliability.png", "loss.png", "accuracy.png", "lr.png"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		checkPNG(t, name, b)
	}
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{"<title>Test &lt;report&gt; &amp; co</title>", `src="data:image/png;base64,`, "<td>cat</td>", "macro avg", "ROC AUC (one-vs-rest, macro)"} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if n := strings.Count(page, "data:image/png;base64,"); n != 6 {
		t.Errorf("index.html embeds %d images, want 6", n)
	}
	for _, bad := range []string{"<script", "ZgotmplZ", "http://", "https://"} {
		if strings.Contains(page, bad) {
			t.Errorf("index.html contains %q: it must be self-contained and script-free", bad)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// TestEvaluationSectionsBinary checks that the summary of a two-class
// evaluation names the positive class of its sensitivity and specificity.
func TestEvaluationSectionsBinary(t *testing.T) {
	e := metrics.Evaluate([][]float32{{0.7, 0.3}, {0.4, 0.6}, {0.2, 0.8}}, []int{0, 0, 1}, []string{"benign", "malignant"}, 0, 0.5)
	secs, err := EvaluationSections(e)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, s := range secs {
		for _, tb := range s.Tables {
			for _, r := range tb.Rows {
				rows = append(rows, strings.Join(r, " = "))
			}
		}
	}
	all := strings.Join(rows, "\n")
	for _, want := range []string{"sensitivity at 0.5 (positive class benign) = 0.5000", "specificity at 0.5 (positive class benign) = 1.0000"} {
		if !strings.Contains(all, want) {
			t.Errorf("the tables lack %q:\n%s", want, all)
		}
	}
}

// TestHTMLInChromium loads the report in a headless Chromium and checks
// the screenshot shows something and the browser reported no errors from
// the page.
func TestHTMLInChromium(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: the CI image needs the Debian package chromium for this test")
		}
		t.Skip("chromium not found: install Debian's chromium package to check the report renders (required under CI=true)")
	}
	dir := t.TempDir()
	index := writeReport(t, dir)
	shot := filepath.Join(dir, "screenshot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// --enable-logging=stderr makes Chromium log the page's console,
	// JavaScript errors included, as "INFO:CONSOLE…" lines.
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--enable-logging=stderr", "--v=0", "--screenshot="+shot, "--window-size=1200,2000", "file://"+index)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		// Page errors are logged as console messages ("CONSOLE:1]
		// "Uncaught ReferenceError: …""); D-Bus, GPU and sandbox
		// complaints are the headless browser's own and are ignored.
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") || strings.Contains(line, "SyntaxError") ||
			strings.Contains(line, "Refused to") || strings.Contains(line, "ERR_FILE_NOT_FOUND") {
			t.Errorf("chromium reported a page error: %s", line)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, stderr.String())
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 2000 {
		t.Errorf("screenshot is %dx%d, want 1200x2000", b.Dx(), b.Dy())
	}
	if frac := inkFraction(img); frac < 0.05 {
		t.Errorf("screenshot is nearly blank: %.4f of the pixels differ from the background", frac)
	}
}
