package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSaveHistory(t *testing.T) {
	dir := t.TempDir()
	epochs := []EpochStats{
		{Epoch: 1, TrainLoss: 0.5, TrainAcc: 0.8, TestLoss: math.NaN(), TestAcc: 0.75, LR: 0.01, ImagesPerSec: 100, Seconds: 2, Elapsed: 2},
		{Epoch: 2, TrainLoss: 0.25, TrainAcc: 0.9, TestLoss: 0.3, TestAcc: 0.85, LR: 0.001, ImagesPerSec: 120, Seconds: 1.5, Elapsed: 3.5},
	}
	base := filepath.Join(dir, "run.history.csv")
	if err := SaveHistory(base, epochs); err != nil {
		t.Fatal(err)
	}
	csvPath, jsonPath := HistoryPaths(base)
	if csvPath != filepath.Join(dir, "run.history.csv") || jsonPath != filepath.Join(dir, "run.history.json") {
		t.Errorf("HistoryPaths = %s, %s", csvPath, jsonPath)
	}
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "epoch,train_loss,train_accuracy,test_loss,test_accuracy,lr,train_images_per_second,epoch_seconds,elapsed_seconds\n" +
		"1,0.5,0.8,,0.75,0.01,100,2,2\n" +
		"2,0.25,0.9,0.3,0.85,0.001,120,1.5,3.5\n"
	if string(b) != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", b, want)
	}
	b, err = os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["test_loss"] != nil || rows[1]["test_loss"] != 0.3 || rows[1]["elapsed_seconds"] != 3.5 {
		t.Errorf("JSON rows %v", rows)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) > 0 || strings.Contains(string(b), "NaN") {
		t.Errorf("temporary files %v left, or NaN written", left)
	}
}
