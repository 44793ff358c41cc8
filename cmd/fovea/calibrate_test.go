package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/data"
)

// TestCalibrateRoundTrip fits a temperature, checks it is stored in the
// new checkpoint and that eval and predict use it.
func TestCalibrateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	ckpt := quickCheckpoint(t, dir)
	r := mustSucceed(t, dir, "calibrate", "--model", ckpt, "--limit", "2000", "--val-split", "0.3", "--out", "cal.safetensors", "--json")
	var cal calibrateOutput
	if err := json.Unmarshal([]byte(r.stdout), &cal); err != nil {
		t.Fatalf("calibrate --json: %v\n%s", err, r.stdout)
	}
	T := cal.Temperature
	if !(T > 0) || T == 1 || cal.Before != 1 || cal.Held == nil {
		t.Fatalf("calibrate: %+v", cal)
	}
	v := cal.Validation
	if v.Images != 600 || v.NLLAfter > v.NLLBefore+1e-12 {
		t.Errorf("validation: %d images, NLL %v -> %v: temperature scaling made it worse", v.Images, v.NLLBefore, v.NLLAfter)
	}
	if cal.Held.Images != 1400 {
		t.Errorf("held out %d images, want 1400", cal.Held.Images)
	}

	f, err := checkpoint.ReadFile(filepath.Join(dir, "cal.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := strconv.ParseFloat(f.Metadata[checkpoint.KeyTemperature], 64)
	if err != nil || stored != T {
		t.Fatalf("metadata %s = %q, want %v", checkpoint.KeyTemperature, f.Metadata[checkpoint.KeyTemperature], T)
	}

	type evalJSON struct {
		Acc  float64 `json:"test_accuracy"`
		Loss float64 `json:"test_loss"`
		Temp float64 `json:"temperature"`
	}
	var before, after evalJSON
	for _, x := range []struct {
		ckpt string
		out  *evalJSON
	}{{ckpt, &before}, {"cal.safetensors", &after}} {
		r := mustSucceed(t, dir, "eval", "--model", x.ckpt, "--limit", "2000", "--json")
		if err := json.Unmarshal([]byte(r.stdout), x.out); err != nil {
			t.Fatal(err)
		}
	}
	if after.Temp != T || before.Temp != 1 || after.Acc != before.Acc {
		t.Errorf("eval: temperature %v (want %v), accuracy %v vs %v (must not change)", after.Temp, T, after.Acc, before.Acc)
	}
	// eval's loss on all 2000 images is the size-weighted mean of the
	// validation and held-out NLLs calibrate reported.
	want := (float64(v.Images)*v.NLLAfter + float64(cal.Held.Images)*cal.Held.NLLAfter) / 2000
	if math.Abs(after.Loss-want) > 1e-6 {
		t.Errorf("calibrated eval loss %v, want %v from calibrate's report", after.Loss, want)
	}
	r = mustSucceed(t, dir, "eval", "--model", "cal.safetensors", "--limit", "500")
	if !strings.Contains(r.stdout, "temperature "+strconv.FormatFloat(T, 'g', 4, 64)) {
		t.Errorf("eval text does not mention the temperature:\n%s", r.stdout)
	}

	// predict divides the logits by T too: its top probability differs.
	_, test, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	writeImage(t, filepath.Join(dir, "d.png"), digitImage(test, 0, false))
	var p0, p1 []prediction
	for _, x := range []struct {
		ckpt string
		out  *[]prediction
	}{{ckpt, &p0}, {"cal.safetensors", &p1}} {
		r := mustSucceed(t, dir, "predict", "--model", x.ckpt, "--json", "--top", "1", "d.png")
		if err := json.Unmarshal([]byte(r.stdout), x.out); err != nil {
			t.Fatal(err)
		}
	}
	if p0[0].Top[0].Index != p1[0].Top[0].Index || p0[0].Top[0].Probability == p1[0].Top[0].Probability {
		t.Errorf("predict before %+v and after %+v calibration", p0[0].Top, p1[0].Top)
	}

	for _, bad := range [][]string{
		{"calibrate", "--model", ckpt},
		{"calibrate", "--model", "m.onnx", "--out", "x.safetensors"},
		{"calibrate", "--model", ckpt, "--out", "x.safetensors", "--val-split", "1"},
	} {
		if r := fovea(t, dir, bad...); r.code == 0 || !strings.Contains(r.stderr, "--") {
			t.Errorf("fovea %s: exit %d, stderr %q", strings.Join(bad, " "), r.code, r.stderr)
		}
	}
}
