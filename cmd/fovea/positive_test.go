package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestEvalPositive checks that --positive names the positive class of a
// two-class model, by name or index, for --threshold and the ROC curve.
func TestEvalPositive(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(5, 6))
	var paths []string
	for i := range 40 {
		class := []string{"benign", "malignant"}[i%2]
		path := filepath.Join(dir, "scans", class, fmt.Sprintf("%02d.png", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		img := colourImage(r, 28, 28, color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255})
		if err := os.WriteFile(path, pngBytes(t, img), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	// An untrained LeNet-5 whose class-1 bias is moved so that it calls
	// about half of the images malignant.
	m, err := models.New("lenet5", models.Options{NumClasses: 2, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var margins []float32 // logit 1 - logit 0 per image
	for _, p := range paths {
		x, err := data.ReadImageFile(p, 1, 28, 28, data.ResizeCrop)
		if err != nil {
			t.Fatal(err)
		}
		l := m.Forward(autograd.Const(tensor.FromSlice(x, 1, 1, 28, 28))).Value.Data()
		margins = append(margins, l[1]-l[0])
	}
	slices.Sort(margins)
	params := nn.Params(m)
	bias := params[len(params)-1]
	if !strings.HasSuffix(bias.Name, "bias") {
		t.Fatalf("last parameter %s", bias.Name)
	}
	bias.Value.Value.Data()[1] -= (margins[len(margins)/2-1] + margins[len(margins)/2]) / 2
	if err := models.Save(filepath.Join(dir, "tumour.safetensors"), m, models.Meta{Model: "lenet5",
		Options: models.Options{NumClasses: 2}, Classes: []string{"benign", "malignant"}, InputShape: [3]int{1, 28, 28}}); err != nil {
		t.Fatal(err)
	}
	type evalJSON struct {
		PerClass []struct {
			Class  string
			Recall float64
		} `json:"per_class"`
		ROC []struct {
			Class string
		} `json:"roc"`
		Binary struct {
			Positive                 string
			Threshold                float64
			Sensitivity, Specificity float64
		}
	}
	eval := func(args ...string) evalJSON {
		t.Helper()
		r := mustSucceed(t, dir, append([]string{"eval", "--model", "tumour.safetensors", "--data", "scans", "--json"}, args...)...)
		var e evalJSON
		if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
			t.Fatalf("eval printed %q: %v", r.stdout, err)
		}
		return e
	}
	// At threshold 0.5 the sensitivity is the recall of the positive class
	// and the specificity that of the other.
	for _, c := range []struct {
		args     []string
		positive int
	}{{nil, 1}, {[]string{"--positive", "benign"}, 0}, {[]string{"--positive", "0"}, 0}, {[]string{"--positive", "malignant"}, 1}} {
		e := eval(c.args...)
		pos, neg := e.PerClass[c.positive], e.PerClass[1-c.positive]
		if e.Binary.Positive != pos.Class || len(e.ROC) != 1 || e.ROC[0].Class != pos.Class ||
			e.Binary.Sensitivity != pos.Recall || e.Binary.Specificity != neg.Recall {
			t.Errorf("eval %s: binary %+v, ROC %+v, per class %+v; want positive class %q", strings.Join(c.args, " "), e.Binary, e.ROC, e.PerClass, pos.Class)
		}
	}
	if e := eval(); e.Binary.Sensitivity == 0 || e.Binary.Sensitivity == 1 || e.Binary.Specificity == 0 || e.Binary.Specificity == 1 {
		t.Errorf("the model should call some images of each class benign and some malignant: %+v", e.Binary)
	}
	res := mustSucceed(t, dir, "eval", "--model", "tumour.safetensors", "--data", "scans", "--positive", "benign")
	if !strings.Contains(res.stdout, `at threshold 0.5 (positive class "benign")`) {
		t.Errorf("eval text does not name the positive class:\n%s", res.stdout)
	}

	digits, err := models.New("lenet5", models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := models.Save(filepath.Join(dir, "digits.safetensors"), digits, models.Meta{Model: "lenet5", InputShape: [3]int{1, 28, 28}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", "tumour.safetensors", "--data", "scans", "--positive", "cyst"}, `--positive "cyst": not a class of tumour.safetensors (benign, malignant) nor an index 0 to 1`},
		{[]string{"--model", "tumour.safetensors", "--data", "scans", "--positive", "2"}, `--positive "2": not a class of tumour.safetensors`},
		{[]string{"--model", "digits.safetensors", "--limit", "10", "--positive", "1"}, "--positive 1: digits.safetensors has 10 classes; the positive class is for two-class models"},
	} {
		r := fovea(t, dir, append([]string{"eval"}, c.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("eval %s: exit %d, stderr %q; want one line with %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}
