package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
)

func newModelsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "models",
		Short: "List the architectures in the model zoo",
		Long: `Models lists the architectures of the model zoo with their input shape,
their default number of classes (1000 for the ImageNet architectures, as
torchvision's, 10 for the others) and their parameters with that head.
Training sizes the head from the data's classes, import from the file's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tINPUT\tCLASSES\tPARAMS\tDESCRIPTION")
			for _, info := range models.All() {
				m, err := models.New(info.Name, models.Options{})
				if err != nil {
					return err
				}
				size := fmt.Sprintf("%dx%dx%d", info.Input[0], info.Input[1], info.Input[2])
				if info.AnySize {
					size += " (any size)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", info.Name, size, info.Classes, nn.NumParams(m), info.Description)
			}
			return tw.Flush()
		},
	}
}
