package main

import (
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// quickCheckpoint trains the default CNN on 2000 MNIST images for one
// epoch into dir/quick.safetensors (a few seconds), with extra train flags.
func quickCheckpoint(t *testing.T, dir string, extra ...string) string {
	t.Helper()
	args := append([]string{"train", "--train-limit", "2000", "--test-limit", "500", "--epochs", "1", "--quiet",
		"--out", "quick.safetensors"}, extra...)
	mustSucceed(t, dir, args...)
	return "quick.safetensors"
}

// checkPNGFile fails t unless path is a PNG image.
func checkPNGFile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}

// TestTrainHistoryReport checks train --history and --report.
func TestTrainHistoryReport(t *testing.T) {
	dir := t.TempDir()
	mustSucceed(t, dir, "train", "--train-limit", "1000", "--test-limit", "300", "--epochs", "2", "--quiet",
		"--out", "h.safetensors", "--history", "runs/h.json", "--report", "trainrep")
	b, err := os.ReadFile(filepath.Join(dir, "runs", "h.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "epoch" || rows[2][0] != "2" || len(rows[1]) != 9 {
		t.Fatalf("history CSV %q, %v", b, err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "runs", "h.json"))
	if err != nil {
		t.Fatal(err)
	}
	var hist []map[string]float64
	if err := json.Unmarshal(b, &hist); err != nil || len(hist) != 2 {
		t.Fatalf("history JSON %s: %v", b, err)
	}
	for _, k := range []string{"train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "train_images_per_second", "epoch_seconds", "elapsed_seconds"} {
		if _, ok := hist[1][k]; !ok {
			t.Errorf("history JSON lacks %q", k)
		}
	}
	if hist[1]["elapsed_seconds"] < hist[0]["elapsed_seconds"] {
		t.Errorf("elapsed time goes back: %v", hist)
	}
	for _, name := range []string{"loss.png", "accuracy.png", "lr.png"} {
		checkPNGFile(t, filepath.Join(dir, "trainrep", name))
	}
	page, err := os.ReadFile(filepath.Join(dir, "trainrep", "index.html"))
	if err != nil || !strings.Contains(string(page), "data:image/png;base64,") || !strings.Contains(string(page), "Training mnist-cnn") {
		t.Errorf("trainrep/index.html: %v", err)
	}
}

// TestEvalOutputs checks eval's text, --json, --csv and --report outputs.
func TestEvalOutputs(t *testing.T) {
	dir := t.TempDir()
	ckpt := quickCheckpoint(t, dir)

	r := mustSucceed(t, dir, "eval", "--model", ckpt, "--limit", "1000", "--csv", "classes.csv", "--report", "evalrep")
	lines := strings.Split(r.stdout, "\n")
	first := regexp.MustCompile(`^quick\.safetensors on mnist/test \(1000 of 10000\): accuracy [0-9.]+% \(1000 images\), loss [0-9.]+, ROC-AUC [0-9.]+ \(one-vs-rest, macro\)$`)
	if !first.MatchString(lines[0]) {
		t.Errorf("first line %q", lines[0])
	}
	for _, want := range []string{"top-5 accuracy", "expected calibration error", "precision", "macro avg", "weighted avg",
		"confusion matrix (rows: true class, columns: predicted class)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, r.stdout)
		}
	}

	r = mustSucceed(t, dir, "eval", "--model", ckpt, "--limit", "1000", "--json")
	var ev struct {
		TestAcc  float64  `json:"test_accuracy"`
		TestLoss float64  `json:"test_loss"`
		AUC      *float64 `json:"test_roc_auc"`
		Temp     float64  `json:"temperature"`
		Images   int      `json:"images"`
		Accuracy float64  `json:"accuracy"`
		TopK     int      `json:"top_k"`
		TopKAcc  float64  `json:"top_k_accuracy"`
		Conf     struct {
			Classes []string `json:"classes"`
			Counts  [][]int  `json:"counts"`
		} `json:"confusion"`
		PerClass []struct {
			Class     string  `json:"class"`
			Precision float64 `json:"precision"`
			Support   int     `json:"support"`
		} `json:"per_class"`
		Macro struct {
			F1 float64 `json:"f1"`
		} `json:"macro_avg"`
		ROC []struct {
			Class  string   `json:"class"`
			AUC    *float64 `json:"auc"`
			Points []struct {
				FPR, TPR float64
			} `json:"points"`
		} `json:"roc"`
		ECE         *float64 `json:"ece"`
		Reliability []struct {
			Count int `json:"count"`
		} `json:"reliability"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, r.stdout)
	}
	if ev.Images != 1000 || ev.TestAcc != ev.Accuracy || ev.Accuracy < 0.5 || ev.AUC == nil || ev.Temp != 1 {
		t.Errorf("summary: images %d accuracy %v/%v auc %v temperature %v", ev.Images, ev.TestAcc, ev.Accuracy, ev.AUC, ev.Temp)
	}
	if ev.TopK != 5 || ev.TopKAcc < ev.Accuracy {
		t.Errorf("top-%d accuracy %v below accuracy %v", ev.TopK, ev.TopKAcc, ev.Accuracy)
	}
	total, diag := 0, 0
	for i, row := range ev.Conf.Counts {
		for j, v := range row {
			total += v
			if i == j {
				diag += v
			}
		}
	}
	if len(ev.Conf.Counts) != 10 || total != 1000 || float64(diag)/1000 != ev.Accuracy || ev.Conf.Classes[3] != "3" {
		t.Errorf("confusion matrix %v (total %d, diagonal %d)", ev.Conf.Counts, total, diag)
	}
	support := 0
	for _, c := range ev.PerClass {
		support += c.Support
	}
	if len(ev.PerClass) != 10 || support != 1000 || !(ev.Macro.F1 > 0 && ev.Macro.F1 <= 1) {
		t.Errorf("per class %+v, macro F1 %v", ev.PerClass, ev.Macro.F1)
	}
	if len(ev.ROC) != 10 || ev.ROC[0].AUC == nil || len(ev.ROC[0].Points) < 2 {
		t.Fatalf("ROC %+v", ev.ROC)
	}
	if p := ev.ROC[0].Points; p[0].FPR != 0 || p[0].TPR != 0 || p[len(p)-1].FPR != 1 || p[len(p)-1].TPR != 1 {
		t.Errorf("ROC curve of class 0 runs from %v to %v", p[0], p[len(p)-1])
	}
	binned := 0
	for _, b := range ev.Reliability {
		binned += b.Count
	}
	if ev.ECE == nil || len(ev.Reliability) != 15 || binned != 1000 {
		t.Errorf("ECE %v, %d bins holding %d images", ev.ECE, len(ev.Reliability), binned)
	}

	rows, err := readCSV(filepath.Join(dir, "classes.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 13 || strings.Join(rows[0], ",") != "class,precision,recall,f1,support,roc_auc" || rows[1][0] != "0" || rows[12][0] != "weighted avg" {
		t.Errorf("CSV rows %v", rows)
	}
	for _, name := range []string{"confusion.png", "roc.png", "reliability.png"} {
		checkPNGFile(t, filepath.Join(dir, "evalrep", name))
	}
	if page, err := os.ReadFile(filepath.Join(dir, "evalrep", "index.html")); err != nil || strings.Count(string(page), "data:image/png;base64,") != 3 {
		t.Errorf("evalrep/index.html: %v", err)
	}

	if r := fovea(t, dir, "eval", "--model", ckpt, "--threshold", "1.5"); r.code == 0 || !strings.Contains(r.stderr, "--threshold") {
		t.Errorf("--threshold 1.5: exit %d, stderr %q", r.code, r.stderr)
	}
}

func readCSV(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return csv.NewReader(f).ReadAll()
}

// TestTrainSWA checks train --swa-start/--swa-lr: the final line and JSON
// report the averaged model, which is the one saved, as eval confirms on
// the same test images.
func TestTrainSWA(t *testing.T) {
	dir := t.TempDir()
	r := mustSucceed(t, dir, "train", "--train-limit", "1000", "--test-limit", "300", "--epochs", "3", "--quiet",
		"--swa-start", "2", "--swa-lr", "0.002", "--out", "swa.safetensors", "--json")
	var tr struct {
		TestAcc float64 `json:"test_accuracy"`
		Last    float64 `json:"last_epoch_test_accuracy"`
		SWA     struct {
			From    int     `json:"from_epoch"`
			Epochs  int     `json:"epochs"`
			TestAcc float64 `json:"test_accuracy"`
		} `json:"swa"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &tr); err != nil {
		t.Fatalf("train --json: %v\n%s", err, r.stdout)
	}
	if tr.SWA.From != 2 || tr.SWA.Epochs != 2 || tr.TestAcc != tr.SWA.TestAcc || tr.TestAcc < 0.8 {
		t.Fatalf("train --json with --swa-start 2 of 3 epochs: %s", r.stdout)
	}
	r = mustSucceed(t, dir, "eval", "--model", "swa.safetensors", "--limit", "300", "--json")
	var ev struct {
		TestAcc float64 `json:"test_accuracy"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatal(err)
	}
	if math.Abs(ev.TestAcc-tr.SWA.TestAcc) > 1e-9 {
		t.Errorf("eval of the saved model: %.4f, train reported the average at %.4f", ev.TestAcc, tr.SWA.TestAcc)
	}
}
