package main

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/explain"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// explanation is one written explanation, for --json.
type explanation struct {
	Image    string   `json:"image"`
	Inverted bool     `json:"inverted,omitempty"`
	Method   string   `json:"method"`
	Class    int      `json:"class"`
	Label    string   `json:"label,omitempty"`
	Score    float32  `json:"score,omitempty"`
	Layer    string   `json:"layer,omitempty"`
	Files    []string `json:"files"`
}

// explainFlags are the flags of `fovea explain`.
type explainFlags struct {
	ckpt, methods, layer, outDir, resize, invert string
	class, samples                               int
	seed                                         uint64
	asJSON                                       bool
}

func newExplainCmd() *cobra.Command {
	var f explainFlags
	cmd := &cobra.Command{
		Use:   "explain [--model CKPT] IMAGE...",
		Short: "Grad-CAM, saliency, SmoothGrad and feature-map images of what a model looks at",
		Long: `Explain writes PNG images showing which parts of each IMAGE drive the
prediction of a Fovea checkpoint or an ONNX model:

  gradcam     Grad-CAM heat map (Selvaraju et al. 2017) of a conv layer, over the image
  saliency    |∂score/∂pixel|, maximum over channels (Simonyan et al. 2014)
  smoothgrad  saliency averaged over noisy copies of the image (Smilkov et al. 2017)
  features    the first 16 channels of each conv block's output

For each image and method it writes DIR/NAME.METHOD.png (heat maps blended over
the image with the jet colour map: red is most important) and, for features,
DIR/NAME.features.LAYER.png. Images are read as fovea predict reads them
(resized and centre-cropped to the model's input, a dark figure on a light
ground inverted for a grayscale model as --invert says, normalized as in
training), so the predicted class explained is the one predict reports.
--layer names the Grad-CAM layer by its path in the model (see fovea summary);
the default is the output of the last conv block. An ONNX model runs as one
graph with no inner layers to hook: on it, and on a model without conv
layers, gradcam and features are skipped with a note. DIR is created only
when there is something to write. See docs/explain.md.`,
		Example: "  fovea explain --model mnist-cnn-mnist.safetensors digit.png\n" +
			"  fovea explain --model m.safetensors --method gradcam,features --layer 6 --out maps a.png b.png\n" +
			"  fovea explain --model m.onnx --method saliency,smoothgrad digit.png",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, images []string) error { return runExplain(f, images) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.ckpt, "model", "", "Fovea checkpoint (.safetensors) or ONNX file; gradcam and features need conv layers"+modelDefault)
	fl.StringVar(&f.methods, "method", "gradcam,saliency,smoothgrad,features", "comma-separated methods: gradcam, saliency, smoothgrad, features")
	fl.StringVar(&f.layer, "layer", "", "Grad-CAM layer path, e.g. 6 or layer4.1 (default: the last conv block's output)")
	fl.IntVar(&f.class, "class", -1, "class to explain (-1: the predicted class)")
	fl.StringVar(&f.outDir, "out", "explain", "folder for the PNG files")
	fl.StringVar(&f.resize, "resize", data.ResizeCrop, "how images of another size are fitted: crop (resize the short side, centre crop) or stretch")
	addInvertFlag(cmd, &f.invert)
	fl.IntVar(&f.samples, "samples", 25, "noisy copies SmoothGrad averages")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of SmoothGrad's noise")
	fl.BoolVar(&f.asJSON, "json", false, "print what was written as JSON")
	return cmd
}

// explainInput is one image read for the model.
type explainInput struct {
	path     string
	raw      []float32 // c×h×w in [0, 1], as the image looks
	x        *tensor.Tensor
	inverted bool
}

// pngFile is an image to write.
type pngFile struct {
	path string
	img  image.Image
}

func runExplain(f explainFlags, images []string) error {
	var err error
	if f.ckpt, err = modelOrDefault(f.ckpt); err != nil {
		return err
	}
	ms := strings.Split(f.methods, ",")
	for i, m := range ms {
		ms[i] = strings.TrimSpace(m)
		if err := oneOf("method", ms[i], "gradcam", "saliency", "smoothgrad", "features"); err != nil {
			return err
		}
	}
	if err := oneOf("resize", f.resize, data.ResizeCrop, data.ResizeStretch); err != nil {
		return err
	}
	if err := oneOf("invert", f.invert, "auto", "yes", "no"); err != nil {
		return err
	}
	if f.samples < 1 {
		return fmt.Errorf("--samples %d: must be at least 1", f.samples)
	}
	cl, err := openImageClassifier(f.ckpt, "explain", f.resize, f.invert)
	if err != nil {
		return err
	}
	defer cl.Close()
	model, meta, prep := cl.Model(), cl.Meta(), cl.Preprocessing()
	if k := meta.Options.NumClasses; f.class >= 0 && k > 0 && f.class >= k {
		return fmt.Errorf("--class %d: the model has %d classes (0 to %d)", f.class, k, k-1)
	}
	ms, note, err := runnableMethods(ms, model, meta, f)
	if err != nil {
		return err
	}
	// Every image is read before anything is written.
	inputs := make([]explainInput, len(images))
	for i, path := range images {
		raw, err := data.ReadImageFile(path, prep.C, prep.H, prep.W, prep.Resize)
		if err != nil {
			return err
		}
		x := slices.Clone(raw)
		inverted := prep.Prepare(x)
		inputs[i] = explainInput{path: path, raw: raw, x: tensor.FromSlice(x, 1, prep.C, prep.H, prep.W), inverted: inverted}
	}
	if note != "" {
		fmt.Fprintln(os.Stderr, "note:", note)
	}
	var out []explanation
	for _, in := range inputs {
		es, files, err := explainImage(model, meta, in, ms, f)
		if err != nil {
			return err
		}
		// The folder is made only now that there is something to write.
		if err := os.MkdirAll(f.outDir, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		for _, p := range files {
			if err := explain.WritePNG(p.path, p.img); err != nil {
				return err
			}
		}
		out = append(out, es...)
	}
	if f.asJSON {
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
		line := fmt.Sprintf("%s: %s -> %s", e.Image, what, strings.Join(e.Files, ", "))
		if e.Inverted {
			line += invertedNote
		}
		fmt.Println(line)
	}
	return nil
}

// runnableMethods drops the methods that need a model's inner layers when
// it has none to hook (an ONNX graph runs as one piece; a model may have no
// conv layer) and returns the note saying so. Asking for nothing else, or
// naming a --layer of an ONNX graph, is an error.
func runnableMethods(ms []string, model nn.Layer, meta models.Meta, f explainFlags) (run []string, note string, err error) {
	var why string
	switch {
	case strings.HasPrefix(meta.Model, classify.ONNXPrefix):
		why = fmt.Sprintf("%s is an ONNX graph, which runs as one piece with no conv layers to hook", f.ckpt)
		if f.layer != "" && slices.Contains(ms, "gradcam") {
			return nil, "", fmt.Errorf("--layer %s: %s; Grad-CAM needs a Fovea checkpoint (saliency and smoothgrad work on ONNX)", f.layer, why)
		}
	case len(explain.Stages(model, 0)) == 0:
		why = "the model has no conv layer"
	}
	var skipped []string
	for _, m := range ms {
		// Grad-CAM at a named --layer of a Fovea model may still work.
		if why != "" && (m == "features" || m == "gradcam" && f.layer == "") {
			skipped = append(skipped, map[string]string{"gradcam": "Grad-CAM", "features": "feature maps"}[m])
			continue
		}
		run = append(run, m)
	}
	if len(skipped) == 0 {
		return run, "", nil
	}
	what := strings.Join(slices.Compact(skipped), " and ")
	if len(run) == 0 {
		return nil, "", fmt.Errorf("--method %s: %s cannot run: %s; use --method saliency,smoothgrad", f.methods, what, why)
	}
	return run, fmt.Sprintf("%s skipped: %s (saliency and SmoothGrad need only the gradient with respect to the input)", what, why), nil
}

// explainImage computes the methods ms on one image and returns what they
// explain and the PNG files to write.
func explainImage(model nn.Layer, meta models.Meta, in explainInput, ms []string, f explainFlags) ([]explanation, []pngFile, error) {
	c, h, w := meta.InputShape[0], meta.InputShape[1], meta.InputShape[2]
	base := filepath.Join(f.outDir, strings.TrimSuffix(filepath.Base(in.path), filepath.Ext(in.path)))
	scale := max(1, 224/max(h, w))
	var out []explanation
	var files []pngFile
	for _, m := range ms {
		e := explanation{Image: in.path, Inverted: in.inverted, Method: m, Class: f.class}
		var heat *explain.Map
		var err error
		switch m {
		case "gradcam":
			var cam *explain.CAM
			if cam, err = explain.GradCAM(model, in.x, f.layer, f.class); err == nil {
				heat, e.Layer = &cam.Map, cam.Layer
			}
		case "saliency":
			heat, err = explain.Saliency(model, in.x, f.class)
		case "smoothgrad":
			heat, err = explain.SmoothGrad(model, in.x, f.class, f.samples, 0.15, f.seed)
		case "features":
			var fms []explain.FeatureMap
			fms, err = explain.FeatureMaps(model, in.x, nil)
			for _, fm := range fms {
				file := fmt.Sprintf("%s.features.%s.png", base, fm.Layer)
				files = append(files, pngFile{file, explain.FeatureGrid(fm, 16)})
				e.Files = append(e.Files, file)
			}
			e.Class = -1
		}
		if err != nil {
			return nil, nil, err
		}
		if heat != nil {
			img, err := explain.Overlay(in.raw, c, h, w, heat, 0.5)
			if err != nil {
				return nil, nil, err
			}
			file := base + "." + m + ".png"
			files = append(files, pngFile{file, explain.Enlarge(img, scale)})
			e.Files, e.Class, e.Score = []string{file}, heat.Class, heat.Score
			if heat.Class < len(meta.Classes) {
				e.Label = meta.Classes[heat.Class]
			}
		}
		out = append(out, e)
	}
	return out, files, nil
}
