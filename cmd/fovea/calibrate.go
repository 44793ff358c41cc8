package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/train"
)

// calibrationSet is how well one set of examples is calibrated before and
// after temperature scaling.
type calibrationSet struct {
	Name      string  `json:"data"`
	Images    int     `json:"images"`
	NLLBefore float64 `json:"nll_before"`
	NLLAfter  float64 `json:"nll_after"`
	ECEBefore float64 `json:"ece_before"`
	ECEAfter  float64 `json:"ece_after"`
}

// calibrateOutput is the JSON of `fovea calibrate --json`.
type calibrateOutput struct {
	Checkpoint  string          `json:"checkpoint"`
	Out         string          `json:"out"`
	Before      float64         `json:"temperature_before"`
	Temperature float64         `json:"temperature"`
	Validation  calibrationSet  `json:"validation"`
	Held        *calibrationSet `json:"held_out,omitempty"`
}

func newCalibrateCmd() *cobra.Command {
	var ckpt, dataSpec, valSpec, out string
	var valSplit float64
	var batch, threads, limit int
	var seed uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "calibrate [--model CKPT] --out CKPT2",
		Short: "Fit a softmax temperature so a checkpoint's probabilities are calibrated",
		Long: `Fit temperature scaling (Guo et al. 2017): the temperature T > 0 that
minimizes the negative log-likelihood of softmax(logits / T) on validation
examples the model was not trained on, and write a copy of the checkpoint with
T in its metadata. eval and predict then divide the logits by T before the
softmax; the predicted classes, and so the accuracy, do not change.

The validation examples never come from the training split, which the model
has fitted. They are all of --val-data's test split; else the validation
split of the data (--data, or without it the data fovea train recorded in the
checkpoint, as for fovea eval) when it has one (an .npz with val arrays), its
test split reported as held out; else a stratified --val-split fraction of
the test split, the rest reported as held out. A line on stderr says which.
See docs/evaluation.md.`,
		Example: `  fovea calibrate --model mnist-cnn-mnist.safetensors --out mnist-cnn-mnist.cal.safetensors
  fovea calibrate --model r20.safetensors --data cifar10:DIR --val-split 0.5 --out r20.cal.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setThreads(threads); err != nil {
				return err
			}
			ckpt, err := modelOrDefault(ckpt)
			if err != nil {
				return err
			}
			switch {
			case classify.IsONNX(ckpt):
				return fmt.Errorf("--model %s: calibrate writes a Fovea checkpoint; give a .safetensors checkpoint, not an ONNX file", ckpt)
			case out == "":
				return fmt.Errorf("--out: a checkpoint path for the calibrated model is required")
			case batch < 1:
				return fmt.Errorf("--batch-size %d: must be at least 1", batch)
			case limit < 0:
				return fmt.Errorf("--limit %d: must not be negative", limit)
			case valSpec == "" && !(valSplit > 0 && valSplit < 1):
				return fmt.Errorf("--val-split %g: must be in (0, 1)", valSplit)
			}
			model, meta, err := models.Load(ckpt)
			if err != nil {
				return err
			}
			val, held, about, err := calibrationSets(dataSpec, valSpec, meta, ckpt, limit, valSplit, cmd.Flags().Changed("val-split"), seed)
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "data:", about)
			before := classify.Temperature(meta)
			valLogits := train.Logits(model, val, batch)
			t := metrics.FitTemperature(valLogits, val.Y)
			res := calibrateOutput{Checkpoint: ckpt, Out: out, Before: before, Temperature: t,
				Validation: measureCalibration(val, valLogits, before, t)}
			if held != nil && held.Len() > 0 {
				h := measureCalibration(held, train.Logits(model, held, batch), before, t)
				res.Held = &h
			}
			meta.Temperature = t
			if err := models.Save(out, model, meta); err != nil {
				return err
			}
			if asJSON {
				return printJSON(res)
			}
			fmt.Printf("temperature %.4f (was %.4g), fitted on %d validation images of %s; saved %s\n", t, before, val.Len(), val.Name, out)
			for _, s := range []*calibrationSet{&res.Validation, res.Held} {
				if s == nil {
					continue
				}
				label := "validation"
				if s == res.Held {
					label = "held out"
				}
				fmt.Printf("%-10s (%d images): NLL %.4f -> %.4f, ECE %.4f -> %.4f\n", label, s.Images, s.NLLBefore, s.NLLAfter, s.ECEBefore, s.ECEAfter)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ckpt, "model", "", "Fovea checkpoint (.safetensors) to calibrate"+modelDefault)
	fl.StringVar(&dataSpec, "data", "", "dataset to fit on: its validation split, else a --val-split of its test split\n(default: the data recorded in the checkpoint)")
	fl.Float64Var(&valSplit, "val-split", 0.2, "fraction of the test split (stratified) to fit the temperature on, when the data has no\nvalidation split or this flag is given")
	fl.StringVar(&valSpec, "val-data", "", "fit on all of this dataset's test split instead of a --val-split of --data")
	fl.StringVar(&out, "out", "", "calibrated checkpoint to write (required)")
	fl.Uint64Var(&seed, "seed", 1, "seed of the validation split")
	fl.IntVar(&batch, "batch-size", 500, "images per forward pass")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.IntVar(&limit, "limit", 0, "use only N images of each split, a fixed random subset (as eval --limit; 0: all)")
	fl.BoolVar(&asJSON, "json", false, "print the temperature and the NLL and ECE before and after as JSON")
	return cmd
}

// calibrationSets returns the validation examples calibrate fits on and
// the held-out ones it reports, normalized, and a line saying which they
// are: all of --val-data's test split; else the validation split of the
// evaluation data (--data, or the data recorded in the checkpoint), when it
// has one and --val-split is not given, with its test split held out; else
// a stratified valSplit of the test split, the rest held out.
func calibrationSets(dataSpec, valSpec string, meta models.Meta, ckpt string, limit int, valSplit float64, splitGiven bool, seed uint64) (val, held *data.Dataset, about string, err error) {
	if valSpec != "" {
		s, err := loadEvalData(valSpec, meta, ckpt, limit)
		if err != nil {
			return nil, nil, "", err
		}
		return s.test, nil, "fitting on " + s.about + " (--val-data)", nil
	}
	s, err := loadEvalData(dataSpec, meta, ckpt, limit)
	if err != nil {
		return nil, nil, "", err
	}
	if s.val != nil && !splitGiven {
		return s.val, s.test, fmt.Sprintf("fitting on %s; its test split held out", s.valAbout), nil
	}
	held, val = data.StratifiedSplit(s.test, valSplit, seed)
	if val.Len() == 0 {
		return nil, nil, "", fmt.Errorf("--val-split %g of %d images leaves no validation examples", valSplit, s.test.Len())
	}
	return val, held, fmt.Sprintf("fitting on --val-split %g (stratified, seed %d) of %s; the rest held out", valSplit, seed, s.about), nil
}

// measureCalibration returns the NLL and ECE of logits on ds at the
// temperatures before and after.
func measureCalibration(ds *data.Dataset, logits [][]float32, before, after float64) calibrationSet {
	ece := func(t float64) float64 {
		_, e := metrics.Reliability(metrics.Probabilities(logits, t), ds.Y, metrics.ECEBins)
		return e
	}
	return calibrationSet{Name: ds.Name, Images: ds.Len(),
		NLLBefore: metrics.NLL(logits, ds.Y, before), NLLAfter: metrics.NLL(logits, ds.Y, after),
		ECEBefore: ece(before), ECEAfter: ece(after)}
}
