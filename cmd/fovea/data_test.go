package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePNG writes a w×h PNG of one colour.
func writePNG(t *testing.T, file string, w, h int, c color.RGBA) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDataInspect(t *testing.T) {
	dir := t.TempDir()
	imgs := filepath.Join(dir, "shapes")
	writePNG(t, filepath.Join(imgs, "train", "red", "a.png"), 8, 6, color.RGBA{255, 0, 0, 255})
	writePNG(t, filepath.Join(imgs, "train", "red", "b.png"), 10, 10, color.RGBA{255, 0, 0, 255})
	writePNG(t, filepath.Join(imgs, "train", "blue", "a.png"), 12, 12, color.RGBA{0, 0, 255, 255})
	writePNG(t, filepath.Join(imgs, "test", "blue", "a.png"), 12, 12, color.RGBA{0, 0, 255, 255})
	sheet := filepath.Join(dir, "sheet.png")
	r := fovea(t, dir, "data", "inspect", imgs, "--size", "4x4", "--sheet", sheet, "--per-class", "3")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"train (shapes/train): 3 examples, 3x4x4 (CxHxW), 2 classes",
		"original sizes: 6..12 x 8..12 (HxW)",
		"blue 1", "red  2",
		"test (shapes/test): 1 examples",
		"mean [0.6667 0.0000 0.3333]",
		"contact sheet: " + sheet,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	f, err := os.Open(sheet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// Two class rows of three cells: 4×4 images scaled ×8, 2-pixel padding.
	if b := img.Bounds(); b.Dx() != 3*34+2 || b.Dy() != 2*34+2 {
		t.Fatalf("sheet is %v", b)
	}
	if r, _, b, _ := img.At(2, 2).RGBA(); b>>8 != 255 || r != 0 {
		t.Errorf("first cell (class blue) is %v", img.At(2, 2))
	}
	if r, _, _, _ := img.At(2+34, 2+34).RGBA(); r>>8 != 255 {
		t.Errorf("second red cell is %v", img.At(2+34, 2+34))
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".sheet.png.tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	// Without --size, images of different sizes are an error naming one
	// and the flag that resizes them.
	r = fovea(t, dir, "data", "inspect", imgs)
	if r.code == 0 || !strings.HasPrefix(r.stderr, "fovea: ") || !strings.Contains(r.stderr, "a.png: image is") ||
		!strings.Contains(r.stderr, "--size HxW") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("mixed sizes: exit %d, stderr %q", r.code, r.stderr)
	}
	r = fovea(t, dir, "data", "inspect", imgs, "--channels", "2")
	if r.code == 0 || !strings.Contains(r.stderr, "--channels 2") {
		t.Errorf("--channels 2: exit %d, stderr %q", r.code, r.stderr)
	}
}
