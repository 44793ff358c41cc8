package main

import (
	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/data"
)

// invertedNote ends the text line of an image that was inverted.
const invertedNote = "  (inverted: dark figure on light ground)"

// addInvertFlag defines cmd's --invert, the inversion readModelImage
// applies.
func addInvertFlag(cmd *cobra.Command, invert *string) {
	cmd.Flags().StringVar(invert, "invert", "auto", "invert grayscale images: auto (a grayscale image whose border is mostly light), yes or no")
}

// readModelImage reads an image file as the input of a model that takes
// c×h×w images: grayscale or RGB, fitted to h×w by resize (data.ResizeCrop
// or data.ResizeStretch), values in [0, 1]. MNIST-style models see light
// figures on a dark ground, so with invert "yes", or "auto" for a
// one-channel model and an image whose border is mostly light, the values
// are inverted (1 − v); inverted reports whether they were.
func readModelImage(path string, c, h, w int, resize, invert string) (x []float32, inverted bool, err error) {
	x, err = data.ReadImageFile(path, c, h, w, resize)
	if err != nil {
		return nil, false, err
	}
	if invert == "yes" || (invert == "auto" && c == 1 && data.BorderMean(x, c, h, w) > 0.5) {
		for i := range x {
			x[i] = 1 - x[i]
		}
		inverted = true
	}
	return x, inverted, nil
}
