package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
)

// invertedNote ends the text line of an image that was inverted.
const invertedNote = "  (inverted: dark figure on light ground)"

// addInvertFlag defines cmd's --invert, the classify.Invert mode of
// openImageClassifier.
func addInvertFlag(cmd *cobra.Command, invert *string) {
	cmd.Flags().StringVar(invert, "invert", "auto", "invert grayscale images: auto (a grayscale image whose border is mostly light), yes or no")
}

// openImageClassifier opens the --model file path for command name, which
// reads image files: the model must take grayscale (1) or RGB (3) input.
// Images are fitted to its input as resize says (data.ResizeCrop or
// data.ResizeStretch) and inverted as invert says (auto, yes or no: a
// classify.Invert).
func openImageClassifier(path, name, resize, invert string) (*classify.Classifier, error) {
	c, err := classify.Open(path, classify.Options{Resize: resize, Invert: classify.Invert(invert)})
	if err != nil {
		return nil, err
	}
	if ch := c.Preprocessing().C; ch != 1 && ch != 3 {
		c.Close()
		return nil, fmt.Errorf("--model %s takes %d-channel input; %s reads images as grayscale (1) or RGB (3) only", path, ch, name)
	}
	return c, nil
}
