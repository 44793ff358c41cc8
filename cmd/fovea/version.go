package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/internal/version"
)

// versionLine is what fovea --version and fovea version print, e.g.
// "fovea 0.1.0 (go1.26.8 linux/amd64, revision 3dc8dab2e5f1)".
func versionLine() string { return "fovea " + version.String() }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the Fovea version, the Go version and the revision it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return err
		},
	}
}
