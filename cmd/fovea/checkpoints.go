package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/train"
)

// Default checkpoint names: fovea train without --out writes
// MODEL-DATA.safetensors in the current folder, and the commands that take
// --model use the one checkpoint there when --model is left out.

// defaultOut is the checkpoint train writes without --out:
// MODEL-DATA.safetensors, e.g. mnist-cnn-mnist.safetensors or
// resnet20-cifar10.safetensors; a spec file, a folder or an archive gives
// its base name without extension.
func defaultOut(model, dataSpec string) string {
	if models.IsSpecPath(model) {
		model = trimExt(filepath.Base(model), ".yaml", ".yml")
	}
	return fileSafe(model) + "-" + fileSafe(dataStem(dataSpec)) + ".safetensors"
}

// dataStem names the dataset of a --data value: the kind of a named
// dataset (mnist, fashion-mnist, cifar10, cifar100), else the base name of
// the file or folder, without an archive or .npz extension.
func dataStem(spec string) string {
	kind, arg, hasArg := strings.Cut(spec, ":")
	switch kind {
	case "mnist", "fashion-mnist", "cifar10", "cifar100":
		return kind
	case "idx", "npz", "folder":
		if hasArg {
			spec = arg
		}
	}
	base := filepath.Base(spec) // without a trailing separator
	if base == "." || base == ".." || base == string(filepath.Separator) {
		if abs, err := filepath.Abs(spec); err == nil {
			base = filepath.Base(abs)
		}
	}
	return trimExt(base, ".tar.gz", ".tgz", ".tar", ".npz")
}

// trimExt removes the first of exts that name ends in, ignoring case.
func trimExt(name string, exts ...string) string {
	for _, ext := range exts {
		if len(name) > len(ext) && strings.EqualFold(name[len(name)-len(ext):], ext) {
			return name[:len(name)-len(ext)]
		}
	}
	return name
}

// fileSafe replaces the characters of s other than letters, digits, '-',
// '_' and '.' by '_'.
func fileSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
	if strings.Trim(s, "._") == "" {
		return "data"
	}
	return s
}

// freeDefaultOut returns the default checkpoint name path if no earlier
// run has used it, else the first of NAME-2, NAME-3, … that none has: a run
// without --out never writes over an earlier run's checkpoint, nor over the
// step checkpoints of an interrupted one (which it would overwrite or
// prune). It fails only if listing step checkpoints fails.
func freeDefaultOut(path string) (string, error) {
	stem := strings.TrimSuffix(path, ".safetensors")
	for n := 1; ; n++ {
		p := path
		if n > 1 {
			p = fmt.Sprintf("%s-%d.safetensors", stem, n)
		}
		if _, err := os.Stat(p); err == nil {
			continue
		}
		steps, err := train.Checkpoints(p)
		if err != nil {
			return "", err
		}
		if len(steps) == 0 {
			return p, nil
		}
	}
}

// checkOutFolder reports a --flag file whose folder is missing before any
// work is done (the write itself would fail only at the end).
func checkOutFolder(flag, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case os.IsNotExist(err):
		return fmt.Errorf("--%s %s: folder %s does not exist", flag, path, dir)
	case err != nil:
		return fmt.Errorf("--%s %s: %w", flag, path, err)
	case !st.IsDir():
		return fmt.Errorf("--%s %s: %s is not a folder", flag, path, dir)
	}
	return nil
}

// modelDefault ends the help of the --model flags that modelOrDefault
// resolves.
const modelDefault = "\n(default: the newest Fovea checkpoint in the current folder, as fovea train writes it)"

// modelOrDefault returns the --model value, or when none was given the
// newest Fovea checkpoint in the current folder (the one fovea train wrote
// last), saying on stderr which it uses.
func modelOrDefault(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	found, err := checkpointsHere()
	if err != nil {
		return "", err
	}
	if len(found) == 0 {
		return "", fmt.Errorf("--model: no model given and no Fovea checkpoint in the current folder: run fovea train, or pass --model CKPT")
	}
	newest, when := "", time.Time{}
	for _, f := range found {
		if st, err := os.Stat(f); err == nil && (newest == "" || st.ModTime().After(when)) {
			newest, when = f, st.ModTime()
		}
	}
	if len(found) == 1 {
		fmt.Fprintf(os.Stderr, "using --model %s, the checkpoint in the current folder\n", newest)
	} else {
		fmt.Fprintf(os.Stderr, "using --model %s, the newest of the %d checkpoints in the current folder (%s)\n", newest, len(found), strings.Join(found, ", "))
	}
	return newest, nil
}

// checkpointsHere lists the Fovea model checkpoints in the current folder,
// sorted: the .safetensors files whose metadata names a model, step
// checkpoints (training state) left out.
func checkpointsHere() ([]string, error) {
	files, err := filepath.Glob("*.safetensors")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		md, err := checkpoint.ReadMetadata(f)
		if err != nil {
			continue // not a checkpoint
		}
		if _, ok := md[checkpoint.KeyModel]; !ok {
			continue
		}
		if _, ok := md[checkpoint.KeyTrainState]; ok {
			continue
		}
		out = append(out, f)
	}
	slices.Sort(out)
	return out, nil
}
