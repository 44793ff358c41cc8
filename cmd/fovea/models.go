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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tINPUT\tPARAMS (10 classes)\tDESCRIPTION")
			for _, info := range models.All() {
				m, err := info.Build(models.Options{NumClasses: 10, InChannels: info.Input[0]})
				if err != nil {
					return err
				}
				size := fmt.Sprintf("%dx%dx%d", info.Input[0], info.Input[1], info.Input[2])
				if info.AnySize {
					size += " (any size)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", info.Name, size, nn.NumParams(m), info.Description)
			}
			return tw.Flush()
		},
	}
}
