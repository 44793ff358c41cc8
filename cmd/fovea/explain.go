package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/explain"
	"github.com/fovea-ml/fovea/tensor"
)

// explanation is one written explanation, for --json.
type explanation struct {
	Image  string   `json:"image"`
	Method string   `json:"method"`
	Class  int      `json:"class"`
	Label  string   `json:"label,omitempty"`
	Score  float32  `json:"score,omitempty"`
	Layer  string   `json:"layer,omitempty"`
	Files  []string `json:"files"`
}

func newExplainCmd() *cobra.Command {
	var (
		ckpt, methods, layer, outDir, resize string
		class, samples                       int
		seed                                 uint64
		asJSON                               bool
	)
	cmd := &cobra.Command{
		Use:   "explain [--model CKPT] IMAGE...",
		Short: "Grad-CAM, saliency, SmoothGrad and feature-map images of what a model looks at",
		Long: `Explain writes PNG images showing which parts of each IMAGE drive a Fovea
checkpoint's prediction:

  gradcam     Grad-CAM heat map (Selvaraju et al. 2017) of a conv layer, over the image
  saliency    |∂score/∂pixel|, maximum over channels (Simonyan et al. 2014)
  smoothgrad  saliency averaged over noisy copies of the image (Smilkov et al. 2017)
  features    the first 16 channels of each conv block's output

For each image and method it writes DIR/NAME.METHOD.png (heat maps blended over
the image with the jet colour map: red is most important) and, for features,
DIR/NAME.features.LAYER.png. Images are read like fovea predict reads them
(resized and centre-cropped to the model's input, normalized as in training).
--layer names the Grad-CAM layer by its path in the model (see fovea summary);
the default is the output of the last conv block. See docs/explain.md.`,
		Example: "  fovea explain --model mnist-cnn-mnist.safetensors digit.png\n" +
			"  fovea explain --model m.safetensors --method gradcam,features --layer 6 --out maps a.png b.png",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, images []string) error {
			ckpt, err := modelOrDefault(ckpt)
			if err != nil {
				return err
			}
			ms := strings.Split(methods, ",")
			for i, m := range ms {
				ms[i] = strings.TrimSpace(m)
				if err := oneOf("method", ms[i], "gradcam", "saliency", "smoothgrad", "features"); err != nil {
					return err
				}
			}
			if err := oneOf("resize", resize, data.ResizeCrop, data.ResizeStretch); err != nil {
				return err
			}
			if samples < 1 {
				return fmt.Errorf("--samples %d: must be at least 1", samples)
			}
			model, meta, err := loadModel(ckpt)
			if err != nil {
				return err
			}
			c, h, w := meta.InputShape[0], meta.InputShape[1], meta.InputShape[2]
			if c != 1 && c != 3 {
				return fmt.Errorf("--model %s takes %d-channel input; explain reads images as grayscale (1) or RGB (3) only", ckpt, c)
			}
			if k := meta.Options.NumClasses; class >= 0 && k > 0 && class >= k {
				return fmt.Errorf("--class %d: the model has %d classes (0 to %d)", class, k, k-1)
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return err
			}
			var out []explanation
			for _, path := range images {
				raw, err := data.ReadImageFile(path, c, h, w, resize)
				if err != nil {
					return err
				}
				norm := append([]float32(nil), raw...)
				if len(meta.Mean) > 0 {
					(&data.Dataset{X: norm, Y: []int{0}, C: c, H: h, W: w}).Normalize(meta.Mean, meta.Std)
				}
				x := tensor.FromSlice(norm, 1, c, h, w)
				base := filepath.Join(outDir, strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
				scale := max(1, 224/max(h, w))
				for _, m := range ms {
					e := explanation{Image: path, Method: m, Class: class}
					var heat *explain.Map
					switch m {
					case "gradcam":
						cam, err := explain.GradCAM(model, x, layer, class)
						if err != nil {
							return err
						}
						heat, e.Layer = &cam.Map, cam.Layer
					case "saliency":
						if heat, err = explain.Saliency(model, x, class); err != nil {
							return err
						}
					case "smoothgrad":
						if heat, err = explain.SmoothGrad(model, x, class, samples, 0.15, seed); err != nil {
							return err
						}
					case "features":
						fms, err := explain.FeatureMaps(model, x, nil)
						if err != nil {
							return err
						}
						for _, f := range fms {
							file := fmt.Sprintf("%s.features.%s.png", base, f.Layer)
							if err := explain.WritePNG(file, explain.FeatureGrid(f, 16)); err != nil {
								return err
							}
							e.Files = append(e.Files, file)
						}
						e.Class = -1
					}
					if heat != nil {
						img, err := explain.Overlay(raw, c, h, w, heat, 0.5)
						if err != nil {
							return err
						}
						file := base + "." + m + ".png"
						if err := explain.WritePNG(file, explain.Enlarge(img, scale)); err != nil {
							return err
						}
						e.Files, e.Class, e.Score = []string{file}, heat.Class, heat.Score
						if heat.Class < len(meta.Classes) {
							e.Label = meta.Classes[heat.Class]
						}
					}
					out = append(out, e)
				}
			}
			if asJSON {
				return printJSON(out)
			}
			for _, e := range out {
				what := e.Method
				if e.Class >= 0 {
					what += fmt.Sprintf(" of class %d", e.Class)
					if e.Label != "" && e.Label != fmt.Sprint(e.Class) {
						what += " (" + e.Label + ")"
					}
				}
				if e.Layer != "" {
					what += " at layer " + e.Layer
				}
				fmt.Printf("%s: %s -> %s\n", e.Image, what, strings.Join(e.Files, ", "))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ckpt, "model", "", "Fovea checkpoint (.safetensors) or ONNX file; gradcam and features need conv layers"+modelDefault)
	fl.StringVar(&methods, "method", "gradcam,saliency,smoothgrad,features", "comma-separated methods: gradcam, saliency, smoothgrad, features")
	fl.StringVar(&layer, "layer", "", "Grad-CAM layer path, e.g. 6 or layer4.1 (default: the last conv block's output)")
	fl.IntVar(&class, "class", -1, "class to explain (-1: the predicted class)")
	fl.StringVar(&outDir, "out", "explain", "folder for the PNG files")
	fl.StringVar(&resize, "resize", data.ResizeCrop, "how images of another size are fitted: crop (resize the short side, centre crop) or stretch")
	fl.IntVar(&samples, "samples", 25, "noisy copies SmoothGrad averages")
	fl.Uint64Var(&seed, "seed", 1, "seed of SmoothGrad's noise")
	fl.BoolVar(&asJSON, "json", false, "print what was written as JSON")
	return cmd
}
