package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/models"
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
			model, meta, err := models.Load(ckpt)
			if err != nil {
				return err
			}
			_, test, err := loadData(dataSpec)
			if err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: must not be negative", limit)
			}
			if limit > 0 && limit < test.Len() {
				test = test.Head(limit)
			}
			if err := prepareFor(test, meta, ckpt); err != nil {
				return err
			}
			loss, acc := train.Evaluate(model, test, batch)
			if asJSON {
				return printJSON(map[string]any{"test_accuracy": acc, "test_loss": loss, "images": test.Len(), "model": meta.Model})
			}
			fmt.Printf("%s on %s: accuracy %.2f%% (%d images), loss %.4f\n", ckpt, test.Name, 100*acc, test.Len(), loss)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ckpt, "model", "", "checkpoint to evaluate (required)")
	fl.StringVar(&dataSpec, "data", "mnist", "dataset whose test split is used: mnist, mnist:DIR, fashion-mnist:DIR, or a folder of IDX files")
	fl.IntVar(&batch, "batch-size", 500, "images per forward pass")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.IntVar(&limit, "limit", 0, "use only the first N test images (0: all)")
	fl.BoolVar(&asJSON, "json", false, "print the metrics as one JSON object")
	return cmd
}
