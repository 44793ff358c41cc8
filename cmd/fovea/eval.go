package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/report"
	"github.com/fovea-ml/fovea/train"
)

// evalOutput is the JSON of `fovea eval --json`: the summary fields of
// earlier versions and every measurement of metrics.Evaluation.
type evalOutput struct {
	Model        string   `json:"model"`
	Checkpoint   string   `json:"checkpoint"`
	Data         string   `json:"data"`
	TestAccuracy float64  `json:"test_accuracy"`
	TestLoss     float64  `json:"test_loss"`
	TestAUC      *float64 `json:"test_roc_auc,omitempty"`
	Temperature  float64  `json:"temperature"` // 1 unless the checkpoint was calibrated
	metrics.Evaluation
}

func newEvalCmd() *cobra.Command {
	var ckpt, dataSpec, csvPath, reportDir, tta, positive string
	var batch, threads, limit int
	var threshold float64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Accuracy, loss, per-class metrics, ROC and calibration of a checkpoint",
		Long: `Evaluate a checkpoint or ONNX model on the test split of a dataset: accuracy,
top-5 accuracy (5 or more classes), loss, the confusion matrix, per-class
precision, recall, F1 and support with macro and weighted averages, ROC
curves and AUC (binary: of the --positive class, class 1 unless named;
otherwise one-vs-rest per class and their macro mean), sensitivity and
specificity at --threshold (binary), and the expected calibration error over
15 confidence bins. A checkpoint calibrated with fovea calibrate has its
logits divided by its temperature before the softmax.

Without --data, eval uses the data fovea train recorded in the checkpoint:
its --test-data, else the test split of its --data, else the part of it that
--val-split held out (the same images, by the same seed). A checkpoint that
records no data (older files, imported models) needs --data, unless it is an
MNIST model (1x28x28, classes 0-9): that one is evaluated on the embedded
MNIST. A line on stderr says which data and split are used. Data whose classes
are not the model's is refused. See docs/evaluation.md.`,
		Example: `  fovea eval --model mnist-cnn-mnist.safetensors     # on the test split of the data it was trained on
  fovea eval --model fashion.safetensors --data fashion-mnist:DIR --json
  fovea eval --model tumour.safetensors --data npz:breastmnist.npz --positive 0 --threshold 0.3 --csv per-class.csv --report eval-report/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setThreads(threads); err != nil {
				return err
			}
			ckpt, err := modelOrDefault(ckpt)
			if err != nil {
				return err
			}
			if batch < 1 {
				return fmt.Errorf("--batch-size %d: must be at least 1", batch)
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: must not be negative", limit)
			}
			if !(threshold >= 0 && threshold <= 1) {
				return fmt.Errorf("--threshold %g: must be a probability in [0, 1]", threshold)
			}
			model, meta, err := classify.Load(ckpt)
			if err != nil {
				return err
			}
			if err := oneOf("tta", tta, train.TTANames...); err != nil {
				return err
			}
			sets, err := loadEvalData(dataSpec, meta, ckpt, limit)
			if err != nil {
				return err
			}
			test := sets.test
			names, pos := classNames(meta, test), 1
			if positive != "" {
				if len(names) != 2 {
					return fmt.Errorf("--positive %s: %s has %d classes; the positive class is for two-class models", positive, ckpt, len(names))
				}
				if pos, err = classIndex("positive", positive, names, ckpt); err != nil {
					return err
				}
			}
			fmt.Fprintln(os.Stderr, "data:", sets.about)
			temp := classify.Temperature(meta)
			logits, err := train.TTALogits(model, test, batch, tta)
			if err != nil {
				return err
			}
			e := metrics.Evaluate(metrics.Probabilities(logits, temp), test.Y, names, pos, threshold)
			e.Loss = metrics.NLL(logits, test.Y, temp)
			if csvPath != "" {
				if err := report.WriteFile(csvPath, func(w io.Writer) error { return writeClassCSV(w, e) }); err != nil {
					return fmt.Errorf("--csv: %w", err)
				}
			}
			if reportDir != "" {
				sections, err := report.EvaluationSections(e)
				if err != nil {
					return fmt.Errorf("--report: %w", err)
				}
				if _, err := report.WriteDir(reportDir, fmt.Sprintf("Evaluation of %s on %s", ckpt, test.Name), sections...); err != nil {
					return fmt.Errorf("--report: %w", err)
				}
			}
			if asJSON {
				return printJSON(evalOutput{Model: meta.Model, Checkpoint: ckpt, Data: test.Name, TestAccuracy: e.Accuracy,
					TestLoss: e.Loss, TestAUC: e.AUC, Temperature: temp, Evaluation: e})
			}
			aucText := ""
			if e.AUC != nil {
				aucText = fmt.Sprintf(", ROC-AUC %.4f", *e.AUC)
				if len(e.Classes) > 2 {
					aucText = fmt.Sprintf(", ROC-AUC %.4f (one-vs-rest, macro)", *e.AUC)
				}
			}
			fmt.Printf("%s on %s: accuracy %.2f%% (%d images), loss %.4f%s\n", ckpt, test.Name, 100*e.Accuracy, test.Len(), e.Loss, aucText)
			printEvaluation(e, temp)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ckpt, "model", "", "Fovea checkpoint (.safetensors) or ONNX file to evaluate"+modelDefault)
	fl.StringVar(&dataSpec, "data", "", "dataset whose test split is used (default: the data recorded in the checkpoint by fovea train):\nmnist, cifar10:DIR, npz:FILE, …, an image folder or archive (see fovea train --help)")
	fl.IntVar(&batch, "batch-size", 500, "images per forward pass")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.IntVar(&limit, "limit", 0, "use only N test images, a fixed random subset (the one train --test-limit N uses; 0: all)")
	fl.BoolVar(&asJSON, "json", false, "print every measurement, curves included, as one JSON object")
	fl.StringVar(&csvPath, "csv", "", "also write the per-class precision, recall, F1, support and AUC to this CSV file")
	fl.StringVar(&reportDir, "report", "", "also write a report into this folder: confusion.png, roc.png, reliability.png and index.html")
	fl.StringVar(&tta, "tta", "none", "test-time augmentation: none, flip (average the logits of each image and its mirror\nimage) or flip-translate (also of both moved one pixel down-right and up-left: 6 views, airbench's)")
	fl.Float64Var(&threshold, "threshold", 0.5, "decision threshold on the probability of the positive class for sensitivity and specificity (binary tasks)")
	fl.StringVar(&positive, "positive", "", "the positive class of a two-class model, by name or index, for --threshold,\nsensitivity, specificity and the ROC curve (default: class 1, the second)")
	return cmd
}

// loadEvalData loads the evaluation sets of the model of ckpt
// (loadEvalSets: --data spec, else the data recorded in the checkpoint),
// each cut to the fixed random subset of --limit and normalized as in
// training.
func loadEvalData(spec string, meta models.Meta, ckpt string, limit int) (*evalSets, error) {
	s, err := loadEvalSets(spec, meta, ckpt)
	if err != nil {
		return nil, err
	}
	for _, d := range []**data.Dataset{&s.test, &s.val} {
		if *d == nil {
			continue
		}
		if (*d).Len() == 0 {
			return nil, fmt.Errorf("data %s is empty", (*d).Name)
		}
		*d = sample(*d, limit, evalSampleSeed)
		if err := prepareFor(*d, meta, ckpt); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// classNames returns the names of the model's classes, else the data's.
func classNames(meta models.Meta, ds *data.Dataset) []string {
	if len(meta.Classes) > 0 {
		return meta.Classes
	}
	return ds.ClassNames
}

// writeClassCSV writes the per-class rows of e, then the macro and
// weighted averages.
func writeClassCSV(w io.Writer, e metrics.Evaluation) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"class", "precision", "recall", "f1", "support", "roc_auc"})
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', 6, 64) }
	for i, s := range e.PerClass {
		auc := ""
		if a := classAUC(e, i); a != nil {
			auc = f(*a)
		}
		cw.Write([]string{s.Class, f(s.Precision), f(s.Recall), f(s.F1), strconv.Itoa(s.Support), auc})
	}
	cw.Write([]string{"macro avg", f(e.Macro.Precision), f(e.Macro.Recall), f(e.Macro.F1), strconv.Itoa(e.Macro.Support), ""})
	cw.Write([]string{"weighted avg", f(e.Weighted.Precision), f(e.Weighted.Recall), f(e.Weighted.F1), strconv.Itoa(e.Weighted.Support), ""})
	cw.Flush()
	return cw.Error()
}

// classAUC returns the one-vs-rest AUC of class i (for two classes, the
// AUC of class 1 for both), or nil.
func classAUC(e metrics.Evaluation, i int) *float64 {
	if len(e.ROC) == 1 {
		return e.ROC[0].AUC
	}
	if i < len(e.ROC) {
		return e.ROC[i].AUC
	}
	return nil
}

// printEvaluation prints the rest of eval's text output: top-k, binary
// and calibration lines, the per-class table and the confusion matrix.
func printEvaluation(e metrics.Evaluation, temp float64) {
	if e.TopK > 0 {
		fmt.Printf("top-%d accuracy %.2f%%\n", e.TopK, 100*e.TopKAccuracy)
	}
	if b := e.Binary; b != nil {
		fmt.Printf("at threshold %g (positive class %q): sensitivity %.4f, specificity %.4f (TP %d, FP %d, TN %d, FN %d)\n",
			b.Threshold, b.Positive, b.Sensitivity, b.Specificity, b.TP, b.FP, b.TN, b.FN)
	}
	tempText := ""
	if temp != 1 {
		tempText = fmt.Sprintf(", temperature %.4g", temp)
	}
	fmt.Printf("expected calibration error %.4f (%d bins)%s\n\n", e.ECE, len(e.Reliability), tempText)

	width := len("weighted avg")
	for _, c := range e.Classes {
		width = max(width, len(c))
	}
	fmt.Printf("%-*s  %9s  %9s  %9s  %7s  %7s\n", width, "class", "precision", "recall", "f1", "support", "auc")
	for i, s := range e.PerClass {
		auc := "–"
		if a := classAUC(e, i); a != nil {
			auc = fmt.Sprintf("%.4f", *a)
		}
		fmt.Printf("%-*s  %9.4f  %9.4f  %9.4f  %7d  %7s\n", width, s.Class, s.Precision, s.Recall, s.F1, s.Support, auc)
	}
	fmt.Printf("%-*s  %9.4f  %9.4f  %9.4f  %7d\n", width, "macro avg", e.Macro.Precision, e.Macro.Recall, e.Macro.F1, e.Macro.Support)
	fmt.Printf("%-*s  %9.4f  %9.4f  %9.4f  %7d\n", width, "weighted avg", e.Weighted.Precision, e.Weighted.Recall, e.Weighted.F1, e.Weighted.Support)

	k := len(e.Classes)
	if k > 20 {
		fmt.Printf("\nconfusion matrix: %d classes, see --json, --csv or --report\n", k)
		return
	}
	cell := len(strconv.Itoa(e.Images))
	for _, c := range e.Classes {
		cell = max(cell, len(c))
	}
	fmt.Println("\nconfusion matrix (rows: true class, columns: predicted class)")
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-*s", width, "")
	for _, c := range e.Classes {
		fmt.Fprintf(&sb, "  %*s", cell, c)
	}
	fmt.Println(sb.String())
	for t, row := range e.Confusion.Counts {
		sb.Reset()
		fmt.Fprintf(&sb, "%-*s", width, e.Classes[t])
		for _, v := range row {
			fmt.Fprintf(&sb, "  %*d", cell, v)
		}
		fmt.Println(sb.String())
	}
}
