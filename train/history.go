package train

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/internal/atomicfile"
)

// historyHeader is the CSV header of a history, the JSON names of
// [EpochStats] in order.
var historyHeader = []string{"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr",
	"train_images_per_second", "epoch_seconds", "elapsed_seconds"}

// WriteHistoryCSV writes epochs as CSV: a header row (the JSON names of
// [EpochStats]) and one row per epoch. A measurement that is not a number
// (the test loss of an empty test set) is written as an empty cell.
func WriteHistoryCSV(w io.Writer, epochs []EpochStats) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(historyHeader); err != nil {
		return err
	}
	for _, e := range epochs {
		row := []string{strconv.Itoa(e.Epoch)}
		for _, v := range []float64{e.TrainLoss, e.TrainAcc, e.TestLoss, e.TestAcc, e.LR, e.ImagesPerSec, e.Seconds, e.Elapsed} {
			s := ""
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				s = strconv.FormatFloat(v, 'g', -1, 64)
			}
			row = append(row, s)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteHistoryJSON writes epochs as an indented JSON list of [EpochStats]
// objects; a measurement that is not a number is written as null.
func WriteHistoryJSON(w io.Writer, epochs []EpochStats) error {
	rows := make([]map[string]any, len(epochs))
	for i, e := range epochs {
		row := map[string]any{"epoch": e.Epoch}
		for j, v := range []float64{e.TrainLoss, e.TrainAcc, e.TestLoss, e.TestAcc, e.LR, e.ImagesPerSec, e.Seconds, e.Elapsed} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				row[historyHeader[j+1]] = nil
			} else {
				row[historyHeader[j+1]] = v
			}
		}
		rows[i] = row
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// HistoryPaths returns the CSV and JSON files of the history named base:
// base with its extension (.csv or .json, if any) replaced by .csv and
// .json ("run.history" gives run.history.csv and run.history.json).
func HistoryPaths(base string) (csvPath, jsonPath string) {
	for _, ext := range []string{".csv", ".json"} {
		if strings.EqualFold(filepath.Ext(base), ext) {
			base = base[:len(base)-len(ext)]
		}
	}
	return base + ".csv", base + ".json"
}

// SaveHistory writes epochs to the CSV and JSON files of [HistoryPaths]
// for base, each atomically (a temporary file, synced, then renamed), so
// a history rewritten after every epoch is never seen half-written. It
// creates the folder of base if need be.
func SaveHistory(base string, epochs []EpochStats) error {
	csvPath, jsonPath := HistoryPaths(base)
	if err := os.MkdirAll(filepath.Dir(csvPath), 0o755); err != nil {
		return fmt.Errorf("train: history: %w", err)
	}
	if err := writeAtomic(csvPath, func(w io.Writer) error { return WriteHistoryCSV(w, epochs) }); err != nil {
		return err
	}
	return writeAtomic(jsonPath, func(w io.Writer) error { return WriteHistoryJSON(w, epochs) })
}

// writeAtomic fills a temporary file beside path with write, syncs it and
// renames it to path.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("train: history: %w", err)
	}
	return nil
}
