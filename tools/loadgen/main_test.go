package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/serve"
)

// TestRun runs short levels against an in-process server, JSON and binary,
// UINT8 and FP32, sampling this process's RSS.
func TestRun(t *testing.T) {
	l, err := models.New("mnist-cnn", models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s, err := serve.New([]serve.Model{{Name: "m", Layer: l, Meta: models.Meta{Model: "mnist-cnn", InputShape: [3]int{1, 28, 28},
		Mean: []float32{0.1307}, Std: []float32{0.3081}}}}, serve.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer func() { ts.Close(); s.Close() }()
	row := regexp.MustCompile(`^\| (\S+) \| [^|]+ \| (\d+) \| (\d+) \| 0 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \d+ / \d+ / \d+ / \d+ \|$`)
	for _, c := range []config{
		{input: "uint8", batch: 1},
		{input: "fp32", batch: 2, binary: true, shape: [3]int{1, 28, 28}},
	} {
		levels := "1,4"
		if err := c.parse(levels, "", ""); err == nil {
			t.Fatal("parse without --model: no error")
		}
		c.model, c.url, c.duration, c.timeout, c.pid, c.header = "m", ts.URL, 300*time.Millisecond, 10*time.Second, os.Getpid(), true
		if err := c.parse(levels, "", ""); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := run(context.Background(), c, &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 4 {
			t.Fatalf("want a header and 2 rows:\n%s", out.String())
		}
		for i, line := range lines[2:] {
			m := row.FindStringSubmatch(line)
			if m == nil || m[2] != []string{"1", "4"}[i] || m[3] == "0" {
				t.Errorf("row %q: want label m, concurrency, requests > 0, no errors, RSS", line)
			}
		}
		t.Logf("\n%s", out.String())
	}
	// Image uploads, with Grad-CAM.
	var png bytes.Buffer
	if err := pngEncode(&png); err != nil {
		t.Fatal(err)
	}
	img := t.TempDir() + "/digit.png"
	if err := os.WriteFile(img, png.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	up := config{model: "m", url: ts.URL, duration: 300 * time.Millisecond, timeout: 10 * time.Second, input: "uint8", batch: 1, image: img, explain: true}
	if err := up.parse("2", "", ""); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), up, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| m | image + Grad-CAM | 2 |") || strings.Contains(out.String(), "| 0 | 0 |") {
		t.Errorf("image upload rows:\n%s", out.String())
	}
	if err := (&config{model: "m", input: "uint8", batch: 1, duration: time.Second, timeout: time.Second, explain: true}).parse("1", "", ""); err == nil {
		t.Error("--explain without --image accepted")
	}
	c := config{model: "nope", url: ts.URL, duration: time.Second, timeout: time.Second, input: "uint8", batch: 1}
	if err := c.parse("1", "", ""); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), c, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown model: %v, want a 404 error", err)
	}
}

// pngEncode writes a 28×28 gray PNG with a bar, a digit-like image.
func pngEncode(w io.Writer) error {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for y := 6; y < 22; y++ {
		img.Pix[y*28+14] = 255
	}
	return png.Encode(w, img)
}
