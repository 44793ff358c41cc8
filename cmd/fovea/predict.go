package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/tensor"
)

// prediction is one image's top-k result; its classes have the keys of
// the server's /v1/predict response (label, index, probability).
type prediction struct {
	Image string `json:"image"`
	classify.Prediction
}

func newPredictCmd() *cobra.Command {
	var ckpt, invert, resize string
	var topK int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "predict [--model CKPT] IMAGE...",
		Short: "Classify PNG, JPEG or GIF images with a checkpoint",
		Long: `Classify images. Each image is converted to the model's input: grayscale or
RGB, resized to the model's input size, scaled to [0, 1] and normalized as in
training. MNIST models see light digits on a dark ground; with --invert auto
(the default) a single-channel image whose border is mostly light is inverted
first, and the output says so. Go programs get the same results from package
classify (see examples/classify).`,
		Example: "  fovea predict --model mnist-cnn-mnist.safetensors digit.png\n  fovea predict --model mnist-cnn-mnist.safetensors --json --top 3 *.png",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, images []string) error {
			ckpt, err := modelOrDefault(ckpt)
			if err != nil {
				return err
			}
			if err := oneOf("invert", invert, "auto", "yes", "no"); err != nil {
				return err
			}
			if err := oneOf("resize", resize, data.ResizeCrop, data.ResizeStretch); err != nil {
				return err
			}
			if topK < 1 {
				return fmt.Errorf("--top %d: must be at least 1", topK)
			}
			cl, err := openImageClassifier(ckpt, "predict", resize, invert)
			if err != nil {
				return err
			}
			defer cl.Close()
			prep := cl.Preprocessing()
			var preds []prediction
			for _, path := range images {
				x, inverted, err := prep.ReadFile(path)
				if err != nil {
					return err
				}
				top, err := cl.Top(cmd.Context(), tensor.FromSlice(x, 1, prep.C, prep.H, prep.W), topK)
				if err != nil {
					return fmt.Errorf("--model %s: %v", ckpt, err)
				}
				preds = append(preds, prediction{Image: path, Prediction: classify.Prediction{Inverted: inverted, Top: top[0]}})
			}
			if asJSON {
				return printJSON(preds)
			}
			for _, p := range preds {
				line := p.Image + ":"
				for _, l := range p.Top {
					line += fmt.Sprintf("  %s %.2f%%", l.Label, 100*l.Probability)
				}
				if p.Inverted {
					line += invertedNote
				}
				fmt.Println(line)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ckpt, "model", "", "Fovea checkpoint (.safetensors) or ONNX file to use"+modelDefault)
	fl.IntVar(&topK, "top", 3, "how many classes to show per image")
	addInvertFlag(cmd, &invert)
	fl.StringVar(&resize, "resize", data.ResizeCrop, "fit images to the model input: crop (keep the aspect ratio, cut the centre, as image folders are trained) or stretch")
	fl.BoolVar(&asJSON, "json", false, "print the predictions as JSON: per image its top classes with the keys label, index\nand probability, as the server's /v1/predict (docs/serve.md)")
	return cmd
}
