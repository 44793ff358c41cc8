package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/tensor"
)

// prediction is one image's top-k result; its classes have the keys of
// the server's /v1/predict response (label, index, probability).
type prediction struct {
	Image    string           `json:"image"`
	Inverted bool             `json:"inverted,omitempty"`
	Top      []metrics.Ranked `json:"top"`
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
first, and the output says so.`,
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
			model, meta, err := loadModel(ckpt)
			if err != nil {
				return err
			}
			c, h, w := meta.InputShape[0], meta.InputShape[1], meta.InputShape[2]
			if c != 1 && c != 3 {
				return fmt.Errorf("--model %s takes %d-channel input; predict reads images as grayscale (1) or RGB (3) only", ckpt, c)
			}
			if topK < 1 {
				return fmt.Errorf("--top %d: must be at least 1", topK)
			}
			var preds []prediction
			for _, path := range images {
				x, inverted, err := readModelImage(path, c, h, w, resize, invert)
				if err != nil {
					return err
				}
				p := prediction{Image: path, Inverted: inverted}
				in := tensor.FromSlice(x, 1, c, h, w)
				if len(meta.Mean) > 0 {
					ds := &data.Dataset{X: x, Y: []int{0}, C: c, H: h, W: w}
					ds.Normalize(meta.Mean, meta.Std)
				}
				logits := model.Forward(autograd.EvalConst(in)).Value.Data()
				p.Top = metrics.TopClasses(metrics.Softmax(logits, temperature(meta)), meta.Classes, topK)
				preds = append(preds, p)
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
