package main

import (
	"fmt"
	"math"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/train"
)

func newEvalCmd() *cobra.Command {
	var ckpt, dataSpec string
	var batch, threads, limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "eval",
		Short:   "Test accuracy and loss of a checkpoint",
		Example: "  fovea eval --model fovea-mnist.safetensors\n  fovea eval --model fashion.safetensors --data fashion-mnist:DIR --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setThreads(threads); err != nil {
				return err
			}
			if ckpt == "" {
				return fmt.Errorf("--model: a checkpoint file is required")
			}
			if batch < 1 {
				return fmt.Errorf("--batch-size %d: must be at least 1", batch)
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: must not be negative", limit)
			}
			model, meta, err := loadModel(ckpt)
			if err != nil {
				return err
			}
			in := meta.InputShape
			test, err := data.LoadTest(dataSpec, data.LoadOptions{FolderOptions: data.FolderOptions{Size: [2]int{in[1], in[2]}, Channels: in[0]}})
			if err != nil {
				return fmt.Errorf("--data %s: %w", dataSpec, err)
			}
			if len(meta.Classes) > 0 {
				if err := data.AlignClasses(&data.Dataset{Name: ckpt, ClassNames: meta.Classes, NumClasses: len(meta.Classes)}, test); err != nil {
					return err
				}
			}
			if limit > 0 && limit < test.Len() {
				test = sample(test, limit, evalSampleSeed)
			}
			if err := prepareFor(test, meta, ckpt); err != nil {
				return err
			}
			loss, acc := train.Evaluate(model, test, batch)
			auc, _ := metrics.MacroAUC(train.Predict(model, test, batch), test.Y)
			if asJSON {
				out := map[string]any{"test_accuracy": acc, "test_loss": loss, "images": test.Len(), "model": meta.Model}
				if !math.IsNaN(auc) {
					out["test_roc_auc"] = auc
				}
				return printJSON(out)
			}
			aucText := ""
			if !math.IsNaN(auc) {
				aucText = fmt.Sprintf(", ROC-AUC %.4f", auc)
				if test.NumClasses > 2 {
					aucText = fmt.Sprintf(", ROC-AUC %.4f (one-vs-rest, macro)", auc)
				}
			}
			fmt.Printf("%s on %s: accuracy %.2f%% (%d images), loss %.4f%s\n", ckpt, test.Name, 100*acc, test.Len(), loss, aucText)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ckpt, "model", "", "Fovea checkpoint (.safetensors) or ONNX file to evaluate (required)")
	fl.StringVar(&dataSpec, "data", "mnist", "dataset whose test split is used: mnist, cifar10:DIR, npz:FILE, …, an image folder or archive (see fovea train --help)")
	fl.IntVar(&batch, "batch-size", 500, "images per forward pass")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.IntVar(&limit, "limit", 0, "use only N test images, a fixed random subset (the one train --test-limit N uses; 0: all)")
	fl.BoolVar(&asJSON, "json", false, "print the metrics as one JSON object")
	return cmd
}
