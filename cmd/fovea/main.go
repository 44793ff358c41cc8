// Command fovea builds, trains, evaluates and runs CNN image classifiers.
//
//	fovea train                 train the default CNN on the embedded MNIST
//	fovea eval --model CKPT     test accuracy and loss of a checkpoint
//	fovea predict --model CKPT IMAGE...
//	fovea bench --workload W1   the peer-benchmark contract (bench/peers)
//
// Run `fovea help` for the full list and `fovea COMMAND --help` for flags.
// Every error is printed as one line on stderr with a non-zero exit status.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "fovea:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "fovea",
		Short: "Fovea builds, trains, evaluates and runs CNN image classifiers",
		Long: `Fovea builds, trains, evaluates and runs convolutional image classifiers in
pure Go. With no data given, it trains on the MNIST digits embedded in the binary.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newTrainCmd(), newEvalCmd(), newPredictCmd(), newBenchCmd(), newModelsCmd(), newSummaryCmd(), newDataCmd())
	return root
}
