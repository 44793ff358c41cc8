package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/summary"
)

func newSummaryCmd() *cobra.Command {
	var (
		input   string
		classes int
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "summary MODEL|SPEC|CKPT|ONNX",
		Short: "Print a model's layers with output shapes, parameters, MACs and memory",
		Long: `Summary prints one row per layer of a model: its path, type, output shape,
parameters, multiply-accumulates (MACs) and output memory for one input, then
the totals, as torchinfo does. The model is a zoo name (see fovea models), a
YAML architecture spec (.yaml or .yml, see docs/spec.md), a checkpoint or an
ONNX file, whose layers with weights are typed by their ONNX operator (Conv,
Gemm).`,
		Example: `  fovea summary resnet18                 # torchvision's: 1000 classes, 11,689,512 parameters
  fovea summary resnet18 --classes 10
  fovea summary examples/specs/cifar-resnet.yaml --input 3x64x64
  fovea summary model.safetensors --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			name, model, shape, err := summaryModel(args[0], in, classes)
			if err != nil {
				return err
			}
			s, err := summary.Of(name, model, shape)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(s)
			}
			return s.WriteText(os.Stdout)
		},
	}
	cmd.Flags().StringVar(&input, "input", "", "input shape CxHxW, e.g. 3x224x224 (default: the model's)")
	cmd.Flags().IntVar(&classes, "classes", 0, "number of classes of a zoo model or spec (default: its own: 1000 for the zoo's ImageNet architectures, 10 for the others, a spec's classes)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as one line of JSON")
	return cmd
}

// summaryModel builds the model named by arg (a spec file, a checkpoint or
// a zoo name) and returns it with its name and the input shape to trace:
// in when given, else the model's own.
func summaryModel(arg string, in *[3]int, classes int) (string, nn.Layer, [3]int, error) {
	if models.IsSpecPath(arg) {
		spec, err := models.ReadSpec(arg)
		if err != nil {
			return "", nil, [3]int{}, err
		}
		if in != nil {
			if spec, err = spec.WithInput(*in); err != nil {
				return "", nil, [3]int{}, err
			}
		}
		m, err := spec.Build(models.Options{NumClasses: classes})
		if err != nil {
			return "", nil, [3]int{}, err
		}
		return models.SpecPrefix + spec.Name(), m, spec.Input(), nil
	}
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		if classes != 0 {
			return "", nil, [3]int{}, fmt.Errorf("--classes: %s is a checkpoint, whose classes are fixed", arg)
		}
		m, meta, err := classify.Load(arg)
		if err != nil {
			return "", nil, [3]int{}, err
		}
		shape := meta.InputShape
		if in != nil {
			shape = *in
		}
		return fmt.Sprintf("%s (%s)", arg, meta.Model), m, shape, nil
	}
	info, err := models.Lookup(arg)
	if err != nil {
		if strings.ContainsAny(arg, `./\`) {
			return "", nil, [3]int{}, fmt.Errorf("%s: no such file, and not a zoo model (known: %s)", arg, strings.Join(models.Names(), ", "))
		}
		return "", nil, [3]int{}, err
	}
	shape := info.Input
	if in != nil {
		shape = *in
	}
	m, err := models.New(arg, models.Options{NumClasses: classes, InChannels: shape[0]})
	if err != nil {
		return "", nil, [3]int{}, err
	}
	return arg, m, shape, nil
}

// parseInputShape parses a --input value CxHxW.
func parseInputShape(s string) ([3]int, error) {
	var out [3]int
	parts := strings.Split(strings.ToLower(s), "x")
	if len(parts) != 3 {
		return out, fmt.Errorf("--input %q: want CxHxW, e.g. 3x224x224", s)
	}
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 1 || v > 1<<16 {
			return out, fmt.Errorf("--input %q: want CxHxW with positive sizes, e.g. 3x224x224", s)
		}
		out[i] = v
	}
	return out, nil
}
