package main

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// dataFlags are the flags of `fovea data inspect`.
type dataFlags struct {
	size, resize, sheet         string
	channels, perClass, workers int
}

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Look at datasets",
		Args:  cobra.NoArgs,
	}
	var f dataFlags
	inspect := &cobra.Command{
		Use:   "inspect PATH|SPEC",
		Short: "Print the splits, class counts, image size and channel statistics of a dataset",
		Long: `Inspect loads a dataset as training would and prints, for each split, the number
of examples, the count of each class, the image size (and for image folders the
range of the original sizes) and the mean and standard deviation of each channel.

PATH|SPEC is anything --data accepts: mnist, mnist:DIR, fashion-mnist:DIR,
idx:DIR, cifar10:DIR, cifar100:DIR, npz:FILE, folder:PATH, or a plain path to a
folder or .tar/.tar.gz/.tgz archive of images (one sub-folder per class).`,
		Example: `  fovea data inspect ../shared/datasets/cifar10-jpeg/cifar10-test-jpeg.tar.gz --sheet cifar.png
  fovea data inspect ../shared/datasets/hymenoptera/hymenoptera_data --size 64x64
  fovea data inspect npz:../shared/datasets/breastmnist/breastmnist.npz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runInspect(args[0], f) },
	}
	fl := inspect.Flags()
	fl.StringVar(&f.size, "size", "", "resize image-folder images to HxW (or N for NxN); default: the first image's size, which all must share")
	fl.IntVar(&f.channels, "channels", 0, "image-folder channels: 1 (gray), 3 (RGB) or 0 (automatic)")
	fl.StringVar(&f.resize, "resize", data.ResizeCrop, "how --size is reached: crop (keep aspect, cut the centre) or stretch")
	fl.IntVar(&f.workers, "workers", 0, "images decoded in parallel (0: one per core)")
	fl.StringVar(&f.sheet, "sheet", "", "write a PNG contact sheet of the first split to this file: one row per class")
	fl.IntVar(&f.perClass, "per-class", 8, "images per class on the --sheet")
	cmd.AddCommand(inspect)
	return cmd
}

// inspectSplit is one named split of the inspected dataset.
type inspectSplit struct {
	label string
	ds    *data.Dataset
}

func runInspect(spec string, f dataFlags) error {
	size, err := parseSize("size", f.size)
	if err != nil {
		return err
	}
	if f.channels != 0 && f.channels != 1 && f.channels != 3 {
		return fmt.Errorf("--channels %d: must be 1, 3 or 0 (automatic)", f.channels)
	}
	if err := oneOf("resize", f.resize, data.ResizeCrop, data.ResizeStretch); err != nil {
		return err
	}
	if f.perClass <= 0 || f.perClass > 100 {
		return fmt.Errorf("--per-class %d: must be 1..100", f.perClass)
	}
	if f.workers < 0 {
		return fmt.Errorf("--workers %d: must be positive (or 0 for one per core)", f.workers)
	}
	var rep data.FolderReport
	opt := data.LoadOptions{FolderOptions: data.FolderOptions{Size: size, Channels: f.channels, Resize: f.resize, Workers: f.workers, Report: &rep}}
	var splits []inspectSplit
	if file, ok := strings.CutPrefix(spec, "npz:"); ok || strings.HasSuffix(strings.ToLower(spec), ".npz") {
		if !ok {
			file = spec
		}
		train, val, test, err := data.LoadNPZ(file)
		if err != nil {
			return err
		}
		splits = append(splits, inspectSplit{"train", train})
		if val != nil {
			splits = append(splits, inspectSplit{"val", val})
		}
		splits = append(splits, inspectSplit{"test", test})
	} else {
		train, test, err := data.LoadWith(spec, opt)
		if se := (*data.SizeError)(nil); errors.As(err, &se) {
			return fmt.Errorf("%s: image is %dx%d, the first image is %dx%d: give --size HxW (e.g. --size %dx%d) to resize every image",
				se.File, se.Size[0], se.Size[1], se.First[0], se.First[1], se.First[0], se.First[1])
		}
		if err != nil {
			return err
		}
		splits = append(splits, inspectSplit{"train", train})
		if test != nil {
			splits = append(splits, inspectSplit{"test", test})
		} else {
			splits[0].label = "all"
		}
	}
	for _, s := range splits {
		printSplit(s, rep)
	}
	if f.sheet != "" {
		if err := writeSheet(f.sheet, splits[0].ds, f.perClass); err != nil {
			return err
		}
		fmt.Printf("contact sheet: %s\n", f.sheet)
	}
	return nil
}

// printSplit prints one split's summary.
func printSplit(s inspectSplit, rep data.FolderReport) {
	d := s.ds
	fmt.Printf("%s (%s): %d examples, %dx%dx%d (CxHxW), %d classes\n", s.label, d.Name, d.Len(), d.C, d.H, d.W, d.NumClasses)
	for _, r := range rep.Splits {
		if r.Name == d.Name && r.Files > 0 {
			fmt.Printf("  original sizes: %d..%d x %d..%d (HxW)\n", r.MinSize[0], r.MaxSize[0], r.MinSize[1], r.MaxSize[1])
		}
	}
	counts := make([]int, d.NumClasses)
	for _, y := range d.Y {
		if y >= 0 && y < len(counts) {
			counts[y]++
		}
	}
	width := 0
	for c := range counts {
		width = max(width, len(className(d, c)))
	}
	for c, n := range counts {
		fmt.Printf("  %3d %-*s %d\n", c, width, className(d, c), n)
	}
	mean, std := d.MeanStd()
	fmt.Printf("  mean %s  std %s\n", floats(mean), floats(std))
}

// className returns the name of class c.
func className(d *data.Dataset, c int) string {
	if c < len(d.ClassNames) {
		return d.ClassNames[c]
	}
	return strconv.Itoa(c)
}

// floats formats values with four decimals.
func floats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'f', 4, 32)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// writeSheet writes a PNG grid of up to perClass images of each class, one
// class per row, atomically: to a temporary file in the same folder,
// synced, then renamed.
func writeSheet(file string, d *data.Dataset, perClass int) error {
	const pad = 2
	scale := max(1, 32/max(d.H, d.W))
	cw, ch := d.W*scale+pad, d.H*scale+pad
	rows := max(d.NumClasses, 1)
	if int64(cw*perClass+pad)*int64(ch*rows+pad) > 1<<28 {
		return fmt.Errorf("--sheet %s: %d classes of %dx%d images make too large a sheet; lower --per-class", file, rows, d.H, d.W)
	}
	img := image.NewRGBA(image.Rect(0, 0, cw*perClass+pad, ch*rows+pad))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	placed := make([]int, rows)
	hw := d.H * d.W
	for i, y := range d.Y {
		if y < 0 || y >= rows || placed[y] >= perClass {
			continue
		}
		x0, y0 := pad+placed[y]*cw, pad+y*ch
		placed[y]++
		px := d.Image(i)
		for yy := range d.H * scale {
			for xx := range d.W * scale {
				p := (yy/scale)*d.W + xx/scale
				var c color.RGBA
				if d.C >= 3 {
					c = color.RGBA{to8(px[p]), to8(px[hw+p]), to8(px[2*hw+p]), 255}
				} else {
					v := to8(px[p])
					c = color.RGBA{v, v, v, 255}
				}
				img.SetRGBA(x0+xx, y0+yy, c)
			}
		}
	}
	if err := atomicfile.Write(file, func(w io.Writer) error { return png.Encode(w, img) }); err != nil {
		return fmt.Errorf("--sheet: %w", err)
	}
	return nil
}

// to8 maps a value in [0, 1] to a byte, clamping.
func to8(v float32) uint8 {
	return uint8(min(max(v, 0), 1)*255 + 0.5)
}
