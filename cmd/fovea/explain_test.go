package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/explain"
	"github.com/fovea-ml/fovea/tensor"
)

// TestExplainInvertsLikePredict checks that explain prepares a dark digit
// on a light ground as predict does (inverted, and saying so), so it
// explains the class predict reports, and that --invert no turns that off
// in both.
func TestExplainInvertsLikePredict(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "tiny.yaml", []byte(tinySpec(1, 28, 28)))
	trainJSON(t, dir, "--model", "tiny.yaml", "--train-limit", "2000", "--test-limit", "100", "--epochs", "1", "--out", "m.safetensors")
	_, test, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := range 10 {
		f := fmt.Sprintf("dark%d.png", i)
		writeImage(t, filepath.Join(dir, f), digitImage(test, i, true))
		files = append(files, f)
	}
	top := func(args ...string) []prediction {
		t.Helper()
		r := mustSucceed(t, dir, append([]string{"predict", "--model", "m.safetensors", "--json", "--top", "1"}, args...)...)
		var p []prediction
		if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	auto, plain := top(files...), top(append([]string{"--invert", "no"}, files...)...)
	// An image whose class depends on the inversion shows which one
	// explain saw.
	pick := -1
	for i := range auto {
		if pick < 0 && auto[i].Top[0].Index != plain[i].Top[0].Index {
			pick = i
		}
	}
	if pick < 0 {
		t.Fatal("no test digit whose predicted class changes with inversion; the test would prove nothing")
	}
	if !auto[pick].Inverted {
		t.Fatalf("predict did not invert %s", files[pick])
	}

	for _, c := range []struct {
		args     []string
		want     int
		inverted bool
	}{
		{nil, auto[pick].Top[0].Index, true},
		{[]string{"--invert", "no"}, plain[pick].Top[0].Index, false},
	} {
		args := append([]string{"explain", "--model", "m.safetensors", "--method", "saliency,gradcam", "--out", "maps", "--json", files[pick]}, c.args...)
		r := mustSucceed(t, dir, args...)
		var got []explanation
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("explain --json: %v\n%s", err, r.stdout)
		}
		for _, e := range got {
			if e.Class != c.want || e.Inverted != c.inverted {
				t.Errorf("explain %v: %s of class %d, inverted %v; predict says class %d, inverted %v", c.args, e.Method, e.Class, e.Inverted, c.want, c.inverted)
			}
		}
	}
	r := mustSucceed(t, dir, "explain", "--model", "m.safetensors", "--method", "saliency", "--out", "maps", files[pick])
	if !strings.Contains(r.stdout, "inverted") {
		t.Errorf("explain does not say it inverted the image:\n%s", r.stdout)
	}
}

// TestExplainONNX checks that explain runs the gradient methods on an ONNX
// model, skips Grad-CAM and feature maps with a note, and on failure names
// no Go type and leaves no output folder behind.
func TestExplainONNX(t *testing.T) {
	dir := t.TempDir()
	tinyONNX(t, filepath.Join(dir, "tiny.onnx"), 0)
	tinyONNX(t, filepath.Join(dir, "tiny4.onnx"), 4)
	writePNG(t, filepath.Join(dir, "digit.png"), 28, 28, color.RGBA{30, 30, 30, 255})
	for _, model := range []string{"tiny.onnx", "tiny4.onnx"} {
		r := mustSucceed(t, dir, "explain", "--model", model, "--out", "maps", "--samples", "3", "--json", "digit.png")
		var got []explanation
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("explain --json: %v\n%s", err, r.stdout)
		}
		var methods []string
		for _, e := range got {
			methods = append(methods, e.Method)
			for _, f := range e.Files {
				if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
					t.Errorf("%s: %v", f, err)
				}
			}
		}
		if !slices.Equal(methods, []string{"saliency", "smoothgrad"}) {
			t.Errorf("%s: explained with %v, want saliency and smoothgrad", model, methods)
		}
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 ||
			!strings.Contains(r.stderr, "Grad-CAM") || !strings.Contains(r.stderr, "skipped") || !strings.Contains(r.stderr, "ONNX") {
			t.Errorf("%s: want one note saying why Grad-CAM is skipped, got:\n%s", model, r.stderr)
		}
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"gradcam on ONNX", []string{"--model", "tiny.onnx", "--method", "gradcam", "digit.png"}, "Grad-CAM"},
		{"features on ONNX", []string{"--model", "tiny.onnx", "--method", "features", "digit.png"}, "feature maps"},
		{"gradcam layer on ONNX", []string{"--model", "tiny.onnx", "--method", "gradcam", "--layer", "3", "digit.png"}, "3"},
		{"missing image", []string{"--model", "tiny.onnx", "nope.png"}, "nope.png"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-"))
			r := fovea(t, dir, append([]string{"explain", "--out", out}, c.args...)...)
			if r.code == 0 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, want one error line naming %q:\n%s", r.code, c.want, r.stderr)
			}
			if strings.Contains(r.stderr, "main.") || strings.Contains(r.stderr, "*") {
				t.Errorf("the error names a Go type: %s", r.stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a failed explain left %s behind", out)
			}
		})
	}
}

// TestFixedBatchGradient checks that an ONNX graph with a fixed batch of
// 4 passes gradients to a one-image input, as the same graph with a
// symbolic batch does: saliency maps of both agree and are not empty.
func TestFixedBatchGradient(t *testing.T) {
	dir := t.TempDir()
	var maps [][]float32
	for _, b := range []int64{0, 4} {
		file := filepath.Join(dir, fmt.Sprintf("tiny%d.onnx", b))
		tinyONNX(t, file, b)
		m, _, err := classify.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		x := randImages(3, 1, 1, 28, 28)
		s, err := explain.Saliency(m, x, -1)
		if err != nil {
			t.Fatal(err)
		}
		maps = append(maps, s.Data)
	}
	if slices.Max(maps[0]) != 1 {
		t.Fatalf("saliency of the symbolic-batch graph is empty")
	}
	assertClose(t, "saliency of the fixed-batch graph", tensor.FromSlice(maps[1], 28, 28), tensor.FromSlice(maps[0], 28, 28))
}
