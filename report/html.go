package report

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/train"
)

// Section is one part of a report: a heading, a paragraph, images and
// tables, shown in that order.
type Section struct {
	Title  string
	Text   string
	Images []Image
	Tables []Table
}

// Image is a PNG picture of a report. Name is its file name in the folder
// [WriteDir] writes ("roc.png"); Alt describes it for readers who cannot
// see it.
type Image struct {
	Name, Alt string
	PNG       []byte
}

// Table is a table of text cells. Numeric columns are right-aligned.
type Table struct {
	Caption string
	Header  []string
	Rows    [][]string
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"dataURI": func(png []byte) template.URL {
		return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
img { max-width: 100%; height: auto; display: block; margin: 1em 0; border: 1px solid #eee; }
table { border-collapse: collapse; margin: 1em 0; font-size: .9em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
footer { margin-top: 3em; color: #777; font-size: .8em; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Sections}}<section>
<h2>{{.Title}}</h2>
{{if .Text}}<p>{{.Text}}</p>
{{end}}{{range .Images}}<img src="{{dataURI .PNG}}" alt="{{.Alt}}">
{{end}}{{range .Tables}}<table>
{{if .Caption}}<caption>{{.Caption}}</caption>
{{end}}<thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
{{end}}</section>
{{end}}<footer>Written by Fovea on {{.Date}}.</footer>
</body>
</html>
`))

// HTML writes a self-contained HTML page titled title with the sections in
// order: the images are embedded as base64 data URIs, and the page loads
// nothing else and runs no scripts.
func HTML(w io.Writer, title string, sections ...Section) error {
	return page.Execute(w, struct {
		Title    string
		Sections []Section
		Date     string
	}{title, sections, time.Now().UTC().Format("2006-01-02 15:04 UTC")})
}

// WriteDir writes the report into the folder dir (created if need be):
// every image of the sections as its own PNG file and the page of [HTML]
// as index.html, each file atomically. It returns the path of index.html.
func WriteDir(dir, title string, sections ...Section) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	for _, s := range sections {
		for _, im := range s.Images {
			if err := WriteFile(filepath.Join(dir, im.Name), func(w io.Writer) error {
				_, err := w.Write(im.PNG)
				return err
			}); err != nil {
				return "", err
			}
		}
	}
	index := filepath.Join(dir, "index.html")
	return index, WriteFile(index, func(w io.Writer) error { return HTML(w, title, sections...) })
}

// WriteFile writes a file atomically: write fills a temporary file in the
// same folder, which is synced to disk and then renamed to path, so path
// holds either its old content or the complete new one.
func WriteFile(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// TrainingSections lays out the report of a training run: the loss and
// accuracy curves, the learning-rate schedule and a table of the epochs.
func TrainingSections(epochs []train.EpochStats) ([]Section, error) {
	loss, acc, err := TrainingCurves(epochs)
	if err != nil {
		return nil, err
	}
	lr, err := LRSchedule(epochs)
	if err != nil {
		return nil, err
	}
	t := Table{Header: []string{"epoch", "train loss", "train accuracy", "test loss", "test accuracy", "learning rate", "images/s", "epoch s", "elapsed s"}}
	for _, e := range epochs {
		t.Rows = append(t.Rows, []string{fmt.Sprint(e.Epoch), num(e.TrainLoss, 4), pct(e.TrainAcc), num(e.TestLoss, 4), pct(e.TestAcc),
			fmt.Sprintf("%.4g", e.LR), num(e.ImagesPerSec, 0), num(e.Seconds, 1), num(e.Elapsed, 1)})
	}
	return []Section{
		{Title: "Training curves", Text: "Training loss and accuracy are averaged over each epoch's batches (in training mode, with any augmentation and label smoothing); test figures are measured after the epoch.",
			Images: []Image{{"loss.png", "loss per epoch, train and test", loss}, {"accuracy.png", "accuracy per epoch, train and test", acc}}},
		{Title: "Learning rate", Images: []Image{{"lr.png", "learning rate per epoch", lr}}},
		{Title: "Epochs", Tables: []Table{t}},
	}, nil
}

// EvaluationSections lays out the report of an evaluation: a summary,
// the per-class table, the confusion heat map, the ROC curves and the
// reliability diagram.
func EvaluationSections(e metrics.Evaluation) ([]Section, error) {
	cm, err := ConfusionHeatmap(e.Confusion)
	if err != nil {
		return nil, err
	}
	roc, err := ROCCurves(e.ROC)
	if err != nil {
		return nil, err
	}
	rel, err := ReliabilityDiagram(e.Reliability, e.ECE)
	if err != nil {
		return nil, err
	}
	sum := Table{Header: []string{"measure", "value"}, Rows: [][]string{
		{"images", fmt.Sprint(e.Images)},
		{"accuracy", pct(e.Accuracy)},
	}}
	if e.TopK > 0 {
		sum.Rows = append(sum.Rows, []string{fmt.Sprintf("top-%d accuracy", e.TopK), pct(e.TopKAccuracy)})
	}
	sum.Rows = append(sum.Rows, []string{"loss (cross-entropy)", num(e.Loss, 4)})
	if e.AUC != nil {
		name := "ROC AUC"
		if len(e.Classes) > 2 {
			name = "ROC AUC (one-vs-rest, macro)"
		}
		sum.Rows = append(sum.Rows, []string{name, num(*e.AUC, 4)})
	}
	if b := e.Binary; b != nil {
		sum.Rows = append(sum.Rows,
			[]string{fmt.Sprintf("sensitivity at %g (positive class %s)", b.Threshold, b.Positive), num(b.Sensitivity, 4)},
			[]string{fmt.Sprintf("specificity at %g (positive class %s)", b.Threshold, b.Positive), num(b.Specificity, 4)})
	}
	sum.Rows = append(sum.Rows, []string{fmt.Sprintf("expected calibration error (%d bins)", len(e.Reliability)), num(e.ECE, 4)})

	per := Table{Header: []string{"class", "precision", "recall", "F1", "support", "ROC AUC"}}
	auc := make(map[string]*float64)
	for _, r := range e.ROC {
		auc[r.Class] = r.AUC
	}
	for _, s := range e.PerClass {
		a := "–"
		if v := auc[s.Class]; v != nil {
			a = num(*v, 4)
		}
		per.Rows = append(per.Rows, []string{s.Class, num(s.Precision, 4), num(s.Recall, 4), num(s.F1, 4), fmt.Sprint(s.Support), a})
	}
	for _, avg := range []struct {
		name string
		a    metrics.Averages
	}{{"macro avg", e.Macro}, {"weighted avg", e.Weighted}} {
		per.Rows = append(per.Rows, []string{avg.name, num(avg.a.Precision, 4), num(avg.a.Recall, 4), num(avg.a.F1, 4), fmt.Sprint(avg.a.Support), ""})
	}
	bins := Table{Header: []string{"confidence bin", "images", "mean confidence", "accuracy"}}
	for _, b := range e.Reliability {
		if b.Count > 0 {
			bins.Rows = append(bins.Rows, []string{fmt.Sprintf("(%.3f, %.3f]", b.Lo, b.Hi), fmt.Sprint(b.Count), num(b.Confidence, 4), num(b.Accuracy, 4)})
		}
	}
	return []Section{
		{Title: "Summary", Tables: []Table{sum}},
		{Title: "Per class", Text: "Precision, recall and F1 of each class against the rest; a zero denominator gives 0 (as scikit-learn's zero_division=0). The macro average weighs classes equally, the weighted one by support.",
			Tables: []Table{per}},
		{Title: "Confusion matrix", Text: "Rows are the true classes, columns the predicted ones; each cell shows its count and is shaded by the fraction of its row.",
			Images: []Image{{"confusion.png", "confusion matrix heat map", cm}}},
		{Title: "ROC curves", Images: []Image{{"roc.png", "ROC curves", roc}}},
		{Title: "Calibration", Text: "Examples binned by confidence (their largest probability): a calibrated model's bars reach the diagonal. The ECE is the bins' gaps weighted by their share of the examples.",
			Images: []Image{{"reliability.png", "reliability diagram", rel}}, Tables: []Table{bins}},
	}, nil
}

// num formats x with prec decimals, "–" when it is not a number.
func num(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// pct formats a fraction as a percentage.
func pct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.2f%%", 100*x)
}
