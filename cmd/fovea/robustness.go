package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/robust"
)

func newRobustnessCmd() *cobra.Command {
	var (
		ckpt, dataSpec, corrList, sevList, plotPath, samplesPath string
		limit, threads                                           int
		seed                                                     uint64
		asJSON                                                   bool
	)
	cmd := &cobra.Command{
		Use:   "robustness [--model CKPT] [--data SPEC]",
		Short: "Accuracy under common image corruptions (noise, blur, JPEG, fog, …) at severities 1-5",
		Long: `Robustness evaluates a checkpoint or ONNX model on the test split of --data
(without it, the data recorded in the checkpoint, as fovea eval uses it)
corrupted in the manner of CIFAR-10-C / ImageNet-C (Hendrycks & Dietterich 2019):
every corruption at every severity, each image with its own seeded randomness.
The corruptions act on images in [0, 1]; the model's normalization (from the
checkpoint) is applied afterwards. It prints a table of accuracies (rows:
corruptions, columns: severities and their mean), the clean accuracy, the mean
corruption accuracy (mCA) and mCA relative to clean.

Corruptions: ` + strings.Join(robust.Names(), ", ") + `.
See docs/robustness.md.`,
		Example: "  fovea robustness --model mnist-cnn-mnist.safetensors --limit 1000\n" +
			"  fovea robustness --model m.safetensors --corruptions gaussian_noise,jpeg --severities 1,3,5 --plot curves.png --samples samples.png",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ckpt, err := modelOrDefault(ckpt)
			if err != nil {
				return err
			}
			if err := setThreads(threads); err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: must be positive (or 0 for all)", limit)
			}
			corrs, err := parseCorruptions(corrList)
			if err != nil {
				return err
			}
			sevs, err := parseSeverities(sevList)
			if err != nil {
				return err
			}
			model, meta, err := classify.Load(ckpt)
			if err != nil {
				return err
			}
			test, about, err := loadRawTest(dataSpec, meta, ckpt, limit)
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "data:", about)
			rep := robust.Evaluate(robust.Normalized(model, meta.Mean, meta.Std), test, corrs, sevs, seed)
			if plotPath != "" {
				if err := rep.PlotCurves(plotPath); err != nil {
					return fmt.Errorf("--plot: %w", err)
				}
			}
			if samplesPath != "" {
				img := robust.Samples(test.Image(0), test.C, test.H, test.W, corrs, 3, seed, 0)
				if err := robust.WritePNG(samplesPath, img); err != nil {
					return fmt.Errorf("--samples: %w", err)
				}
			}
			if asJSON {
				return printJSON(rep)
			}
			fmt.Printf("%s on %s, %d images:\n\n", ckpt, test.Name, test.Len())
			return rep.WriteTable(os.Stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&ckpt, "model", "", "Fovea checkpoint (.safetensors) or ONNX file"+modelDefault)
	fl.StringVar(&dataSpec, "data", "", "dataset whose test split is used (images in [0, 1]): mnist, cifar10:DIR, npz:FILE, an image\nfolder or archive (default: the data recorded in the checkpoint, as for fovea eval)")
	fl.IntVar(&limit, "limit", 0, "use only N test images, a fixed random subset (0: all)")
	fl.StringVar(&corrList, "corruptions", "", "comma-separated corruptions (default: all)")
	fl.StringVar(&sevList, "severities", "1,2,3,4,5", "comma-separated severities in 1..5")
	fl.Uint64Var(&seed, "seed", 1, "seed of the corruptions' randomness")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.BoolVar(&asJSON, "json", false, "print the report as one JSON object")
	fl.StringVar(&plotPath, "plot", "", "write accuracy-versus-severity curves to this PNG file")
	fl.StringVar(&samplesPath, "samples", "", "write a grid of the first test image under every corruption at severity 3 to this PNG file")
	return cmd
}

// parseCorruptions resolves a --corruptions list ("" is all).
func parseCorruptions(list string) ([]robust.Corruption, error) {
	if strings.TrimSpace(list) == "" {
		return robust.All(), nil
	}
	var out []robust.Corruption
	for _, name := range strings.Split(list, ",") {
		c, err := robust.Lookup(strings.TrimSpace(name))
		if err != nil {
			return nil, fmt.Errorf("--corruptions: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// parseSeverities reads a --severities list of integers in 1..5.
func parseSeverities(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		s, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || s < 1 || s > 5 {
			return nil, fmt.Errorf("--severities %q: want integers from 1 to 5, e.g. 1,3,5", list)
		}
		out = append(out, s)
	}
	return out, nil
}

// loadRawTest loads the evaluation split of the model of ckpt
// (loadEvalSets: --data spec, else the data recorded in the checkpoint), in
// [0, 1] (not normalized), with --limit's fixed random subset.
func loadRawTest(spec string, meta models.Meta, ckpt string, limit int) (*data.Dataset, string, error) {
	s, err := loadEvalSets(spec, meta, ckpt)
	if err != nil {
		return nil, "", err
	}
	test := s.test
	if test.Len() == 0 {
		return nil, "", fmt.Errorf("data %s is empty", test.Name)
	}
	if limit > 0 && limit < test.Len() {
		idx := rand.New(rand.NewPCG(0x70b05, uint64(limit))).Perm(test.Len())[:limit]
		test = test.Subset(idx)
	}
	return test, s.about, nil
}
