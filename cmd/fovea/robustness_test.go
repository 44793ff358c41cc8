package main

import (
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/robust"
)

// quickMNISTCheckpoint trains mnist-cnn for one epoch on 2,000 images into
// dir/m.safetensors (a few seconds).
func quickMNISTCheckpoint(t *testing.T, dir string) string {
	t.Helper()
	skipHeavy(t)
	mustSucceed(t, dir, "train", "--train-limit", "2000", "--test-limit", "200", "--epochs", "1",
		"--out", "m.safetensors", "--quiet")
	return "m.safetensors"
}

// TestRobustnessCLI evaluates a quick MNIST checkpoint under two
// corruptions: strong Gaussian noise must cost accuracy, and the table,
// JSON and PNG outputs must be there.
func TestRobustnessCLI(t *testing.T) {
	dir := t.TempDir()
	ckpt := quickMNISTCheckpoint(t, dir)
	r := mustSucceed(t, dir, "robustness", "--model", ckpt, "--limit", "300", "--corruptions", "gaussian_noise,jpeg",
		"--severities", "1,3,5", "--json", "--plot", "curves.png", "--samples", "samples.png")
	var rep robust.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if rep.Images != 300 || len(rep.Results) != 2 || len(rep.Results[0].Accuracy) != 3 {
		t.Fatalf("report %+v", rep)
	}
	noise := rep.Results[0]
	t.Logf("clean %.3f, gaussian_noise %v, jpeg %v, mCA %.3f", rep.Clean, noise.Accuracy, rep.Results[1].Accuracy, rep.MCA)
	if rep.Clean < 0.8 {
		t.Fatalf("clean accuracy %.3f: the quick model did not train", rep.Clean)
	}
	if noise.Corruption != "gaussian_noise" || noise.Accuracy[2] >= rep.Clean {
		t.Errorf("gaussian_noise severity 5 accuracy %.3f, not below clean %.3f", noise.Accuracy[2], rep.Clean)
	}
	for _, name := range []string{"curves.png", "samples.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil || img.Bounds().Dx() < 100 {
			t.Errorf("%s: %v, %v", name, err, img)
		}
	}
	table := mustSucceed(t, dir, "robustness", "--model", ckpt, "--limit", "50", "--corruptions", "contrast", "--severities", "2")
	for _, want := range []string{"contrast", "s2", "clean accuracy", "mCA"} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, table.stdout)
		}
	}
	for _, bad := range [][]string{{"--corruptions", "rain"}, {"--severities", "6"}} {
		res := fovea(t, dir, append([]string{"robustness", "--model", ckpt, "--limit", "10"}, bad...)...)
		if res.code == 0 || !strings.Contains(res.stderr, bad[0]) {
			t.Errorf("%v: exit %d, stderr %q", bad, res.code, res.stderr)
		}
	}
}

// TestExplainCLI writes every explanation of two test digits and checks
// the files and the JSON summary.
func TestExplainCLI(t *testing.T) {
	dir := t.TempDir()
	ckpt := quickMNISTCheckpoint(t, dir)
	_, te, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i := range 2 {
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for j, v := range te.Image(i) {
			img.Pix[j] = uint8(v*255 + 0.5)
		}
		name := filepath.Join(dir, []string{"seven.png", "two.png"}[i])
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		names = append(names, filepath.Base(name))
	}
	r := mustSucceed(t, dir, append([]string{"explain", "--model", ckpt, "--out", "maps", "--samples", "4", "--json"}, names...)...)
	var got []explanation
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if len(got) != 8 {
		t.Fatalf("%d explanations, want 2 images × 4 methods", len(got))
	}
	for _, e := range got {
		if len(e.Files) == 0 {
			t.Errorf("%+v wrote nothing", e)
		}
		if e.Method == "gradcam" && (e.Layer != "10" || e.Class != map[string]int{"seven.png": 7, "two.png": 2}[e.Image]) {
			t.Errorf("gradcam %+v: want layer 10 and the true class", e)
		}
		for _, f := range e.Files {
			if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	r = mustSucceed(t, dir, "explain", "--model", ckpt, "--method", "gradcam", "--layer", "6", "--class", "3", "--out", "maps", names[0])
	if !strings.Contains(r.stdout, "class 3") || !strings.Contains(r.stdout, "layer 6") {
		t.Errorf("output %q", r.stdout)
	}
	for _, bad := range [][]string{{"--layer", "99"}, {"--class", "10"}, {"--method", "lime"}} {
		res := fovea(t, dir, append([]string{"explain", "--model", ckpt, "--out", "maps", names[0]}, bad...)...)
		if res.code == 0 {
			t.Errorf("%v accepted", bad)
		}
	}
}
