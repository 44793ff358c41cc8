package data

import (
	"bytes"
	"image"
	"image/color"
	"strings"
	"testing"
)

func TestPNMFormats(t *testing.T) {
	cases := []struct {
		name, src string
		model     color.Model
		w, h      int
		want      []uint32 // 8-bit R, G, B of each pixel (gray: R=G=B)
	}{
		{"P6", "P6\n2 1\n255\n\x00\x80\xff\x10\x20\x30", color.RGBAModel, 2, 1, []uint32{0, 0x80, 0xff, 0x10, 0x20, 0x30}},
		{"P3 comments", "P3 # c\n# comment line\n2 1 15\n0 15 3\n15 0 0\n", color.RGBAModel, 2, 1, []uint32{0, 255, 51, 255, 0, 0}},
		{"P5", "P5 1 2 255\n\x07\xfe", color.GrayModel, 1, 2, []uint32{7, 7, 7, 254, 254, 254}},
		{"P2", "P2\n2 1\n4\n0\n4", color.GrayModel, 2, 1, []uint32{0, 0, 0, 255, 255, 255}},
		{"P5 16-bit", "P5 1 1 65535\n\xff\xff", color.Gray16Model, 1, 1, []uint32{255, 255, 255}},
		{"P6 16-bit", "P6 1 1 1000\n\x03\xe8\x00\x00\x01\xf4", color.RGBA64Model, 1, 1, []uint32{255, 0, 128}},
	}
	for _, c := range cases {
		cfg, format, err := image.DecodeConfig(strings.NewReader(c.src))
		if err != nil || cfg.Width != c.w || cfg.Height != c.h || cfg.ColorModel != c.model {
			t.Errorf("%s: config %+v %q %v", c.name, cfg, format, err)
			continue
		}
		img, _, err := image.Decode(strings.NewReader(c.src))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var got []uint32
		for y := range c.h {
			for x := range c.w {
				r, g, b, _ := img.At(x, y).RGBA()
				got = append(got, r>>8, g>>8, b>>8)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if d := int(got[i]) - int(c.want[i]); d > 1 || d < -1 {
				t.Errorf("%s: %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
	bad := map[string]string{
		"P6 2 2 255\n\x00\x00":   "truncated",
		"P6 0 2 255\n":           "out of range",
		"P6 2 2 70000\n":         "maxval",
		"P3 1 1 10\n1 2 11":      "above maxval",
		"P2 1 1 10\n":            "sample 0",
		"P5 x 1 255\n":           "width",
		"P6 1 1 255":             "no raster",
		"P4 1 1\n":               "format",
		"P6 99999999999 1 255\n": "too large",
	}
	for src, want := range bad {
		_, _, err := image.Decode(strings.NewReader(src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
	// A header declaring too many pixels fails before reading any.
	if _, err := DecodePNM(strings.NewReader("P5 100000 100000 255\n")); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("huge: %v", err)
	}
}

func FuzzPNM(f *testing.F) {
	for _, s := range []string{
		"P6\n2 1\n255\n\x00\x80\xff\x10\x20\x30", "P3 # c\n2 1 15\n0 15 3\n15 0 0\n", "P5 1 2 255\n\x07\xfe",
		"P2\n2 1\n4\n0\n4", "P5 1 1 65535\n\xff\xff", "P6 1 1 1000\n\x03\xe8\x00\x00\x01\xf4", "P6 4000 4000 255\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, cerr := DecodePNMConfig(bytes.NewReader(b))
		img, err := DecodePNM(bytes.NewReader(b))
		if err != nil {
			return
		}
		if cerr != nil {
			t.Fatalf("Decode succeeded but DecodeConfig failed: %v", cerr)
		}
		if img.Bounds() != image.Rect(0, 0, cfg.Width, cfg.Height) || img.ColorModel() != cfg.ColorModel {
			t.Fatalf("image %v %v, config %+v", img.Bounds(), img.ColorModel(), cfg)
		}
	})
}
