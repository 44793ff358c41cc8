package main

import (
	"fmt"

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
			for _, info := range models.All() {
				m, err := info.Build(models.Options{NumClasses: 10, InChannels: info.Input[0]})
				if err != nil {
					return err
				}
				fmt.Printf("%-12s input %dx%dx%d  %10d params  %s\n", info.Name, info.Input[0], info.Input[1], info.Input[2], nn.NumParams(m), info.Description)
			}
			return nil
		},
	}
}
