// Command classify embeds a model in a Go program with package classify: it
// classifies images from several goroutines at once and exits with an
// error if any goroutine's result differs from a single goroutine's. It
// prints what fovea predict prints for the same files, byte for byte (the
// test of this package checks that).
//
// Usage:
//
//	go run ./cmd/fovea train                       # writes mnist-cnn-mnist.safetensors
//	go run ./examples/classify -model mnist-cnn-mnist.safetensors [-json] [IMAGE...]
//
// Without IMAGE arguments it writes the first -digits MNIST test digits as
// image files (every third one dark on light, every fifth a larger colour
// JPEG) into a temporary folder, classifies them and removes them. The
// model may also be an ONNX file.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
)

func main() {
	log.SetFlags(0)
	if err := run(os.Args[1:], os.Stdout); err != nil {
		log.Fatal("classify: ", err)
	}
}

// result is one image's prediction, with the keys of fovea predict --json.
type result struct {
	Image string `json:"image"`
	classify.Prediction
}

// run is the command: flags and image paths in args, output to w.
func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	model := fs.String("model", "", "Fovea checkpoint or ONNX file (required; fovea train writes mnist-cnn-mnist.safetensors)")
	goroutines := fs.Int("goroutines", 10, "goroutines classifying every image at once")
	top := fs.Int("top", 3, "classes to show per image")
	digits := fs.Int("digits", 20, "MNIST test digits to write and classify when no IMAGE is given")
	asJSON := fs.Bool("json", false, "print the predictions as JSON, as fovea predict --json does")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("-model: a checkpoint or ONNX file is required (go run ./cmd/fovea train writes one)")
	}
	if *goroutines < 1 || *top < 1 {
		return fmt.Errorf("-goroutines %d, -top %d: both must be at least 1", *goroutines, *top)
	}
	paths := fs.Args()
	if len(paths) == 0 {
		dir, err := os.MkdirTemp("", "classify-digits-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if paths, err = writeDigits(dir, *digits); err != nil {
			return err
		}
	}

	c, err := classify.Open(*model, classify.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	imgs := make([]image.Image, len(paths))
	for i, p := range paths {
		if imgs[i], err = readImage(p); err != nil {
			return err
		}
	}
	ctx := context.Background()
	want, err := classifyAll(ctx, c, paths, imgs, *top, 0)
	if err != nil {
		return err
	}
	if err := checkConcurrent(ctx, c, paths, imgs, *top, *goroutines, want); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d goroutines classified the %d images as one goroutine did\n", *goroutines, len(imgs))
	if *asJSON {
		b, err := json.Marshal(want)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	for _, r := range want {
		fmt.Fprintf(w, "%s: %s (%.1f%%)", filepath.Base(r.Image), r.Top[0].Label, 100*r.Top[0].Probability)
		if r.Inverted {
			fmt.Fprint(w, ", inverted")
		}
		fmt.Fprintln(w)
	}
	return nil
}

// classifyAll classifies every image, one at a time, starting at image
// first (so goroutines that start at different images overlap), and
// returns the results in the order of imgs.
func classifyAll(ctx context.Context, c *classify.Classifier, paths []string, imgs []image.Image, k, first int) ([]result, error) {
	out := make([]result, len(imgs))
	for n := range imgs {
		i := (first + n) % len(imgs)
		p, err := c.Classify(ctx, imgs[i], k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", paths[i], err)
		}
		out[i] = result{Image: paths[i], Prediction: p}
	}
	return out, nil
}

// checkConcurrent classifies every image from g goroutines at once and
// returns an error naming the first result that differs from want.
func checkConcurrent(ctx context.Context, c *classify.Classifier, paths []string, imgs []image.Image, k, g int, want []result) error {
	errs := make([]error, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() {
			got, err := classifyAll(ctx, c, paths, imgs, k, i)
			if err != nil {
				errs[i] = err
				return
			}
			for j := range got {
				if got[j].Inverted != want[j].Inverted || !slices.Equal(got[j].Top, want[j].Top) {
					errs[i] = fmt.Errorf("goroutine %d of %d: %s: %+v; one goroutine alone: %+v", i+1, g, paths[j], got[j].Prediction, want[j].Prediction)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readImage decodes an image file.
func readImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// writeDigits writes the first n MNIST test digits into dir as
// digitNN.png, light on dark as MNIST has them, except that every third
// is dark on light and every fifth a 40×36 colour JPEG (digitNN.jpg), and
// returns their paths.
func writeDigits(dir string, n int) ([]string, error) {
	_, test, err := data.MNIST()
	if err != nil {
		return nil, err
	}
	if n < 1 || n > test.Len() {
		return nil, fmt.Errorf("-digits %d: want 1 to %d", n, test.Len())
	}
	var paths []string
	for i := range n {
		g := image.NewGray(image.Rect(0, 0, test.W, test.H))
		for k, v := range test.Image(i) {
			p := uint8(math.Round(float64(v) * 255))
			if i%3 == 2 {
				p = 255 - p
			}
			g.Pix[k] = p
		}
		var buf bytes.Buffer
		path := filepath.Join(dir, fmt.Sprintf("digit%02d.png", i))
		if i%5 == 4 {
			path = path[:len(path)-len(".png")] + ".jpg"
			err = jpeg.Encode(&buf, colourDigit(g, 40, 36), &jpeg.Options{Quality: 90})
		} else {
			err = png.Encode(&buf, g)
		}
		if err == nil {
			err = os.WriteFile(path, buf.Bytes(), 0o644)
		}
		if err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// colourDigit returns g enlarged to w×h (nearest neighbour) in colour.
func colourDigit(g *image.Gray, w, h int) *image.RGBA {
	b := g.Bounds()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := g.GrayAt(x*b.Dx()/w, y*b.Dy()/h).Y
			img.SetRGBA(x, y, color.RGBA{v, v, v / 2, 255})
		}
	}
	return img
}
