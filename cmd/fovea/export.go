package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx"
)

func newExportCmd() *cobra.Command {
	var (
		model, format, out, input string
		opset, classes            int
		dynamic                   bool
		seed                      uint64
	)
	cmd := &cobra.Command{
		Use:   "export [--model CKPT|ZOO-NAME|FILE.onnx] --out model.onnx",
		Short: "Write a model as an ONNX file",
		Long: `Export writes a model as ONNX (see docs/onnx.md) for ONNX Runtime, TensorRT,
OpenVINO and other runtimes. The model is a checkpoint (its input shape comes
from the metadata), a zoo name (randomly initialized from --seed; see fovea
models) or an ONNX file (imported, then exported again). The exported graph
has the input "input" (N, C, H, W) and the output "output" (the logits).`,
		Example: `  fovea export --model model.safetensors --out model.onnx
  fovea export --model resnet18 --classes 1000 --out resnet18.onnx --dynamic-batch
  fovea export --model lenet5 --out lenet.onnx --opset 13`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("--out: the .onnx file to write is required")
			}
			model, err := modelOrDefault(model)
			if err != nil {
				return err
			}
			if err := oneOf("format", format, "onnx"); err != nil {
				return err
			}
			var in *[3]int
			if cmd.Flags().Changed("input") {
				v, err := parseInputShape(input)
				if err != nil {
					return err
				}
				in = &v
			}
			if cmd.Flags().Changed("classes") && classes < 1 {
				return fmt.Errorf("--classes %d: must be positive", classes)
			}
			name, m, shape, md, err := exportModel(model, in, classes, seed)
			if err != nil {
				return err
			}
			mp, err := onnx.Export(m, []int{1, shape[0], shape[1], shape[2]}, onnx.ExportOptions{Opset: opset, DynamicBatch: dynamic, Name: name, Metadata: md})
			if err != nil {
				return fmt.Errorf("%s: %w", model, err)
			}
			if err := onnx.WriteFile(out, mp); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, input %dx%dx%d, opset %d, %d nodes\n",
				out, name, shape[0], shape[1], shape[2], mp.GetOpsetImport()[0].GetVersion(), len(mp.GetGraph().GetNode()))
			return nil
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "checkpoint, zoo model name or .onnx file"+modelDefault)
	cmd.Flags().StringVar(&format, "format", "onnx", "output format (onnx)")
	cmd.Flags().StringVar(&out, "out", "", "file to write")
	cmd.Flags().IntVar(&opset, "opset", onnx.DefaultOpset, fmt.Sprintf("ONNX opset, %d to %d", onnx.MinOpset, onnx.MaxOpset))
	cmd.Flags().BoolVar(&dynamic, "dynamic-batch", false, "make the batch dimension symbolic")
	cmd.Flags().StringVar(&input, "input", "", "input shape CxHxW (default: the model's)")
	cmd.Flags().IntVar(&classes, "classes", 0, "number of classes of a zoo model (default: 1000 for the ImageNet architectures, 10 for the others)")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "initialization seed of a zoo model")
	return cmd
}

// exportModel resolves --model: an ONNX file, a checkpoint or a zoo name.
// It returns a name for the graph, the model and its input shape (C, H, W):
// in when given, else the model's own.
func exportModel(arg string, in *[3]int, classes int, seed uint64) (string, nn.Layer, [3]int, map[string]string, error) {
	st, statErr := os.Stat(arg)
	isFile := statErr == nil && !st.IsDir()
	if isFile && classes != 0 {
		return "", nil, [3]int{}, nil, fmt.Errorf("--classes: %s is a file, whose classes are fixed", arg)
	}
	if isFile && strings.HasSuffix(strings.ToLower(arg), ".onnx") {
		m, err := onnx.Load(arg)
		if err != nil {
			return "", nil, [3]int{}, nil, err
		}
		var shape [3]int
		if len(m.InputShape) == 4 {
			copy(shape[:], m.InputShape[1:])
		}
		if in != nil {
			shape = *in
		}
		if shape[0] < 1 || shape[1] < 1 || shape[2] < 1 {
			return "", nil, [3]int{}, nil, fmt.Errorf("%s: input shape %v is not fixed; give --input CxHxW", arg, m.InputShape)
		}
		return "fovea", m, shape, m.Metadata, nil
	}
	if isFile {
		m, meta, err := models.Load(arg)
		if err != nil {
			return "", nil, [3]int{}, nil, err
		}
		shape := meta.InputShape
		if in != nil {
			shape = *in
		}
		// The checkpoint's classes, normalization and temperature go into
		// the file's metadata_props; the graph itself describes the model.
		meta.InputShape = shape
		md, err := meta.Metadata()
		if err != nil {
			return "", nil, [3]int{}, nil, err
		}
		delete(md, checkpoint.KeySpec)
		return meta.Model, m, shape, md, nil
	}
	info, err := models.Lookup(arg)
	if err != nil {
		if strings.ContainsAny(arg, `./\`) {
			return "", nil, [3]int{}, nil, fmt.Errorf("%s: no such file, and not a zoo model (known: %s)", arg, strings.Join(models.Names(), ", "))
		}
		return "", nil, [3]int{}, nil, err
	}
	shape := info.Input
	if in != nil {
		shape = *in
	}
	m, err := models.New(arg, models.Options{NumClasses: classes, InChannels: shape[0], Seed: seed})
	if err != nil {
		return "", nil, [3]int{}, nil, err
	}
	return arg, m, shape, nil, nil
}
