package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
)

func newImportCmd() *cobra.Command {
	var (
		from, model, out string
		classes          int
	)
	cmd := &cobra.Command{
		Use:   "import --from STATE_DICT.safetensors --model ARCH --out CKPT",
		Short: "Turn a torchvision state_dict into a Fovea checkpoint",
		Long: `Import reads the weights of a torchvision model saved as safetensors
(safetensors.torch.save_file(model.state_dict(), path)) and writes a Fovea
checkpoint of the zoo model of the same architecture, with ImageNet input
3x224x224 and normalization. The number of classes comes from the file's
classifier. Architectures: ` + strings.Join(models.TorchvisionNames(), ", ") + `.
See docs/import.md.`,
		Example: `  fovea import --from resnet18.safetensors --model resnet18 --out resnet18.fovea.safetensors
  fovea import --from mnv2.safetensors --model mobilenetv2 --classes 1000 --out mnv2.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || model == "" || out == "" {
				return fmt.Errorf("--from, --model and --out are required")
			}
			if cmd.Flags().Changed("classes") && classes < 1 {
				return fmt.Errorf("--classes %d: must be positive", classes)
			}
			f, err := checkpoint.ReadFile(from)
			if err != nil {
				return err
			}
			m, meta, err := models.FromTorchvision(f, model, classes)
			if err != nil {
				return err
			}
			if err := models.Save(out, m, meta); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, %d classes, %d parameters\n", out, meta.Model, meta.Options.NumClasses, nn.NumParams(m))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "torchvision state_dict in safetensors format")
	cmd.Flags().StringVar(&model, "model", "", "architecture: "+strings.Join(models.TorchvisionNames(), ", "))
	cmd.Flags().StringVar(&out, "out", "", "Fovea checkpoint to write")
	cmd.Flags().IntVar(&classes, "classes", 0, "expected number of classes (default: the file's)")
	return cmd
}
