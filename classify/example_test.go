package classify_test

import (
	"context"
	"fmt"
	"image"
	"log"
	"os"
	"path/filepath"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
)

// digitFile writes an untrained mnist-cnn checkpoint, as fovea train
// writes a trained one, and returns its path.
func digitFile(dir string) string {
	opt := models.Options{NumClasses: 10, Seed: 1}
	m, err := models.New(models.DefaultMNIST, opt)
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "digits.safetensors")
	meta := models.Meta{Model: models.DefaultMNIST, Options: opt, InputShape: [3]int{1, 28, 28},
		Classes: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		Mean:    []float32{data.MNISTMean}, Std: []float32{data.MNISTStd}}
	if err := models.Save(path, m, meta); err != nil {
		log.Fatal(err)
	}
	return path
}

// A service opens its model once and classifies images from any number of
// goroutines. This image, a black stroke on white, is inverted for the
// MNIST model, which was trained on light digits on a dark ground.
func Example() {
	dir, err := os.MkdirTemp("", "classify-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	c, err := classify.Open(digitFile(dir), classify.Options{}) // or a .onnx file
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	img := image.NewGray(image.Rect(0, 0, 56, 56)) // resized to 28×28
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := 10; y < 46; y++ {
		img.Pix[y*56+28] = 0 // a "1"
	}
	p, err := c.Classify(context.Background(), img, 3)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("classes:", len(p.Top), "inverted:", p.Inverted)
	fmt.Println("most probable first:", p.Top[0].Probability >= p.Top[1].Probability && p.Top[1].Probability >= p.Top[2].Probability)
	// Output:
	// classes: 3 inverted: true
	// most probable first: true
}
