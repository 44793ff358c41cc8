package main

import (
	"fmt"

	"github.com/spf13/cobra"

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

The validation examples are --val-data's test split, or else a stratified
--val-split fraction of --data's test split (never the training split, which
the model has fitted); the rest of that test split is reported as held out.
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
			case isONNXPath(ckpt):
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
			var val, held *data.Dataset
			if valSpec != "" {
				if val, err = loadEvalData(valSpec, meta, ckpt, limit); err != nil {
					return err
				}
			} else {
				test, err := loadEvalData(dataSpec, meta, ckpt, limit)
				if err != nil {
					return err
				}
				held, val = data.StratifiedSplit(test, valSplit, seed)
				if val.Len() == 0 {
					return fmt.Errorf("--val-split %g of %d images leaves no validation examples", valSplit, test.Len())
				}
			}
			before := temperature(meta)
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
	fl.StringVar(&dataSpec, "data", "mnist", "dataset whose test split is divided into validation and held-out images")
	fl.Float64Var(&valSplit, "val-split", 0.2, "fraction of --data's test split (stratified) to fit the temperature on")
	fl.StringVar(&valSpec, "val-data", "", "fit on all of this dataset's test split instead of a --val-split of --data")
	fl.StringVar(&out, "out", "", "calibrated checkpoint to write (required)")
	fl.Uint64Var(&seed, "seed", 1, "seed of the validation split")
	fl.IntVar(&batch, "batch-size", 500, "images per forward pass")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.IntVar(&limit, "limit", 0, "use only N test images, a fixed random subset (as eval --limit; 0: all)")
	fl.BoolVar(&asJSON, "json", false, "print the temperature and the NLL and ECE before and after as JSON")
	return cmd
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
