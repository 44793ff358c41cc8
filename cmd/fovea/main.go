// Command fovea builds, trains, evaluates and runs CNN image classifiers.
//
//	fovea train                 train the default CNN on the embedded MNIST
//	fovea eval --model CKPT     accuracy, loss, per-class metrics, ROC and calibration of a checkpoint or ONNX file
//	fovea calibrate --model CKPT --out CKPT2   fit a softmax temperature (temperature scaling)
//	fovea predict --model CKPT IMAGE...
//	fovea infer --model CKPT --input x.npy --out y.npy
//	fovea models                the zoo
//	fovea summary MODEL         per-layer shapes, parameters, MACs, memory
//	fovea data inspect PATH     what a dataset holds
//	fovea robustness --model CKPT --data SPEC   accuracy under 12 corruptions at 5 severities
//	fovea explain --model CKPT IMAGE...         Grad-CAM, saliency, SmoothGrad, feature maps
//	fovea export --model CKPT --out model.onnx
//	fovea import --from state_dict.safetensors --model resnet18 --out CKPT
//	fovea bench --workload W1   the peer-benchmark contract (bench/peers)
//	fovea serve --model NAME=CKPT             KServe v2 REST, image upload, metrics (docs/serve.md)
//	fovea version               the version (also fovea --version)
//
// Run `fovea help` for the full list and `fovea COMMAND --help` for flags.
// Every error is printed as one line on stderr with a non-zero exit status.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/internal/maybe"
	"github.com/fovea-ml/fovea/internal/version"
)

func main() {
	// A model or file the user gave can fail at run time on what it says
	// (an ONNX graph meeting a shape its operators cannot take, a spec
	// whose layers do not fit): the packages panic with an expected error
	// (internal/maybe), reported like any other bad input. Other panics are
	// bugs and keep their trace.
	err := maybe.Do(func() {
		if err := newRoot().Execute(); err != nil {
			fmt.Fprintln(os.Stderr, "fovea:", err)
			os.Exit(1)
		}
	})
	if err != nil {
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
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate(versionLine() + "\n")
	root.AddCommand(newVersionCmd(), newTrainCmd(), newEvalCmd(), newPredictCmd(), newInferCmd(), newModelsCmd(), newSummaryCmd(),
		newDataCmd(), newExportCmd(), newImportCmd(), newBenchCmd(), newCalibrateCmd(), newRobustnessCmd(), newExplainCmd(), newServeCmd())
	return root
}
