package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/tensor"
)

// loadData resolves a --data value with data.LoadWith: a dataset spec
// (mnist, cifar10:DIR, npz:FILE, …), a folder or an archive.
func loadData(spec string, opt data.LoadOptions) (train, test *data.Dataset, err error) {
	train, test, err = data.LoadWith(spec, opt)
	if err != nil {
		return nil, nil, fmt.Errorf("--data %s: %w", spec, err)
	}
	return train, test, nil
}

// parseSize reads an HxW (or a single N for NxN) --size value; "" is 0x0.
func parseSize(flag, s string) ([2]int, error) {
	if s == "" {
		return [2]int{}, nil
	}
	parts := strings.Split(strings.ToLower(s), "x")
	if len(parts) == 1 {
		parts = append(parts, parts[0])
	}
	var out [2]int
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if len(parts) != 2 || err != nil || n < 1 || n > 8192 {
			return out, fmt.Errorf("--%s %q: want HxW in pixels, e.g. 32x32 or 224", flag, s)
		}
		out[i] = n
	}
	return out, nil
}

// setThreads applies --threads (0 keeps GOMAXPROCS).
func setThreads(n int) error {
	if n < 0 {
		return fmt.Errorf("--threads %d: must be positive (or 0 for all cores)", n)
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
		tensor.SetThreads(n)
	}
	return nil
}

// prepareFor checks that ds fits the checkpointed model and normalizes it
// as the model was trained.
func prepareFor(ds *data.Dataset, meta models.Meta, ckpt string) error {
	if err := checkShape(ds, meta, ckpt); err != nil {
		return err
	}
	if ds.NumClasses > meta.Options.NumClasses && meta.Options.NumClasses > 0 {
		return fmt.Errorf("data %s has %d classes but model %s predicts %d", ds.Name, ds.NumClasses, ckpt, meta.Options.NumClasses)
	}
	if len(meta.Mean) > 0 {
		ds.Normalize(meta.Mean, meta.Std)
	}
	return nil
}

// printJSON writes v as one line of JSON on stdout.
func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

// oneOf returns an error unless v is one of the allowed values.
func oneOf(flag, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return fmt.Errorf("--%s %q: must be one of %s", flag, v, strings.Join(allowed, ", "))
}

// classIndex resolves a --flag naming a class of model (a checkpoint or
// ONNX path) by its name in classes, or else by its index.
func classIndex(flag, value string, classes []string, model string) (int, error) {
	if i := slices.Index(classes, value); i >= 0 {
		return i, nil
	}
	if i, err := strconv.Atoi(value); err == nil && i >= 0 && i < len(classes) {
		return i, nil
	}
	return 0, fmt.Errorf("--%s %q: not a class of %s (%s) nor an index 0 to %d", flag, value, model, strings.Join(classes, ", "), len(classes)-1)
}

// startCPUProfile starts a pprof CPU profile into path (--cpuprofile) and
// returns the function that stops it and closes the file; an empty path
// profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
