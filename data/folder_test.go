package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
)

// solid returns an h×w image of one colour.
func solid(h, w int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func bmpBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := bmp.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ppmBytes returns a binary PPM of img.
func ppmBytes(img *image.RGBA) []byte {
	b := img.Bounds()
	out := fmt.Appendf(nil, "P6\n# test\n%d %d\n255\n", b.Dx(), b.Dy())
	for i := 0; i < len(img.Pix); i += 4 {
		out = append(out, img.Pix[i:i+3]...)
	}
	return out
}

// writeTree writes files (slash paths; a path ending in "/" is an empty
// folder) under a new temporary folder and returns it.
func writeTree(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarBytes returns a tar archive of files, gzipped if gz.
func tarBytes(t testing.TB, files map[string][]byte, gz bool) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	var zw *gzip.Writer
	tw := tar.NewWriter(&buf)
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	}
	for _, p := range names {
		if strings.HasSuffix(p, "/") {
			if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[p]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[p]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if gz {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// writeFile writes b to name in a new temporary folder.
func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	red   = color.RGBA{255, 0, 0, 255}
	green = color.RGBA{0, 255, 0, 255}
	blue  = color.RGBA{0, 0, 255, 255}
)

// splitFiles is a train/test layout of 4×4 images in every format, inside
// a single top folder, with files that must be skipped.
func splitFiles(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"top/README.md":             []byte("not an image"),
		"top/train/cat/a.png":       pngBytes(t, solid(4, 4, red)),
		"top/train/cat/b.ppm":       ppmBytes(solid(4, 4, red)),
		"top/train/cat/.hidden.png": []byte("garbage"),
		"top/train/cat/notes.txt":   []byte("skip me"),
		"top/train/dog/a.bmp":       bmpBytes(t, solid(4, 4, green)),
		"top/train/dog/sub/b.jpg":   jpegBytes(t, solid(4, 4, green)),
		"top/train/emu/a.png":       pngBytes(t, solid(4, 4, blue)),
		"top/test/dog/x.png":        pngBytes(t, solid(4, 4, green)),
		"top/test/emu/y.PNG":        pngBytes(t, solid(4, 4, blue)),
		"top/.DS_Store/junk.png":    []byte("garbage"),
	}
}

func checkSplitLayout(t *testing.T, train, test *Dataset) {
	t.Helper()
	if train.Len() != 5 || test.Len() != 2 || train.Shape() != [3]int{3, 4, 4} || test.Shape() != train.Shape() {
		t.Fatalf("train %d of %v, test %d of %v", train.Len(), train.Shape(), test.Len(), test.Shape())
	}
	if strings.Join(train.ClassNames, ",") != "cat,dog,emu" || test.NumClasses != 3 || strings.Join(test.ClassNames, ",") != "cat,dog,emu" {
		t.Fatalf("classes %v / %v", train.ClassNames, test.ClassNames)
	}
	wantY := []int{0, 0, 1, 1, 2}
	for i, y := range wantY {
		if train.Y[i] != y {
			t.Fatalf("train labels %v, want %v", train.Y, wantY)
		}
	}
	if test.Y[0] != 1 || test.Y[1] != 2 {
		t.Fatalf("test labels %v, want [1 2] (aligned to train)", test.Y)
	}
	// Each image is its class's colour: R for cat, G for dog, B for emu.
	for i, y := range train.Y {
		x := train.Image(i)
		for c := range 3 {
			want := float32(0)
			if c == y {
				want = 1
			}
			if d := x[c*16+5] - want; d > 0.05 || d < -0.05 {
				t.Fatalf("train image %d channel %d = %v, want %v", i, c, x[c*16+5], want)
			}
		}
	}
}

func TestImageFolderSplitsDirAndArchives(t *testing.T) {
	files := splitFiles(t)
	dir := writeTree(t, files)
	train, test, err := LoadImageFolder(dir, FolderOptions{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	checkSplitLayout(t, train, test)
	for _, name := range []string{"d.tar", "d.tar.gz", "d.tgz"} {
		p := writeFile(t, name, tarBytes(t, files, name != "d.tar"))
		train, test, err := LoadWith(p, LoadOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkSplitLayout(t, train, test)
		if train.Name != "d.tar"[:0]+name+"/train" {
			t.Errorf("name %q", train.Name)
		}
	}
	// The test split on its own, and through folder:PATH.
	te, err := LoadTest(filepath.Join(dir, "top", "test"), LoadOptions{})
	if err != nil || te.Len() != 2 || strings.Join(te.ClassNames, ",") != "dog,emu" {
		t.Fatalf("LoadTest: %v %+v", err, te)
	}
	if err := AlignClasses(train, te); err != nil || te.Y[0] != 1 || te.NumClasses != 3 {
		t.Fatalf("AlignClasses: %v, labels %v", err, te.Y)
	}
	if _, _, err := LoadWith("folder:"+dir, LoadOptions{FolderOptions{Size: [2]int{2, 2}, Channels: 1}}); err != nil {
		t.Fatal(err)
	}
}

func TestImageFolderResizeAndChannels(t *testing.T) {
	// A 4×8 image: left half black, right half white, gray PNGs.
	img := image.NewGray(image.Rect(0, 0, 8, 4))
	for y := range 4 {
		for x := 4; x < 8; x++ {
			img.Pix[y*img.Stride+x] = 255
		}
	}
	dir := writeTree(t, map[string][]byte{"a/1.png": pngBytes(t, img), "b/1.png": pngBytes(t, img)})
	d, _, err := LoadImageFolder(dir, FolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Shape() != [3]int{1, 4, 8} {
		t.Fatalf("auto: shape %v, want gray 1×4×8", d.Shape())
	}
	// Crop keeps the centre 4×4: left two columns black, right two white.
	d, _, err = LoadImageFolder(dir, FolderOptions{Size: [2]int{4, 4}, Channels: 3})
	if err != nil {
		t.Fatal(err)
	}
	x := d.Image(0)
	if d.Shape() != [3]int{3, 4, 4} || x[0] > 0.1 || x[3] < 0.9 || x[2*16+3] < 0.9 {
		t.Fatalf("crop: %v %v", d.Shape(), x[:16])
	}
	// Stretch squeezes both halves: still black left, white right.
	d, _, err = LoadImageFolder(dir, FolderOptions{Size: [2]int{2, 2}, Channels: 1, Resize: ResizeStretch})
	if err != nil {
		t.Fatal(err)
	}
	if x := d.Image(1); x[0] > 0.2 || x[1] < 0.8 {
		t.Fatalf("stretch: %v", x)
	}
	for _, opt := range []FolderOptions{{Channels: 2}, {Size: [2]int{3, 0}}, {Resize: "zoom"}} {
		if _, _, err := LoadImageFolder(dir, opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
}

func TestImageFolderCSVLabels(t *testing.T) {
	// GTSRB's test layout: Final_Test/GT-final_test.csv and Final_Test/Images/.
	csv := "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n00000.ppm;4;4;0;0;4;4;2\n00001.ppm;4;4;0;0;4;4;0\n"
	test := map[string][]byte{
		"Final_Test/GT-final_test.csv": []byte(csv),
		"Final_Test/Images/00000.ppm":  ppmBytes(solid(4, 4, blue)),
		"Final_Test/Images/00001.ppm":  ppmBytes(solid(4, 4, red)),
		"Final_Test/Images/unused.ppm": ppmBytes(solid(4, 4, red)),
	}
	train := map[string][]byte{
		"Final_Training/Images/00000/a.ppm": ppmBytes(solid(4, 4, red)),
		"Final_Training/Images/00001/a.ppm": ppmBytes(solid(4, 4, green)),
		"Final_Training/Images/00002/a.ppm": ppmBytes(solid(4, 4, blue)),
	}
	te, err := LoadTest(writeFile(t, "test.tar.gz", tarBytes(t, test, true)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := LoadTest(writeFile(t, "train.tgz", tarBytes(t, train, true)), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if te.Len() != 2 || te.Y[0] != 2 || te.Y[1] != 0 || tr.NumClasses != 3 || tr.ClassNames[2] != "2" || tr.Y[2] != 2 {
		t.Fatalf("test %v %v, train %v %v", te.Y, te.ClassNames, tr.Y, tr.ClassNames)
	}
	if err := AlignClasses(tr, te); err != nil || te.NumClasses != 3 {
		t.Fatal(err)
	}
	// A comma CSV with names, beside the images.
	dir := writeTree(t, map[string][]byte{
		"labels.csv": []byte("image,label\nx.png,zebra\ny.png,ant\n"),
		"x.png":      pngBytes(t, solid(2, 2, red)),
		"y.png":      pngBytes(t, solid(2, 2, red)),
	})
	d, err := LoadTest(dir, LoadOptions{})
	if err != nil || strings.Join(d.ClassNames, ",") != "ant,zebra" || d.Y[0] != 1 {
		t.Fatalf("%v %+v", err, d)
	}
	// A listed file that is missing.
	dir = writeTree(t, map[string][]byte{"labels.csv": []byte("file,class\nz.png,1\n"), "x.png": pngBytes(t, solid(2, 2, red))})
	if _, err := LoadTest(dir, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "labels.csv: line 2 lists z.png") {
		t.Fatalf("missing file: %v", err)
	}
	// AlignClasses with an unknown class.
	a := &Dataset{Name: "a", ClassNames: []string{"cat", "dog"}, NumClasses: 2}
	b := &Dataset{Name: "b", ClassNames: []string{"cow"}, NumClasses: 1, Y: []int{0}}
	if err := AlignClasses(a, b); err == nil || !strings.Contains(err.Error(), `class "cow"`) {
		t.Fatalf("unknown class: %v", err)
	}
}

func TestImageFolderErrors(t *testing.T) {
	good := pngBytes(t, solid(4, 4, red))
	noise := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range noise.Pix {
		noise.Pix[i] = uint8(i * 7919 >> 3)
	}
	corrupt := jpegBytes(t, noise)
	corrupt = corrupt[:len(corrupt)*3/4]
	huge := []byte("P6\n100000 100000\n255\n")
	cases := []struct {
		name  string
		files map[string][]byte
		want  string
		size  int
	}{
		{"corrupt JPEG", map[string][]byte{"a/1.png": good, "b/bad.jpg": corrupt}, "bad.jpg: corrupt jpeg image", 4},
		{"corrupt header", map[string][]byte{"a/1.png": good, "b/bad.jpg": corrupt[:20]}, "bad.jpg: corrupt image header", 0},
		{"not an image", map[string][]byte{"a/1.png": good, "b/bad.png": []byte("hello")}, "bad.png: not a PNG", 0},
		{"huge header", map[string][]byte{"a/1.png": good, "b/huge.ppm": huge}, "huge.ppm: ppm image of 100000x100000 pixels is outside the accepted size", 0},
		{"empty class", map[string][]byte{"a/1.png": good, "b/": nil, "c/1.png": good}, "b: empty class folder", 0},
		{"size differs", map[string][]byte{"a/1.png": good, "b/2.png": pngBytes(t, solid(5, 4, red))}, "2.png: image is 5x4, the first image is 4x4", 0},
		{"no classes", map[string][]byte{"1.png": good, "2.png": good}, "no class sub-folders and no labels CSV", 0},
	}
	for _, c := range cases {
		dir := writeTree(t, c.files)
		opt := FolderOptions{Workers: 2, Size: [2]int{c.size, c.size}}
		_, _, err := LoadImageFolder(dir, opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "data: ") {
			t.Errorf("%s (folder): %v, want %q", c.name, err, c.want)
		}
		p := writeFile(t, "x.tar.gz", tarBytes(t, c.files, true))
		_, _, err = LoadImageFolder(p, opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s (archive): %v, want %q", c.name, err, c.want)
		}
		var se *SizeError
		if isSize := errors.As(err, &se); isSize != (c.name == "size differs") || isSize && (se.Size != [2]int{5, 4} || se.First != [2]int{4, 4}) {
			t.Errorf("%s: error %#v", c.name, err)
		}
	}
	// A truncated tar.gz names the archive.
	files := map[string][]byte{}
	for i := range 50 {
		files[fmt.Sprintf("c%d/%d.jpg", i%2, i)] = jpegBytes(t, solid(16, 16, color.RGBA{uint8(i * 5), 9, 200, 255}))
	}
	full := tarBytes(t, files, true)
	for _, cut := range []int{len(full) / 2, len(full) - 10} {
		p := writeFile(t, "cut.tar.gz", full[:cut])
		_, _, err := LoadImageFolder(p, FolderOptions{})
		if err == nil || !strings.Contains(err.Error(), "cut.tar.gz") || !strings.Contains(err.Error(), "unexpected EOF") {
			t.Errorf("truncated at %d of %d: %v", cut, len(full), err)
		}
	}
	if _, _, err := LoadImageFolder(writeFile(t, "x.zip", []byte("PK")), FolderOptions{}); err == nil || !strings.Contains(err.Error(), "x.zip: not a folder") {
		t.Errorf("zip: %v", err)
	}
	if _, _, err := LoadImageFolder(writeFile(t, "x.tar", []byte("not a tar file at all")), FolderOptions{}); err == nil || !strings.Contains(err.Error(), "x.tar") {
		t.Errorf("bad tar: %v", err)
	}
}

func TestFormatsRegistered(t *testing.T) {
	// A cut WebP or BMP header is a corrupt image of a known format, not an
	// unknown format.
	for name, b := range map[string][]byte{
		"webp": []byte("RIFF\x10\x00\x00\x00WEBPVP8 "),
		"bmp":  bmpBytes(t, solid(2, 2, red))[:20],
	} {
		_, format, err := image.DecodeConfig(bytes.NewReader(b))
		if format != name && (err == nil || err == image.ErrFormat) {
			t.Errorf("%s: format %q, %v", name, format, err)
		}
	}
}

func TestLoadPlainPaths(t *testing.T) {
	dir := writeTree(t, splitFiles(t))
	for _, spec := range []string{dir, "folder:" + dir} {
		train, test, err := Load(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		checkSplitLayout(t, train, test)
	}
	if _, _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "unknown dataset") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: %v", err)
	}
	if _, _, err := Load(writeFile(t, "x.json", []byte("{}"))); err == nil || !strings.Contains(err.Error(), "x.json: not a dataset folder") {
		t.Errorf("plain file: %v", err)
	}
	// One split: test is nil, and LoadTest returns the split.
	one := writeTree(t, map[string][]byte{"a/1.png": pngBytes(t, solid(2, 2, red)), "b/1.png": pngBytes(t, solid(2, 2, red))})
	if tr, te, err := Load(one); err != nil || te != nil || tr.Len() != 2 {
		t.Errorf("one split: %v %v", err, te)
	}
}
